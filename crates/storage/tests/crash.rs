//! Crash tests: a real writer process (`streambus-storage-writer`) appends with
//! `flush=always` and is killed with SIGKILL at pseudo-random points; the log is then
//! recovered in this process and checked: every acknowledged record is there, byte for byte,
//! at the offset it was acknowledged at, offsets are dense from 0, nothing past the last
//! whole batch is served, and the log takes appends again. Then the writer is restarted on
//! the same directory and the cycle repeats. A second test damages the tail after a kill the
//! way a torn write would and checks that recovery cuts exactly the damage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use streambus_storage::batch::{BatchIter, check_integrity};
use streambus_storage::records::{BatchBuilder, decode_records};
use streambus_storage::{FlushPolicy, LogConfig, PartitionLog};

/// Same as the writer's: the record at offset `n` has timestamp `BASE_TIMESTAMP + n`.
const BASE_TIMESTAMP: i64 = 1_600_000_000_000;
const WRITER: &str = env!("CARGO_BIN_EXE_streambus-storage-writer");
/// More records than any round lets the writer append before it is killed.
const ENDLESS: &str = "1000000";

/// The writer's value for record `seq` (see `src/bin/streambus-storage-writer.rs`).
fn value_for(seq: i64) -> Vec<u8> {
    let unit = format!("record-{seq}-");
    let len = 16 + (SplitMix64(seq as u64).next() % 1500) as usize;
    unit.bytes().cycle().take(len).collect()
}

/// Deterministic generator for kill points and garbage, the same as the writer's.
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

/// The writer's config; recovery must work with it.
fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 64 << 10,
        index_interval_bytes: 1024,
        flush: FlushPolicy::Always,
        ..LogConfig::default()
    }
}

/// One `acked` line: the writer's sequence numbers and the offsets the log returned.
#[derive(Debug, Clone, Copy)]
struct Ack {
    base_offset: i64,
    last_offset: i64,
}

struct Writer {
    child: Child,
    stdout: BufReader<ChildStdout>,
    start: Option<i64>,
    acks: Vec<Ack>,
}

impl Writer {
    fn spawn(dir: &Path, count: &str, seed: u64) -> Writer {
        let mut child = Command::new(WRITER)
            .arg(dir)
            .arg(count)
            .arg(seed.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the writer");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Writer {
            child,
            stdout,
            start: None,
            acks: Vec::new(),
        }
    }

    /// Reads lines until `acks` acknowledgements were seen; false at end of output.
    fn read_acks(&mut self, acks: usize) -> bool {
        while self.acks.len() < acks {
            let mut line = String::new();
            if self.stdout.read_line(&mut line).unwrap() == 0 {
                return false;
            }
            self.parse(&line);
        }
        true
    }

    fn parse(&mut self, line: &str) {
        // A line cut short by the kill was never acknowledged as a whole.
        let Some(line) = line.strip_suffix('\n') else {
            return;
        };
        let fields: Vec<&str> = line.split(' ').collect();
        let numbers: Vec<i64> = fields[1..].iter().map(|f| f.parse().unwrap()).collect();
        match fields[0] {
            "start" => self.start = Some(numbers[0]),
            "acked" => {
                let [seq_first, seq_last, base_offset, last_offset] = numbers[..] else {
                    panic!("bad line {line:?}");
                };
                // Sequence numbers are offsets by design: the writer continues from the end.
                assert_eq!((seq_first, seq_last), (base_offset, last_offset), "{line}");
                if let Some(previous) = self.acks.last() {
                    assert_eq!(base_offset, previous.last_offset + 1, "{line}");
                } else {
                    assert_eq!(Some(base_offset), self.start, "{line}");
                }
                self.acks.push(Ack {
                    base_offset,
                    last_offset,
                });
            }
            "done" => {}
            _ => panic!("unexpected writer output {line:?}"),
        }
    }

    /// SIGKILLs the writer and collects the acknowledgements it printed before dying.
    fn kill(mut self) -> (Option<i64>, Vec<Ack>) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        for line in rest.split_inclusive('\n') {
            self.parse(line);
        }
        (self.start, self.acks)
    }

    /// Waits for a writer that is meant to finish; panics with its stderr if it failed.
    fn finish(mut self) -> (Option<i64>, Vec<Ack>) {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        for line in rest.split_inclusive('\n') {
            self.parse(line);
        }
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(status.success(), "writer failed: {stderr}");
        (self.start, self.acks)
    }
}

/// Reads the whole log and checks every record: dense offsets from the log start, the
/// writer's key, value and timestamp for each. Returns the log end offset.
fn verify_all(log: &PartitionLog) -> i64 {
    assert_eq!(log.log_start_offset(), 0);
    verify_from(log, 0)
}

