//! Functional tests of `PartitionLog` and `LogManager` on real files: appends and reads,
//! rolling, reopening, truncation, DeleteRecords, timestamp lookups, retention, compaction,
//! the flush policy, the data-directory lock and which files a log holds open.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use bytes::Bytes;
use streambus_storage::batch::{BatchIter, TimestampType};
use streambus_storage::records::{BatchBuilder, Record, decode_records};
use streambus_storage::{
    Chores, CleanupPolicy, FlushPolicy, LogConfig, LogManager, LogManagerConfig, PartitionLog,
    StorageError, TopicPartition,
};
use tempfile::TempDir;

const NOW: i64 = 1_700_000_000_000;

/// A batch of `count` records `key-i` / `value-i` with timestamps `ts, ts+1, ...`.
fn batch(first: usize, count: usize, ts: i64) -> Vec<u8> {
    let mut builder = BatchBuilder::new();
    for i in first..first + count {
        builder.push_kv(
            ts + (i - first) as i64,
            Some(Bytes::from(format!("key-{i}"))),
            Some(Bytes::from(format!("value-{i}"))),
            Vec::new(),
        );
    }
    builder.build().unwrap().to_vec()
}

fn keyed(key: &str, value: Option<&str>, ts: i64) -> Vec<u8> {
    let mut builder = BatchBuilder::new();
    builder.push_kv(
        ts,
        Some(Bytes::from(key.to_string())),
        value.map(|v| Bytes::from(v.to_string())),
        Vec::new(),
    );
    builder.build().unwrap().to_vec()
}

/// Every record in `bytes` as (offset, key, value).
fn records(bytes: &[u8]) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    for (header, range) in BatchIter::new(bytes) {
        for record in decode_records(&bytes[range], 1 << 24).unwrap() {
            out.push((
                record.offset(header.base_offset),
                String::from_utf8(record.key.unwrap().to_vec()).unwrap(),
                record.value.map(|v| String::from_utf8(v.to_vec()).unwrap()),
            ));
        }
    }
    out
}

fn read_all(log: &PartitionLog, from: i64) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    let mut next = from;
    while next < log.log_end_offset() {
        let read = log.read(next, 1 << 20, None).unwrap();
        let batch = records(&read.records);
        assert!(!batch.is_empty(), "read at {next} returned nothing");
        next = batch.last().unwrap().0 + 1;
        out.extend(batch.into_iter().filter(|r| r.0 >= from));
    }
    out
}

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

fn open(dir: &TempDir, config: LogConfig) -> PartitionLog {
    PartitionLog::open(&dir.path().join("t-0"), config).unwrap()
}

#[test]
fn append_assigns_offsets_and_reads_back_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, LogConfig::default());
    let first = batch(0, 3, NOW);
    let second = batch(3, 2, NOW + 10);
    let a = log.append(&first, 7, NOW).unwrap();
    let b = log.append(&second, 7, NOW).unwrap();
    assert_eq!((a.base_offset, a.last_offset), (0, 2));
    assert_eq!((b.base_offset, b.last_offset), (3, 4));
    assert_eq!((a.position, b.position), (0, first.len() as u64));
    assert_eq!(a.log_append_time, -1);
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(
        log.durable_offset(),
        5,
        "flush=always syncs before returning"
    );

    let read = log.read(0, 1 << 20, None).unwrap();
    assert_eq!(read.records.len(), first.len() + second.len());
    // Only the base offset (bytes 0..8) and leader epoch (12..16) differ from what was sent.
    let stored_second = &read.records[first.len()..];
    assert_eq!(&stored_second[..8], &3i64.to_be_bytes());
    assert_eq!(&stored_second[12..16], &7i32.to_be_bytes());
    assert_eq!(&stored_second[8..12], &second[8..12]);
    assert_eq!(&stored_second[16..], &second[16..]);
    let got = records(&read.records);
    assert_eq!(got.len(), 5);
    assert_eq!(got[4], (4, "key-4".into(), Some("value-4".into())));
}

