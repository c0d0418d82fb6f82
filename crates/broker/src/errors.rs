//! The one place where errors a client can cause become the Kafka error codes its client
//! expects (STYLE.md, Errors).

use streambus_protocol::ErrorCode;
use streambus_replication::ReplicationError;
use streambus_storage::batch::{BatchError, KafkaBatchError};
use streambus_storage::{ProducerError, StorageError};

/// A Kafka error code with the message for the response's error message field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaError {
    /// The code.
    pub code: ErrorCode,
    /// A message for humans, where the API carries one.
    pub message: Option<String>,
}

impl KafkaError {
    /// A code with a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        KafkaError {
            code,
            message: Some(message.into()),
        }
    }

    /// The error code and message fields of a response for `result`.
    pub fn fields(result: Result<(), KafkaError>) -> (i16, Option<String>) {
        match result {
            Ok(()) => (ErrorCode::None.code(), None),
            Err(e) => (e.code.code(), e.message),
        }
    }
}

impl From<&BatchError> for KafkaError {
    fn from(error: &BatchError) -> Self {
        let code = match error.kafka_error() {
            KafkaBatchError::CorruptMessage => ErrorCode::CorruptMessage,
            KafkaBatchError::MessageTooLarge => ErrorCode::MessageTooLarge,
            KafkaBatchError::InvalidRecord => ErrorCode::InvalidRecord,
            KafkaBatchError::UnsupportedCompressionType => ErrorCode::UnsupportedCompressionType,
        };
        KafkaError::new(code, error.to_string())
    }
}

impl From<&StorageError> for KafkaError {
    fn from(error: &StorageError) -> Self {
        match error {
            StorageError::Batch(e) => e.into(),
            StorageError::OffsetOutOfRange { .. } => {
                KafkaError::new(ErrorCode::OffsetOutOfRange, error.to_string())
            }
            StorageError::Producer(ProducerError::OutOfOrderSequence { .. }) => {
                KafkaError::new(ErrorCode::OutOfOrderSequenceNumber, error.to_string())
            }
            StorageError::Producer(ProducerError::StaleEpoch { .. }) => {
                KafkaError::new(ErrorCode::InvalidProducerEpoch, error.to_string())
            }
            StorageError::Config(e) => KafkaError::new(ErrorCode::InvalidConfig, e.to_string()),
            StorageError::Log { .. } | StorageError::Closed { .. } => {
                KafkaError::new(ErrorCode::UnknownTopicOrPartition, error.to_string())
            }
            StorageError::Io { .. }
            | StorageError::Corrupt { .. }
            | StorageError::Locked { .. } => {
                tracing::error!(error = %error, "storage error");
                KafkaError::new(ErrorCode::KafkaStorageError, error.to_string())
            }
        }
    }
}

impl From<&ReplicationError> for KafkaError {
    fn from(error: &ReplicationError) -> Self {
        match error {
            ReplicationError::UnknownPartition { .. } => {
                KafkaError::new(ErrorCode::UnknownTopicOrPartition, error.to_string())
            }
            ReplicationError::OffsetOutOfRange { .. } => {
                KafkaError::new(ErrorCode::OffsetOutOfRange, error.to_string())
            }
            ReplicationError::Storage(e) => e.into(),
            ReplicationError::TaskFailed => {
                tracing::error!(error = %error, "storage task failed");
                KafkaError::new(ErrorCode::UnknownServerError, error.to_string())
            }
            ReplicationError::NotLeader { .. } | ReplicationError::FollowerFetch { .. } => {
                KafkaError::new(ErrorCode::NotLeaderOrFollower, error.to_string())
            }
            ReplicationError::ReplicationTimeout { .. } => {
                KafkaError::new(ErrorCode::RequestTimedOut, error.to_string())
            }
            ReplicationError::NotEnoughReplicasAfterAppend { .. } => {
                KafkaError::new(ErrorCode::NotEnoughReplicasAfterAppend, error.to_string())
            }
            ReplicationError::State { .. } | ReplicationError::NoRuntime { .. } => {
                tracing::error!(error = %error, "replica cannot take up its role");
                KafkaError::new(ErrorCode::UnknownServerError, error.to_string())
            }
        }
    }
}
