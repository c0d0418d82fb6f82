//! The broker's configuration, with Kafka's names and defaults where Kafka has them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use streambus_coordinator::GroupConfig;
use streambus_coordinator::runtime::DEFAULT_OFFSETS_PARTITIONS;
use streambus_protocol::frame::DEFAULT_MAX_FRAME_SIZE;
use streambus_storage::LogConfig;
use thiserror::Error;

/// How a broker runs.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id`.
    pub node_id: i32,
    /// Where logs and metadata live.
    pub data_dir: PathBuf,
    /// The address clients are told to connect to (Metadata, FindCoordinator).
    pub advertised_addr: AdvertisedAddr,
    /// `broker.rack`: the rack (or zone) this broker is in, if any. New partitions'
    /// replicas are spread over racks (see `placement`), and Metadata reports it.
    pub rack: Option<String>,
    /// `auto.create.topics.enable`: create a topic when a client asks for its metadata.
    pub auto_create_topics: bool,
    /// `num.partitions`: partitions of an auto-created topic, and the default of CreateTopics.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `socket.request.max.bytes`: the largest request frame accepted.
    pub socket_request_max_bytes: usize,
    /// Defaults of every topic's log config (`log.*` broker settings).
    pub log: LogConfig,
    /// How often logs are flushed (for `flush.policy=interval`) and checkpointed.
    pub flush_check_interval: Duration,
    /// `log.retention.check.interval.ms`: how often retention and compaction run.
    pub retention_check_interval: Duration,
    /// The group coordinator's settings (`group.*`, `offsets.retention.minutes`, ...).
    pub group: GroupConfig,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets` when it is created.
    pub offsets_topic_num_partitions: i32,
    /// Whether requests, errors, latencies and bytes are counted for `/metrics` (state such
    /// as offsets, lag and memory is sampled at scrape time either way).
    pub metrics_enabled: bool,
    /// Whether request spans are exported to OpenTelemetry (the binary's
    /// `otlp_endpoint`): each `request` span is then named for it (`otel.name`,
    /// `otel.kind`, messaging attributes), and a Produce request continues the trace of the
    /// W3C `traceparent` header of its first record. Off, neither costs anything.
    pub trace_context: bool,
    /// `replica.lag.time.max.ms`: how long a follower may go without catching up to its
    /// leader's log end before the leader drops it from the ISR.
    pub replica_lag_time_max: Duration,
    /// `broker.session.timeout.ms`: how long the controller waits without a heartbeat from
    /// a broker before it moves that broker's leaderships and takes it out of ISRs. Brokers
    /// heartbeat at the quorum's heartbeat interval (150 ms), so this may be far shorter
    /// than Kafka's 9 s.
    pub broker_session_timeout: Duration,
    /// The metadata quorum this broker is a node of (`--voters`); `None` runs the
    /// single-node metadata log.
    pub quorum: Option<crate::QuorumSettings>,
}

/// A host and port as clients should reach the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedAddr {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl From<SocketAddr> for AdvertisedAddr {
    fn from(addr: SocketAddr) -> Self {
        AdvertisedAddr {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

impl std::str::FromStr for AdvertisedAddr {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ConfigError::Invalid {
            name: "advertised address",
            reason: format!("{s:?} is not HOST:PORT"),
        };
        let (host, port) = s.rsplit_once(':').ok_or_else(invalid)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(invalid());
        }
        Ok(AdvertisedAddr {
            host: host.to_string(),
            port: port.parse().map_err(|_| invalid())?,
        })
    }
}

/// A setting that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A value out of range or malformed.
    #[error("invalid {name}: {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A log default is invalid.
    #[error(transparent)]
    Log(#[from] streambus_storage::ConfigError),
    /// A group coordinator setting is invalid.
    #[error(transparent)]
    Group(#[from] streambus_coordinator::ConfigError),
}

impl BrokerConfig {
    /// Defaults for a broker whose clients reach it at `advertised_addr`.
    pub fn new(data_dir: impl Into<PathBuf>, advertised_addr: AdvertisedAddr) -> Self {
        BrokerConfig {
            node_id: 1,
            data_dir: data_dir.into(),
            advertised_addr,
            rack: None,
            auto_create_topics: false,
            num_partitions: 1,
            default_replication_factor: 1,
            socket_request_max_bytes: DEFAULT_MAX_FRAME_SIZE,
            log: LogConfig::default(),
            flush_check_interval: Duration::from_secs(1),
            retention_check_interval: Duration::from_secs(300),
            group: GroupConfig::default(),
            offsets_topic_num_partitions: DEFAULT_OFFSETS_PARTITIONS,
            metrics_enabled: true,
            trace_context: false,
            replica_lag_time_max: Duration::from_secs(30),
            broker_session_timeout: Duration::from_secs(3),
            quorum: None,
        }
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |name, reason: String| Err(ConfigError::Invalid { name, reason });
        if self.node_id < 0 {
            return invalid("node id", format!("{} is negative", self.node_id));
        }
        if let Some(rack) = &self.rack
            && (rack.is_empty() || rack.len() > 255 || rack.chars().any(char::is_control))
        {
            return invalid(
                "broker.rack",
                format!("{rack:?} must be 1 to 255 bytes without control characters"),
            );
        }
        if self.num_partitions < 1 {
            return invalid(
                "num.partitions",
                format!("{} is below 1", self.num_partitions),
            );
        }
        if self.default_replication_factor < 1 {
            return invalid(
                "default.replication.factor",
                format!("{} is below 1", self.default_replication_factor),
            );
        }
        if self.socket_request_max_bytes < 1024 || self.socket_request_max_bytes > i32::MAX as usize
        {
            return invalid(
                "socket.request.max.bytes",
                format!(
                    "{} is outside [1024, 2^31-1]",
                    self.socket_request_max_bytes
                ),
            );
        }
        if self.broker_session_timeout.is_zero() {
            return invalid("broker.session.timeout.ms", "must be positive".into());
        }
        if self.replica_lag_time_max.is_zero() {
            return invalid("replica.lag.time.max.ms", "must be positive".into());
        }
        if self.flush_check_interval.is_zero() || self.retention_check_interval.is_zero() {
            return invalid("maintenance interval", "must be positive".into());
        }
        if !(1..=crate::topics::MAX_PARTITIONS).contains(&self.offsets_topic_num_partitions) {
            return invalid(
                "offsets.topic.num.partitions",
                format!(
                    "{} is outside [1, {}]",
                    self.offsets_topic_num_partitions,
                    crate::topics::MAX_PARTITIONS
                ),
            );
        }
        self.log.validate()?;
        self.group.validate()?;
        Ok(())
    }
}
