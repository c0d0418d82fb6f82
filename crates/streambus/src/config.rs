//! `streambus serve` settings from flags, a TOML file (`--config`) and `STREAMBUS_*`
//! environment variables, in that order of precedence, assembled into the broker's config.
//!
//! Every setting has the same name in the three places: `--kafka-addr`, `kafka_addr` in the
//! file, `STREAMBUS_KAFKA_ADDR`. Topic defaults use Kafka's names in the file's `[log]`
//! table (`"retention.ms" = "604800000"`).
//!
//! Logging is assembled apart ([`LogConfig`]), because the log must be set up before
//! anything else runs and reports into it. Trace export (`otlp_endpoint`) is part of it: the
//! spans are the log's, sent to an OpenTelemetry collector as well.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Deserialize;
use streambus_broker::{AdvertisedAddr, BrokerConfig, QuorumSettings, Voter};

/// Flags of `streambus serve`; all optional so that the file and environment can fill in.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// This broker's node id [default: 1]
    #[arg(long)]
    pub node_id: Option<i32>,
    /// Where logs and metadata are stored [default: ./data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The Kafka listener [default: 127.0.0.1:9092]
    #[arg(long)]
    pub kafka_addr: Option<SocketAddr>,
    /// The HTTP listener (health) [default: 127.0.0.1:8080]
    #[arg(long)]
    pub http_addr: Option<SocketAddr>,
    /// The address clients are told to use, if not the Kafka listener's
    #[arg(long)]
    pub advertised_kafka_addr: Option<String>,
    /// The rack or zone this broker is in (Kafka's `broker.rack`): new partitions' replicas
    /// are spread over racks [default: none]
    #[arg(long)]
    pub rack: Option<String>,
    /// Create topics when clients ask for their metadata
    #[arg(long)]
    pub auto_create_topics: bool,
    /// A TOML file with settings
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// How log lines are written on stderr: `text`, or `json` (one object per line)
    /// [default: text]
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// The least severe level logged [default: info]; STREAMBUS_LOG, when set, is a
    /// per-module filter (`info,streambus_broker=debug`) that replaces it
    #[arg(long, value_enum)]
    pub log_level: Option<LogLevel>,
    /// Export request spans as OpenTelemetry traces over OTLP/HTTP to this collector
    /// (`http://HOST:PORT`; spans are posted to its /v1/traces) [default: off]
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// The metadata quorum's voters, the same on every node: `ID@IP:PORT,...`, this node's
    /// id among them [default: none: a single node with local metadata]
    #[arg(long, value_name = "VOTERS")]
    pub voters: Option<String>,
    /// Where this node's quorum listener binds, if not at its own address in --voters
    #[arg(long, value_name = "IP:PORT")]
    pub controller_addr: Option<SocketAddr>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, colored only on a terminal.
    #[default]
    Text,
    /// One JSON object per line, with the fields of the event and of its spans.
    Json,
}

/// The least severe level logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// What an operator wants to see: startup, topic changes, warnings.
    #[default]
    Info,
    /// Per-connection and per-request detail.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The level as `EnvFilter` directives. The Raft library under the metadata quorum is
    /// left out: it reports every failed call to an unreachable peer as an error, many a
    /// second, while the quorum's own state is logged by StreamBus and shown by /health
    /// (`STREAMBUS_LOG=info,openraft=warn` brings it back).
    pub fn directive(self) -> &'static str {
        match self {
            LogLevel::Off => "off",
            LogLevel::Error => "error,openraft=off",
            LogLevel::Warn => "warn,openraft=off",
            LogLevel::Info => "info,openraft=off",
            LogLevel::Debug => "debug,openraft=off",
            LogLevel::Trace => "trace,openraft=off",
        }
    }
}

