//! The consumer's settings, named and defaulted as the Java consumer's are.

use std::time::Duration;

use crate::config::ClientConfig;
use crate::error::{Error, Result};

/// Where to start a partition that has no committed offset, or whose position fell out of the
/// log (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// The log start offset.
    Earliest,
    /// The log end offset: only records produced from now on.
    #[default]
    Latest,
    /// No reset: `poll` fails until the position is set with [`crate::consumer::Consumer::seek`].
    None,
}

/// Where [`crate::consumer::Consumer::seek`] moves a partition's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seek {
    /// The log start offset.
    Beginning,
    /// The log end offset (the last stable offset when reading committed).
    End,
    /// This offset.
    Offset(i64),
    /// The first record whose timestamp is at or after this one (milliseconds since the
    /// epoch); the log end offset when there is none.
    Timestamp(i64),
}

/// A partition assignment strategy (`partition.assignment.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AssignorKind {
    /// Per topic, contiguous ranges of partitions by member order (`range`).
    Range,
    /// All partitions dealt in turn across the members that subscribe to them (`roundrobin`).
    RoundRobin,
    /// Balanced and sticky, with incremental cooperative rebalancing (KIP-429,
    /// `cooperative-sticky`).
    CooperativeSticky,
}

impl AssignorKind {
    /// The protocol name members advertise in JoinGroup.
    pub fn name(self) -> &'static str {
        match self {
            AssignorKind::Range => "range",
            AssignorKind::RoundRobin => "roundrobin",
            AssignorKind::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// The assignor of a protocol name.
    pub fn from_name(name: &str) -> Option<AssignorKind> {
        match name {
            "range" => Some(AssignorKind::Range),
            "roundrobin" => Some(AssignorKind::RoundRobin),
            "cooperative-sticky" => Some(AssignorKind::CooperativeSticky),
            _ => None,
        }
    }

    /// Whether the assignor supports the cooperative protocol (revoke only what moves).
    pub fn is_cooperative(self) -> bool {
        self == AssignorKind::CooperativeSticky
    }
}

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// How to reach the cluster.
    pub client: ClientConfig,
    /// The consumer group (`group.id`); needed for `subscribe` and for commits.
    pub group_id: Option<String>,
    /// A static member id (`group.instance.id`, KIP-345): a restart within the session
    /// timeout gets the same partitions back without a rebalance.
    pub group_instance_id: Option<String>,
    /// Where to start without a committed offset, or after OFFSET_OUT_OF_RANGE.
    pub auto_offset_reset: OffsetReset,
    /// Commit positions every `auto_commit_interval`, on revocation and on close (only with
    /// a group).
    pub enable_auto_commit: bool,
    /// How often positions are committed automatically.
    pub auto_commit_interval: Duration,
    /// How long the coordinator waits for a heartbeat before it drops the member.
    pub session_timeout: Duration,
    /// How often the member heartbeats.
    pub heartbeat_interval: Duration,
    /// How long the group waits for members to rejoin, and the longest the member may go
    /// without calling `poll` before it leaves the group (`max.poll.interval.ms`).
    pub rebalance_timeout: Duration,
    /// The assignors offered to the group, in order of preference.
    pub assignors: Vec<AssignorKind>,
    /// The least data a fetch waits for.
    pub fetch_min_bytes: i32,
    /// The most data a fetch response may carry (the first batch always comes whole).
    pub fetch_max_bytes: i32,
    /// The most data a fetch response may carry per partition.
    pub max_partition_fetch_bytes: i32,
    /// The longest a fetch waits for `fetch_min_bytes`.
    pub fetch_max_wait: Duration,
    /// Read only committed transactional records (`isolation.level=read_committed`).
    pub read_committed: bool,
}

impl ConsumerConfig {
    /// The Java consumer's defaults, with `client` to reach the cluster.
    pub fn new(client: ClientConfig) -> Self {
        ConsumerConfig {
            client,
            group_id: None,
            group_instance_id: None,
            auto_offset_reset: OffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            rebalance_timeout: Duration::from_secs(300),
            assignors: vec![AssignorKind::Range, AssignorKind::CooperativeSticky],
            fetch_min_bytes: 1,
            fetch_max_bytes: 50 * 1024 * 1024,
            max_partition_fetch_bytes: 1024 * 1024,
            fetch_max_wait: Duration::from_millis(500),
            read_committed: false,
        }
    }

