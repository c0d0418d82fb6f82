//! Key compaction (`cleanup.policy=compact`): keep the latest record of each key.
//!
//! A pass works on the closed segments old enough for `min.compaction.lag.ms`; the active
//! segment is never touched. It runs without the log lock: it reads immutable closed
//! segments, maps each key to its latest offset, and writes each segment's survivors into a
//! new segment (with fresh indexes) in a scratch directory. Only the swap takes the lock:
//! the old index files are removed, the new files renamed over the old, and the segment
//! reopened. A crash at any point leaves either the old segment or the new one, with any
//! missing index rebuilt on open; the scratch directory is removed on open.
//!
//! Records keep their offsets, and a rewritten batch keeps its base offset, last offset
//! delta, producer fields and timestamps, so offsets and producer state stay valid.
//! Tombstones (null values) are dropped once their batch's max timestamp is older than
//! `delete.retention.ms`. Keyless records and control batches are kept. The key map holds
//! every distinct key of the cleanable range in memory.

use std::collections::HashMap;
use std::fs;
use std::io::IoSlice;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::PartitionLog;
use crate::batch::BatchHeader;
use crate::checkpoint;
use crate::error::{IoContext, Result, StorageError};
use crate::records::{BatchBuilder, Record, decode_records_bytes};
use crate::scan::{BatchScanner, ScanMode};
use crate::segment::{
    BatchMeta, INDEX_SUFFIX, LOG_SUFFIX, Segment, TIME_INDEX_SUFFIX, segment_path,
};

/// Scratch directory prefix inside a partition directory.
pub(super) const SCRATCH_PREFIX: &str = ".compact-";
/// The most one batch is inflated to while compacting.
const MAX_DECOMPRESSED: usize = 256 << 20;

/// What one compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionOutcome {
    /// Segments rewritten.
    pub segments_cleaned: usize,
    /// Records removed.
    pub records_removed: u64,
    /// Bytes of the rewritten segments before.
    pub bytes_before: u64,
    /// Bytes of the rewritten segments after.
    pub bytes_after: u64,
}

/// A closed segment as compaction sees it.
struct Closed {
    base: i64,
    file: Arc<fs::File>,
    path: PathBuf,
    size: u64,
}

impl PartitionLog {
    /// Runs one compaction pass if the log's cleanup policy includes `compact`.
    pub fn compact(&self, now_ms: i64) -> Result<CompactionOutcome> {
        let (closed, config) = {
            let state = self.lock();
            self.check_open(&state)?;
            let config = Arc::clone(&state.config);
            if !config.cleanup_policy.compact {
                return Ok(CompactionOutcome::default());
            }
            let lag_horizon = now_ms - config.min_compaction_lag_ms;
            let active_base = state.active().base_offset();
            let closed: Vec<Closed> = state
                .segments
                .values()
                .filter(|s| s.base_offset() != active_base && !s.is_empty())
                .take_while(|s| s.max_timestamp() <= lag_horizon)
                .map(|s| Closed {
                    base: s.base_offset(),
                    file: Arc::clone(s.file()),
                    path: s.log_path().to_path_buf(),
                    size: s.size(),
                })
                .collect();
            (closed, config)
        };
        let mut outcome = CompactionOutcome::default();
        if closed.is_empty() {
            return Ok(outcome);
        }
        let latest = latest_offsets(&closed)?;
        let tombstone_horizon = now_ms - config.delete_retention_ms;
        for segment in &closed {
            let scratch = self.dir.join(format!("{SCRATCH_PREFIX}{}", segment.base));
            let rewritten = rewrite(
                segment,
                &scratch,
                &latest,
                tombstone_horizon,
                config.index_interval_bytes,
            )?;
            let Some((removed, new_size)) = rewritten else {
                fs::remove_dir_all(&scratch).at("delete", &scratch)?;
                continue;
            };
            if self.swap(segment, &scratch)? {
                outcome.segments_cleaned += 1;
                outcome.records_removed += removed;
                outcome.bytes_before += segment.size;
                outcome.bytes_after += new_size;
            }
        }
        if outcome.segments_cleaned > 0 {
            tracing::info!(
                log = %self.dir.display(),
                segments = outcome.segments_cleaned,
                records_removed = outcome.records_removed,
                bytes_before = outcome.bytes_before,
                bytes_after = outcome.bytes_after,
                "compacted log"
            );
        }
        Ok(outcome)
    }

    /// Replaces `old` by the segment in `scratch`, unless the log changed meanwhile.
    fn swap(&self, old: &Closed, scratch: &Path) -> Result<bool> {
        let mut state = self.lock();
        let unchanged = !state.closed
            && state
                .segments
                .get(&old.base)
                .is_some_and(|s| Arc::ptr_eq(s.file(), &old.file) && s.size() == old.size)
            && state.active().base_offset() != old.base;
        if !unchanged {
            drop(state);
            fs::remove_dir_all(scratch).at("delete", scratch)?;
            return Ok(false);
        }
        for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            let path = segment_path(&self.dir, old.base, suffix);
            fs::remove_file(&path).at("delete", &path)?;
        }
        for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            let from = segment_path(scratch, old.base, suffix);
            let to = segment_path(&self.dir, old.base, suffix);
            fs::rename(&from, &to).at("rename", &to)?;
        }
        checkpoint::sync_dir(&self.dir)?;
        fs::remove_dir(scratch).at("delete", scratch)?;
        let interval = state.config.index_interval_bytes;
        let mut segment = Segment::open_trusted(&self.dir, old.base, interval)?;
        segment.release_index_files();
        state
            .unsynced
            .retain(|(file, _)| !Arc::ptr_eq(file, &old.file));
        state.segments.insert(old.base, segment);
        Ok(true)
    }
}