/// The log settings of `streambus serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// How lines are written.
    pub format: LogFormat,
    /// The least severe level logged, unless `filter` is set.
    pub level: LogLevel,
    /// `STREAMBUS_LOG`, a full `EnvFilter` (`info,streambus_broker=debug`), when it is set.
    pub filter: Option<String>,
    /// The OpenTelemetry collector spans are exported to (`http://HOST:PORT`, without a
    /// trailing slash), if any.
    pub otlp_endpoint: Option<String>,
}

impl LogConfig {
    /// `--log-format` over `log_format` in the file over `STREAMBUS_LOG_FORMAT`; the same
    /// for the level and the OTLP endpoint; and `STREAMBUS_LOG`, a full filter, over any
    /// level.
    pub fn assemble(args: &ServeArgs) -> Result<LogConfig> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let format = args
            .log_format
            .or(file.log_format)
            .or(env_value_enum("LOG_FORMAT")?)
            .unwrap_or_default();
        let level = args
            .log_level
            .or(file.log_level)
            .or(env_value_enum("LOG_LEVEL")?)
            .unwrap_or_default();
        Ok(LogConfig {
            format,
            level,
            filter: env("LOG"),
            otlp_endpoint: otlp_endpoint(args, &file)?,
        })
    }

    /// The filter directives: `STREAMBUS_LOG` when it is set, else the level.
    pub fn directives(&self) -> &str {
        self.filter
            .as_deref()
            .unwrap_or_else(|| self.level.directive())
    }
}

/// The settings file. Unknown keys are errors, so a typo is never silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    node_id: Option<i32>,
    data_dir: Option<PathBuf>,
    kafka_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    advertised_kafka_addr: Option<String>,
    rack: Option<String>,
    auto_create_topics: Option<bool>,
    num_partitions: Option<i32>,
    default_replication_factor: Option<i16>,
    socket_request_max_bytes: Option<usize>,
    group_initial_rebalance_delay_ms: Option<u32>,
    group_min_session_timeout_ms: Option<u32>,
    group_max_session_timeout_ms: Option<u32>,
    group_max_size: Option<usize>,
    offsets_retention_minutes: Option<u64>,
    offsets_retention_check_interval_ms: Option<u64>,
    offsets_topic_num_partitions: Option<i32>,
    offset_metadata_max_bytes: Option<usize>,
    metrics_enabled: Option<bool>,
    enable_profiling: Option<bool>,
    log_format: Option<LogFormat>,
    log_level: Option<LogLevel>,
    otlp_endpoint: Option<String>,
    voters: Option<String>,
    controller_addr: Option<SocketAddr>,
    replica_lag_time_max_ms: Option<u64>,
    broker_session_timeout_ms: Option<u64>,
    /// Topic config defaults, by Kafka name.
    #[serde(default)]
    log: BTreeMap<String, toml::Value>,
}

/// Everything `serve` needs.
#[derive(Debug)]
pub struct ServeConfig {
    /// Where to listen for Kafka clients.
    pub kafka_addr: SocketAddr,
    /// Where to listen for HTTP.
    pub http_addr: SocketAddr,
    /// The advertised address, if set; otherwise the bound Kafka address is advertised.
    pub advertised: Option<AdvertisedAddr>,
    /// The broker's config, with the Kafka listener's address as a placeholder for the
    /// advertised one until the listener is bound.
    pub broker: BrokerConfig,
    /// Whether `GET /debug/pprof/profile` answers (`enable_profiling`; off by default).
    pub enable_profiling: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(format!("STREAMBUS_{name}"))
        .ok()
        .filter(|v| !v.is_empty())
}

fn env_parsed<T: std::str::FromStr>(name: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    env(name)
        .map(|v| {
            v.parse::<T>()
                .map_err(|e| anyhow::anyhow!("STREAMBUS_{name}={v:?}: {e}"))
        })
        .transpose()
}