#[test]
fn read_starts_with_the_batch_holding_the_offset_and_respects_limits() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, small_segments());
    for i in 0..10 {
        log.append(&batch(i * 4, 4, NOW), 0, NOW).unwrap();
    }
    // Offset 13 lies in the batch 12..=15.
    let read = log.read(13, 1, None).unwrap();
    let got = records(&read.records);
    assert_eq!(got.first().unwrap().0, 12, "whole batch, from its base");
    assert_eq!(got.len(), 4, "one batch even though it exceeds max_bytes");
    // A limit that fits exactly two batches.
    let one = batch(0, 4, NOW).len();
    let read = log.read(0, one * 2, None).unwrap();
    assert_eq!(read.records.len(), one * 2);
    // max_offset hides batches at or past it.
    let read = log.read(0, 1 << 20, Some(8)).unwrap();
    assert_eq!(records(&read.records).last().unwrap().0, 7);
    let read = log.read(8, 1 << 20, Some(8)).unwrap();
    assert!(read.records.is_empty());
    // At the end: empty; past the end or before the start: out of range.
    assert!(log.read(40, 100, None).unwrap().records.is_empty());
    assert!(matches!(
        log.read(41, 100, None),
        Err(StorageError::OffsetOutOfRange {
            offset: 41,
            log_start: 0,
            log_end: 40
        })
    ));
    assert!(matches!(
        log.read(-1, 100, None),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn segments_roll_by_size_and_reads_cross_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, small_segments());
    for i in 0..50 {
        log.append(&batch(i * 2, 2, NOW), 0, NOW).unwrap();
    }
    assert!(log.segment_count() >= 3, "{} segments", log.segment_count());
    let all = read_all(&log, 0);
    assert_eq!(all.len(), 100);
    for (i, (offset, key, _)) in all.iter().enumerate() {
        assert_eq!(*offset, i as i64);
        assert_eq!(key, &format!("key-{i}"));
    }
    // Every segment file is named by its base offset and no larger than segment.bytes.
    for base in log.segment_base_offsets() {
        let path = log.dir().join(format!("{base:020}.log"));
        assert!(std::fs::metadata(&path).unwrap().len() <= 2048);
    }
}

#[test]
fn segments_roll_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 1000,
        ..LogConfig::default()
    };
    let log = open(&dir, config);
    log.append(&batch(0, 1, NOW), 0, NOW).unwrap();
    log.append(&batch(1, 1, NOW), 0, NOW + 999).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(&batch(2, 1, NOW), 0, NOW + 1000).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
}

#[test]
fn reopen_after_clean_and_unclean_shutdown_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(&dir, small_segments());
        for i in 0..30 {
            log.append(&batch(i * 3, 3, NOW), 0, NOW).unwrap();
        }
        log.close().unwrap();
        assert!(matches!(
            log.append(&batch(0, 1, NOW), 0, NOW),
            Err(StorageError::Closed { .. })
        ));
    }
    {
        let log = open(&dir, small_segments());
        assert!(log.recovery_report().clean_shutdown);
        assert_eq!(log.recovery_report().segments_scanned, 0);
        assert_eq!(log.log_end_offset(), 90);
        assert_eq!(read_all(&log, 0).len(), 90);
        log.append(&batch(90, 3, NOW), 0, NOW).unwrap();
        // Dropped without close: an unclean shutdown.
    }
    let log = open(&dir, small_segments());
    let report = log.recovery_report();
    assert!(!report.clean_shutdown);
    assert_eq!(report.truncated_bytes, 0);
    assert!(report.segments_scanned >= 1);
    assert_eq!(log.log_end_offset(), 93);
    let all = read_all(&log, 0);
    assert_eq!(all.len(), 93);
    assert_eq!(all[92], (92, "key-92".into(), Some("value-92".into())));
}

#[test]
fn torn_tail_is_cut_on_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let path;
    {
        let log = open(&dir, LogConfig::default());
        log.append(&batch(0, 5, NOW), 0, NOW).unwrap();
        path = log.dir().join("00000000000000000000.log");
    }
    let whole = std::fs::metadata(&path).unwrap().len();
    // Half of another batch, as a crash mid-write leaves it.
    let torn = batch(5, 5, NOW);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut file, &torn[..torn.len() / 2]).unwrap();
    drop(file);
    let log = open(&dir, LogConfig::default());
    assert_eq!(
        log.recovery_report().truncated_bytes,
        (torn.len() / 2) as u64
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
    assert_eq!(log.log_end_offset(), 5);
    let next = log.append(&batch(5, 1, NOW), 0, NOW).unwrap();
    assert_eq!(next.base_offset, 5);
}

