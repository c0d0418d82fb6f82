//! Removing data by offset: truncation for replication, and DeleteRecords.
//!
//! Truncation holds the flush lock as well as the log lock (in that order, as `sync_to`
//! does), so that no fsync in flight can report data durable that truncation removed, and
//! it lowers the recovery-point checkpoint before returning, so that recovery never trusts
//! bytes that were written again after the cut.

use std::sync::atomic::Ordering;

use super::{PartitionLog, producers};
use crate::checkpoint::{self, LOG_START_OFFSET, RECOVERY_POINT};
use crate::error::{Result, StorageError};
use crate::producer_state;
use crate::segment::Segment;

impl PartitionLog {
    /// Removes every record at or past `offset`. A batch cannot be split, so the log ends at
    /// the base offset of the batch that holds `offset`; the new log end is returned. An
    /// offset below the log start empties the log and restarts it there.
    pub fn truncate_to(&self, offset: i64) -> Result<i64> {
        let mut flush = self.lock_flush();
        let mut state = self.lock();
        self.check_open(&state)?;
        if offset >= state.log_end_offset() {
            return Ok(state.log_end_offset());
        }
        if offset < state.log_start_offset {
            drop(state);
            drop(flush);
            self.truncate_fully_and_start_at(offset)?;
            return Ok(offset);
        }
        let doomed: Vec<i64> = state
            .segments
            .range(offset + 1..)
            .map(|(base, _)| *base)
            .collect();
        for base in doomed {
            if let Some(segment) = state.segments.remove(&base) {
                segment.delete_files()?;
                state
                    .unsynced
                    .retain(|(_, path)| path != segment.log_path());
            }
        }
        let new_end = state.active_mut().truncate_to(offset)?;
        state.dir_dirty = true;
        producer_state::remove_snapshots_after(&self.dir, new_end)?;
        (state.producers, state.producers_snapshotted) = producers::rebuild(&self.dir, &state)?;
        if new_end < state.log_start_offset {
            checkpoint::write_offset(&self.dir, LOG_START_OFFSET, new_end)?;
            state.log_start_offset = new_end;
        }
        self.durable_offset.fetch_min(new_end, Ordering::AcqRel);
        self.publish(&state);
        if flush.checkpointed > new_end {
            checkpoint::write_offset(&self.dir, RECOVERY_POINT, new_end)?;
            flush.checkpointed = new_end;
        }
        tracing::info!(log = %self.dir.display(), offset, new_end, "truncated log");
        Ok(new_end)
    }

    /// Deletes every segment and restarts the log, empty, at `offset` (a follower that is
    /// too far behind its leader, or a log whose start moved past its end).
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<()> {
        let mut flush = self.lock_flush();
        let mut state = self.lock();
        self.check_open(&state)?;
        for segment in state.segments.values() {
            segment.delete_files()?;
        }
        state.segments.clear();
        state.unsynced.clear();
        state.producers = Default::default();
        state.producers_snapshotted = None;
        producer_state::remove_snapshots_after(&self.dir, i64::MIN)?;
        let interval = state.config.index_interval_bytes;
        state
            .segments
            .insert(offset, Segment::create(&self.dir, offset, interval)?);
        state.log_start_offset = offset;
        state.dir_dirty = true;
        checkpoint::sync_dir(&self.dir)?;
        checkpoint::write_offset(&self.dir, LOG_START_OFFSET, offset)?;
        checkpoint::write_offset(&self.dir, RECOVERY_POINT, offset)?;
        flush.checkpointed = offset;
        self.durable_offset.store(offset, Ordering::Release);
        self.publish(&state);
        tracing::info!(log = %self.dir.display(), offset, "restarted log empty");
        Ok(())
    }

    /// Raises the log start offset to `offset` (DeleteRecords) and deletes the segments
    /// wholly below it. Returns the new log start offset (the low watermark).
    pub fn delete_records_before(&self, offset: i64) -> Result<i64> {
        let mut state = self.lock();
        self.check_open(&state)?;
        let end = state.log_end_offset();
        if offset > end || offset < 0 {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start: state.log_start_offset,
                log_end: end,
            });
        }
        if offset <= state.log_start_offset {
            return Ok(state.log_start_offset);
        }
        checkpoint::write_offset(&self.dir, LOG_START_OFFSET, offset)?;
        state.log_start_offset = offset;
        self.delete_segments_below_start(&mut state)?;
        self.publish(&state);
        Ok(offset)
    }

    /// Deletes closed segments whose every offset is below the log start.
    pub(super) fn delete_segments_below_start(&self, state: &mut super::LogState) -> Result<()> {
        loop {
            let mut bases = state.segments.keys();
            let (Some(&first), Some(&second)) = (bases.next(), bases.next()) else {
                return Ok(());
            };
            if second > state.log_start_offset {
                return Ok(());
            }
            self.remove_segment(state, first)?;
        }
    }

    /// Removes one closed segment and its files.
    pub(super) fn remove_segment(&self, state: &mut super::LogState, base: i64) -> Result<u64> {
        let Some(segment) = state.segments.remove(&base) else {
            return Ok(0);
        };
        segment.delete_files()?;
        state
            .unsynced
            .retain(|(_, path)| path != segment.log_path());
        state.dir_dirty = true;
        if let Some(&first) = state.segments.keys().next() {
            state.log_start_offset = state.log_start_offset.max(first);
        }
        Ok(segment.size())
    }
}