/// Every batch of a closed segment, with its bytes.
fn for_each_batch(
    segment: &Closed,
    mut f: impl FnMut(u64, BatchHeader, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut scanner = BatchScanner::new(
        &segment.file,
        &segment.path,
        0,
        segment.size,
        ScanMode::Verified,
    );
    while let Some((position, header, bytes)) = scanner.next_batch()? {
        f(position, header, bytes)?;
    }
    match scanner.end() {
        crate::scan::ScanEnd::Complete => Ok(()),
        crate::scan::ScanEnd::Invalid { position, reason } => Err(StorageError::Corrupt {
            path: segment.path.clone(),
            position,
            reason,
        }),
    }
}

fn records_of(segment: &Closed, position: u64, bytes: &[u8]) -> Result<Vec<Record>> {
    decode_records_bytes(&Bytes::copy_from_slice(bytes), MAX_DECOMPRESSED).map_err(|e| {
        StorageError::Corrupt {
            path: segment.path.clone(),
            position,
            reason: e.to_string(),
        }
    })
}

/// The latest offset of every key in the segments.
fn latest_offsets(segments: &[Closed]) -> Result<HashMap<Bytes, i64>> {
    let mut latest = HashMap::new();
    for segment in segments {
        for_each_batch(segment, |position, header, bytes| {
            if header.is_control() {
                return Ok(());
            }
            for record in records_of(segment, position, bytes)? {
                if let Some(key) = record.key.clone() {
                    latest.insert(key, record.offset(header.base_offset));
                }
            }
            Ok(())
        })?;
    }
    Ok(latest)
}

/// Writes the survivors of `segment` into a new segment in `scratch`. Returns the number of
/// records removed and the new size, or `None` if nothing would be removed.
fn rewrite(
    segment: &Closed,
    scratch: &Path,
    latest: &HashMap<Bytes, i64>,
    tombstone_horizon: i64,
    index_interval: u64,
) -> Result<Option<(u64, u64)>> {
    if scratch.exists() {
        fs::remove_dir_all(scratch).at("delete", scratch)?;
    }
    fs::create_dir(scratch).at("create", scratch)?;
    let mut out = Segment::create(scratch, segment.base, index_interval)?;
    let mut removed = 0u64;
    for_each_batch(segment, |position, header, bytes| {
        let kept: Option<Vec<u8>> = if header.is_control() {
            Some(bytes.to_vec())
        } else {
            let records = records_of(segment, position, bytes)?;
            let total = records.len();
            let survivors: Vec<Record> = records
                .into_iter()
                .filter(|r| survives(r, &header, latest, tombstone_horizon))
                .collect();
            removed += (total - survivors.len()) as u64;
            if survivors.len() == total {
                Some(bytes.to_vec())
            } else if survivors.is_empty() {
                None
            } else {
                Some(rebuild(&header, survivors, segment, position)?)
            }
        };
        if let Some(batch) = kept {
            let meta = BatchMeta::from(&header);
            let meta = BatchMeta {
                size: batch.len() as u64,
                ..meta
            };
            out.append(&mut [IoSlice::new(&batch)], &[meta], 0)?;
        }
        Ok(())
    })?;
    if removed == 0 {
        return Ok(None);
    }
    out.sync_all()?;
    Ok(Some((removed, out.size())))
}

fn survives(
    record: &Record,
    header: &BatchHeader,
    latest: &HashMap<Bytes, i64>,
    tombstone_horizon: i64,
) -> bool {
    let Some(key) = &record.key else {
        return true;
    };
    let is_latest = latest.get(key) == Some(&record.offset(header.base_offset));
    let expired_tombstone = record.value.is_none() && header.max_timestamp < tombstone_horizon;
    is_latest && !expired_tombstone
}

/// A batch like `header`'s holding only `survivors`, with the same offsets and producer
/// fields.
fn rebuild(
    header: &BatchHeader,
    survivors: Vec<Record>,
    segment: &Closed,
    position: u64,
) -> Result<Vec<u8>> {
    let corrupt = |reason: String| StorageError::Corrupt {
        path: segment.path.clone(),
        position,
        reason,
    };
    let compression = header.compression().map_err(|e| corrupt(e.to_string()))?;
    let mut builder = BatchBuilder::new()
        .base_offset(header.base_offset)
        .partition_leader_epoch(header.partition_leader_epoch)
        .compression(compression)
        .timestamp_type(header.timestamp_type())
        .transactional(header.is_transactional())
        .producer(
            header.producer_id,
            header.producer_epoch,
            header.base_sequence,
        )
        .base_timestamp(header.base_timestamp)
        .max_timestamp(header.max_timestamp)
        .last_offset_delta(header.last_offset_delta);
    for record in survivors {
        builder.push(record);
    }
    let batch = builder.build().map_err(|e| corrupt(e.to_string()))?;
    Ok(batch.to_vec())
}
