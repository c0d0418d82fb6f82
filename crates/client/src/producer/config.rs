//! Producer settings, with the Java client's names and defaults where they apply.

use std::time::Duration;

pub use streambus_records::batch::Compression;

use crate::config::ClientConfig;
use crate::error::{Error, Result};

/// How many replicas must have a record before the broker acknowledges it (`acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// Every in-sync replica (`acks=all`, `-1`).
    All,
    /// The leader only (`acks=1`).
    Leader,
    /// No acknowledgement at all (`acks=0`): offsets are unknown and errors go unseen.
    None,
}

impl Acks {
    /// The value of the Produce request's `acks` field.
    pub fn wire(self) -> i16 {
        match self {
            Acks::All => -1,
            Acks::Leader => 1,
            Acks::None => 0,
        }
    }
}

/// Producer settings.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// How to reach the cluster.
    pub client: ClientConfig,
    /// `acks`; `All` by default, as idempotence requires.
    pub acks: Acks,
    /// How long a batch waits for more records before it is sent (`linger.ms`, 5 ms).
    pub linger: Duration,
    /// Bytes of records that fill a batch (`batch.size`, 16 KiB).
    pub batch_size: usize,
    /// Bytes of records waiting to be sent before `enqueue` waits (`buffer.memory`, 32 MiB).
    pub buffer_memory: usize,
    /// The largest record accepted (`max.request.size`, 1 MiB).
    pub max_request_size: usize,
    /// Codec of the batches (`compression.type`, none).
    pub compression: Compression,
    /// Producer id and sequence numbers, so that retries neither duplicate nor reorder
    /// (`enable.idempotence`, on).
    pub idempotence: bool,
    /// Batches in flight per partition (`max.in.flight.requests.per.connection`, 5).
    pub max_in_flight: usize,
    /// How long a record may take to be acknowledged, retries included
    /// (`delivery.timeout.ms`, 120 s).
    pub delivery_timeout: Duration,
    /// Ask the broker to create unknown topics, where it allows that.
    pub auto_create_topics: bool,
}

impl ProducerConfig {
    /// The defaults, for `client`.
    pub fn new(client: ClientConfig) -> ProducerConfig {
        ProducerConfig {
            client,
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_size: 16 * 1024,
            buffer_memory: 32 * 1024 * 1024,
            max_request_size: 1024 * 1024,
            compression: Compression::None,
            idempotence: true,
            max_in_flight: 5,
            delivery_timeout: Duration::from_secs(120),
            auto_create_topics: false,
        }
    }

    /// Refuses settings that cannot work together, saying which.
    pub fn validate(&self) -> Result<()> {
        self.client.validate()?;
        let invalid = |m: &str| Err(Error::Invalid(m.to_owned()));
        if self.idempotence && self.acks != Acks::All {
            return invalid("idempotence needs acks=all (or turn idempotence off)");
        }
        if self.idempotence && !(1..=5).contains(&self.max_in_flight) {
            return invalid("idempotence needs max_in_flight between 1 and 5");
        }
        if self.max_in_flight == 0 {
            return invalid("max_in_flight must be at least 1");
        }
        if self.batch_size == 0 || self.max_request_size == 0 {
            return invalid("batch_size and max_request_size must be above zero");
        }
        if self.buffer_memory < self.max_request_size {
            return invalid("buffer_memory must hold at least one max_request_size record");
        }
        if self.delivery_timeout < self.linger {
            return invalid("delivery_timeout must be at least linger");
        }
        Ok(())
    }
}
