//! Group coordinator settings, with Kafka's defaults.
//!
//! Owns [`GroupConfig`] and its validation; every [`crate::Group`] is created with one and
//! never changes it.

/// Settings of the group coordinator, named after the Kafka broker settings they mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`: smallest session timeout a member may ask for.
    pub min_session_timeout_ms: u32,
    /// `group.max.session.timeout.ms`: largest session timeout a member may ask for.
    pub max_session_timeout_ms: u32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group
    /// waits for more members; each member that joins meanwhile extends it, up to the
    /// rebalance timeout. `0` completes the first rebalance as soon as everyone has joined.
    pub initial_rebalance_delay_ms: u32,
    /// `group.max.size`: most members a group may have.
    pub group_max_size: usize,
    /// `offsets.retention.minutes` in milliseconds: how long the offsets of a group without
    /// members are kept after it became empty (or, for a group that never had members, after
    /// the commit).
    pub offsets_retention_ms: u64,
    /// `offsets.retention.check.interval.ms`: how long an empty group without offsets is
    /// kept before it is dropped (Kafka drops such groups in a cleanup pass this often).
    pub offsets_retention_check_interval_ms: u64,
    /// `offset.metadata.max.bytes`: longest metadata string kept with a committed offset.
    pub offset_metadata_max_bytes: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            group_max_size: i32::MAX as usize,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4096,
        }
    }
}

/// Why a [`GroupConfig`] is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The session timeout bounds are inverted.
    #[error("min session timeout {min_ms} ms is above max session timeout {max_ms} ms")]
    SessionTimeoutBounds {
        /// `min_session_timeout_ms`.
        min_ms: u32,
        /// `max_session_timeout_ms`.
        max_ms: u32,
    },
    /// A group must be allowed at least one member.
    #[error("group max size must be at least 1")]
    ZeroGroupMaxSize,
    /// Offsets must be kept for some time.
    #[error("offsets retention must be positive")]
    ZeroOffsetsRetention,
}

impl GroupConfig {
    /// Checks that the settings make sense together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.min_session_timeout_ms > self.max_session_timeout_ms {
            return Err(ConfigError::SessionTimeoutBounds {
                min_ms: self.min_session_timeout_ms,
                max_ms: self.max_session_timeout_ms,
            });
        }
        if self.group_max_size == 0 {
            return Err(ConfigError::ZeroGroupMaxSize);
        }
        if self.offsets_retention_ms == 0 {
            return Err(ConfigError::ZeroOffsetsRetention);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas_and_valid() {
        let config = GroupConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.offsets_retention_ms, 604_800_000);
    }

    #[test]
    fn inverted_session_bounds_are_rejected() {
        let config = GroupConfig {
            min_session_timeout_ms: 10,
            max_session_timeout_ms: 5,
            ..GroupConfig::default()
        };
        assert_eq!(
            config.validate(),
            Err(ConfigError::SessionTimeoutBounds {
                min_ms: 10,
                max_ms: 5
            })
        );
    }
}
