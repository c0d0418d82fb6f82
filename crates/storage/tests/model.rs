//! Property test of `PartitionLog` against an in-memory model.
//!
//! Proptest generates a log config (small segments so that appends roll, small index
//! intervals, `flush=always` or `flush=os`) and a sequence of operations: appends of one to
//! three batches of random records, reads at random offsets with random byte limits and high
//! watermarks, `truncate_to`, `delete_records_before`, `truncate_fully_and_start_at`, and
//! reopening the log after a clean close or after dropping it (an unclean shutdown). The
//! model is the list of batches (a batch cannot be split, so `truncate_to` ends the log at
//! the base offset of the batch holding the offset), the log start and the log end. After
//! every operation the log's offsets must equal the model's and a read of the whole log from
//! its start must return exactly the model's batches, record by record, byte for byte.
//!
//! Failing cases are saved in `crates/storage/proptest-regressions/model.txt` and replayed
//! first on every run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use streambus_storage::batch::BatchIter;
use streambus_storage::records::{BatchBuilder, decode_records};
use streambus_storage::{FlushPolicy, LogConfig, LogRead, PartitionLog, StorageError};

/// One record as a producer sent it.
#[derive(Clone, PartialEq, Eq)]
struct Rec {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

/// Lengths only: failing cases print their operations, and the bytes would drown them.
impl std::fmt::Debug for Rec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = |b: &Option<Vec<u8>>| b.as_ref().map(Vec::len);
        write!(
            f,
            "Rec(key {:?}, value {:?})",
            len(&self.key),
            len(&self.value)
        )
    }
}

/// One operation on the log. Offsets are drawn as `pick`s and mapped onto the log's
/// current range when the operation runs.
#[derive(Debug, Clone)]
enum Op {
    Append(Vec<Vec<Rec>>),
    Read {
        pick: u32,
        max_bytes: usize,
        high_watermark: Option<u32>,
    },
    /// `anywhere` also reaches offsets below the log start (which empty the log).
    TruncateTo {
        pick: u32,
        anywhere: bool,
    },
    DeleteRecordsBefore(u32),
    TruncateFullyAndStartAt(u32),
    Reopen {
        clean: bool,
    },
}

/// A batch as the model keeps it.
#[derive(Debug, Clone)]
struct ModelBatch {
    base: i64,
    leader_epoch: i32,
    records: Vec<Rec>,
}

impl ModelBatch {
    fn last(&self) -> i64 {
        self.base + self.records.len() as i64 - 1
    }
}

/// What the log should hold: its batches from the one holding the log start on.
#[derive(Debug, Default)]
struct Model {
    batches: Vec<ModelBatch>,
    start: i64,
    end: i64,
}

impl Model {
    fn batch_at(&self, base: i64) -> Option<&ModelBatch> {
        let i = self.batches.binary_search_by_key(&base, |b| b.base).ok()?;
        Some(&self.batches[i])
    }

    /// Drops batches wholly below the log start: no read can return them.
    fn prune(&mut self) {
        let start = self.start;
        self.batches.retain(|b| b.last() >= start);
    }

    fn restart_at(&mut self, offset: i64) {
        self.batches.clear();
        self.start = offset;
        self.end = offset;
    }
}

fn rec() -> impl Strategy<Value = Rec> {
    let bytes = |max| prop::collection::vec(any::<u8>(), 0..max);
    (
        prop::option::weighted(0.8, bytes(40)),
        prop::option::weighted(0.9, bytes(2000)),
    )
        .prop_map(|(key, value)| Rec { key, value })
}

