//! Durability: group commit, the recovery-point checkpoint, and closing cleanly.
//!
//! `sync_to` is where a log's data is fsynced. Callers that find an fsync under way wait for
//! it on the flush mutex; when they get it they usually find their data already covered and
//! return at once, so a burst of appends costs one or two fsyncs, not one each.
//!
//! Many logs at once (a Produce request over hundreds of partitions) are made durable by
//! `sync_together` with one `syncfs` of their filesystem instead of an fsync each: it writes
//! back every dirty page of the filesystem and commits its journal once, so it covers each
//! log's data, new segment files and directory entries alike. It only raises the durable
//! offsets; each log's own bookkeeping (rolled segments, directory) stays for its next
//! `sync_to`, which then finds little or nothing left to write.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::PartitionLog;
use crate::checkpoint::{self, CLEAN_SHUTDOWN, RECOVERY_POINT};
use crate::config::FlushPolicy;
use crate::error::{IoContext, Result};

/// Logs on one filesystem, for [`PartitionLog::sync_together`]: the device, a directory on
/// it, and each log with the offset the `syncfs` will cover.
type OnDevice<'a> = (u64, &'a Path, Vec<(&'a PartitionLog, i64)>);

impl PartitionLog {
    /// Blocks until every record below `offset` is fsynced; returns the durable offset,
    /// which may be past `offset`.
    pub fn sync_to(&self, offset: i64) -> Result<i64> {
        let durable = self.durable_offset();
        if durable >= offset {
            return Ok(durable);
        }
        let flush = self.lock_flush();
        let durable = self.durable_offset();
        if durable >= offset {
            return Ok(durable);
        }
        let (mut files, target, dir_dirty) = {
            let mut state = self.lock();
            let mut files = std::mem::take(&mut state.unsynced);
            let active = state.active();
            files.push((Arc::clone(active.file()), active.log_path().to_path_buf()));
            state.unsynced_bytes = 0;
            let dir_dirty = std::mem::replace(&mut state.dir_dirty, false);
            (files, state.log_end_offset(), dir_dirty)
        };
        let started = std::time::Instant::now();
        let synced = files
            .iter()
            .try_for_each(|(file, path)| file.sync_data().at("fsync", path))
            .and_then(|()| {
                if dir_dirty {
                    checkpoint::sync_dir(&self.dir)
                } else {
                    Ok(())
                }
            });
        crate::fsync_stats().observe(started.elapsed());
        if let Err(e) = synced {
            // Put the work back so that a later call retries it.
            let mut state = self.lock();
            files.pop();
            state.unsynced.extend(files);
            state.dir_dirty |= dir_dirty;
            return Err(e);
        }
        self.mark_synced();
        drop(flush);
        Ok(self
            .durable_offset
            .fetch_max(target, Ordering::AcqRel)
            .max(target))
    }

    /// Makes every record below each log's `end` durable, with one `syncfs` per filesystem
    /// the logs are on (see the module documentation). For many logs; one log is better
    /// served by [`sync_to`](Self::sync_to).
    pub fn sync_together(logs: &[(Arc<PartitionLog>, i64)]) -> Result<()> {
        let mut devices: Vec<OnDevice<'_>> = Vec::new();
        for (log, end) in logs {
            if log.durable_offset() >= *end {
                continue;
            }
            // Everything appended before the syncfs starts is covered, up to the end now.
            let target = log.log_end_offset();
            match devices
                .iter_mut()
                .find(|(device, _, _)| *device == log.device)
            {
                Some((_, _, members)) => members.push((log, target)),
                None => devices.push((log.device, &log.dir, vec![(log, target)])),
            }
        }
        for (_, dir, members) in devices {
            let started = std::time::Instant::now();
            let synced = fs::File::open(dir)
                .and_then(|d| rustix::fs::syncfs(&d).map_err(std::io::Error::from))
                .at("syncfs", dir);
            crate::fsync_stats().observe(started.elapsed());
            synced?;
            for (log, target) in members {
                log.mark_synced();
                log.durable_offset.fetch_max(target, Ordering::AcqRel);
            }
        }
        Ok(())
    }

    /// Fsyncs everything appended so far.
    pub fn flush(&self) -> Result<i64> {
        self.sync_to(self.log_end_offset())
    }

    /// Background flushing: with `flush=interval`, syncs if `flush.ms` has passed since the
    /// last sync; with `flush=os`, syncs segments that rolled since the last sync, as Kafka
    /// flushes a segment once it is closed.
    pub fn flush_if_due(&self) -> Result<()> {
        let due = {
            let state = self.lock();
            match state.config.flush {
                FlushPolicy::Interval => {
                    self.since_last_sync_finished() >= state.config.flush_interval
                }
                FlushPolicy::Os => !state.unsynced.is_empty(),
                FlushPolicy::Always => false,
            }
        };
        if due && self.durable_offset() < self.log_end_offset() {
            self.flush()?;
        }
        Ok(())
    }

    /// Time since the last fsync finished.
    pub fn since_last_sync(&self) -> Duration {
        self.since_last_sync_finished()
    }

    /// Writes the durable offset to the recovery-point checkpoint if it moved, so that the
    /// next unclean start scans only what came after it.
    pub fn checkpoint_recovery_point(&self) -> Result<()> {
        self.snapshot_producers(false)?;
        let mut flush = self.lock_flush();
        let durable = self.durable_offset();
        if durable != flush.checkpointed {
            checkpoint::write_offset(&self.dir, RECOVERY_POINT, durable)?;
            flush.checkpointed = durable;
        }
        Ok(())
    }

    /// Stops the log cleanly: syncs data and indexes, checkpoints the end offset and writes
    /// the clean-shutdown marker. Later appends and reads fail with `Closed`.
    pub fn close(&self) -> Result<()> {
        let end = self.flush()?;
        self.snapshot_producers(true)?;
        {
            let mut state = self.lock();
            if state.closed {
                return Ok(());
            }
            for segment in state.segments.values_mut() {
                segment.sync_all()?;
            }
            state.closed = true;
        }
        let mut flush = self.lock_flush();
        checkpoint::write_offset(&self.dir, RECOVERY_POINT, end)?;
        flush.checkpointed = end;
        checkpoint::write_marker(&self.dir, CLEAN_SHUTDOWN)
    }

    /// Closes the log without the marker and removes its directory.
    pub fn delete(&self) -> Result<()> {
        self.delete_renamed(&self.dir)
    }

    /// Closes the log and removes `dir`, where its directory was moved to.
    pub(crate) fn delete_renamed(&self, dir: &std::path::Path) -> Result<()> {
        let mut state = self.lock();
        state.closed = true;
        state.unsynced.clear();
        std::fs::remove_dir_all(dir).at("delete", dir)
    }
}
