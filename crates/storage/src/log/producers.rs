//! The log's side of idempotent producers: checking each producer batch before it is
//! appended, and keeping the producer state consistent with the log across restarts,
//! truncation and snapshots (see [`crate::producer_state`]).

use super::{LogState, PartitionLog};
use crate::batch::BatchHeader;
use crate::error::{Result, StorageError};
use crate::producer_state::{self, ProducerEntry, ProducerState, Verdict};
use crate::scan::{BatchScanner, ScanMode};

impl PartitionLog {
    /// Every producer that has written to this partition, by id.
    pub fn producers(&self) -> Vec<ProducerEntry> {
        self.lock().producers.entries()
    }

    /// Snapshots the producer state as of the log end: always with `force` (a clean close,
    /// so that the next open scans nothing), otherwise once per segment roll, as Kafka does,
    /// so that recovery after a crash scans at most the active segment's headers.
    pub(super) fn snapshot_producers(&self, force: bool) -> Result<()> {
        let (offset, state) = {
            let state = self.lock();
            let end = state.log_end_offset();
            let active_base = state.active().base_offset();
            let due = force
                || state
                    .producers_snapshotted
                    .is_none_or(|at| at < active_base);
            if !due || state.producers_snapshotted == Some(end) {
                return Ok(());
            }
            (end, state.producers.clone())
        };
        producer_state::write_snapshot(&self.dir, offset, &state)?;
        let mut state = self.lock();
        if state.log_end_offset() >= offset {
            state.producers_snapshotted = Some(offset);
        }
        Ok(())
    }
}

/// Decides, for batches about to be appended, whether they are new or a retry of batches
/// already in the log. Producer errors refuse the whole append.
pub(super) fn check_batches(
    producers: &ProducerState,
    headers: &[BatchHeader],
) -> Result<Option<(i64, i64)>> {
    let idempotent: Vec<&BatchHeader> = headers.iter().filter(|h| h.has_producer_id()).collect();
    let Some(first) = idempotent.first() else {
        return Ok(None);
    };
    match producers.check(first).map_err(StorageError::Producer)? {
        Verdict::Duplicate {
            first_offset,
            last_offset,
        } => return Ok(Some((first_offset, last_offset))),
        Verdict::Append => {}
    }
    if idempotent.len() > 1 {
        // Later batches must follow the earlier ones; check them against a scratch copy.
        let mut scratch = producers.clone();
        let mut offset = 0;
        scratch.record(first, offset);
        for header in &idempotent[1..] {
            match scratch.check(header).map_err(StorageError::Producer)? {
                Verdict::Append => {}
                Verdict::Duplicate { .. } => {
                    return Err(StorageError::Batch(
                        crate::batch::BatchError::InvalidRecord {
                            reason: "a produce request mixes new and retried batches",
                        },
                    ));
                }
            }
            offset += i64::from(header.last_offset_delta) + 1;
            scratch.record(header, offset);
        }
    }
    Ok(None)
}

/// Rebuilds the producer state of a log: the newest snapshot at or below the log end, then
/// every batch header after it. Returns the state and the snapshot's offset, if one was used.
pub(super) fn rebuild(
    dir: &std::path::Path,
    state: &LogState,
) -> Result<(ProducerState, Option<i64>)> {
    let end = state.log_end_offset();
    let snapshot = producer_state::load_snapshot(dir, end)?;
    let snapshot_offset = snapshot.as_ref().map(|(offset, _)| *offset);
    let (from, mut producers) = snapshot.unwrap_or_default();
    for (_, segment) in state
        .segments
        .range(..=from)
        .next_back()
        .into_iter()
        .chain(state.segments.range(from + 1..))
    {
        if segment.next_offset() <= from {
            continue;
        }
        let path = segment.log_path().to_path_buf();
        let start = segment.index_position(from);
        let mut scanner = BatchScanner::new(
            segment.file(),
            &path,
            start,
            segment.size(),
            ScanMode::Headers,
        );
        while let Some((_, header, _)) = scanner.next_batch()? {
            if header.last_offset() >= from {
                producers.record(&header, header.base_offset);
            }
        }
    }
    Ok((producers, snapshot_offset))
}
