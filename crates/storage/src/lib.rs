//! StreamBus partition storage.
//!
//! Each partition is a segmented log of Kafka RecordBatch v2 frames stored exactly as
//! producers sent them (ARCHITECTURE.md, decisions 2, 3 and 7). This crate owns batch
//! validation, segments and their indexes, recovery after a crash, retention, key
//! compaction, the flush policy and the set of logs in a data directory. It does no
//! networking.

pub mod batch;
pub mod compression;
pub mod records;