/// Like [`verify_all`] from `from`, a batch boundary (the first offset a round wrote).
fn verify_from(log: &PartitionLog, from: i64) -> i64 {
    let end = log.log_end_offset();
    let mut next = from;
    while next < end {
        let read = log.read(next, 256 << 10, None).unwrap();
        assert_eq!(read.log_end_offset, end);
        assert!(
            !read.records.is_empty(),
            "empty read at {next} below end {end}"
        );
        let mut iter = BatchIter::new(&read.records);
        for (header, range) in iter.by_ref() {
            let batch = &read.records[range];
            check_integrity(batch).unwrap();
            assert_eq!(header.base_offset, next, "batches must be dense");
            assert_eq!(header.partition_leader_epoch, 0);
            let records = decode_records(batch, 1 << 20).unwrap();
            assert_eq!(records.len() as i64, header.last_offset() - next + 1);
            for record in &records {
                let offset = record.offset(header.base_offset);
                assert_eq!(offset, next, "records must be dense");
                assert_eq!(
                    record.key.as_deref(),
                    Some(format!("key-{offset}").as_bytes())
                );
                assert_eq!(
                    record.value.as_deref(),
                    Some(value_for(offset).as_slice()),
                    "value of record {offset}"
                );
                assert_eq!(
                    record.timestamp(header.base_timestamp),
                    BASE_TIMESTAMP + offset
                );
                next += 1;
            }
        }
        assert_eq!(
            iter.position(),
            read.records.len(),
            "a read returned a partial batch"
        );
    }
    assert_eq!(next, end);
    // Nothing is served at the end.
    assert!(log.read(end, 1 << 20, None).unwrap().records.is_empty());
    end
}

/// Checks each acknowledged append: its records are below the end and the batch holding its
/// first offset is served first by a read there.
fn verify_acks(log: &PartitionLog, acks: &[Ack]) {
    let end = log.log_end_offset();
    for ack in acks {
        assert!(
            ack.last_offset < end,
            "acknowledged offsets {}..={} lost: the log ends at {end}",
            ack.base_offset,
            ack.last_offset
        );
        let read = log.read(ack.base_offset, 1, None).unwrap();
        let (header, range) = BatchIter::new(&read.records).next().unwrap();
        assert_eq!(header.base_offset, ack.base_offset);
        let records = decode_records(&read.records[range], 1 << 20).unwrap();
        assert_eq!(
            records[0].value.as_deref(),
            Some(value_for(ack.base_offset).as_slice())
        );
    }
}

/// Appends `count` records in the writer's format at the log end.
fn append_like_writer(log: &PartitionLog, count: i64) -> i64 {
    let first = log.log_end_offset();
    let mut builder = BatchBuilder::new();
    for seq in first..first + count {
        builder.push_kv(
            BASE_TIMESTAMP + seq,
            Some(Bytes::from(format!("key-{seq}"))),
            Some(Bytes::from(value_for(seq))),
            Vec::new(),
        );
    }
    let info = log
        .append(&builder.build().unwrap(), 0, BASE_TIMESTAMP)
        .unwrap();
    assert_eq!(info.base_offset, first);
    assert_eq!(info.last_offset, first + count - 1);
    first + count
}

/// Segment files of `dir`, by base offset.
fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

#[test]
fn acknowledged_records_survive_sigkill_and_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("topic-0");
    let mut rng = SplitMix64(0x5eed_c0de);
    let deadline = Instant::now() + Duration::from_secs(50);
    let mut expected_start = 0;
    let mut total_acked = 0;
    let rounds = 24;
    for round in 0..rounds {
        assert!(
            Instant::now() < deadline,
            "round {round} started past the deadline"
        );
        let mut writer = Writer::spawn(&dir, ENDLESS, rng.next());
        // Every sixth round is killed right after spawn, possibly before it opened the log;
        // every third waits for up to 200 appends, the others for up to 40 (each append is
        // an fsync, so the long rounds dominate the test's time).
        let kill_after = match round % 6 {
            5 => 0,
            0 | 3 => 1 + rng.below(200) as usize,
            _ => 1 + rng.below(40) as usize,
        };
        if kill_after > 0 {
            assert!(
                writer.read_acks(kill_after),
                "writer stopped early in round {round}"
            );
        }
        let (start, acks) = writer.kill();
        if let Some(start) = start {
            assert_eq!(
                start, expected_start,
                "round {round}: writer started elsewhere"
            );
        }
        assert!(acks.len() >= kill_after);
        total_acked += acks.len();

        let log = PartitionLog::open(&dir, config()).unwrap();
        if start.is_some() {
            // The writer had opened the log, which takes the clean-shutdown marker.
            assert!(!log.recovery_report().clean_shutdown, "round {round}");
        }
        let acked_end = acks.last().map_or(expected_start, |a| a.last_offset + 1);
        // What earlier rounds wrote was checked then; the final full check covers it again.
        let end = verify_from(&log, expected_start);
        assert!(
            end >= acked_end,
            "round {round}: log ends at {end}, {acked_end} was acknowledged"
        );
        verify_acks(&log, &acks);
        // The recovered log takes appends, in the writer's format so later rounds can check them.
        let appended_at = log.log_end_offset();
        expected_start = append_like_writer(&log, 3);
        assert_eq!(verify_from(&log, appended_at), expected_start);
        // Alternate clean and unclean hand-overs to the next writer.
        if round % 2 == 0 {
            log.close().unwrap();
        } else {
            drop(log);
        }
    }
    assert!(
        total_acked >= 500,
        "only {total_acked} appends acknowledged"
    );

    // A last writer that is not killed finishes and closes cleanly.
    let writer = Writer::spawn(&dir, "50", 1);
    let (start, acks) = writer.finish();
    assert_eq!(start, Some(expected_start));
    assert_eq!(acks.last().unwrap().last_offset, expected_start + 49);
    let log = PartitionLog::open(&dir, config()).unwrap();
    assert!(log.recovery_report().clean_shutdown);
    assert_eq!(log.recovery_report().segments_scanned, 0);
    assert_eq!(verify_all(&log), expected_start + 50);
    assert!(
        log.segment_count() > 5,
        "the rounds should have rolled segments"
    );
}