#[test]
fn truncate_to_cuts_at_batch_boundaries_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, small_segments());
    for i in 0..40 {
        log.append(&batch(i * 5, 5, NOW), 0, NOW).unwrap();
    }
    let segments_before = log.segment_count();
    // 37 lies in batch 35..=39: the log ends at 35.
    assert_eq!(log.truncate_to(37).unwrap(), 35);
    assert_eq!(log.log_end_offset(), 35);
    assert!(log.durable_offset() <= 35);
    assert!(log.segment_count() < segments_before);
    assert_eq!(read_all(&log, 0).len(), 35);
    // Appends continue from the new end and survive an unclean reopen.
    log.append(&batch(100, 2, NOW), 0, NOW).unwrap();
    drop(log);
    let log = open(&dir, small_segments());
    let all = read_all(&log, 0);
    assert_eq!(all.len(), 37);
    assert_eq!(all[35], (35, "key-100".into(), Some("value-100".into())));
    // Truncating at or past the end changes nothing.
    assert_eq!(log.truncate_to(1000).unwrap(), 37);
}

/// How many files under `dir` this process holds open, by suffix (`log`, `index`, ...).
fn open_files_under(dir: &std::path::Path) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for fd in std::fs::read_dir("/proc/self/fd").unwrap() {
        let Ok(target) = std::fs::read_link(fd.unwrap().path()) else {
            continue; // closed since the listing was read
        };
        if target.starts_with(dir) {
            let suffix = target.extension().unwrap().to_string_lossy().into_owned();
            *counts.entry(suffix).or_default() += 1;
        }
    }
    counts
}

#[test]
fn only_the_written_segment_keeps_its_index_files_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, small_segments());
    for i in 0..40 {
        log.append(&batch(i * 5, 5, NOW), 0, NOW).unwrap();
    }
    let segments = log.segment_count();
    assert!(segments >= 3, "{segments} segments");
    let expected = |logs: usize| {
        [("index", 1), ("log", logs), ("timeindex", 1)]
            .map(|(suffix, n)| (suffix.to_string(), n))
            .into()
    };
    assert_eq!(open_files_under(log.dir()), expected(segments));

    // Truncating back into the first segment writes its indexes again: they reopen.
    assert_eq!(log.truncate_to(37).unwrap(), 35);
    assert_eq!(log.segment_count(), 1);
    for i in 0..30 {
        log.append(&batch(500 + i * 5, 5, NOW), 0, NOW).unwrap();
    }
    let segments = log.segment_count();
    assert!(segments >= 3, "{segments} segments after the truncation");
    assert_eq!(open_files_under(log.dir()), expected(segments));
    let all = read_all(&log, 0);
    assert_eq!(all.len(), 35 + 150);
    assert_eq!(all[35], (35, "key-500".into(), Some("value-500".into())));

    // Reopened, cleanly and not, the log holds the same files and reads the same records
    // from every offset (each read starts at an index entry).
    log.close().unwrap();
    drop(log);
    for clean in [true, false] {
        let log = open(&dir, small_segments());
        assert_eq!(
            open_files_under(log.dir()),
            expected(segments),
            "clean {clean}"
        );
        for from in [0, 36, 120, 184] {
            assert_eq!(
                read_all(&log, from),
                all[from as usize..],
                "clean {clean}, from {from}"
            );
        }
        drop(log);
    }
}

#[test]
fn truncate_fully_restarts_the_log_at_an_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, small_segments());
    for i in 0..20 {
        log.append(&batch(i, 1, NOW), 0, NOW).unwrap();
    }
    log.truncate_fully_and_start_at(500).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (500, 500));
    assert_eq!(log.segment_base_offsets(), vec![500]);
    assert_eq!(
        log.append(&batch(0, 2, NOW), 0, NOW).unwrap().base_offset,
        500
    );
    log.close().unwrap();
    let log = open(&dir, small_segments());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (500, 502));
}

