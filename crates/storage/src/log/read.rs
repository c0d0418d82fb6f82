//! Reading: whole batches from an offset, up to a byte limit, checked before they are served.
//!
//! A read finds the segment holding the offset and the nearest indexed position under the
//! log lock, then reads outside the lock: one `pread` usually covers the few batches between
//! the index entry and the target plus everything returned. The batch containing the offset
//! comes first even if it starts before it; at least one whole batch is returned even if it
//! is larger than the limit (as Kafka does, so a consumer can always make progress). Every
//! returned batch's CRC is checked, so damaged data is reported, never served.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use super::PartitionLog;
use crate::batch::{BatchIter, HEADER_SIZE, MAGIC_V2};
use crate::error::{Result, StorageError};
use crate::segment::{check_stored, read_exact_at, read_vec_at};

/// The result of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRead {
    /// Whole batches, in offset order; empty at the log end.
    pub records: Bytes,
    /// The log start offset when the read was made.
    pub log_start_offset: i64,
    /// The log end offset when the read was made.
    pub log_end_offset: i64,
}

/// A segment as a reader sees it: the file and the committed bytes, captured under the lock.
struct SegmentView {
    base_offset: i64,
    file: Arc<File>,
    path: PathBuf,
    start: u64,
    end: u64,
    index_interval: u64,
}

/// Smallest chunk read when looking for the target batch.
const MIN_CHUNK: u64 = 64 << 10;

impl PartitionLog {
    /// Reads whole batches starting with the one that contains `offset`, up to `max_bytes`
    /// (at least one batch), and none whose base offset is at or past `max_offset` (the high
    /// watermark, for callers that must not expose unreplicated data).
    pub fn read(&self, offset: i64, max_bytes: usize, max_offset: Option<i64>) -> Result<LogRead> {
        let (mut view, log_start_offset, log_end_offset) = {
            let state = self.lock();
            self.check_open(&state)?;
            let (start, end) = (state.log_start_offset, state.log_end_offset());
            if offset < start || offset > end {
                return Err(StorageError::OffsetOutOfRange {
                    offset,
                    log_start: start,
                    log_end: end,
                });
            }
            (self.view_at(&state, offset), start, end)
        };
        let limit = max_offset.unwrap_or(i64::MAX).min(log_end_offset);
        let mut result = LogRead {
            records: Bytes::new(),
            log_start_offset,
            log_end_offset,
        };
        while let Some(current) = view {
            if offset >= limit {
                break;
            }
            if let Some(records) = read_segment(&current, offset, max_bytes, limit)? {
                result.records = records;
                break;
            }
            view = {
                let state = self.lock();
                self.check_open(&state)?;
                state
                    .segments
                    .range(current.base_offset + 1..)
                    .next()
                    .map(|(_, segment)| view_of(segment, 0, state.config.index_interval_bytes))
            };
        }
        Ok(result)
    }

    fn view_at(&self, state: &super::LogState, offset: i64) -> Option<SegmentView> {
        let (_, segment) = state.segments.range(..=offset).next_back()?;
        let interval = state.config.index_interval_bytes;
        Some(view_of(segment, segment.index_position(offset), interval))
    }
}

fn view_of(segment: &crate::segment::Segment, start: u64, index_interval: u64) -> SegmentView {
    SegmentView {
        base_offset: segment.base_offset(),
        file: Arc::clone(segment.file()),
        path: segment.log_path().to_path_buf(),
        start,
        end: segment.size(),
        index_interval,
    }
}

