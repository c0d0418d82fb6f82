//! Damaged files: what `PartitionLog` does when segment, index or checkpoint bytes on disk are
//! not what it wrote. A damaged tail after an unclean shutdown is cut; damage in data that was
//! synced and trusted is reported as `StorageError::Corrupt` (on open or on the read that
//! reaches it), never served and never a panic; damaged indexes and checkpoints, which are
//! caches, are rebuilt or ignored without losing data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use streambus_storage::batch::BatchIter;
use streambus_storage::records::{BatchBuilder, decode_records};
use streambus_storage::{LogConfig, PartitionLog, StorageError};

/// Records per batch.
const RECORDS: i64 = 3;
/// Value bytes per record: a batch is about 1 KB, so a 4 KiB segment holds 3 or 4.
const VALUE_LEN: usize = 300;
/// Byte of a batch where its length field starts.
const LENGTH_FIELD: u64 = 8;
/// Bytes of a batch header.
const HEADER: u64 = 61;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

fn value_for(offset: i64) -> Vec<u8> {
    format!("value-{offset}-")
        .bytes()
        .cycle()
        .take(VALUE_LEN)
        .collect()
}

/// Where one appended batch went.
#[derive(Debug, Clone)]
struct Written {
    base: i64,
    last: i64,
    segment_base: i64,
    position: u64,
    size: u64,
}

impl Written {
    fn segment(&self, dir: &Path) -> PathBuf {
        segment_path(dir, self.segment_base, "log")
    }
}

fn segment_path(dir: &Path, base: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base:020}.{suffix}"))
}

/// A log of `batches` batches of `RECORDS` records over several 4 KiB segments.
fn write_log(dir: &Path, batches: usize) -> (PartitionLog, Vec<Written>) {
    let log = PartitionLog::open(dir, config()).unwrap();
    let mut written = Vec::new();
    for _ in 0..batches {
        let first = log.log_end_offset();
        let mut builder = BatchBuilder::new();
        for offset in first..first + RECORDS {
            builder.push_kv(
                1_000 + offset,
                Some(Bytes::from(format!("key-{offset}"))),
                Some(Bytes::from(value_for(offset))),
                Vec::new(),
            );
        }
        let batch = builder.build().unwrap();
        let info = log.append(&batch, 0, 1_000).unwrap();
        assert_eq!(info.base_offset, first);
        written.push(Written {
            base: info.base_offset,
            last: info.last_offset,
            segment_base: info.segment_base_offset,
            position: info.position,
            size: batch.len() as u64,
        });
    }
    assert!(log.segment_count() >= 4, "want several segments");
    (log, written)
}

/// Checks that a read's first batch is `batch`, with the values the log was given.
fn assert_batch(records: &Bytes, batch: &Written) {
    let (header, range) = BatchIter::new(records).next().expect("a whole batch");
    assert_eq!(
        (header.base_offset, header.last_offset()),
        (batch.base, batch.last)
    );
    let decoded = decode_records(&records[range], 1 << 20).unwrap();
    assert_eq!(decoded.len() as i64, RECORDS);
    for record in decoded {
        let offset = record.offset(header.base_offset);
        assert_eq!(
            record.key.as_deref(),
            Some(format!("key-{offset}").as_bytes())
        );
        assert_eq!(record.value.as_deref(), Some(value_for(offset).as_slice()));
    }
}

/// Reads every batch of `batches` by its first and last offset and checks it.
fn assert_readable(log: &PartitionLog, batches: &[Written]) {
    for batch in batches {
        for offset in [batch.base, batch.last] {
            let read = log.read(offset, 1, None).unwrap();
            assert_batch(&read.records, batch);
        }
    }
}

/// Asserts `result` is `Corrupt` about `path` (and, if given, the batch at `position`).
fn assert_corrupt<T: std::fmt::Debug>(
    result: Result<T, StorageError>,
    path: &Path,
    position: Option<u64>,
) {
    match result {
        Err(StorageError::Corrupt {
            path: at,
            position: p,
            reason,
        }) => {
            assert_eq!(at, path, "{reason}");
            if let Some(position) = position {
                assert_eq!(p, position, "{reason}");
            }
            assert!(!reason.is_empty());
        }
        other => panic!(
            "expected a corrupt-data error for {}, got {other:?}",
            path.display()
        ),
    }
}