/// `STREAMBUS_{name}` as one of the values of `T`, named as on the command line.
fn env_value_enum<T: clap::ValueEnum>(name: &str) -> Result<Option<T>> {
    env(name)
        .map(|v| {
            T::from_str(&v, true).map_err(|_| {
                let expected: Vec<String> = T::value_variants()
                    .iter()
                    .filter_map(|variant| variant.to_possible_value())
                    .map(|value| value.get_name().to_string())
                    .collect();
                anyhow::anyhow!(
                    "STREAMBUS_{name}={v:?}: expected one of {}",
                    expected.join(", ")
                )
            })
        })
        .transpose()
}

/// `--otlp-endpoint` over `otlp_endpoint` in the file over `STREAMBUS_OTLP_ENDPOINT`,
/// checked and without its trailing slash. Only plain `http://` is accepted: the exporter is
/// built without TLS, so an `https://` endpoint is refused here rather than failing every
/// export in silence later.
fn otlp_endpoint(args: &ServeArgs, file: &FileConfig) -> Result<Option<String>> {
    let (endpoint, source) = match (&args.otlp_endpoint, &file.otlp_endpoint) {
        (Some(flag), _) => (flag.clone(), "--otlp-endpoint"),
        (None, Some(key)) => (key.clone(), "otlp_endpoint"),
        (None, None) => match env("OTLP_ENDPOINT") {
            Some(value) => (value, "STREAMBUS_OTLP_ENDPOINT"),
            None => return Ok(None),
        },
    };
    let trimmed = endpoint.trim_end_matches('/');
    let authority = trimmed
        .strip_prefix("http://")
        .map(|rest| rest.split('/').next().unwrap_or_default());
    match authority {
        Some(authority) if !authority.is_empty() && !trimmed.contains(char::is_whitespace) => {
            Ok(Some(trimmed.to_string()))
        }
        _ if endpoint.starts_with("https://") => bail!(
            "{source}={endpoint:?}: https is not supported for OTLP (no TLS in this build); \
             use http://HOST:PORT, such as a local collector"
        ),
        _ => bail!("{source}={endpoint:?}: expected http://HOST:PORT"),
    }
}

/// Reads and parses a settings file.
pub fn read_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

