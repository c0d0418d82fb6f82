//! What can go wrong talking to a cluster, in words that say what happened and what to do.
//!
//! Every error names the broker address or the topic and partition it concerns. Kafka error
//! codes keep their protocol names (`UNKNOWN_TOPIC_OR_PARTITION`) so that they can be looked
//! up, and [`Error::is_retriable`] tells the retry loops which ones are worth another try.

use std::time::Duration;

use streambus_protocol::{ApiKey, DecodeError, EncodeError, ErrorCode};

/// A client error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing listens at the address: the broker is not running or the address is wrong.
    #[error("no broker at {addr}: is `streambus serve` running?")]
    NoBroker {
        /// The address tried.
        addr: String,
    },
    /// Connecting failed for another reason than a refusal (unreachable, name not found).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The connection closed or broke while a request was outstanding.
    #[error("the connection to {addr} was lost: {reason}")]
    Disconnected {
        /// The broker's address.
        addr: String,
        /// What the socket reported.
        reason: String,
    },
    /// No response came within the request timeout.
    #[error("{api} request to {addr} got no response within {timeout:?}")]
    Timeout {
        /// The API of the request.
        api: &'static str,
        /// The broker's address.
        addr: String,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// The broker failed repeatedly, so requests to it are refused for a while
    /// without trying.
    #[error("broker {addr} failed {failures} times in a row; not trying it again for {retry_in:?}")]
    CircuitOpen {
        /// The broker's address.
        addr: String,
        /// Consecutive failures that opened the circuit.
        failures: u32,
        /// How long until a probe request is let through.
        retry_in: Duration,
    },
    /// The broker supports no version of an API this client can speak.
    #[error("broker {addr} does not support {api} in versions {min}-{max}")]
    UnsupportedVersion {
        /// The broker's address.
        addr: String,
        /// The API.
        api: &'static str,
        /// The lowest version the client speaks.
        min: i16,
        /// The highest version the client speaks.
        max: i16,
    },
    /// The broker answered with a Kafka error code.
    #[error("{context}: {} ({})", code.name(), describe(*code, message.as_deref()))]
    Kafka {
        /// The error code.
        code: ErrorCode,
        /// What the request was about (a topic, a partition, a group).
        context: String,
        /// The broker's own message, when it sent one.
        message: Option<String>,
    },
    /// A response did not decode, or a request did not encode.
    #[error("protocol error with {addr}: {reason}")]
    Protocol {
        /// The broker's address.
        addr: String,
        /// What was wrong.
        reason: String,
    },
    /// The caller asked for something that cannot work (an empty bootstrap list, a
    /// partition that does not exist, a setting out of range).
    #[error("{0}")]
    Invalid(String),
    /// A record could not be delivered within the delivery timeout, retries included.
    #[error("record for {topic}-{partition} not delivered within {timeout:?}: {last_error}")]
    DeliveryTimeout {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The delivery timeout.
        timeout: Duration,
        /// The last error seen while retrying.
        last_error: String,
    },
    /// The producer or consumer was closed.
    #[error("the client is closed")]
    Closed,
}

/// A client result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A Kafka error for `context`, or `Ok` when `code` is 0.
    pub fn check(code: i16, context: impl FnOnce() -> String) -> Result<()> {
        Self::check_with_message(code, None, context)
    }

    /// Like [`Error::check`], keeping the broker's error message.
    pub fn check_with_message(
        code: i16,
        message: Option<&str>,
        context: impl FnOnce() -> String,
    ) -> Result<()> {
        if code == 0 {
            return Ok(());
        }
        Err(Error::Kafka {
            code: ErrorCode::from_code(code).unwrap_or(ErrorCode::UnknownServerError),
            context: context(),
            message: message.map(str::to_owned),
        })
    }

    /// The Kafka error code, if the broker sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether trying again later may succeed: lost connections, timeouts, an open circuit,
    /// and Kafka's retriable error codes.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::NoBroker { .. }
            | Error::Connect { .. }
            | Error::Disconnected { .. }
            | Error::Timeout { .. }
            | Error::CircuitOpen { .. } => true,
            Error::Kafka { code, .. } => code.is_retriable(),
            _ => false,
        }
    }

    /// Whether the error says the cached metadata (leaders, partitions) is stale.
    pub fn invalidates_metadata(&self) -> bool {
        matches!(
            self.code(),
            Some(
                ErrorCode::NotLeaderOrFollower
                    | ErrorCode::LeaderNotAvailable
                    | ErrorCode::UnknownTopicOrPartition
                    | ErrorCode::FencedLeaderEpoch
                    | ErrorCode::UnknownLeaderEpoch
                    | ErrorCode::KafkaStorageError
            )
        ) || matches!(self, Error::Disconnected { .. } | Error::NoBroker { .. })
    }

    pub(crate) fn decode(addr: &str, api: ApiKey, error: DecodeError) -> Error {
        Error::Protocol {
            addr: addr.to_owned(),
            reason: format!("cannot decode the {} response: {error}", api.name()),
        }
    }

    pub(crate) fn encode(addr: &str, api: ApiKey, error: EncodeError) -> Error {
        Error::Protocol {
            addr: addr.to_owned(),
            reason: format!("cannot encode the {} request: {error}", api.name()),
        }
    }
}

/// The broker's message, or a short explanation of the code for the common ones.
fn describe(code: ErrorCode, message: Option<&str>) -> String {
    if let Some(message) = message.filter(|m| !m.is_empty()) {
        return message.to_owned();
    }
    match code {
        ErrorCode::UnknownTopicOrPartition => "the topic or partition does not exist".into(),
        ErrorCode::TopicAlreadyExists => "a topic of that name exists".into(),
        ErrorCode::InvalidTopicException => "the topic name is not valid".into(),
        ErrorCode::InvalidPartitions => "the partition count is not valid".into(),
        ErrorCode::InvalidReplicationFactor => "the replication factor is not valid".into(),
        ErrorCode::InvalidConfig => "a config value is not valid".into(),
        ErrorCode::GroupIdNotFound => "no such group".into(),
        ErrorCode::NonEmptyGroup => "the group has active members; stop them first".into(),
        ErrorCode::MessageTooLarge => "the record is larger than the topic allows".into(),
        ErrorCode::NotLeaderOrFollower => "leadership moved; retry after a metadata refresh".into(),
        ErrorCode::PolicyViolation => "the request breaks a broker policy".into(),
        _ => "see the Kafka protocol guide for this code".into(),
    }
}