#[test]
fn delete_records_raises_the_start_and_drops_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, small_segments());
    for i in 0..40 {
        log.append(&batch(i * 5, 5, NOW), 0, NOW).unwrap();
    }
    let segments = log.segment_count();
    assert_eq!(log.delete_records_before(123).unwrap(), 123);
    assert_eq!(log.log_start_offset(), 123);
    assert!(log.segment_count() < segments);
    assert!(matches!(
        log.read(122, 100, None),
        Err(StorageError::OffsetOutOfRange { log_start: 123, .. })
    ));
    // The batch holding 123 starts at 120; it is served whole.
    let read = log.read(123, 100, None).unwrap();
    assert_eq!(records(&read.records)[0].0, 120);
    assert!(matches!(
        log.delete_records_before(201),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    // Lower values change nothing; the start survives a restart.
    assert_eq!(log.delete_records_before(50).unwrap(), 123);
    drop(log);
    let log = open(&dir, small_segments());
    assert_eq!(log.log_start_offset(), 123);
}

#[test]
fn offsets_by_timestamp_find_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, small_segments());
    // Batch i holds offsets 3i..3i+2 with timestamps 1000*i + 0..2.
    for i in 0..30 {
        log.append(&batch(i * 3, 3, 1000 * i as i64), 0, NOW)
            .unwrap();
    }
    let hit = log.offset_for_timestamp(5001).unwrap().unwrap();
    assert_eq!((hit.offset, hit.timestamp), (16, 5001));
    let hit = log.offset_for_timestamp(5003).unwrap().unwrap();
    assert_eq!((hit.offset, hit.timestamp), (18, 6000));
    let hit = log.offset_for_timestamp(0).unwrap().unwrap();
    assert_eq!(hit.offset, 0);
    assert!(log.offset_for_timestamp(29_003).unwrap().is_none());
    let max = log.max_timestamp_offset().unwrap().unwrap();
    assert_eq!((max.offset, max.timestamp), (89, 29_002));
}

#[test]
fn max_timestamp_is_the_first_record_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, LogConfig::default());
    let mut builder = BatchBuilder::new();
    for (i, ts) in [10, 50, 20, 50].into_iter().enumerate() {
        builder.push_kv(ts, Some(Bytes::from(format!("k{i}"))), None, Vec::new());
    }
    log.append(&builder.build().unwrap(), 0, NOW).unwrap();
    let max = log.max_timestamp_offset().unwrap().unwrap();
    assert_eq!((max.offset, max.timestamp), (1, 50));
    assert!(
        open(&tempfile::tempdir().unwrap(), LogConfig::default())
            .max_timestamp_offset()
            .unwrap()
            .is_none()
    );
}

#[test]
fn log_append_time_stamps_batches_and_keeps_them_valid() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let log = open(&dir, config);
    let info = log.append(&batch(0, 3, 5), 0, NOW).unwrap();
    assert_eq!(info.log_append_time, NOW);
    let read = log.read(0, 1 << 20, None).unwrap();
    let (header, _) = BatchIter::new(&read.records).next().unwrap();
    assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(header.max_timestamp, NOW);
    // The CRC was recomputed: the stored batch checks out.
    streambus_storage::batch::check_integrity(&read.records).unwrap();
    let hit = log.offset_for_timestamp(NOW).unwrap().unwrap();
    assert_eq!((hit.offset, hit.timestamp), (0, NOW));
}

#[test]
fn retention_by_time_and_size_deletes_whole_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: 60_000,
        ..small_segments()
    };
    let log = open(&dir, config);
    // Old records first, then fresh ones.
    for i in 0..20 {
        log.append(&batch(i * 5, 5, NOW - 3_600_000), 0, NOW)
            .unwrap();
    }
    let old_end = log.log_end_offset();
    for i in 20..40 {
        log.append(&batch(i * 5, 5, NOW), 0, NOW).unwrap();
    }
    let outcome = log.enforce_retention(NOW).unwrap();
    assert!(outcome.segments_deleted > 0);
    assert!(log.log_start_offset() > 0);
    assert!(log.log_start_offset() <= old_end, "fresh data is kept");
    let remaining = read_all(&log, log.log_start_offset());
    assert_eq!(remaining.last().unwrap().0, 199);

    // Size: keep at most ~3 segments' worth.
    let mut config = small_segments();
    config.retention_ms = -1;
    config.retention_bytes = 3 * 2048;
    log.set_config(config).unwrap();
    log.enforce_retention(NOW).unwrap();
    assert!(log.size_bytes() <= 3 * 2048, "{} bytes", log.size_bytes());
    assert_eq!(log.log_end_offset(), 200);
}

