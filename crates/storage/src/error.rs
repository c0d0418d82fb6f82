//! The errors of this crate, with the context an operator needs to act on them.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::batch::BatchError;
use crate::config::ConfigError;

/// Everything a storage operation can fail with.
#[derive(Debug, Error)]
pub enum StorageError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("open", "write", "fsync", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A batch was refused.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// An idempotent producer's batch was refused.
    #[error(transparent)]
    Producer(#[from] crate::producer_state::ProducerError),
    /// A config was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The requested offset is outside `[log start, log end]` (OFFSET_OUT_OF_RANGE).
    #[error("offset {offset} is out of range: the log holds [{log_start}, {log_end})")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: i64,
        /// First offset held.
        log_start: i64,
        /// Offset the next append gets.
        log_end: i64,
    },
    /// Stored data does not check out (KAFKA_STORAGE_ERROR). Never served.
    #[error("corrupt data in {path} at byte {position}: {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte position of the damaged batch.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// Another process holds the data directory.
    #[error("data directory {path} is locked by another process")]
    Locked {
        /// The data directory.
        path: PathBuf,
    },
    /// The log already exists (create) or does not (delete, lookup).
    #[error("log {name} {problem}")]
    Log {
        /// `topic-partition`.
        name: String,
        /// "already exists" or "does not exist".
        problem: &'static str,
    },
    /// The log was deleted or closed while in use.
    #[error("log {path} is closed")]
    Closed {
        /// The partition directory.
        path: PathBuf,
    },
}

/// Shorthand for this crate's results.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Attaches an operation and a path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn at(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| StorageError::Io {
            op,
            path: path.into(),
            source,
        })
    }
}
