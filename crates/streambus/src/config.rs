//! `streambus serve` settings from flags, a TOML file (`--config`) and `STREAMBUS_*`
//! environment variables, in that order of precedence, assembled into the broker's config.
//!
//! Every setting has the same name in the three places: `--kafka-addr`, `kafka_addr` in the
//! file, `STREAMBUS_KAFKA_ADDR`. Topic defaults use Kafka's names in the file's `[log]`
//! table (`"retention.ms" = "604800000"`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Deserialize;
use streambus_broker::{AdvertisedAddr, BrokerConfig};

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
    /// Create topics when clients ask for their metadata
    #[arg(long)]
    pub auto_create_topics: bool,
    /// A TOML file with settings
    #[arg(long)]
    pub config: Option<PathBuf>,
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
        Ok(ServeConfig {
            kafka_addr,
            http_addr,
            advertised,
            broker,
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
        let config = ServeConfig::assemble(args).unwrap();
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
    fn flags_beat_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "node_id = 7\nkafka_addr = \"127.0.0.1:1111\"\n[log]\n\"retention.ms\" = 5000\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            node_id: Some(9),
            ..ServeArgs::default()
        };
        let config = ServeConfig::assemble(args).unwrap();
        assert_eq!(config.broker.node_id, 9);
        assert_eq!(config.kafka_addr.port(), 1111);
        assert_eq!(config.broker.log.retention_ms, 5000);
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