#[test]
fn retention_expires_an_idle_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        &dir,
        LogConfig {
            retention_ms: 1000,
            ..LogConfig::default()
        },
    );
    log.append(&batch(0, 5, NOW - 5000), 0, NOW - 5000).unwrap();
    log.enforce_retention(NOW).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (5, 5));
    assert_eq!(log.segment_base_offsets(), vec![5]);
}

#[test]
fn compaction_keeps_the_latest_value_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        cleanup_policy: CleanupPolicy::COMPACT,
        delete_retention_ms: 60_000,
        ..small_segments()
    };
    let log = open(&dir, config);
    // 60 updates over 6 keys, then a tombstone for k0 (old) and k1 (recent).
    for i in 0..60 {
        let key = format!("k{}", i % 6);
        log.append(&keyed(&key, Some(&format!("v{i}")), NOW - 100_000), 0, NOW)
            .unwrap();
    }
    log.append(&keyed("k0", None, NOW - 100_000), 0, NOW)
        .unwrap();
    log.append(&keyed("k1", None, NOW), 0, NOW).unwrap();
    // Force a roll so that everything above is in closed segments.
    let mut rolled = log.config().as_ref().clone();
    rolled.segment_ms = 1;
    log.set_config(rolled).unwrap();
    log.append(&keyed("k5", Some("latest"), NOW), 0, NOW + 10)
        .unwrap();
    let before = log.size_bytes();

    let outcome = log.compact(NOW).unwrap();
    assert!(outcome.segments_cleaned > 0);
    assert!(log.size_bytes() < before);
    let survivors = read_all(&log, 0);
    let keys: Vec<_> = survivors
        .iter()
        .map(|(o, k, v)| (*o, k.as_str(), v.as_deref()))
        .collect();
    // k0's tombstone is past delete.retention.ms: gone. k1's is recent: kept.
    assert_eq!(
        keys,
        vec![
            (56, "k2", Some("v56")),
            (57, "k3", Some("v57")),
            (58, "k4", Some("v58")),
            (59, "k5", Some("v59")),
            (61, "k1", None),
            (62, "k5", Some("latest")),
        ]
    );
    // Offsets are kept, the end is unchanged, and it all survives a clean restart.
    assert_eq!(log.log_end_offset(), 63);
    log.close().unwrap();
    let log = open(
        &dir,
        LogConfig {
            cleanup_policy: CleanupPolicy::COMPACT,
            ..small_segments()
        },
    );
    assert_eq!(read_all(&log, 0).len(), 6);
}

#[test]
fn compaction_rewrites_compressed_batches_keeping_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        &dir,
        LogConfig {
            cleanup_policy: CleanupPolicy::COMPACT,
            ..LogConfig::default()
        },
    );
    let mut builder = BatchBuilder::new().compression(streambus_storage::batch::Compression::Zstd);
    for (key, value) in [("a", "1"), ("b", "2"), ("a", "3"), ("c", "4")] {
        builder.push_kv(
            NOW,
            Some(Bytes::from(key)),
            Some(Bytes::from(value)),
            Vec::new(),
        );
    }
    log.append(&builder.build().unwrap(), 0, NOW).unwrap();
    let mut config = log.config().as_ref().clone();
    config.segment_ms = 1;
    log.set_config(config).unwrap();
    log.append(&keyed("d", Some("5"), NOW), 0, NOW + 5).unwrap();
    assert_eq!(log.compact(NOW + 5).unwrap().records_removed, 1);
    let read = log.read(0, 1 << 20, None).unwrap();
    let (header, range) = BatchIter::new(&read.records).next().unwrap();
    assert_eq!((header.base_offset, header.last_offset()), (0, 3));
    assert_eq!(
        header.compression().unwrap(),
        streambus_storage::batch::Compression::Zstd
    );
    let kept: Vec<Record> = decode_records(&read.records[range], 1 << 20).unwrap();
    let offsets: Vec<i64> = kept.iter().map(|r| r.offset(0)).collect();
    assert_eq!(offsets, vec![1, 2, 3]);
}

#[test]
fn concurrent_appends_share_fsyncs_and_all_become_durable() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(&dir, LogConfig::default()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut offsets = Vec::new();
                for i in 0..50 {
                    let info = log.append(&batch(t * 1000 + i, 1, NOW), 0, NOW).unwrap();
                    assert!(log.durable_offset() > info.last_offset);
                    offsets.push(info.base_offset);
                }
                offsets
            })
        })
        .collect();
    let mut all: Vec<i64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..200).collect::<Vec<_>>());
    assert_eq!(log.durable_offset(), 200);
}