impl ServeConfig {
    /// Merges flags over the file over the environment over the defaults.
    pub fn assemble(args: ServeArgs) -> Result<ServeConfig> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let trace_context = otlp_endpoint(&args, &file)?.is_some();
        let kafka_addr = args
            .kafka_addr
            .or(file.kafka_addr)
            .or(env_parsed("KAFKA_ADDR")?)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9092)));
        let http_addr = args
            .http_addr
            .or(file.http_addr)
            .or(env_parsed("HTTP_ADDR")?)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let advertised = args
            .advertised_kafka_addr
            .or(file.advertised_kafka_addr.clone())
            .or(env("ADVERTISED_KAFKA_ADDR"))
            .map(|s| s.parse::<AdvertisedAddr>())
            .transpose()?;
        let data_dir = args
            .data_dir
            .or(file.data_dir.clone())
            .or(env("DATA_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("./data"));
        let mut broker = BrokerConfig::new(data_dir, AdvertisedAddr::from(kafka_addr));
        broker.node_id = args
            .node_id
            .or(file.node_id)
            .or(env_parsed("NODE_ID")?)
            .unwrap_or(1);
        broker.rack = args.rack.or(file.rack.clone()).or(env("RACK"));
        broker.trace_context = trace_context;
        let voters = args.voters.or(file.voters.clone()).or(env("VOTERS"));
        if let Some(voters) = voters {
            let voters = Voter::parse_list(&voters).context("invalid voters")?;
            let mut quorum = QuorumSettings::new(voters);
            quorum.controller_addr = args
                .controller_addr
                .or(file.controller_addr)
                .or(env_parsed("CONTROLLER_ADDR")?);
            let voter = quorum
                .voters
                .iter()
                .any(|v| i64::try_from(v.id).ok() == Some(i64::from(broker.node_id)));
            if !voter && quorum.controller_addr.is_none() {
                bail!(
                    "node {} is not among the voters: to run it as an observer (a broker \
                     without a vote), give it --controller-addr IP:PORT, where the voters \
                     reach its quorum listener",
                    broker.node_id
                );
            }
            broker.quorum = Some(quorum);
        } else if args.controller_addr.is_some() || file.controller_addr.is_some() {
            bail!("a controller address needs voters (--voters)");
        }
        if let Some(ms) = file
            .replica_lag_time_max_ms
            .or(env_parsed("REPLICA_LAG_TIME_MAX_MS")?)
        {
            broker.replica_lag_time_max = std::time::Duration::from_millis(ms);
        }
        if let Some(ms) = file
            .broker_session_timeout_ms
            .or(env_parsed("BROKER_SESSION_TIMEOUT_MS")?)
        {
            broker.broker_session_timeout = std::time::Duration::from_millis(ms);
        }
        broker.auto_create_topics = args.auto_create_topics
            || file
                .auto_create_topics
                .or(env_parsed("AUTO_CREATE_TOPICS")?)
                .unwrap_or(false);
        if let Some(n) = file.num_partitions.or(env_parsed("NUM_PARTITIONS")?) {
            broker.num_partitions = n;
        }
        if let Some(r) = file
            .default_replication_factor
            .or(env_parsed("DEFAULT_REPLICATION_FACTOR")?)
        {
            broker.default_replication_factor = r;
        }
        if let Some(bytes) = file
            .socket_request_max_bytes
            .or(env_parsed("SOCKET_REQUEST_MAX_BYTES")?)
        {
            broker.socket_request_max_bytes = bytes;
        }
        apply_group_settings(&file, &mut broker)?;
        if let Some(enabled) = file.metrics_enabled.or(env_parsed("METRICS_ENABLED")?) {
            broker.metrics_enabled = enabled;
        }
        for (name, value) in &file.log {
            let value = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => bail!("[log] {name}: expected a string or number, not {other}"),
            };
            broker
                .log
                .set(name, &value)
                .with_context(|| format!("[log] {name}"))?;
        }
        broker.validate()?;
        let enable_profiling = file
            .enable_profiling
            .or(env_parsed("ENABLE_PROFILING")?)
            .unwrap_or(false);
        Ok(ServeConfig {
            kafka_addr,
            http_addr,
            advertised,
            broker,
            enable_profiling,
        })
    }
}

