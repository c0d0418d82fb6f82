//! What every client (producer, consumer, admin) needs to reach a cluster.

use std::time::Duration;

use crate::backoff::{BackoffConfig, BreakerConfig};
use crate::error::{Error, Result};

/// Connection settings shared by the producer, the consumer and the admin client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` addresses to learn the cluster from; any one that answers is enough.
    pub bootstrap: Vec<String>,
    /// Sent in every request header; brokers log it.
    pub client_id: String,
    /// How long a TCP connect may take.
    pub connect_timeout: Duration,
    /// How long a request may wait for its response.
    pub request_timeout: Duration,
    /// How old cached metadata may get before a refresh.
    pub metadata_max_age: Duration,
    /// Waits between retries and reconnects.
    pub backoff: BackoffConfig,
    /// When to stop trying a failing broker for a while.
    pub breaker: BreakerConfig,
}

impl ClientConfig {
    /// Settings for the comma-separated `bootstrap` list (`host:port,host:port`), with the
    /// Kafka client defaults for the rest.
    pub fn new(bootstrap: &str) -> ClientConfig {
        ClientConfig {
            bootstrap: bootstrap
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            client_id: "streambus-client".to_owned(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            metadata_max_age: Duration::from_secs(300),
            backoff: BackoffConfig::default(),
            breaker: BreakerConfig::default(),
        }
    }

    /// Refuses settings that cannot work, saying which.
    pub fn validate(&self) -> Result<()> {
        if self.bootstrap.is_empty() {
            return Err(Error::Invalid(
                "no bootstrap address: give at least one host:port".into(),
            ));
        }
        for addr in &self.bootstrap {
            let port = addr.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(_))) {
                return Err(Error::Invalid(format!(
                    "bootstrap address {addr:?} is not host:port"
                )));
            }
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::Invalid("timeouts must be above zero".into()));
        }
        Ok(())
    }
}
