//! Per-log configuration under Kafka's topic config names, with Kafka's defaults.
//!
//! A `LogConfig` is what one partition log obeys. The broker builds one per topic from the
//! broker defaults and the topic's overrides (`LogConfig::set` takes Kafka's names and
//! string values, exactly as CreateTopics and AlterConfigs carry them) and hands it to the
//! [`LogManager`](crate::LogManager).

use std::time::Duration;

use thiserror::Error;

use crate::batch::TimestampType;

/// When appended data is fsynced (ARCHITECTURE.md, decision 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// Sync before an append is acknowledged. Concurrent appends share one fsync (group
    /// commit). The single-node default: no replica protects unsynced data.
    Always,
    /// Sync once `flush.interval.bytes` are unsynced or `flush.ms` has passed since the
    /// last sync, whichever comes first. Data acknowledged in between can be lost by a power
    /// failure (not by a process crash: it is in the page cache).
    Interval,
    /// Never sync on the hot path; the kernel writes back dirty pages when it likes.
    /// Rolled segments are synced by the next maintenance pass, and everything on close.
    Os,
}

/// What happens to old data (`cleanup.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CleanupPolicy {
    /// Delete whole segments past `retention.ms` / `retention.bytes`.
    pub delete: bool,
    /// Keep only the latest record per key in closed segments.
    pub compact: bool,
}

impl CleanupPolicy {
    /// `cleanup.policy=delete`, Kafka's default.
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: false,
    };
    /// `cleanup.policy=compact`.
    pub const COMPACT: CleanupPolicy = CleanupPolicy {
        delete: false,
        compact: true,
    };
}

/// Everything a partition log obeys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: a segment is rolled before it would grow past this size.
    pub segment_bytes: u64,
    /// `segment.ms`: a non-empty segment is rolled once its first batch is this old.
    pub segment_ms: i64,
    /// `segment.index.bytes`: the largest an offset index may grow before a roll.
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: bytes of batches between two index entries.
    pub index_interval_bytes: u64,
    /// `retention.ms`: segments whose newest record is older are deleted; -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes`: oldest segments are deleted while the log is larger; -1 = no limit.
    pub retention_bytes: i64,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: how long a compacted log keeps tombstones.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: records younger than this are never compacted away.
    pub min_compaction_lag_ms: i64,
    /// `max.message.bytes`: the largest batch a producer may append.
    pub max_message_bytes: u64,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `flush.policy`: `always`, `interval` or `os`.
    pub flush: FlushPolicy,
    /// `flush.interval.bytes`: with `interval`, sync once this many bytes are unsynced.
    pub flush_interval_bytes: u64,
    /// `flush.ms`: with `interval`, sync when the last sync is this old.
    pub flush_interval: Duration,
}

/// Kafka's default `max.message.bytes` (1 MiB plus record batch overhead).
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 1_048_588;

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            cleanup_policy: CleanupPolicy::DELETE,
            delete_retention_ms: 24 * 3600 * 1000,
            min_compaction_lag_ms: 0,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            timestamp_type: TimestampType::CreateTime,
            flush: FlushPolicy::Always,
            flush_interval_bytes: 1 << 20,
            flush_interval: Duration::from_millis(1000),
        }
    }
}

/// A config name or value that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// Not a config this log knows.
    #[error("unknown config {name}")]
    Unknown {
        /// The config name.
        name: String,
    },
    /// The value does not parse or is out of range.
    #[error("invalid value {value:?} for config {name}: {reason}")]
    InvalidValue {
        /// The config name.
        name: String,
        /// The value given.
        value: String,
        /// What is expected.
        reason: &'static str,
    },
}

/// Smallest `segment.bytes` Kafka accepts.
const MIN_SEGMENT_BYTES: u64 = 14;