#[test]
fn os_and_interval_policies_defer_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        &dir,
        LogConfig {
            flush: FlushPolicy::Os,
            ..LogConfig::default()
        },
    );
    log.append(&batch(0, 2, NOW), 0, NOW).unwrap();
    assert_eq!(log.durable_offset(), 0);
    assert_eq!(log.flush().unwrap(), 2);
    assert_eq!(log.durable_offset(), 2);

    let dir = tempfile::tempdir().unwrap();
    let log = open(
        &dir,
        LogConfig {
            flush: FlushPolicy::Interval,
            flush_interval_bytes: 1000,
            flush_interval: std::time::Duration::from_secs(3600),
            ..LogConfig::default()
        },
    );
    let one = batch(0, 1, NOW);
    let mut appended = 0;
    while appended + one.len() < 1000 {
        log.append(&one, 0, NOW).unwrap();
        appended += one.len();
        assert_eq!(log.durable_offset(), 0, "below the byte threshold");
    }
    log.append(&one, 0, NOW).unwrap();
    assert_eq!(log.durable_offset(), log.log_end_offset());
}

#[test]
fn replicated_appends_keep_offsets_and_refuse_gaps_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, LogConfig::default());
    let mut leader_batch = BatchBuilder::new()
        .base_offset(10)
        .partition_leader_epoch(3);
    leader_batch.push_kv(
        NOW,
        Some(Bytes::from("k")),
        Some(Bytes::from("v")),
        Vec::new(),
    );
    let bytes = leader_batch.build().unwrap();
    log.truncate_fully_and_start_at(10).unwrap();
    let info = log.append_replicated(&bytes, NOW).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (10, 10));
    let read = log.read(10, 1 << 20, None).unwrap();
    assert_eq!(
        &read.records[..],
        &bytes[..],
        "stored exactly as the leader sent it"
    );
    assert!(
        log.append_replicated(&bytes, NOW).is_err(),
        "offset 10 again"
    );
}

#[test]
fn appends_refuse_partial_batches() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, LogConfig::default());
    let whole = batch(0, 2, NOW);
    let err = log.append(&whole[..whole.len() - 1], 0, NOW).unwrap_err();
    assert!(matches!(err, StorageError::Batch(_)), "{err}");
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn log_manager_locks_the_directory_and_manages_logs() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogManagerConfig::new(dir.path());
    let (manager, report) = LogManager::open(config.clone()).unwrap();
    assert_eq!(report.opened, 0);
    assert!(matches!(
        LogManager::open(config.clone()),
        Err(StorageError::Locked { .. })
    ));
    let tps: Vec<_> = (0..6)
        .map(|p| TopicPartition::new("orders.v1-eu", p))
        .collect();
    for tp in &tps {
        let log = manager.create(tp).unwrap();
        log.append(&batch(0, tp.partition as usize + 1, NOW), 0, NOW)
            .unwrap();
    }
    assert!(matches!(
        manager.create(&tps[0]),
        Err(StorageError::Log { .. })
    ));
    assert!(manager.create(&TopicPartition::new("../etc", 0)).is_err());
    let compacted = manager
        .topic_config("orders.v1-eu")
        .with_overrides([("cleanup.policy", "compact")])
        .unwrap();
    manager.set_topic_config("orders.v1-eu", compacted).unwrap();
    assert!(
        manager
            .get(&tps[2])
            .unwrap()
            .config()
            .cleanup_policy
            .compact
    );
    manager.delete(&tps[5]).unwrap();
    assert!(!dir.path().join("orders.v1-eu-5").exists());
    manager.close().unwrap();
    drop(manager);

    let (manager, report) = LogManager::open(config).unwrap();
    assert_eq!(report.opened, 5);
    assert!(report.failed.is_empty());
    assert_eq!(manager.partitions(), tps[..5].to_vec());
    for tp in &tps[..5] {
        let log = manager.get(tp).unwrap();
        assert!(log.recovery_report().clean_shutdown);
        assert_eq!(log.log_end_offset(), tp.partition as i64 + 1);
    }
    let all = Chores {
        cleanup: true,
        checkpoint: true,
    };
    let report = manager.run_maintenance(NOW, all);
    assert_eq!(report.errors, 0);
}