    /// Refuses settings that cannot work, saying which.
    pub fn validate(&self) -> Result<()> {
        self.client.validate()?;
        let invalid = |what: &str| Err(Error::Invalid(what.to_owned()));
        if self.group_id.as_deref() == Some("") {
            return invalid("group_id must not be empty; leave it unset for no group");
        }
        if self.group_instance_id.as_deref() == Some("") {
            return invalid("group_instance_id must not be empty; leave it unset for none");
        }
        if self.group_instance_id.is_some() && self.group_id.is_none() {
            return invalid("group_instance_id needs a group_id");
        }
        if self.assignors.is_empty() {
            return invalid("assignors must name at least one assignor");
        }
        let mut seen = self.assignors.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != self.assignors.len() {
            return invalid("assignors must not repeat an assignor");
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.session_timeout {
            return invalid("heartbeat_interval must be above zero and below session_timeout");
        }
        if self.enable_auto_commit && self.auto_commit_interval.is_zero() {
            return invalid("auto_commit_interval must be above zero");
        }
        for (name, timeout) in [
            ("session_timeout", self.session_timeout),
            ("rebalance_timeout", self.rebalance_timeout),
        ] {
            if timeout.is_zero() || timeout.as_millis() > i32::MAX as u128 {
                return Err(Error::Invalid(format!(
                    "{name} must be above zero and below 2^31 ms"
                )));
            }
        }
        if self.fetch_max_wait.as_millis() > i32::MAX as u128 {
            return invalid("fetch_max_wait must be below 2^31 ms");
        }
        if self.fetch_min_bytes < 0 {
            return invalid("fetch_min_bytes must not be negative");
        }
        if self.fetch_max_bytes <= 0 || self.max_partition_fetch_bytes <= 0 {
            return invalid("fetch_max_bytes and max_partition_fetch_bytes must be above zero");
        }
        Ok(())
    }

    /// Whether every assignor offered supports the cooperative protocol, which makes this
    /// member rebalance cooperatively (as the Java consumer decides).
    pub(crate) fn cooperative(&self) -> bool {
        self.assignors.iter().all(|a| a.is_cooperative())
    }

    /// Whether positions are committed automatically: only with a group.
    pub(crate) fn auto_commit(&self) -> bool {
        self.enable_auto_commit && self.group_id.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ConsumerConfig {
        ConsumerConfig::new(ClientConfig::new("127.0.0.1:9092"))
    }

    #[test]
    fn defaults_are_the_java_consumers() {
        let config = config();
        assert_eq!(config.auto_offset_reset, OffsetReset::Latest);
        assert!(config.enable_auto_commit);
        assert_eq!(config.session_timeout, Duration::from_secs(45));
        assert_eq!(
            config.assignors,
            [AssignorKind::Range, AssignorKind::CooperativeSticky]
        );
        assert!(!config.cooperative(), "range makes the default eager");
        assert!(!config.auto_commit(), "no group, no auto-commit");
        config.validate().unwrap();
    }

    #[test]
    fn refuses_settings_that_cannot_work() {
        let mut bad = config();
        bad.assignors.clear();
        assert!(bad.validate().is_err());
        let mut bad = config();
        bad.heartbeat_interval = bad.session_timeout;
        assert!(bad.validate().is_err());
        let mut bad = config();
        bad.group_instance_id = Some("a".into());
        assert!(bad.validate().is_err(), "an instance id needs a group");
        let mut bad = config();
        bad.assignors = vec![AssignorKind::Range, AssignorKind::Range];
        assert!(bad.validate().is_err());
        let mut bad = config();
        bad.fetch_max_bytes = 0;
        assert!(bad.validate().is_err());
    }

    #[test]
    fn assignor_names_round_trip() {
        for kind in [
            AssignorKind::Range,
            AssignorKind::RoundRobin,
            AssignorKind::CooperativeSticky,
        ] {
            assert_eq!(AssignorKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(AssignorKind::from_name("sticky"), None);
    }
}
