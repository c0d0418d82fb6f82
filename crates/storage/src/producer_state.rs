//! Idempotent-producer state of one partition: the epoch and recent batches of every
//! producer id that wrote to it.
//!
//! Kafka clients enable idempotence by default: each batch carries a producer id, epoch and
//! base sequence, and the broker must append each sequence range exactly once and in order.
//! For every producer the state keeps its epoch and its last five batches (the most a client
//! has in flight), so that a retried batch already in the log is answered with its original
//! offsets instead of being appended again.
//!
//! The state is rebuilt from batch headers alone (producer fields are in the header), and
//! snapshotted beside the log (`<offset>.snapshot`) so that a restart only scans the batches
//! after the newest snapshot.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::batch::BatchHeader;
use crate::error::{IoContext, Result};

/// Batches remembered per producer (a client's `max.in.flight.requests.per.connection`).
pub const BATCHES_PER_PRODUCER: usize = 5;
/// Suffix of producer state snapshot files.
pub(crate) const SNAPSHOT_SUFFIX: &str = "snapshot";
/// Snapshots kept; older ones are deleted when a new one is written.
const SNAPSHOTS_KEPT: usize = 2;

/// Why a producer's batch is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProducerError {
    /// The batch's epoch is older than the producer's current one (INVALID_PRODUCER_EPOCH):
    /// a newer instance of the producer has taken over.
    #[error("producer {producer_id} epoch {epoch} is older than the current epoch {current}")]
    StaleEpoch {
        /// Producer id.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The epoch the partition knows.
        current: i16,
    },
    /// The batch's sequence does not follow the last one (OUT_OF_ORDER_SEQUENCE_NUMBER).
    #[error("producer {producer_id} sent sequence {sequence}, expected {expected}")]
    OutOfOrderSequence {
        /// Producer id.
        producer_id: i64,
        /// The batch's base sequence.
        sequence: i32,
        /// The sequence that would follow.
        expected: i32,
    },
}

/// One batch a producer wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    /// Base sequence.
    pub first_sequence: i32,
    /// Sequence of the last record.
    pub last_sequence: i32,
    /// Offset of the first record.
    pub first_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The batch's max timestamp.
    pub timestamp: i64,
}

/// What the partition knows of one producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    /// Producer id.
    pub producer_id: i64,
    /// Current epoch.
    pub epoch: i16,
    /// Its last batches, oldest first.
    pub batches: VecDeque<ProducerBatch>,
}

impl ProducerEntry {
    /// The last batch written.
    pub fn last(&self) -> Option<&ProducerBatch> {
        self.batches.back()
    }
}

/// What an append of a producer's batch should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Append it.
    Append,
    /// It is already in the log at these offsets.
    Duplicate { first_offset: i64, last_offset: i64 },
}

/// Producer state of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
}

fn last_sequence(header: &BatchHeader) -> i32 {
    increment(header.base_sequence, header.last_offset_delta)
}

/// Sequences wrap from `i32::MAX` to 0, as Kafka's do.
fn increment(sequence: i32, by: i32) -> i32 {
    let next = i64::from(sequence) + i64::from(by);
    (next % (i64::from(i32::MAX) + 1)) as i32
}

impl ProducerState {
    /// Decides what to do with a client's batch (one with a producer id).
    pub fn check(&self, header: &BatchHeader) -> Result<Verdict, ProducerError> {
        let producer_id = header.producer_id;
        let entry = match self.producers.get(&producer_id) {
            Some(entry) if header.producer_epoch < entry.epoch => {
                return Err(ProducerError::StaleEpoch {
                    producer_id,
                    epoch: header.producer_epoch,
                    current: entry.epoch,
                });
            }
            Some(entry) if header.producer_epoch == entry.epoch => entry,
            // A producer new to this partition, or a new epoch of one: it starts at 0.
            _ if header.base_sequence == 0 => return Ok(Verdict::Append),
            _ => {
                return Err(ProducerError::OutOfOrderSequence {
                    producer_id,
                    sequence: header.base_sequence,
                    expected: 0,
                });
            }
        };
        let last = last_sequence(header);
        if let Some(seen) = entry
            .batches
            .iter()
            .find(|b| b.first_sequence == header.base_sequence && b.last_sequence == last)
        {
            return Ok(Verdict::Duplicate {
                first_offset: seen.first_offset,
                last_offset: seen.last_offset,
            });
        }
        let expected = entry.last().map_or(0, |b| increment(b.last_sequence, 1));
        if header.base_sequence == expected {
            Ok(Verdict::Append)
        } else {
            Err(ProducerError::OutOfOrderSequence {
                producer_id,
                sequence: header.base_sequence,
                expected,
            })
        }
    }