#[test]
fn log_manager_reports_a_log_that_cannot_open_and_serves_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogManagerConfig::new(dir.path());
    {
        let (manager, _) = LogManager::open(config.clone()).unwrap();
        for p in 0..2 {
            let log = manager.create(&TopicPartition::new("t", p)).unwrap();
            log.append(&batch(0, 3, NOW), 0, NOW).unwrap();
        }
        manager.close().unwrap();
    }
    // Damage the header of partition 1's only batch after a clean shutdown: its data was
    // acknowledged, so the log refuses to open rather than silently dropping it.
    let path = dir.path().join("t-1/00000000000000000000.log");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    std::fs::write(&path, bytes).unwrap();
    let (manager, report) = LogManager::open(config).unwrap();
    assert_eq!(report.opened, 1);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, TopicPartition::new("t", 1));
    assert!(matches!(report.failed[0].1, StorageError::Corrupt { .. }));
    assert_eq!(
        manager
            .get(&TopicPartition::new("t", 0))
            .unwrap()
            .log_end_offset(),
        3
    );
}

fn producer_batch(pid: i64, epoch: i16, seq: i32, count: usize) -> Vec<u8> {
    let mut builder = BatchBuilder::new().producer(pid, epoch, seq);
    for i in 0..count {
        builder.push_kv(
            NOW,
            Some(Bytes::from(format!("p{pid}-{}", seq as usize + i))),
            Some(Bytes::from("v")),
            Vec::new(),
        );
    }
    builder.build().unwrap().to_vec()
}

#[test]
fn idempotent_producers_are_deduplicated_and_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, LogConfig::default());
    log.append(&batch(0, 2, NOW), 0, NOW).unwrap();
    let first = log.append(&producer_batch(9, 0, 0, 3), 0, NOW).unwrap();
    assert_eq!(
        (first.base_offset, first.last_offset, first.duplicate),
        (2, 4, false)
    );
    let second = log.append(&producer_batch(9, 0, 3, 2), 0, NOW).unwrap();
    assert_eq!((second.base_offset, second.last_offset), (5, 6));
    // A retry of the first batch is answered with its original offsets and not written.
    let retry = log.append(&producer_batch(9, 0, 0, 3), 0, NOW).unwrap();
    assert_eq!(
        (retry.base_offset, retry.last_offset, retry.duplicate),
        (2, 4, true)
    );
    assert_eq!(log.log_end_offset(), 7);
    // A gap in the sequence, and a fenced epoch, are refused.
    assert!(matches!(
        log.append(&producer_batch(9, 0, 7, 1), 0, NOW),
        Err(StorageError::Producer(
            streambus_storage::ProducerError::OutOfOrderSequence {
                sequence: 7,
                expected: 5,
                ..
            }
        ))
    ));
    log.append(&producer_batch(9, 1, 0, 1), 0, NOW).unwrap();
    assert!(matches!(
        log.append(&producer_batch(9, 0, 5, 1), 0, NOW),
        Err(StorageError::Producer(
            streambus_storage::ProducerError::StaleEpoch { current: 1, .. }
        ))
    ));
    assert_eq!(log.log_end_offset(), 8);
    let producers = log.producers();
    assert_eq!(producers.len(), 1);
    assert_eq!((producers[0].producer_id, producers[0].epoch), (9, 1));
}

#[test]
fn producer_state_survives_restarts_and_follows_truncation() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(&dir, small_segments());
        for seq in 0..20 {
            log.append(&producer_batch(5, 0, seq * 2, 2), 0, NOW)
                .unwrap();
        }
        log.close().unwrap();
    }
    {
        // Clean restart: from the snapshot written at close.
        let log = open(&dir, small_segments());
        let retry = log.append(&producer_batch(5, 0, 38, 2), 0, NOW).unwrap();
        assert!(retry.duplicate);
        assert_eq!(retry.base_offset, 38);
        log.append(&producer_batch(5, 0, 40, 2), 0, NOW).unwrap();
        // Unclean: dropped without close; the state is rebuilt from batch headers.
    }
    let log = open(&dir, small_segments());
    assert!(
        log.append(&producer_batch(5, 0, 40, 2), 0, NOW)
            .unwrap()
            .duplicate
    );
    // Truncating away the last batches rewinds the producer's sequence.
    assert_eq!(log.truncate_to(38).unwrap(), 38);
    let info = log.append(&producer_batch(5, 0, 38, 2), 0, NOW).unwrap();
    assert_eq!((info.base_offset, info.duplicate), (38, false));
}