fn flip(path: &Path, position: u64, mask: u8) {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, position).unwrap();
    byte[0] ^= mask;
    file.write_all_at(&byte, position).unwrap();
}

/// A batch in the middle of a closed segment in the middle of the log: batches follow it in
/// its segment, and segments before and after it.
fn middle_batch(written: &[Written]) -> usize {
    let segments: Vec<i64> = {
        let mut s: Vec<i64> = written.iter().map(|w| w.segment_base).collect();
        s.dedup();
        s
    };
    let target = segments[segments.len() / 2];
    let in_segment: Vec<usize> = (0..written.len())
        .filter(|&i| written[i].segment_base == target)
        .collect();
    assert!(
        in_segment.len() >= 3,
        "segments should hold 3 or more batches"
    );
    in_segment[1]
}

#[test]
fn flipped_byte_in_active_tail_is_cut_after_unclean_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (log, written) = write_log(&dir, 14);
    let segments = log.segment_count();
    drop(log); // unclean
    let tail = written.last().unwrap().clone();
    let path = tail.segment(&dir);
    // A byte of the last record's value.
    flip(&path, tail.position + tail.size - 20, 0x40);

    let log = PartitionLog::open(&dir, config()).unwrap();
    let report = log.recovery_report().clone();
    assert!(!report.clean_shutdown);
    assert_eq!(report.truncated_bytes, tail.size, "{report:?}");
    assert_eq!(report.segments_dropped, 0);
    assert!(report.segments_scanned >= 1);
    assert!(
        report.reason.as_deref().unwrap().contains("crc"),
        "{report:?}"
    );
    assert_eq!(log.log_end_offset(), tail.base);
    assert_eq!(fs::metadata(&path).unwrap().len(), tail.position);
    assert_eq!(log.segment_count(), segments);
    assert_readable(&log, &written[..written.len() - 1]);
    assert!(
        log.read(tail.base, 1 << 20, None)
            .unwrap()
            .records
            .is_empty()
    );
    // The cut offsets are assigned again.
    let again = BatchBuilder::new();
    let mut again = again;
    again.push_kv(5, None, Some(Bytes::from_static(b"after")), Vec::new());
    let info = log.append(&again.build().unwrap(), 1, 5).unwrap();
    assert_eq!(info.base_offset, tail.base);
}

#[test]
fn flipped_value_byte_in_closed_segment_is_reported_on_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (log, written) = write_log(&dir, 20);
    log.close().unwrap();
    drop(log);
    let i = middle_batch(&written);
    let damaged = written[i].clone();
    let path = damaged.segment(&dir);
    flip(&path, damaged.position + HEADER + 100, 0x01);

    for clean in [true, false] {
        if !clean {
            // Also after an unclean shutdown: the segment is below the recovery point, so it
            // is trusted, not scanned, and the damage is still found by the read.
            fs::remove_file(dir.join(".clean-shutdown")).ok();
        }
        let log = PartitionLog::open(&dir, config()).unwrap();
        assert_eq!(log.recovery_report().clean_shutdown, clean);
        assert_eq!(log.log_end_offset(), written.last().unwrap().last + 1);
        for offset in damaged.base..=damaged.last {
            assert_corrupt(
                log.read(offset, 1 << 20, None),
                &path,
                Some(damaged.position),
            );
        }
        // Batches of other segments, and those after the damage in its own segment.
        let others: Vec<Written> = written
            .iter()
            .filter(|w| w.segment_base != damaged.segment_base || w.base > damaged.base)
            .cloned()
            .collect();
        assert_readable(&log, &others);
        // A small read of the batch just before the damaged one still serves that batch.
        let read = log.read(written[i - 1].base, 1, None).unwrap();
        assert_batch(&read.records, &written[i - 1]);
        log.close().unwrap();
    }
}

