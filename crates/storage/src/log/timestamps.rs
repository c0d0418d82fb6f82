//! Offset lookups by timestamp (ListOffsets by time, and the max-timestamp query of KIP-734).
//!
//! Segments and their time indexes narrow the search to a few batches; only the batch that
//! holds the answer is decoded (decompressed if need be) to find the exact record, since a
//! batch's header knows only its first and largest timestamps.

use std::sync::Arc;

use super::PartitionLog;
use crate::batch::{BatchHeader, TimestampType};
use crate::error::{Result, StorageError};
use crate::records::{Record, decode_records};
use crate::scan::{BatchScanner, ScanMode};
use crate::segment::Segment;

/// The most a lookup inflates one compressed batch to.
const MAX_DECOMPRESSED: usize = 256 << 20;

/// A record's offset and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    /// The record's offset.
    pub offset: i64,
    /// The record's timestamp.
    pub timestamp: i64,
}

struct SearchFrom {
    segment: (i64, Arc<std::fs::File>, std::path::PathBuf),
    position: u64,
    end: u64,
    log_start: i64,
}

impl PartitionLog {
    /// The first record whose timestamp is at least `timestamp`, or `None` if there is none.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        let mut after = i64::MIN;
        loop {
            let from = {
                let state = self.lock();
                self.check_open(&state)?;
                let found = state
                    .segments
                    .range(after.saturating_add(1)..)
                    .map(|(_, s)| s)
                    .find(|s| s.max_timestamp() >= timestamp);
                match found {
                    Some(segment) => {
                        let start = segment.time_floor_offset(timestamp);
                        search_from(
                            segment,
                            segment.index_position(start),
                            state.log_start_offset,
                        )
                    }
                    None => return Ok(None),
                }
            };
            after = from.segment.0;
            let hit = first_match(
                &from,
                |header| header.max_timestamp >= timestamp,
                |ts| ts >= timestamp,
            )?;
            if hit.is_some() {
                return Ok(hit);
            }
        }
    }

    /// The record with the largest timestamp (the first of them if several share it), or
    /// `None` for an empty log.
    pub fn max_timestamp_offset(&self) -> Result<Option<TimestampOffset>> {
        let (from, max, batch_offset) = {
            let state = self.lock();
            self.check_open(&state)?;
            let best = state
                .segments
                .values()
                .filter(|s| !s.is_empty() && s.max_timestamp() >= 0)
                .fold(None::<&Segment>, |best, s| match best {
                    Some(b) if b.max_timestamp() >= s.max_timestamp() => Some(b),
                    _ => Some(s),
                });
            let Some(segment) = best else {
                return Ok(None);
            };
            let batch_offset = segment.offset_of_max_timestamp();
            (
                search_from(
                    segment,
                    segment.index_position(batch_offset),
                    state.log_start_offset,
                ),
                segment.max_timestamp(),
                batch_offset,
            )
        };
        first_match(
            &from,
            |header| header.base_offset >= batch_offset && header.max_timestamp == max,
            |ts| ts == max,
        )
    }
}

fn search_from(segment: &Segment, position: u64, log_start: i64) -> SearchFrom {
    SearchFrom {
        segment: (
            segment.base_offset(),
            Arc::clone(segment.file()),
            segment.log_path().to_path_buf(),
        ),
        position,
        end: segment.size(),
        log_start,
    }
}

/// Scans the segment for the first batch that `batch_matches`, then its first record at or
/// past the log start whose timestamp `record_matches`.
fn first_match(
    from: &SearchFrom,
    batch_matches: impl Fn(&BatchHeader) -> bool,
    record_matches: impl Fn(i64) -> bool,
) -> Result<Option<TimestampOffset>> {
    let (_, file, path) = &from.segment;
    let mut scanner = BatchScanner::new(file, path, from.position, from.end, ScanMode::Verified);
    while let Some((position, header, bytes)) = scanner.next_batch()? {
        if header.last_offset() < from.log_start || !batch_matches(&header) {
            continue;
        }
        if header.timestamp_type() == TimestampType::LogAppendTime {
            return Ok(Some(TimestampOffset {
                offset: header.base_offset.max(from.log_start),
                timestamp: header.max_timestamp,
            }));
        }
        let records =
            decode_records(bytes, MAX_DECOMPRESSED).map_err(|e| StorageError::Corrupt {
                path: path.clone(),
                position,
                reason: e.to_string(),
            })?;
        let found = records.iter().map(|r: &Record| TimestampOffset {
            offset: r.offset(header.base_offset),
            timestamp: r.timestamp(header.base_timestamp),
        });
        if let Some(hit) = found
            .filter(|t| t.offset >= from.log_start)
            .find(|t| record_matches(t.timestamp))
        {
            return Ok(Some(hit));
        }
    }
    Ok(None)
}