fn op() -> impl Strategy<Value = Op> {
    let batch = prop::collection::vec(rec(), 1..8);
    prop_oneof![
        6 => prop::collection::vec(batch, 1..4).prop_map(Op::Append),
        3 => (any::<u32>(), 1usize..40_000, prop::option::weighted(0.3, any::<u32>())).prop_map(
            |(pick, max_bytes, high_watermark)| Op::Read { pick, max_bytes, high_watermark }
        ),
        2 => (any::<u32>(), prop::bool::weighted(0.2))
            .prop_map(|(pick, anywhere)| Op::TruncateTo { pick, anywhere }),
        2 => any::<u32>().prop_map(Op::DeleteRecordsBefore),
        1 => any::<u32>().prop_map(Op::TruncateFullyAndStartAt),
        2 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

fn config() -> impl Strategy<Value = LogConfig> {
    (
        prop_oneof![Just(4096u64), Just(16 << 10), Just(64 << 10)],
        prop_oneof![Just(0u64), Just(128), Just(1024)],
        prop_oneof![Just(FlushPolicy::Always), Just(FlushPolicy::Os)],
    )
        .prop_map(|(segment_bytes, index_interval_bytes, flush)| LogConfig {
            segment_bytes,
            index_interval_bytes,
            flush,
            ..LogConfig::default()
        })
}

/// An offset in `[from, to]`.
fn pick_in(pick: u32, from: i64, to: i64) -> i64 {
    from + i64::from(pick) % (to - from + 1)
}

/// Checks one read made at `offset` with `max_bytes` and limit `limit` (the high watermark,
/// or the log end): whole batches, the first holding `offset`, then consecutive ones, each
/// equal to the model's batch at its base offset. Returns the offset after the last batch.
fn check_read(read: &LogRead, model: &Model, offset: i64, max_bytes: usize, limit: i64) -> i64 {
    assert_eq!(read.log_start_offset, model.start, "log start in a read");
    assert_eq!(read.log_end_offset, model.end, "log end in a read");
    if offset >= limit {
        assert!(
            read.records.is_empty(),
            "a read at {offset} >= {limit} returned data"
        );
        return offset;
    }
    let mut next = None;
    let mut count = 0;
    let mut iter = BatchIter::new(&read.records);
    for (header, range) in iter.by_ref() {
        count += 1;
        match next {
            None => assert!(
                header.base_offset <= offset && offset <= header.last_offset(),
                "the first batch {}..={} does not hold {offset}",
                header.base_offset,
                header.last_offset()
            ),
            Some(next) => assert_eq!(header.base_offset, next, "batches are not consecutive"),
        }
        assert!(
            header.base_offset < limit,
            "a batch at or past the limit was served"
        );
        let expected = model
            .batch_at(header.base_offset)
            .unwrap_or_else(|| panic!("no batch at {} in the model", header.base_offset));
        assert_eq!(header.last_offset(), expected.last());
        assert_eq!(header.partition_leader_epoch, expected.leader_epoch);
        let records = decode_records(&read.records[range], 1 << 24).unwrap();
        assert_eq!(records.len(), expected.records.len());
        for (i, (got, want)) in records.iter().zip(&expected.records).enumerate() {
            assert_eq!(
                got.offset(header.base_offset),
                header.base_offset + i as i64
            );
            assert_eq!(
                got.key.as_deref(),
                want.key.as_deref(),
                "key at {}",
                expected.base
            );
            assert_eq!(
                got.value.as_deref(),
                want.value.as_deref(),
                "value of record {} of the batch at {}",
                i,
                expected.base
            );
        }
        next = Some(header.next_offset());
    }
    assert_eq!(
        iter.position(),
        read.records.len(),
        "a read returned a partial batch"
    );
    assert!(
        count >= 1,
        "a read at {offset} below {limit} returned nothing"
    );
    if count > 1 {
        assert!(
            read.records.len() <= max_bytes,
            "a read went past max_bytes"
        );
    }
    next.unwrap_or(offset)
}

/// Checks offsets and reads the whole log from its start.
fn check_log(log: &PartitionLog, model: &Model, flush: FlushPolicy) {
    assert_eq!(log.log_end_offset(), model.end, "log end offset");
    assert_eq!(log.log_start_offset(), model.start, "log start offset");
    assert!(log.durable_offset() <= log.log_end_offset());
    if flush == FlushPolicy::Always {
        assert_eq!(log.durable_offset(), log.log_end_offset());
    }
    assert!(log.segment_count() >= 1);
    let mut next = model.start;
    while next < model.end {
        let read = log.read(next, 64 << 10, None).unwrap();
        next = check_read(&read, model, next, 64 << 10, model.end);
    }
    assert!(
        log.read(model.end, 1 << 20, None)
            .unwrap()
            .records
            .is_empty()
    );
    if model.start > 0 {
        assert!(matches!(
            log.read(model.start - 1, 1 << 20, None),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
    }
    assert!(matches!(
        log.read(model.end + 1, 1 << 20, None),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
}

fn build(batch: &[Rec], timestamp: i64) -> BytesMut {
    let mut builder = BatchBuilder::new();
    for rec in batch {
        builder.push_kv(
            timestamp,
            rec.key.clone().map(Bytes::from),
            rec.value.clone().map(Bytes::from),
            Vec::new(),
        );
    }
    builder.build().unwrap()
}

fn run(dir: &Path, config: &LogConfig, ops: &[Op]) {
    let mut log = Some(PartitionLog::open(dir, config.clone()).unwrap());
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        let now = 1_000_000 + step as i64;
        let current = log.as_ref().unwrap();
        match op {
            Op::Append(batches) => {
                let mut bytes = BytesMut::new();
                for batch in batches {
                    bytes.extend_from_slice(&build(batch, now));
                }
                let epoch = step as i32;
                let info = current.append(&bytes, epoch, now).unwrap();
                assert_eq!(info.base_offset, model.end);
                assert_eq!(info.batch_count, batches.len());
                for batch in batches {
                    model.batches.push(ModelBatch {
                        base: model.end,
                        leader_epoch: epoch,
                        records: batch.clone(),
                    });
                    model.end += batch.len() as i64;
                }
                assert_eq!(info.last_offset, model.end - 1);
            }
            Op::Read {
                pick,
                max_bytes,
                high_watermark,
            } => {
                let offset = pick_in(*pick, model.start, model.end);
                let hw = high_watermark.map(|hw| pick_in(hw, model.start, model.end));
                let read = current.read(offset, *max_bytes, hw).unwrap();
                check_read(&read, &model, offset, *max_bytes, hw.unwrap_or(model.end));
            }
            Op::TruncateTo { pick, anywhere } => {
                let offset = if *anywhere {
                    pick_in(*pick, 0, model.end + 1)
                } else {
                    pick_in(*pick, model.start, model.end)
                };
                let new_end = current.truncate_to(offset).unwrap();
                if offset < model.start {
                    model.restart_at(offset);
                } else if offset < model.end {
                    let i = model.batches.partition_point(|b| b.last() < offset);
                    model.end = model.batches[i].base;
                    model.batches.truncate(i);
                    model.start = model.start.min(model.end);
                }
                assert_eq!(new_end, model.end, "truncate_to({offset})");
            }
            Op::DeleteRecordsBefore(pick) => {
                if pick % 8 == 0 {
                    assert!(current.delete_records_before(model.end + 1).is_err());
                }
                let offset = pick_in(*pick, model.start, model.end);
                let start = current.delete_records_before(offset).unwrap();
                model.start = model.start.max(offset);
                assert_eq!(start, model.start, "delete_records_before({offset})");
            }
            Op::TruncateFullyAndStartAt(pick) => {
                let offset = pick_in(*pick, 0, model.end + 100);
                current.truncate_fully_and_start_at(offset).unwrap();
                model.restart_at(offset);
            }
            Op::Reopen { clean } => {
                let old = log.take().unwrap();
                if *clean {
                    old.close().unwrap();
                }
                drop(old);
                let reopened = PartitionLog::open(dir, config.clone()).unwrap();
                let report = reopened.recovery_report();
                assert_eq!(report.clean_shutdown, *clean);
                // Nothing was torn: the process did not die mid-write.
                assert_eq!(report.truncated_bytes, 0, "{report:?}");
                assert_eq!(report.segments_dropped, 0, "{report:?}");
                log = Some(reopened);
            }
        }
        model.prune();
        check_log(log.as_ref().unwrap(), &model, config.flush);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/model.txt"
        )))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn log_matches_model(config in config(), ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        run(&dir.path().join("topic-0"), &config, &ops);
    }
}

/// Found by `log_matches_model`. `truncate_to` into the batch that holds the log start lowers
/// the log start in memory to the new log end, but not in `log-start-offset.checkpoint`, so
/// after a restart the log start jumps back up and hides records appended in between.
#[test]
fn log_start_lowered_by_truncate_to_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().join("topic-0");
    let config = LogConfig::default();
    let log = PartitionLog::open(&dir, config.clone()).unwrap();
    let five = |first: u8| -> Vec<Rec> {
        (first..first + 5)
            .map(|i| Rec {
                key: Some(vec![i]),
                value: Some(vec![i; 10]),
            })
            .collect()
    };
    log.append(&build(&five(0), 1), 0, 1).unwrap();
    log.append(&build(&five(5), 1), 0, 1).unwrap();
    assert_eq!(log.delete_records_before(7).unwrap(), 7);
    // Offset 8 is in the batch 5..=9, so the log ends at 5, below the log start of 7.
    assert_eq!(log.truncate_to(8).unwrap(), 5);
    assert_eq!(log.log_start_offset(), 5);
    let info = log.append(&build(&five(10), 1), 0, 1).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (5, 9));
    assert_eq!(log.log_start_offset(), 5);
    log.close().unwrap();
    drop(log);

    let log = PartitionLog::open(&dir, config).unwrap();
    assert_eq!(log.log_end_offset(), 10);
    // Records 5 and 6 were appended and acknowledged after the truncation; a restart must not
    // hide them.
    assert_eq!(
        log.log_start_offset(),
        5,
        "log start moved up across a restart"
    );
    let read = log.read(5, 1 << 20, None).unwrap();
    let (header, range) = BatchIter::new(&read.records).next().unwrap();
    assert_eq!(header.base_offset, 5);
    let records = decode_records(&read.records[range], 1 << 20).unwrap();
    assert_eq!(records[0].value.as_deref(), Some(&[10u8; 10][..]));
}
