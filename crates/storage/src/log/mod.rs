//! `PartitionLog`: one partition's segmented log.
//!
//! Invariants the log keeps:
//! - segments are contiguous in offset order: each segment's batches lie in
//!   `[base_offset, next segment's base_offset)`, and only the last (active) one is written;
//! - the log end offset is the active segment's next offset, and offsets are assigned
//!   densely from it on append;
//! - `durable_offset <= log_end_offset`, and every batch below `durable_offset` is fsynced;
//!   the recovery-point checkpoint never exceeds `durable_offset`;
//! - readers see only whole batches that were completely written.
//!
//! Concurrency: one mutex guards the segment map and the active segment; it is held for a
//! `pwrite` on append and for index lookups on read, never for an fsync or for a reader's
//! `pread`. A second mutex serialises fsyncs so that appends waiting on durability share them
//! (group commit). The submodules add the operations: `open` (recovery), `append`, `read`,
//! `truncate` (replication and DeleteRecords), `timestamps`, `retention`, `compact` and
//! `flush`.

mod append;
mod compact;
mod epochs;
mod flush;
mod open;
mod producers;
mod read;
mod retention;
mod timestamps;
mod truncate;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

pub use append::AppendInfo;
pub use compact::CompactionOutcome;
pub use open::RecoveryReport;
pub use read::LogRead;
pub use retention::RetentionOutcome;
pub use timestamps::TimestampOffset;

use crate::config::LogConfig;
use crate::segment::Segment;

/// One partition's log. Shared between threads behind an `Arc`; every method takes `&self`.
pub struct PartitionLog {
    dir: PathBuf,
    /// The filesystem `dir` is on, for [`PartitionLog::sync_together`].
    device: u64,
    state: Mutex<LogState>,
    flush: Mutex<FlushState>,
    /// When the last fsync finished; its own lock, never held across I/O.
    last_sync: Mutex<Instant>,
    log_end_offset: AtomicI64,
    log_start_offset: AtomicI64,
    durable_offset: AtomicI64,
    recovery: RecoveryReport,
}

struct LogState {
    config: Arc<LogConfig>,
    /// Segments by base offset; never empty.
    segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
    /// Rolled segments whose data is not yet fsynced.
    unsynced: Vec<(Arc<File>, PathBuf)>,
    /// A segment file was created or deleted since the directory was last fsynced.
    dir_dirty: bool,
    /// Bytes appended since the last fsync, for `flush=interval`.
    unsynced_bytes: u64,
    /// Idempotent producers' epochs and recent batches.
    producers: crate::producer_state::ProducerState,
    /// Log end offset of the last producer state snapshot.
    producers_snapshotted: Option<i64>,
    closed: bool,
}

struct FlushState {
    /// The value last written to the recovery-point checkpoint.
    checkpointed: i64,
}

impl LogState {
    fn active(&self) -> &Segment {
        // The map is never empty: open and truncation always leave an active segment.
        match self.segments.last_key_value() {
            Some((_, segment)) => segment,
            None => unreachable_empty(),
        }
    }

    fn active_mut(&mut self) -> &mut Segment {
        match self.segments.last_entry() {
            Some(entry) => entry.into_mut(),
            None => unreachable_empty(),
        }
    }

    fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }

    fn size_bytes(&self) -> u64 {
        self.segments.values().map(Segment::size).sum()
    }
}

#[cold]
fn unreachable_empty() -> ! {
    // An invariant of this module, not something input can cause.
    panic!("a partition log always has an active segment")
}

impl PartitionLog {
    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Offset the next appended record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset.load(Ordering::Acquire)
    }

    /// First offset still held.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// Every record below this offset is fsynced.
    pub fn durable_offset(&self) -> i64 {
        self.durable_offset.load(Ordering::Acquire)
    }

    /// What opening the log found.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The config in force.
    pub fn config(&self) -> Arc<LogConfig> {
        Arc::clone(&self.lock().config)
    }

    /// Applies a new config to future appends, rolls and maintenance.
    pub fn set_config(&self, config: LogConfig) -> crate::Result<()> {
        config.validate()?;
        let mut state = self.lock();
        let interval = config.index_interval_bytes;
        state.config = Arc::new(config);
        state.active_mut().set_index_interval(interval);
        Ok(())
    }

    /// Total bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.lock().size_bytes()
    }

    /// Number of segments, the active one included.
    pub fn segment_count(&self) -> usize {
        self.lock().segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.lock().segments.keys().copied().collect()
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        // A poisoned lock means a panic mid-update elsewhere; the state it guards is only
        // changed after the I/O that could fail succeeded, so it is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lock order: the flush lock before the state lock, never the other way.
    fn lock_flush(&self) -> MutexGuard<'_, FlushState> {
        self.flush.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn since_last_sync_finished(&self) -> std::time::Duration {
        self.last_sync
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    fn mark_synced(&self) {
        *self.last_sync.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn check_open(&self, state: &LogState) -> crate::Result<()> {
        if state.closed {
            return Err(crate::StorageError::Closed {
                path: self.dir.clone(),
            });
        }
        Ok(())
    }

    fn publish(&self, state: &LogState) {
        self.log_end_offset
            .store(state.log_end_offset(), Ordering::Release);
        self.log_start_offset
            .store(state.log_start_offset, Ordering::Release);
    }
}