#[test]
fn damaged_length_field_in_closed_segment_is_an_error_not_data() {
    // Each byte of the length field, with a low and a high bit flipped: lengths that are a
    // little or much too long or too short, or negative.
    for (byte, mask) in [
        (0, 0x80),
        (1, 0x01),
        (2, 0x01),
        (2, 0x10),
        (3, 0x01),
        (3, 0x40),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t-0");
        let (log, written) = write_log(&dir, 20);
        log.close().unwrap();
        drop(log);
        let i = middle_batch(&written);
        let damaged = written[i].clone();
        let path = damaged.segment(&dir);
        flip(&path, damaged.position + LENGTH_FIELD + byte, mask);

        let log = match PartitionLog::open(&dir, config()) {
            Ok(log) => log,
            Err(e) => {
                assert_corrupt::<()>(Err(e), &path, None);
                continue;
            }
        };
        assert_eq!(log.log_end_offset(), written.last().unwrap().last + 1);
        for offset in damaged.base..=damaged.last {
            assert_corrupt(log.read(offset, 1 << 20, None), &path, None);
        }
        // Every other offset is served correctly or reported as corrupt: never other data.
        for batch in &written {
            for offset in batch.base..=batch.last {
                match log.read(offset, 1, None) {
                    Ok(read) => assert_batch(&read.records, batch),
                    Err(e) => {
                        assert_eq!(batch.segment_base, damaged.segment_base, "{e}");
                        assert_corrupt::<()>(Err(e), &path, None);
                    }
                }
            }
        }
        // Segments other than the damaged one are untouched.
        let others: Vec<Written> = written
            .iter()
            .filter(|w| w.segment_base != damaged.segment_base)
            .cloned()
            .collect();
        assert_readable(&log, &others);
    }
}

#[test]
fn damaged_index_is_rebuilt_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (log, written) = write_log(&dir, 20);
    log.close().unwrap();
    drop(log);
    let mut bases: Vec<i64> = written.iter().map(|w| w.segment_base).collect();
    bases.dedup();
    let originals: Vec<Vec<u8>> = bases
        .iter()
        .map(|&b| fs::read(segment_path(&dir, b, "index")).unwrap())
        .collect();
    assert!(originals.iter().all(|index| index.len() >= 16));

    // Random bytes over one index, an entry pointing past the end of the segment in a
    // second, a torn last entry in a third, and no index at all for a fourth.
    let mut seed = 0x1234_5678_u64;
    let random: Vec<u8> = (0..originals[0].len())
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    fs::write(segment_path(&dir, bases[0], "index"), &random).unwrap();
    let mut past_end = originals[1].clone();
    let n = past_end.len();
    past_end[n - 4..].copy_from_slice(&1_000_000u32.to_be_bytes());
    fs::write(segment_path(&dir, bases[1], "index"), &past_end).unwrap();
    let mut torn = originals[2].clone();
    torn.truncate(torn.len() - 3);
    fs::write(segment_path(&dir, bases[2], "index"), &torn).unwrap();
    fs::remove_file(segment_path(&dir, bases[3], "index")).unwrap();

    let log = PartitionLog::open(&dir, config()).unwrap();
    assert!(log.recovery_report().clean_shutdown);
    assert_eq!(log.log_end_offset(), written.last().unwrap().last + 1);
    assert_readable(&log, &written);
    // Every offset, not only batch bounds, reads from the right batch.
    for batch in &written {
        for offset in batch.base..=batch.last {
            assert_batch(&log.read(offset, 1, None).unwrap().records, batch);
        }
    }
    log.close().unwrap();
    // The rebuilt indexes hold what appends had written (the torn one its whole entries).
    for (i, &base) in bases.iter().enumerate().take(4) {
        let rebuilt = fs::read(segment_path(&dir, base, "index")).unwrap();
        let expected = if i == 2 {
            &torn[..torn.len() - 5]
        } else {
            &originals[i][..]
        };
        assert_eq!(rebuilt, expected, "index of segment {base}");
    }
}

