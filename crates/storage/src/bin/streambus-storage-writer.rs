//! Appends numbered records to a partition log and prints each acknowledged offset; used by
//! the crash tests (`tests/crash.rs`), which SIGKILL it at random points and then check that
//! every acknowledged record survived.
//!
//! Usage: `streambus-storage-writer <log dir> <record count> <seed>`
//!
//! The log is opened with `flush=always` (an append returns only once fsynced) and 64 KiB
//! segments, so that a run crosses several rolls. The writer continues from whatever the
//! directory already holds: the record at offset `n` always has sequence number `n`, key
//! `key-<n>`, timestamp `BASE_TIMESTAMP + n` and the value [`value_for`] derives from `n`
//! alone, so the parent can check every byte of any record it finds, including records of a
//! killed run that were written but never acknowledged. The seed only decides how records are
//! grouped into batches and appends.
//!
//! Output on stdout, one line each, flushed at once:
//! - `start <log end offset>` after opening;
//! - `acked <seq first> <seq last> <base offset> <last offset>` after each append returns;
//! - `done <log end offset>` after `<record count>` records and a clean close.
//!
//! Errors go to stderr and the exit status is 1.

use std::error::Error;
use std::io::Write;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use streambus_storage::records::BatchBuilder;
use streambus_storage::{FlushPolicy, LogConfig, PartitionLog};

/// Timestamp of the record at offset 0; the record at offset `n` has `BASE_TIMESTAMP + n`.
const BASE_TIMESTAMP: i64 = 1_600_000_000_000;
/// Segment size: small, so that a run of a few hundred appends rolls several times.
const SEGMENT_BYTES: u64 = 64 << 10;
/// Index interval: small, so that reads and recovery go through index entries.
const INDEX_INTERVAL_BYTES: u64 = 1024;
/// Appends between two recovery-point checkpoints, so that recovery trusts some segments.
const CHECKPOINT_EVERY: u64 = 25;

fn main() {
    if let Err(e) = run() {
        eprintln!("streambus-storage-writer: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: streambus-storage-writer <log dir> <record count> <seed>";
    let dir = PathBuf::from(args.next().ok_or(usage)?);
    let count: u64 = args.next().ok_or(usage)?.parse()?;
    let seed: u64 = args.next().ok_or(usage)?.parse()?;

    let config = LogConfig {
        segment_bytes: SEGMENT_BYTES,
        index_interval_bytes: INDEX_INTERVAL_BYTES,
        flush: FlushPolicy::Always,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(&dir, config)?;
    let mut stdout = std::io::stdout().lock();
    let mut seq = log.log_end_offset();
    writeln!(stdout, "start {seq}")?;
    stdout.flush()?;

    let mut rng = SplitMix64(seed);
    let stop = seq + i64::try_from(count)?;
    let mut appends = 0u64;
    while seq < stop {
        let batch_count = 1 + rng.below(3);
        let mut bytes = BytesMut::new();
        let first = seq;
        for _ in 0..batch_count {
            let records = (1 + rng.below(10) as i64).min(stop - seq);
            if records <= 0 {
                break;
            }
            bytes.extend_from_slice(&build_batch(seq, records)?);
            seq += records;
        }
        let info = log.append(&bytes, 0, BASE_TIMESTAMP + seq)?;
        writeln!(
            stdout,
            "acked {first} {} {} {}",
            seq - 1,
            info.base_offset,
            info.last_offset
        )?;
        stdout.flush()?;
        appends += 1;
        if appends.is_multiple_of(CHECKPOINT_EVERY) {
            log.checkpoint_recovery_point()?;
        }
    }
    log.close()?;
    writeln!(stdout, "done {}", log.log_end_offset())?;
    stdout.flush()?;
    Ok(())
}

/// One batch of the records with sequence numbers `first..first + count`.
fn build_batch(first: i64, count: i64) -> Result<BytesMut, Box<dyn Error>> {
    let mut builder = BatchBuilder::new().base_offset(first);
    for seq in first..first + count {
        builder.push_kv(
            BASE_TIMESTAMP + seq,
            Some(Bytes::from(format!("key-{seq}"))),
            Some(Bytes::from(value_for(seq))),
            Vec::new(),
        );
    }
    Ok(builder.build()?)
}

/// The value of record `seq`: `record-<seq>-` repeated and cut to a length between 16 and
/// 1515 bytes that depends on `seq` alone. `tests/crash.rs` has the same function.
fn value_for(seq: i64) -> Vec<u8> {
    let unit = format!("record-{seq}-");
    let len = 16 + (SplitMix64(seq as u64).next() % 1500) as usize;
    unit.bytes().cycle().take(len).collect()
}

/// A small deterministic generator (SplitMix64), enough to vary batch shapes by seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
