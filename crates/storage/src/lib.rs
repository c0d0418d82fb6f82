//! StreamBus partition storage.
//!
//! Each partition is a segmented log of Kafka RecordBatch v2 frames stored exactly as
//! producers sent them (ARCHITECTURE.md, decisions 2, 3 and 7). This crate owns segments
//! and their sparse indexes, recovery after a crash ([`PartitionLog::open`]), retention, key
//! compaction, the flush policy ([`FlushPolicy`]) and the set of logs in a data directory
//! ([`LogManager`]). The batch format itself (validation, the record codec, compression) is
//! `streambus-records`, re-exported here as [`batch`], [`records`] and [`compression`]. It
//! does no networking.

// The batch format lives in its own crate, shared with the client; these paths stay.
pub use streambus_records::{batch, compression, records};

mod checkpoint;
mod config;
mod error;
mod fsync_stats;
mod index;
mod log;
mod manager;
mod producer_state;
mod scan;
mod segment;

pub use config::{CleanupPolicy, ConfigError, FlushPolicy, LogConfig};
pub use error::{Result, StorageError};
pub use fsync_stats::{FSYNC_BUCKETS_SECONDS, FsyncSnapshot, FsyncStats, fsync_stats};
pub use log::{
    AppendInfo, CompactionOutcome, LogRead, PartitionLog, RecoveryReport, RetentionOutcome,
    TimestampOffset,
};
pub use manager::{
    Chores, LogManager, LogManagerConfig, MaintenanceHandle, MaintenanceReport, OpenReport,
    RECOVERY_CHECKPOINT_EVERY, TopicPartition, is_legal_topic_name, now_ms,
};
pub use producer_state::{BATCHES_PER_PRODUCER, ProducerBatch, ProducerEntry, ProducerError};
