//! Kafka's RecordBatch v2, the unit every producer sends, every partition stores and every
//! consumer reads. Level 0: no I/O, no async runtime.
//!
//! The broker's storage and the Rust client share this crate, so that what one writes the
//! other reads by the same code:
//! - [`batch`]: the 61-byte batch header, CRC32C integrity, produce-time validation and the
//!   in-place rewrites the broker does (base offset, leader epoch, LogAppendTime);
//! - [`records`]: decoding the records inside a batch and building whole batches;
//! - [`compression`]: gzip, snappy, lz4 and zstd as Kafka frames them, with decompression
//!   bounded by the caller's limit.

pub mod batch;
pub mod compression;
pub mod records;