    /// Records a batch written at `first_offset` (header fields as stored).
    pub fn record(&mut self, header: &BatchHeader, first_offset: i64) {
        if !header.has_producer_id() {
            return;
        }
        let entry = self
            .producers
            .entry(header.producer_id)
            .or_insert_with(|| ProducerEntry {
                producer_id: header.producer_id,
                epoch: header.producer_epoch,
                batches: VecDeque::new(),
            });
        if header.producer_epoch != entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
        }
        if header.is_control() || header.base_sequence < 0 {
            return;
        }
        if entry.batches.len() == BATCHES_PER_PRODUCER {
            entry.batches.pop_front();
        }
        entry.batches.push_back(ProducerBatch {
            first_sequence: header.base_sequence,
            last_sequence: last_sequence(header),
            first_offset,
            last_offset: first_offset + i64::from(header.last_offset_delta),
            timestamp: header.max_timestamp,
        });
    }

    /// Every producer, by id.
    pub fn entries(&self) -> Vec<ProducerEntry> {
        let mut entries: Vec<_> = self.producers.values().cloned().collect();
        entries.sort_by_key(|e| e.producer_id);
        entries
    }

    /// Serialised form: a CRC32C, then per producer its id, epoch and batches.
    fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for entry in self.entries() {
            body.extend(entry.producer_id.to_be_bytes());
            body.extend(entry.epoch.to_be_bytes());
            body.push(entry.batches.len() as u8);
            for b in &entry.batches {
                body.extend(b.first_sequence.to_be_bytes());
                body.extend(b.last_sequence.to_be_bytes());
                body.extend(b.first_offset.to_be_bytes());
                body.extend(b.last_offset.to_be_bytes());
                body.extend(b.timestamp.to_be_bytes());
            }
        }
        let mut out = crc32c::crc32c(&body).to_be_bytes().to_vec();
        out.extend(body);
        out
    }

    fn decode(bytes: &[u8]) -> Option<ProducerState> {
        let (crc, mut body) = bytes.split_first_chunk::<4>()?;
        if crc32c::crc32c(body) != u32::from_be_bytes(*crc) {
            return None;
        }
        let mut state = ProducerState::default();
        while !body.is_empty() {
            let (id, rest) = body.split_first_chunk::<8>()?;
            let (epoch, rest) = rest.split_first_chunk::<2>()?;
            let (count, mut rest) = rest.split_first()?;
            let mut batches = VecDeque::new();
            for _ in 0..*count {
                let (raw, after) = rest.split_first_chunk::<32>()?;
                let i32_at = |at: usize| {
                    i32::from_be_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]])
                };
                let i64_at = |at: usize| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&raw[at..at + 8]);
                    i64::from_be_bytes(b)
                };
                batches.push_back(ProducerBatch {
                    first_sequence: i32_at(0),
                    last_sequence: i32_at(4),
                    first_offset: i64_at(8),
                    last_offset: i64_at(16),
                    timestamp: i64_at(24),
                });
                rest = after;
            }
            let producer_id = i64::from_be_bytes(*id);
            state.producers.insert(
                producer_id,
                ProducerEntry {
                    producer_id,
                    epoch: i16::from_be_bytes(*epoch),
                    batches,
                },
            );
            body = rest;
        }
        Some(state)
    }
}

fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.{SNAPSHOT_SUFFIX}"))
}

