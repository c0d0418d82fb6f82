//! Time and size retention: whole closed segments are deleted, oldest first.
//!
//! A segment's age is its largest record timestamp (its file's modification time when it has
//! none), as in Kafka. When even the active segment is past `retention.ms` it is rolled first,
//! so that an idle topic's data does expire.

use std::time::UNIX_EPOCH;

use super::{LogState, PartitionLog};
use crate::error::Result;
use crate::segment::Segment;

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Segments deleted.
    pub segments_deleted: usize,
    /// Bytes those segments held.
    pub bytes_deleted: u64,
}

impl PartitionLog {
    /// Applies `retention.ms` and `retention.bytes` (when `cleanup.policy` includes
    /// `delete`) and removes segments below the log start. Runs under the log lock but does
    /// no I/O other than unlinking files.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<RetentionOutcome> {
        let mut state = self.lock();
        self.check_open(&state)?;
        let mut outcome = RetentionOutcome::default();
        let config = std::sync::Arc::clone(&state.config);
        if config.cleanup_policy.delete {
            let active = state.active();
            if config.retention_ms >= 0
                && !active.is_empty()
                && expired(active, now_ms, config.retention_ms)
            {
                self.roll(&mut state)?;
            }
            let mut excess = if config.retention_bytes >= 0 {
                state.size_bytes() as i64 - config.retention_bytes
            } else {
                0
            };
            while let Some(base) = oldest_closed(&state) {
                let segment = &state.segments[&base];
                let by_time =
                    config.retention_ms >= 0 && expired(segment, now_ms, config.retention_ms);
                let by_size = excess - segment.size() as i64 >= 0 && excess > 0;
                if !(by_time || by_size) {
                    break;
                }
                let size = self.remove_segment(&mut state, base)?;
                excess -= size as i64;
                outcome.segments_deleted += 1;
                outcome.bytes_deleted += size;
            }
        }
        let before = state.segments.len();
        self.delete_segments_below_start(&mut state)?;
        outcome.segments_deleted += before - state.segments.len();
        self.publish(&state);
        if outcome.segments_deleted > 0 {
            tracing::info!(
                log = %self.dir.display(),
                segments = outcome.segments_deleted,
                bytes = outcome.bytes_deleted,
                "retention deleted segments"
            );
        }
        Ok(outcome)
    }
}

/// The oldest segment that is not the active one.
fn oldest_closed(state: &LogState) -> Option<i64> {
    if state.segments.len() < 2 {
        return None;
    }
    state.segments.keys().next().copied()
}

fn expired(segment: &Segment, now_ms: i64, retention_ms: i64) -> bool {
    let newest = if segment.max_timestamp() >= 0 {
        segment.max_timestamp()
    } else {
        modified_ms(segment).unwrap_or(now_ms)
    };
    now_ms - newest > retention_ms
}

fn modified_ms(segment: &Segment) -> Option<i64> {
    let modified = segment.file().metadata().ok()?.modified().ok()?;
    Some(modified.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
}
