//! The metadata log's settings.

use crate::error::ConfigError;

/// Settings of a [`LocalMetadataLog`](crate::LocalMetadataLog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataConfig {
    /// Records committed after the last snapshot that trigger a new one. Bounds both the
    /// replay work on open and the size of `metadata.log`, which holds about twice this.
    pub snapshot_every_records: u64,
}

impl Default for MetadataConfig {
    fn default() -> MetadataConfig {
        MetadataConfig {
            snapshot_every_records: 10_000,
        }
    }
}

impl MetadataConfig {
    /// Checks every setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.snapshot_every_records == 0 {
            return Err(ConfigError::Invalid {
                name: "snapshot_every_records",
                reason: "must be at least 1",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate() {
        MetadataConfig::default().validate().unwrap();
        let zero = MetadataConfig {
            snapshot_every_records: 0,
        };
        assert!(zero.validate().is_err());
    }
}