/// Offsets of the snapshots in `dir`, oldest first.
pub(crate) fn list_snapshots(dir: &Path) -> Result<Vec<i64>> {
    let mut offsets = Vec::new();
    for entry in fs::read_dir(dir).at("list", dir)? {
        let name = entry.at("list", dir)?.file_name();
        let Some((stem, suffix)) = name.to_str().and_then(|n| n.rsplit_once('.')) else {
            continue;
        };
        if suffix == SNAPSHOT_SUFFIX
            && let Ok(offset) = stem.parse::<i64>()
        {
            offsets.push(offset);
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

/// Writes the state as of `offset` (everything below it is reflected) and keeps only the
/// newest snapshots.
pub(crate) fn write_snapshot(dir: &Path, offset: i64, state: &ProducerState) -> Result<()> {
    let path = snapshot_path(dir, offset);
    let tmp = path.with_extension(format!("{SNAPSHOT_SUFFIX}.tmp"));
    let mut file = fs::File::create(&tmp).at("create", &tmp)?;
    file.write_all(&state.encode()).at("write", &tmp)?;
    file.sync_all().at("fsync", &tmp)?;
    fs::rename(&tmp, &path).at("rename", &path)?;
    let offsets = list_snapshots(dir)?;
    for old in offsets.iter().rev().skip(SNAPSHOTS_KEPT) {
        remove_snapshot(dir, *old)?;
    }
    crate::checkpoint::sync_dir(dir)
}

/// Deletes the snapshots taken past `offset` (after truncation).
pub(crate) fn remove_snapshots_after(dir: &Path, offset: i64) -> Result<()> {
    for snapshot in list_snapshots(dir)? {
        if snapshot > offset {
            remove_snapshot(dir, snapshot)?;
        }
    }
    Ok(())
}

fn remove_snapshot(dir: &Path, offset: i64) -> Result<()> {
    let path = snapshot_path(dir, offset);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).at("delete", &path),
        _ => Ok(()),
    }
}

/// The newest snapshot at or below `max_offset` that checks out: its offset and state.
pub(crate) fn load_snapshot(dir: &Path, max_offset: i64) -> Result<Option<(i64, ProducerState)>> {
    for offset in list_snapshots(dir)?.into_iter().rev() {
        if offset > max_offset {
            continue;
        }
        let path = snapshot_path(dir, offset);
        let bytes = fs::read(&path).at("read", &path)?;
        match ProducerState::decode(&bytes) {
            Some(state) => return Ok(Some((offset, state))),
            None => {
                tracing::warn!(path = %path.display(), "ignoring a damaged producer state snapshot")
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::BatchBuilder;

    fn header(pid: i64, epoch: i16, seq: i32, records: usize) -> BatchHeader {
        let mut builder = BatchBuilder::new().producer(pid, epoch, seq);
        for _ in 0..records {
            builder.push_kv(1, None, None, Vec::new());
        }
        BatchHeader::parse(&builder.build().unwrap()).unwrap()
    }

    #[test]
    fn sequences_must_follow_and_duplicates_return_original_offsets() {
        let mut state = ProducerState::default();
        let first = header(7, 0, 0, 3);
        assert_eq!(state.check(&first), Ok(Verdict::Append));
        state.record(&first, 100);
        assert_eq!(
            state.check(&first),
            Ok(Verdict::Duplicate {
                first_offset: 100,
                last_offset: 102
            })
        );
        assert_eq!(
            state.check(&header(7, 0, 4, 1)),
            Err(ProducerError::OutOfOrderSequence {
                producer_id: 7,
                sequence: 4,
                expected: 3
            })
        );
        let second = header(7, 0, 3, 2);
        assert_eq!(state.check(&second), Ok(Verdict::Append));
        state.record(&second, 103);
        // A new producer must start at 0.
        assert!(matches!(
            state.check(&header(8, 0, 5, 1)),
            Err(ProducerError::OutOfOrderSequence { expected: 0, .. })
        ));
    }

    #[test]
    fn epochs_fence_old_producers_and_reset_sequences() {
        let mut state = ProducerState::default();
        state.record(&header(7, 3, 0, 1), 0);
        assert_eq!(
            state.check(&header(7, 2, 1, 1)),
            Err(ProducerError::StaleEpoch {
                producer_id: 7,
                epoch: 2,
                current: 3
            })
        );
        assert!(state.check(&header(7, 4, 1, 1)).is_err());
        let bumped = header(7, 4, 0, 1);
        assert_eq!(state.check(&bumped), Ok(Verdict::Append));
        state.record(&bumped, 1);
        assert_eq!(state.entries()[0].epoch, 4);
        assert_eq!(state.entries()[0].batches.len(), 1);
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut state = ProducerState::default();
        for i in 0..7 {
            state.record(&header(1, 0, i, 1), i64::from(i));
        }
        let entry = &state.entries()[0];
        assert_eq!(entry.batches.len(), BATCHES_PER_PRODUCER);
        assert_eq!(entry.batches[0].first_sequence, 2);
        // Sequence 1 is too old to be recognised as a duplicate.
        assert!(state.check(&header(1, 0, 1, 1)).is_err());
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        let mut state = ProducerState::default();
        state.record(&header(1, 0, i32::MAX - 1, 3), 0);
        assert_eq!(state.entries()[0].batches[0].last_sequence, 0);
        assert_eq!(state.check(&header(1, 0, 1, 1)), Ok(Verdict::Append));
    }

    #[test]
    fn snapshots_round_trip_and_damage_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = ProducerState::default();
        state.record(&header(1, 0, 0, 2), 0);
        state.record(&header(2, 5, 0, 1), 2);
        for offset in [3, 10, 20] {
            write_snapshot(dir.path(), offset, &state).unwrap();
        }
        assert_eq!(list_snapshots(dir.path()).unwrap(), vec![10, 20]);
        assert_eq!(
            load_snapshot(dir.path(), 15).unwrap(),
            Some((10, state.clone()))
        );
        std::fs::write(snapshot_path(dir.path(), 20), b"garbage").unwrap();
        assert_eq!(load_snapshot(dir.path(), 100).unwrap().unwrap().0, 10);
        remove_snapshots_after(dir.path(), 5).unwrap();
        assert!(list_snapshots(dir.path()).unwrap().is_empty());
    }
}