/// The group coordinator's settings, each from the file or else the environment.
fn apply_group_settings(file: &FileConfig, broker: &mut BrokerConfig) -> Result<()> {
    fn setting<T: Copy + std::str::FromStr>(file: Option<T>, env_name: &str) -> Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        Ok(file.or(env_parsed(env_name)?))
    }
    let group = &mut broker.group;
    if let Some(v) = setting(
        file.group_initial_rebalance_delay_ms,
        "GROUP_INITIAL_REBALANCE_DELAY_MS",
    )? {
        group.initial_rebalance_delay_ms = v;
    }
    if let Some(v) = setting(
        file.group_min_session_timeout_ms,
        "GROUP_MIN_SESSION_TIMEOUT_MS",
    )? {
        group.min_session_timeout_ms = v;
    }
    if let Some(v) = setting(
        file.group_max_session_timeout_ms,
        "GROUP_MAX_SESSION_TIMEOUT_MS",
    )? {
        group.max_session_timeout_ms = v;
    }
    if let Some(v) = setting(file.group_max_size, "GROUP_MAX_SIZE")? {
        group.group_max_size = v;
    }
    if let Some(v) = setting(file.offsets_retention_minutes, "OFFSETS_RETENTION_MINUTES")? {
        group.offsets_retention_ms = v.saturating_mul(60_000);
    }
    if let Some(v) = setting(
        file.offsets_retention_check_interval_ms,
        "OFFSETS_RETENTION_CHECK_INTERVAL_MS",
    )? {
        group.offsets_retention_check_interval_ms = v;
    }
    if let Some(v) = setting(file.offset_metadata_max_bytes, "OFFSET_METADATA_MAX_BYTES")? {
        group.offset_metadata_max_bytes = v;
    }
    if let Some(v) = setting(
        file.offsets_topic_num_partitions,
        "OFFSETS_TOPIC_NUM_PARTITIONS",
    )? {
        broker.offsets_topic_num_partitions = v;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_config_parses_and_applies() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/streambus.toml");
        let args = ServeArgs {
            config: Some(sample),
            ..ServeArgs::default()
        };
        let log = LogConfig::assemble(&args).unwrap();
        assert_eq!(log.format, LogFormat::Text);
        assert_eq!(log.level, LogLevel::Info);
        assert_eq!(log.otlp_endpoint, None);
        let config = ServeConfig::assemble(args).unwrap();
        assert!(!config.broker.trace_context);
        assert_eq!(config.kafka_addr, "127.0.0.1:9092".parse().unwrap());
        assert_eq!(config.broker.node_id, 1);
        assert_eq!(config.broker.log.retention_ms, 604_800_000);
        assert_eq!(config.broker.num_partitions, 1);
        assert_eq!(config.broker.group.initial_rebalance_delay_ms, 3000);
        assert_eq!(
            config.broker.group.offsets_retention_ms,
            7 * 24 * 60 * 60_000
        );
        assert_eq!(config.broker.offsets_topic_num_partitions, 50);
    }

    #[test]
    fn profiling_is_off_unless_the_file_turns_it_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "enable_profiling = true\n").unwrap();
        let on = ServeConfig::assemble(ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        })
        .unwrap();
        assert!(on.enable_profiling);
        let off = ServeConfig::assemble(ServeArgs::default()).unwrap();
        assert!(!off.enable_profiling);
    }

    #[test]
    fn group_settings_come_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "group_initial_rebalance_delay_ms = 0\ngroup_min_session_timeout_ms = 1000\n\
             offsets_retention_minutes = 2\noffsets_topic_num_partitions = 3\n",
        )
        .unwrap();
        let config = ServeConfig::assemble(ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(config.broker.group.initial_rebalance_delay_ms, 0);
        assert_eq!(config.broker.group.min_session_timeout_ms, 1000);
        assert_eq!(config.broker.group.offsets_retention_ms, 120_000);
        assert_eq!(config.broker.offsets_topic_num_partitions, 3);
        std::fs::write(&path, "group_min_session_timeout_ms = 9000000\n").unwrap();
        let error = ServeConfig::assemble(ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        })
        .unwrap_err();
        assert!(
            format!("{error:#}").contains("session timeout"),
            "{error:#}"
        );
    }

    #[test]
    fn a_node_outside_the_voters_needs_a_controller_address() {
        let voters = "1@127.0.0.1:29093,2@127.0.0.1:29094";
        let args = |controller_addr: Option<&str>| ServeArgs {
            node_id: Some(3),
            voters: Some(voters.to_owned()),
            controller_addr: controller_addr.map(|a| a.parse().unwrap()),
            ..ServeArgs::default()
        };
        let error = ServeConfig::assemble(args(None)).unwrap_err();
        assert!(
            format!("{error:#}").contains("--controller-addr"),
            "{error:#}"
        );
        let observer = ServeConfig::assemble(args(Some("127.0.0.1:29095"))).unwrap();
        let quorum = observer.broker.quorum.unwrap();
        assert_eq!(
            quorum.controller_addr,
            Some("127.0.0.1:29095".parse().unwrap())
        );
    }

    #[test]
    fn flags_beat_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "node_id = 7\nkafka_addr = \"127.0.0.1:1111\"\n[log]\n\"retention.ms\" = 5000\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            node_id: Some(9),
            ..ServeArgs::default()
        };
        let config = ServeConfig::assemble(args).unwrap();
        assert_eq!(config.broker.node_id, 9);
        assert_eq!(config.broker.rack, None);
        std::fs::write(&path, "rack = \"zone-b\"\n").unwrap();
        let from_file = |rack: Option<&str>| {
            ServeConfig::assemble(ServeArgs {
                config: Some(path.clone()),
                rack: rack.map(str::to_owned),
                ..ServeArgs::default()
            })
        };
        assert_eq!(
            from_file(None).unwrap().broker.rack.as_deref(),
            Some("zone-b")
        );
        assert_eq!(
            from_file(Some("zone-a")).unwrap().broker.rack.as_deref(),
            Some("zone-a")
        );
        let error = from_file(Some("")).unwrap_err();
        assert!(format!("{error:#}").contains("broker.rack"), "{error:#}");
        assert_eq!(config.kafka_addr.port(), 1111);
        assert_eq!(config.broker.log.retention_ms, 5000);
    }

    #[test]
    fn log_settings_come_from_flags_then_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "log_format = \"json\"\nlog_level = \"debug\"\n").unwrap();
        let from_file = LogConfig::assemble(&ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(from_file.format, LogFormat::Json);
        assert_eq!(from_file.level, LogLevel::Debug);
        let from_flags = LogConfig::assemble(&ServeArgs {
            config: Some(path.clone()),
            log_format: Some(LogFormat::Text),
            log_level: Some(LogLevel::Warn),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(from_flags.format, LogFormat::Text);
        assert_eq!(from_flags.level, LogLevel::Warn);
        // The rest of the config accepts the log keys too.
        ServeConfig::assemble(ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        })
        .unwrap();
        std::fs::write(&path, "log_format = \"yaml\"\n").unwrap();
        let error = LogConfig::assemble(&ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        })
        .unwrap_err();
        let error = format!("{error:#}");
        assert!(
            error.contains("log_format") && error.contains("yaml"),
            "{error}"
        );
    }

    #[test]
    fn the_otlp_endpoint_comes_from_the_flag_then_the_file_and_turns_on_trace_context() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "otlp_endpoint = \"http://127.0.0.1:4318/\"\n").unwrap();
        let from_file = ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        };
        let log = LogConfig::assemble(&from_file).unwrap();
        assert_eq!(log.otlp_endpoint.as_deref(), Some("http://127.0.0.1:4318"));
        assert!(
            ServeConfig::assemble(from_file)
                .unwrap()
                .broker
                .trace_context
        );
        let from_flag = LogConfig::assemble(&ServeArgs {
            config: Some(path.clone()),
            otlp_endpoint: Some("http://collector:4318/otlp".into()),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(
            from_flag.otlp_endpoint.as_deref(),
            Some("http://collector:4318/otlp")
        );
        for (endpoint, named) in [
            ("https://collector:4318", "https is not supported"),
            ("127.0.0.1:4318", "expected http://HOST:PORT"),
            ("http://", "expected http://HOST:PORT"),
            ("http:// x", "expected http://HOST:PORT"),
        ] {
            let error = LogConfig::assemble(&ServeArgs {
                otlp_endpoint: Some(endpoint.into()),
                ..ServeArgs::default()
            })
            .unwrap_err();
            let error = format!("{error:#}");
            assert!(
                error.contains(named) && error.contains("--otlp-endpoint"),
                "{endpoint}: {error}"
            );
        }
    }

    #[test]
    fn mistakes_in_the_file_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "kafka_adr = \"127.0.0.1:1\"\n").unwrap();
        let error = ServeConfig::assemble(ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        })
        .unwrap_err();
        assert!(
            format!("{error:#}").contains("unknown field `kafka_adr`"),
            "{error:#}"
        );
        std::fs::write(&path, "[log]\n\"retention.ms\" = \"soon\"\n").unwrap();
        let error = ServeConfig::assemble(ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        })
        .unwrap_err();
        assert!(format!("{error:#}").contains("retention.ms"), "{error:#}");
    }
}