/// Reads from one segment; `None` if no batch in it reaches `offset`.
fn read_segment(
    view: &SegmentView,
    offset: i64,
    max_bytes: usize,
    limit: i64,
) -> Result<Option<Bytes>> {
    let mut position = view.start;
    while position < view.end {
        let want = (max_bytes as u64 + view.index_interval).max(MIN_CHUNK);
        let len = want.min(view.end - position) as usize;
        let chunk = read_vec_at(&view.file, len, position, &view.path)?;
        let mut first = None;
        let mut scanned = 0;
        for (header, range) in BatchIter::new(&chunk) {
            scanned = range.end;
            if header.magic != MAGIC_V2 {
                let at = position + range.start as u64;
                return Err(corrupt(view, at, "batch header has a bad magic byte"));
            }
            if header.base_offset >= limit {
                return Ok(None);
            }
            if header.last_offset() >= offset {
                first = Some(range.start);
                break;
            }
        }
        let Some(first) = first else {
            if scanned == 0 {
                // Not even one whole batch in the chunk: a batch larger than it, or damage.
                return read_large_batch(view, position, offset, max_bytes, limit);
            }
            position += scanned as u64;
            continue;
        };
        return collect(view, Bytes::from(chunk), position, first, max_bytes, limit).map(Some);
    }
    Ok(None)
}

/// Reads the single batch at `position` when it did not fit in a chunk.
fn read_large_batch(
    view: &SegmentView,
    position: u64,
    offset: i64,
    max_bytes: usize,
    limit: i64,
) -> Result<Option<Bytes>> {
    let mut header = [0u8; HEADER_SIZE];
    if position + HEADER_SIZE as u64 > view.end {
        return Err(corrupt(
            view,
            position,
            "a batch header runs past the end of the segment",
        ));
    }
    read_exact_at(&view.file, &mut header, position, &view.path)?;
    let parsed = crate::batch::BatchHeader::parse(&header)
        .map_err(|e| corrupt(view, position, &e.to_string()))?;
    let size = parsed.size() as u64;
    if position + size > view.end {
        return Err(corrupt(
            view,
            position,
            "a batch runs past the end of the segment",
        ));
    }
    let batch = read_vec_at(&view.file, size as usize, position, &view.path)?;
    if parsed.last_offset() < offset {
        // Skip it: the target is further on. Continue with a fresh chunk after it.
        let next = SegmentView {
            start: position + size,
            file: Arc::clone(&view.file),
            path: view.path.clone(),
            ..*view
        };
        return read_segment(&next, offset, max_bytes, limit);
    }
    collect(view, Bytes::from(batch), position, 0, max_bytes, limit).map(Some)
}

/// Cuts `chunk` (read at `chunk_position`) to the whole batches from byte `first` on that fit
/// in `max_bytes` (always the first one) and lie below `limit`, checking each.
fn collect(
    view: &SegmentView,
    chunk: Bytes,
    chunk_position: u64,
    first: usize,
    max_bytes: usize,
    limit: i64,
) -> Result<Bytes> {
    let mut end = first;
    let mut previous_last = None;
    for (header, range) in BatchIter::new(&chunk[first..]) {
        let (start, stop) = (first + range.start, first + range.end);
        if header.base_offset >= limit || (end > first && stop - first > max_bytes) {
            break;
        }
        let position = chunk_position + start as u64;
        let checked =
            check_stored(&chunk[start..stop], &view.path, position).and_then(
                |_| match previous_last {
                    Some(last) if header.base_offset <= last => {
                        Err(corrupt(view, position, "batch offsets go backwards"))
                    }
                    _ => Ok(()),
                },
            );
        match checked {
            Ok(()) => {}
            // Serve the good batches before the damage; the next read reports it.
            Err(_) if end > first => break,
            Err(e) => return Err(e),
        }
        previous_last = Some(header.last_offset());
        end = stop;
    }
    if end == first {
        // The first batch is not whole in the chunk: the chunk was cut short by the segment.
        return Err(corrupt(
            view,
            chunk_position + first as u64,
            "a batch runs past the end of the segment",
        ));
    }
    Ok(chunk.slice(first..end))
}

fn corrupt(view: &SegmentView, position: u64, reason: &str) -> StorageError {
    StorageError::Corrupt {
        path: view.path.clone(),
        position,
        reason: reason.to_string(),
    }
}