#[test]
fn leader_epochs_are_read_from_batch_headers_across_segments_and_truncation() {
    let dir = TempDir::new().unwrap();
    let config = LogConfig {
        segment_bytes: 200,
        ..LogConfig::default()
    };
    let log = open(&dir, config.clone());
    assert_eq!(log.leader_epochs().unwrap(), []);
    for (epoch, first) in [(0, 0), (0, 3), (2, 6), (2, 9), (5, 12)] {
        log.append(&batch(first, 3, NOW), epoch, NOW).unwrap();
    }
    assert!(log.segment_count() > 1, "the epochs span segments");
    assert_eq!(log.leader_epochs().unwrap(), [(0, 0), (2, 6), (5, 12)]);

    log.truncate_to(9).unwrap();
    assert_eq!(log.leader_epochs().unwrap(), [(0, 0), (2, 6)]);
    log.close().unwrap();
    let reopened = open(&dir, config);
    assert_eq!(reopened.leader_epochs().unwrap(), [(0, 0), (2, 6)]);
    reopened.delete_records_before(4).unwrap();
    assert_eq!(
        reopened.leader_epochs().unwrap(),
        [(0, 4), (2, 6)],
        "the first epoch starts at the log start once its first batch is partly deleted"
    );
}

#[test]
fn many_logs_become_durable_together() {
    let dir = tempfile::tempdir().unwrap();
    let logs: Vec<Arc<PartitionLog>> = (0..20)
        .map(|i| {
            let path = dir.path().join(format!("t-{i}"));
            Arc::new(PartitionLog::open(&path, small_segments()).unwrap())
        })
        .collect();
    let mut ends = Vec::new();
    for (i, log) in logs.iter().enumerate() {
        // Enough to roll a segment in some, so new files are covered too.
        for round in 0..(1 + i % 3) * 10 {
            log.append_unsynced(&batch(round * 5, 5, NOW), 0, NOW)
                .unwrap();
        }
        assert!(log.durable_offset() < log.log_end_offset(), "log {i}");
        ends.push((Arc::clone(log), log.log_end_offset()));
    }
    PartitionLog::sync_together(&ends).unwrap();
    for (i, (log, end)) in ends.iter().enumerate() {
        assert_eq!(log.durable_offset(), *end, "log {i}");
        assert!(!log.sync_due(*end), "log {i}: nothing left to sync");
    }
    // Logs already durable are left alone; an append after is not covered until synced.
    logs[0]
        .append_unsynced(&batch(900, 1, NOW), 0, NOW)
        .unwrap();
    let end = logs[0].log_end_offset();
    assert!(logs[0].sync_due(end));
    PartitionLog::sync_together(&[(Arc::clone(&logs[0]), end)]).unwrap();
    assert_eq!(logs[0].durable_offset(), end);
}

#[test]
fn maintenance_checkpoints_the_recovery_point_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (manager, _) = LogManager::open(LogManagerConfig::new(dir.path())).unwrap();
    let tp = TopicPartition::new("t", 0);
    let log = manager.create(&tp).unwrap();
    log.append(&batch(0, 3, NOW), 0, NOW).unwrap();
    let checkpoint = log.dir().join("recovery-point.checkpoint");
    let written = || {
        std::fs::read_to_string(&checkpoint)
            .ok()
            .and_then(|text| text.split(' ').nth(1).map(str::to_string))
    };
    let before = written();
    assert_ne!(
        before.as_deref(),
        Some("3"),
        "the append is not checkpointed yet"
    );
    let flush_only = Chores::default();
    assert_eq!(manager.run_maintenance(NOW, flush_only).errors, 0);
    assert_eq!(written(), before, "no checkpoint without the chore");
    let checkpoint_too = Chores {
        checkpoint: true,
        ..Chores::default()
    };
    assert_eq!(manager.run_maintenance(NOW, checkpoint_too).errors, 0);
    assert_eq!(written().as_deref(), Some("3"));
}