#[test]
fn index_entry_pointing_inside_a_batch_never_serves_wrong_data() {
    // An entry that is ordered and in bounds but points a few bytes into a batch passes the
    // cheap check on open; a read through it must fail clearly or find the right batch.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (log, written) = write_log(&dir, 20);
    log.close().unwrap();
    drop(log);
    let i = middle_batch(&written);
    let segment_base = written[i].segment_base;
    let index_path = segment_path(&dir, segment_base, "index");
    let mut index = fs::read(&index_path).unwrap();
    assert!(index.len() >= 16, "the segment needs two index entries");
    // Entry 0 is the second batch of the segment (the first is never indexed).
    let position = u32::from_be_bytes(index[4..8].try_into().unwrap());
    index[4..8].copy_from_slice(&(position + 7).to_be_bytes());
    fs::write(&index_path, &index).unwrap();

    let log = PartitionLog::open(&dir, config()).unwrap();
    let path = segment_path(&dir, segment_base, "log");
    for batch in written.iter().filter(|w| w.segment_base == segment_base) {
        for offset in batch.base..=batch.last {
            match log.read(offset, 1, None) {
                Ok(read) => assert_batch(&read.records, batch),
                Err(e) => assert_corrupt::<()>(Err(e), &path, None),
            }
        }
    }
}

#[test]
fn damaged_recovery_point_checkpoint_means_a_full_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (log, written) = write_log(&dir, 16);
    let segments = log.segment_count();
    log.checkpoint_recovery_point().unwrap();
    drop(log); // unclean
    let checkpoint = dir.join("recovery-point.checkpoint");
    let text = fs::read_to_string(&checkpoint).unwrap();
    let end = written.last().unwrap().last + 1;
    assert!(text.contains(&end.to_string()), "{text:?}");
    // Change one digit of the offset: the checksum no longer matches.
    let damaged = text.replacen(&end.to_string(), &(end - 10).to_string(), 1);
    fs::write(&checkpoint, damaged).unwrap();

    let log = PartitionLog::open(&dir, config()).unwrap();
    let report = log.recovery_report().clone();
    assert!(!report.clean_shutdown);
    assert_eq!(report.segments_scanned, segments, "{report:?}");
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(log.log_end_offset(), end);
    assert_readable(&log, &written);
    drop(log);

    // Garbage, then no checkpoint at all: the same.
    for damage in [Some(&b"\xff\x00garbage"[..]), None] {
        match damage {
            Some(bytes) => fs::write(&checkpoint, bytes).unwrap(),
            None => fs::remove_file(&checkpoint).unwrap(),
        }
        let log = PartitionLog::open(&dir, config()).unwrap();
        assert_eq!(log.recovery_report().segments_scanned, segments);
        assert_eq!(log.log_end_offset(), end);
        assert_readable(&log, &written);
        drop(log);
    }

    // A good checkpoint (written by the last open) limits the scan to the active segment.
    let log = PartitionLog::open(&dir, config()).unwrap();
    assert_eq!(log.recovery_report().segments_scanned, 1);
    assert_readable(&log, &written);
}