/// Length of the prefix of whole, CRC-valid batches of a segment file.
fn valid_prefix(path: &Path) -> u64 {
    let bytes = fs::read(path).unwrap();
    let mut valid = 0;
    for (_, range) in BatchIter::new(&bytes) {
        if check_integrity(&bytes[range.clone()]).is_err() {
            break;
        }
        valid = range.end;
    }
    valid as u64
}

/// Bytes a torn or damaged write could leave after the last whole batch.
fn damage(kind: u64, rng: &mut SplitMix64, next_offset: i64) -> Vec<u8> {
    let mut garbage = |len: u64| -> Vec<u8> { (0..len).map(|_| rng.next() as u8).collect() };
    let mut builder = BatchBuilder::new().base_offset(next_offset);
    for seq in next_offset..next_offset + 5 {
        builder.push_kv(
            BASE_TIMESTAMP + seq,
            Some(Bytes::from(format!("key-{seq}"))),
            Some(Bytes::from(value_for(seq))),
            Vec::new(),
        );
    }
    let whole: BytesMut = builder.build().unwrap();
    match kind {
        // Part of a header.
        0 => whole[..30].to_vec(),
        // A whole header and part of the records, then random bytes (a torn write followed
        // by blocks the file system had allocated but not written).
        1 => {
            let mut bytes = whole[..whole.len() / 2].to_vec();
            bytes.extend(garbage(200));
            bytes
        }
        // A whole batch whose last bytes never made it: the CRC fails.
        2 => {
            let mut bytes = whole.to_vec();
            let n = bytes.len();
            bytes[n - 10..].fill(0);
            bytes
        }
        // Random bytes only.
        3 => garbage(1 + (next_offset as u64 % 3000)),
        // Zeros, as after a crash that extended the file but lost the data.
        _ => vec![0; 4096],
    }
}

#[test]
fn torn_tail_after_kill_is_cut_and_acknowledged_records_survive() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("topic-0");
    let mut rng = SplitMix64(42);
    let mut expected_start = 0;
    for kind in 0..5 {
        let mut writer = Writer::spawn(&dir, ENDLESS, kind);
        assert!(writer.read_acks(20 + rng.below(60) as usize));
        let (start, acks) = writer.kill();
        assert_eq!(start, Some(expected_start));

        let segment = segment_files(&dir).pop().unwrap();
        let valid = valid_prefix(&segment);
        let next_offset = acks.last().unwrap().last_offset + 1;
        let mut file = fs::OpenOptions::new().append(true).open(&segment).unwrap();
        file.write_all(&damage(kind, &mut rng, next_offset))
            .unwrap();
        drop(file);
        let damaged_len = fs::metadata(&segment).unwrap().len();

        let log = PartitionLog::open(&dir, config()).unwrap();
        let report = log.recovery_report().clone();
        assert!(!report.clean_shutdown);
        assert!(report.segments_scanned >= 1, "{report:?}");
        assert!(report.truncated_bytes > 0, "kind {kind}: {report:?}");
        assert_eq!(
            report.truncated_bytes,
            damaged_len - valid,
            "kind {kind}: exactly the bytes after the last valid batch are cut: {report:?}"
        );
        assert!(report.reason.is_some());
        assert_eq!(report.segments_dropped, 0);
        assert_eq!(fs::metadata(&segment).unwrap().len(), valid);
        let end = verify_all(&log);
        assert!(end >= next_offset);
        verify_acks(&log, &acks);
        expected_start = append_like_writer(&log, 2);
        drop(log);
    }
    // A clean restart finds everything still in place.
    let log = PartitionLog::open(&dir, config()).unwrap();
    assert_eq!(log.recovery_report().truncated_bytes, 0);
    assert_eq!(verify_all(&log), expected_start);
}
