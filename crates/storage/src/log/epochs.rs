//! The leader epochs a log holds, read from its batch headers.
//!
//! Every batch carries the leader epoch it was written in (the broker sets it on append, and
//! a follower keeps the leader's). A replica needs, for each epoch, the offset its first
//! batch starts at: that answers OffsetForLeaderEpoch on a leader and tells a follower where
//! its log diverges from its new leader's (KIP-101, KIP-279). The list is read from the
//! headers alone, segment by segment, outside the log lock, so it costs one header read per
//! batch; a replica reads it when it takes up a new role, not per request.

use std::sync::Arc;

use super::PartitionLog;
use crate::error::Result;
use crate::scan::{BatchScanner, ScanMode};

impl PartitionLog {
    /// `(epoch, start offset)` of each leader epoch in the log, in offset order: an entry
    /// wherever a batch's epoch differs from the batch before it. Batches written with no
    /// epoch (-1) are skipped. The first entry starts at the log start if the log's first
    /// epoch begins in a batch that is partly deleted.
    pub fn leader_epochs(&self) -> Result<Vec<(i32, i64)>> {
        let (segments, log_start, log_end) = {
            let state = self.lock();
            self.check_open(&state)?;
            let segments: Vec<_> = state
                .segments
                .values()
                .map(|s| (Arc::clone(s.file()), s.log_path().to_path_buf(), s.size()))
                .collect();
            (segments, state.log_start_offset, state.log_end_offset())
        };
        let mut epochs: Vec<(i32, i64)> = Vec::new();
        for (file, path, size) in &segments {
            let mut scanner = BatchScanner::new(file, path, 0, *size, ScanMode::Headers);
            while let Some((_, header, _)) = scanner.next_batch()? {
                let epoch = header.partition_leader_epoch;
                if epoch < 0 || header.last_offset() < log_start || header.base_offset >= log_end {
                    continue;
                }
                if epochs.last().is_none_or(|(last, _)| *last != epoch) {
                    epochs.push((epoch, header.base_offset.max(log_start)));
                }
            }
        }
        Ok(epochs)
    }
}