impl LogConfig {
    /// The topic config names `set` understands.
    pub const NAMES: &'static [&'static str] = &[
        "segment.bytes",
        "segment.ms",
        "segment.index.bytes",
        "index.interval.bytes",
        "retention.ms",
        "retention.bytes",
        "cleanup.policy",
        "delete.retention.ms",
        "min.compaction.lag.ms",
        "max.message.bytes",
        "message.timestamp.type",
        "flush.policy",
        "flush.interval.bytes",
        "flush.ms",
    ];

    /// Applies one topic config by its Kafka name.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let invalid = |reason| ConfigError::InvalidValue {
            name: name.to_string(),
            value: value.to_string(),
            reason,
        };
        let int = |min: i64| -> Result<i64, ConfigError> {
            match value.trim().parse::<i64>() {
                Ok(v) if v >= min => Ok(v),
                Ok(_) if min == -1 => Err(invalid("must be -1 or at least 0")),
                Ok(_) => Err(invalid("out of range")),
                Err(_) => Err(invalid("not an integer")),
            }
        };
        match name {
            "segment.bytes" => {
                self.segment_bytes = int(MIN_SEGMENT_BYTES as i64)? as u64;
            }
            "segment.ms" => self.segment_ms = int(1)?,
            "segment.index.bytes" => self.segment_index_bytes = int(8)? as u64,
            "index.interval.bytes" => self.index_interval_bytes = int(0)? as u64,
            "retention.ms" => self.retention_ms = int(-1)?,
            "retention.bytes" => self.retention_bytes = int(-1)?,
            "delete.retention.ms" => self.delete_retention_ms = int(0)?,
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = int(0)?,
            "max.message.bytes" => self.max_message_bytes = int(0)? as u64,
            "cleanup.policy" => {
                let mut policy = CleanupPolicy::default();
                for part in value.split(',').map(str::trim) {
                    match part {
                        "delete" => policy.delete = true,
                        "compact" => policy.compact = true,
                        _ => return Err(invalid("expected delete, compact or both")),
                    }
                }
                self.cleanup_policy = policy;
            }
            "message.timestamp.type" => {
                self.timestamp_type = match value.trim() {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => return Err(invalid("expected CreateTime or LogAppendTime")),
                }
            }
            "flush.policy" => {
                self.flush = match value.trim() {
                    "always" => FlushPolicy::Always,
                    "interval" => FlushPolicy::Interval,
                    "os" => FlushPolicy::Os,
                    _ => return Err(invalid("expected always, interval or os")),
                }
            }
            "flush.interval.bytes" => self.flush_interval_bytes = int(1)? as u64,
            "flush.ms" => self.flush_interval = Duration::from_millis(int(1)? as u64),
            _ => {
                return Err(ConfigError::Unknown {
                    name: name.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The value of a config by its Kafka name, as `set` takes it.
    pub fn get(&self, name: &str) -> Option<String> {
        let value = match name {
            "segment.bytes" => self.segment_bytes.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            "segment.index.bytes" => self.segment_index_bytes.to_string(),
            "index.interval.bytes" => self.index_interval_bytes.to_string(),
            "retention.ms" => self.retention_ms.to_string(),
            "retention.bytes" => self.retention_bytes.to_string(),
            "cleanup.policy" => match (self.cleanup_policy.delete, self.cleanup_policy.compact) {
                (true, true) => "compact,delete".to_string(),
                (false, true) => "compact".to_string(),
                _ => "delete".to_string(),
            },
            "delete.retention.ms" => self.delete_retention_ms.to_string(),
            "min.compaction.lag.ms" => self.min_compaction_lag_ms.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "message.timestamp.type" => match self.timestamp_type {
                TimestampType::CreateTime => "CreateTime".to_string(),
                TimestampType::LogAppendTime => "LogAppendTime".to_string(),
            },
            "flush.policy" => match self.flush {
                FlushPolicy::Always => "always".to_string(),
                FlushPolicy::Interval => "interval".to_string(),
                FlushPolicy::Os => "os".to_string(),
            },
            "flush.interval.bytes" => self.flush_interval_bytes.to_string(),
            "flush.ms" => self.flush_interval.as_millis().to_string(),
            _ => return None,
        };
        Some(value)
    }

    /// Applies a set of topic configs over this one, all or nothing.
    pub fn with_overrides<'a>(
        &self,
        overrides: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<LogConfig, ConfigError> {
        let mut config = self.clone();
        for (name, value) in overrides {
            config.set(name, value)?;
        }
        Ok(config)
    }

    /// Checks the values are usable together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |name: &str, value: String, reason| {
            Err(ConfigError::InvalidValue {
                name: name.to_string(),
                value,
                reason,
            })
        };
        if self.segment_bytes < MIN_SEGMENT_BYTES {
            return fail(
                "segment.bytes",
                self.segment_bytes.to_string(),
                "out of range",
            );
        }
        if self.segment_bytes > u64::from(u32::MAX) {
            return fail(
                "segment.bytes",
                self.segment_bytes.to_string(),
                "segments are addressed with 32-bit positions",
            );
        }
        if !self.cleanup_policy.delete && !self.cleanup_policy.compact {
            return fail(
                "cleanup.policy",
                String::new(),
                "expected delete, compact or both",
            );
        }
        if self.flush_interval_bytes == 0 {
            return fail("flush.interval.bytes", "0".into(), "must be positive");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let config = LogConfig::default();
        assert_eq!(config.segment_bytes, 1_073_741_824);
        assert_eq!(config.retention_ms, 604_800_000);
        assert_eq!(config.retention_bytes, -1);
        assert_eq!(config.index_interval_bytes, 4096);
        assert_eq!(config.max_message_bytes, 1_048_588);
        assert_eq!(config.cleanup_policy, CleanupPolicy::DELETE);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn set_parses_kafka_names() {
        let config = LogConfig::default()
            .with_overrides([
                ("segment.bytes", "1048576"),
                ("retention.ms", "-1"),
                ("cleanup.policy", "compact,delete"),
                ("message.timestamp.type", "LogAppendTime"),
                ("flush.policy", "interval"),
                ("flush.ms", "250"),
            ])
            .unwrap();
        assert_eq!(config.segment_bytes, 1_048_576);
        assert_eq!(config.retention_ms, -1);
        assert_eq!(
            config.cleanup_policy,
            CleanupPolicy {
                delete: true,
                compact: true
            }
        );
        assert_eq!(config.timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(config.flush, FlushPolicy::Interval);
        assert_eq!(config.flush_interval, Duration::from_millis(250));
    }

    #[test]
    fn get_returns_what_set_takes() {
        let defaults = LogConfig::default();
        let mut copy = LogConfig {
            segment_bytes: 12345,
            flush: FlushPolicy::Os,
            cleanup_policy: CleanupPolicy {
                delete: true,
                compact: true,
            },
            ..LogConfig::default()
        };
        for name in LogConfig::NAMES {
            let value = defaults.get(name).unwrap();
            copy.set(name, &value).unwrap();
        }
        assert_eq!(copy, defaults);
        assert_eq!(defaults.get("retention.ms").as_deref(), Some("604800000"));
        assert_eq!(defaults.get("no.such.config"), None);
    }

    #[test]
    fn set_rejects_bad_values_and_names() {
        let mut config = LogConfig::default();
        assert!(matches!(
            config.set("segment.bytes", "10"),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert!(matches!(
            config.set("retention.ms", "-2"),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert!(matches!(
            config.set("retention.ms", "soon"),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert!(matches!(
            config.set("cleanup.policy", "shred"),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert!(matches!(
            config.set("no.such.config", "1"),
            Err(ConfigError::Unknown { .. })
        ));
        assert_eq!(config, LogConfig::default());
    }
}