/// Cuts a closed segment of a cleanly closed log at `cut` bytes from the start of the
/// batch `i`, and checks that the loss is reported: the open fails or every read of the lost
/// batches fails, and nothing panics or serves another batch in their place.
fn truncated_closed_segment(pick: fn(&[Written]) -> usize, cut: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (log, written) = write_log(&dir, 20);
    log.close().unwrap();
    drop(log);
    let i = pick(&written);
    let damaged = written[i].clone();
    let path = damaged.segment(&dir);
    let original_len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(damaged.position + cut)
        .unwrap();

    let log = match PartitionLog::open(&dir, config()) {
        Ok(log) => log,
        Err(e) => {
            assert_corrupt::<()>(Err(e), &path, None);
            return;
        }
    };
    let lost: Vec<&Written> = written
        .iter()
        .filter(|w| w.segment_base == damaged.segment_base && w.base >= damaged.base)
        .collect();
    for batch in &lost {
        for offset in batch.base..=batch.last {
            let result = log.read(offset, 1 << 20, None);
            assert!(
                matches!(result, Err(StorageError::Corrupt { .. })),
                "offset {offset} of a batch cut from a closed segment (of {original_len} \
                 bytes, cut to {}): {:?}",
                damaged.position + cut,
                result.map(|r| BatchIter::new(&r.records)
                    .map(|(h, _)| h.base_offset)
                    .collect::<Vec<_>>())
            );
        }
    }
    let kept: Vec<Written> = written
        .iter()
        .filter(|w| w.segment_base != damaged.segment_base || w.base < damaged.base)
        .cloned()
        .collect();
    assert_readable(&log, &kept);
}

#[test]
fn truncated_closed_segment_after_last_index_entry_is_reported() {
    // The last batch of a closed segment, cut after its header.
    truncated_closed_segment(
        |written| {
            let i = middle_batch(written);
            (i..written.len())
                .take_while(|&j| written[j].segment_base == written[i].segment_base)
                .last()
                .unwrap()
        },
        HEADER + 10,
    );
}

#[test]
fn truncated_closed_segment_before_last_index_entry_is_reported() {
    // A batch with others after it in its closed segment, cut inside its header: the index
    // now points past the end of the file and is rebuilt from the damaged data.
    truncated_closed_segment(middle_batch, 30);
}

#[test]
fn truncated_closed_segment_mid_batch_is_reported() {
    truncated_closed_segment(middle_batch, HEADER + 200);
}

#[test]
fn damaged_length_field_with_missing_index_does_not_cut_trusted_segment() {
    // With its index gone, a closed segment is re-indexed from its headers on a clean open;
    // a damaged length there must be reported, not taken as the end of the segment (which
    // would delete the valid batches after it from a segment that was synced and trusted).
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (log, written) = write_log(&dir, 20);
    log.close().unwrap();
    drop(log);
    let i = middle_batch(&written);
    let damaged = written[i].clone();
    let path = damaged.segment(&dir);
    let original_len = fs::metadata(&path).unwrap().len();
    // 65 536 bytes too long: runs past the end of the 4 KiB segment.
    flip(&path, damaged.position + LENGTH_FIELD + 1, 0x01);
    fs::remove_file(segment_path(&dir, damaged.segment_base, "index")).unwrap();

    match PartitionLog::open(&dir, config()) {
        Err(e) => assert_corrupt::<()>(Err(e), &path, None),
        Ok(log) => {
            assert_eq!(
                fs::metadata(&path).unwrap().len(),
                original_len,
                "opening a cleanly closed log cut one of its segments: {:?}",
                log.recovery_report()
            );
            for batch in written
                .iter()
                .filter(|w| w.segment_base == damaged.segment_base)
            {
                match log.read(batch.base, 1, None) {
                    Ok(read) => assert_batch(&read.records, batch),
                    Err(e) => assert_corrupt::<()>(Err(e), &path, None),
                }
            }
        }
    }
}

#[test]
fn a_large_read_serves_the_good_batches_before_damage_and_then_reports_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (log, written) = write_log(tmp.path(), 30);
    let damaged = middle_batch(&written);
    let before = &written[damaged - 1];
    flip(
        &written[damaged].segment(tmp.path()),
        written[damaged].position + HEADER + 20,
        0x01,
    );
    // A read from the batch before the damaged one, with room for many batches, returns
    // exactly the good batch and stops.
    let read = log.read(before.base, 1 << 20, None).unwrap();
    let batches: Vec<_> = BatchIter::new(&read.records).collect();
    assert_eq!(batches.len(), 1);
    assert_batch(&read.records, before);
    // The next read, at the damaged batch, reports it.
    assert_corrupt(
        log.read(written[damaged].base, 1 << 20, None),
        &written[damaged].segment(tmp.path()),
        Some(written[damaged].position),
    );
}
