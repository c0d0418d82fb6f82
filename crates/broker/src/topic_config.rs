//! The topic configs the broker accepts, their defaults, and how they reach a log.
//!
//! Log configs (`retention.ms`, `segment.bytes`, ...) are parsed and enforced by the storage
//! crate's `LogConfig`. A few more Kafka topic configs are accepted because tools set them
//! routinely, or because the cluster acts on them, each with its meaning written next to it
//! below. Any other name is refused with INVALID_CONFIG rather than stored and silently
//! ignored.

use std::collections::BTreeMap;

use streambus_storage::LogConfig;

/// The topic config that allows unclean leader elections.
pub const UNCLEAN_LEADER_ELECTION: &str = "unclean.leader.election.enable";

/// Configs accepted besides the log configs: name, default, and the values allowed.
const OTHER_CONFIGS: &[(&str, &str, &[&str])] = &[
    // The broker keeps batches as the producer compressed them; recompressing on the broker
    // is not supported, so only the default is accepted.
    ("compression.type", "producer", &["producer"]),
    // Enforced on produce with acks=all against the in-sync replicas (one on a single node).
    ("min.insync.replicas", "1", &[]),
    // Whether the controller may elect a live replica outside the ISR when no ISR member is
    // live, losing what only the ISR had (see `controller`). A single node has no other
    // replica to elect, so there it changes nothing.
    (UNCLEAN_LEADER_ELECTION, "false", &["true", "false"]),
];

/// Why a topic config is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidConfig {
    /// The message for the client.
    pub message: String,
}

/// Every topic config name the broker knows, sorted.
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<&str> = LogConfig::NAMES.to_vec();
    names.extend(OTHER_CONFIGS.iter().map(|(name, _, _)| *name));
    names.sort_unstable();
    names
}

/// The default value of a topic config, from the broker's log defaults.
pub fn default_value(defaults: &LogConfig, name: &str) -> Option<String> {
    defaults.get(name).or_else(|| {
        OTHER_CONFIGS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, default, _)| default.to_string())
    })
}

/// Checks one config name and value.
pub fn validate(name: &str, value: &str) -> Result<(), InvalidConfig> {
    if LogConfig::NAMES.contains(&name) {
        let mut scratch = LogConfig::default();
        return scratch.set(name, value).map_err(|e| InvalidConfig {
            message: e.to_string(),
        });
    }
    let Some((_, _, allowed)) = OTHER_CONFIGS.iter().find(|(n, _, _)| *n == name) else {
        return Err(InvalidConfig {
            message: format!("unknown topic config {name}"),
        });
    };
    let ok = if allowed.is_empty() {
        value.trim().parse::<i32>().is_ok_and(|v| v >= 1)
    } else {
        // Kafka reads booleans without regard to case.
        allowed.iter().any(|a| a.eq_ignore_ascii_case(value.trim()))
    };
    if ok {
        Ok(())
    } else {
        Err(InvalidConfig {
            message: format!("invalid value {value:?} for config {name}"),
        })
    }
}

/// Checks a topic's whole set of overrides: each name and value, then the log config they
/// make together over the broker defaults (some limits only show in combination, such as a
/// `segment.bytes` beyond what 32-bit positions address).
pub fn validate_overrides(
    defaults: &LogConfig,
    overrides: &BTreeMap<String, String>,
) -> Result<(), InvalidConfig> {
    for (name, value) in overrides {
        validate(name, value)?;
    }
    log_config(defaults, overrides)
        .validate()
        .map_err(|e| InvalidConfig {
            message: e.to_string(),
        })
}

/// The log config of a topic: the broker defaults with the topic's overrides. Overrides
/// were validated when they were set; any that are not log configs are skipped.
pub fn log_config(defaults: &LogConfig, overrides: &BTreeMap<String, String>) -> LogConfig {
    let mut config = defaults.clone();
    for (name, value) in overrides {
        if LogConfig::NAMES.contains(&name.as_str())
            && let Err(e) = config.set(name, value)
        {
            tracing::warn!(config = %name, %value, error = %e, "ignoring an invalid stored topic config");
        }
    }
    config
}

/// `min.insync.replicas` of a topic.
pub fn min_insync_replicas(overrides: &BTreeMap<String, String>) -> i32 {
    overrides
        .get("min.insync.replicas")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1)
}

/// `unclean.leader.election.enable` of a topic: false unless set to true.
pub fn unclean_leader_election(overrides: &BTreeMap<String, String>) -> bool {
    overrides
        .get(UNCLEAN_LEADER_ELECTION)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_configs_and_known_kafka_configs_are_accepted() {
        assert!(validate("retention.ms", "1000").is_ok());
        assert!(validate("cleanup.policy", "compact").is_ok());
        assert!(validate("compression.type", "producer").is_ok());
        assert!(validate("min.insync.replicas", "2").is_ok());
        assert!(validate("retention.ms", "soon").is_err());
        assert!(validate("compression.type", "gzip").is_err());
        assert!(validate("min.insync.replicas", "0").is_err());
        assert!(validate(UNCLEAN_LEADER_ELECTION, "true").is_ok());
        assert!(validate(UNCLEAN_LEADER_ELECTION, "FALSE").is_ok());
        assert!(validate(UNCLEAN_LEADER_ELECTION, "yes").is_err());
        assert!(names().contains(&UNCLEAN_LEADER_ELECTION));
        assert_eq!(
            validate("no.such.config", "1").unwrap_err().message,
            "unknown topic config no.such.config"
        );
    }

    #[test]
    fn overrides_are_checked_one_by_one_and_together() {
        let defaults = LogConfig::default();
        let ok = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        assert!(validate_overrides(&defaults, &ok).is_ok());
        let unknown = BTreeMap::from([("no.such.config".to_string(), "1".to_string())]);
        assert!(validate_overrides(&defaults, &unknown).is_err());
        let huge = BTreeMap::from([("segment.bytes".to_string(), "10000000000".to_string())]);
        assert!(validate("segment.bytes", "10000000000").is_ok());
        assert!(validate_overrides(&defaults, &huge).is_err());
    }

    #[test]
    fn defaults_cover_every_name() {
        let defaults = LogConfig::default();
        for name in names() {
            assert!(default_value(&defaults, name).is_some(), "{name}");
        }
        assert_eq!(
            default_value(&defaults, "segment.bytes").as_deref(),
            Some("1073741824")
        );
    }

    #[test]
    fn overrides_apply_over_defaults() {
        let overrides = BTreeMap::from([
            ("retention.ms".to_string(), "5000".to_string()),
            ("min.insync.replicas".to_string(), "2".to_string()),
        ]);
        let config = log_config(&LogConfig::default(), &overrides);
        assert_eq!(config.retention_ms, 5000);
        assert_eq!(min_insync_replicas(&overrides), 2);
        assert!(!unclean_leader_election(&overrides));
        let unclean = BTreeMap::from([(UNCLEAN_LEADER_ELECTION.to_string(), "True".to_string())]);
        assert!(unclean_leader_election(&unclean));
    }
}
