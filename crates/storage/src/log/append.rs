//! Appending batches: offset assignment, segment rolling and the flush policy.
//!
//! The batches' bytes are never copied or decoded: for each batch a 61-byte copy of its
//! header is patched (base offset, leader epoch, and for `LogAppendTime` the timestamp,
//! attributes and CRC), and the patched headers and the untouched bodies go to the file in
//! one vectored write.

use std::io::IoSlice;

use super::{LogState, PartitionLog, producers};
use crate::batch::{
    self, BatchError, BatchHeader, BatchIter, HEADER_SIZE, NO_TIMESTAMP, TimestampType,
};
use crate::config::FlushPolicy;
use crate::error::Result;
use crate::segment::{BatchMeta, Segment};

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// The broker time stamped on the batches under `LogAppendTime`, else -1.
    pub log_append_time: i64,
    /// Largest timestamp among the appended batches.
    pub max_timestamp: i64,
    /// Number of batches appended.
    pub batch_count: usize,
    /// Base offset of the segment the batches went to.
    pub segment_base_offset: i64,
    /// Byte position of the first batch in that segment.
    pub position: u64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
    /// The batches were a producer's retry of batches already in the log: nothing was
    /// written, and the offsets are those of the original append.
    pub duplicate: bool,
}

struct Prepared {
    headers: Vec<[u8; HEADER_SIZE]>,
    metas: Vec<BatchMeta>,
    total: u64,
}

impl PartitionLog {
    /// Appends producer batches (already checked with
    /// [`validate_produce`](crate::batch::validate_produce)), assigning them offsets from
    /// the log end, and returns once they are as durable as the flush policy promises.
    pub fn append(&self, batches: &[u8], leader_epoch: i32, now_ms: i64) -> Result<AppendInfo> {
        let info = self.append_unsynced(batches, leader_epoch, now_ms)?;
        self.sync_per_policy(info.last_offset + 1)?;
        Ok(info)
    }

    /// Appends producer batches without waiting for the flush policy; pair with
    /// [`sync_to`](Self::sync_to) to acknowledge several appends with one fsync.
    pub fn append_unsynced(
        &self,
        batches: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        let headers = parse_all(batches)?;
        let mut state = self.lock();
        self.check_open(&state)?;
        let append_time = match state.config.timestamp_type {
            TimestampType::LogAppendTime => Some(now_ms),
            TimestampType::CreateTime => None,
        };
        if let Some((first, last)) = producers::check_batches(&state.producers, &headers)? {
            return Ok(AppendInfo {
                base_offset: first,
                last_offset: last,
                log_append_time: append_time.unwrap_or(NO_TIMESTAMP),
                max_timestamp: NO_TIMESTAMP,
                batch_count: 0,
                segment_base_offset: -1,
                position: 0,
                log_start_offset: state.log_start_offset,
                duplicate: true,
            });
        }
        let base_offset = state.log_end_offset();
        let prepared = prepare(batches, &headers, base_offset, leader_epoch, append_time);
        self.write(&mut state, batches, &headers, prepared, now_ms, append_time)
    }

    /// Appends batches copied from a leader, keeping their offsets, epochs and timestamps.
    /// Each batch is checked (CRC included) and must start at or after the log end.
    pub fn append_replicated(&self, batches: &[u8], now_ms: i64) -> Result<AppendInfo> {
        let headers = parse_all(batches)?;
        let mut position = 0;
        for header in &headers {
            batch::check_integrity(&batches[position..position + header.size()])?;
            position += header.size();
        }
        let mut state = self.lock();
        self.check_open(&state)?;
        let mut expected = state.log_end_offset();
        for header in &headers {
            if header.base_offset < expected || header.last_offset() < header.base_offset {
                return Err(BatchError::InvalidRecord {
                    reason: "replicated batch does not follow the log end",
                }
                .into());
            }
            expected = header.next_offset();
        }
        let mut position = 0;
        let mut prepared = Prepared {
            headers: Vec::with_capacity(headers.len()),
            metas: headers.iter().map(BatchMeta::from).collect(),
            total: batches.len() as u64,
        };
        for header in &headers {
            let mut raw = [0u8; HEADER_SIZE];
            raw.copy_from_slice(&batches[position..position + HEADER_SIZE]);
            prepared.headers.push(raw);
            position += header.size();
        }
        let info = self.write(&mut state, batches, &headers, prepared, now_ms, None)?;
        drop(state);
        self.sync_per_policy(info.last_offset + 1)?;
        Ok(info)
    }

    fn write(
        &self,
        state: &mut LogState,
        batches: &[u8],
        headers: &[BatchHeader],
        prepared: Prepared,
        now_ms: i64,
        append_time: Option<i64>,
    ) -> Result<AppendInfo> {
        let (first, last) = match (prepared.metas.first(), prepared.metas.last()) {
            (Some(first), Some(last)) => (*first, *last),
            _ => {
                return Err(BatchError::InvalidRecord {
                    reason: "no record batches to append",
                }
                .into());
            }
        };
        if self.should_roll(state, prepared.total, last.last_offset, now_ms) {
            self.roll(state)?;
        }
        let mut slices = Vec::with_capacity(headers.len() * 2);
        let mut position = 0;
        for (header, patched) in headers.iter().zip(&prepared.headers) {
            slices.push(IoSlice::new(patched));
            slices.push(IoSlice::new(
                &batches[position + HEADER_SIZE..position + header.size()],
            ));
            position += header.size();
        }
        let segment = state.active_mut();
        let segment_position = segment.size();
        segment.append(&mut slices, &prepared.metas, now_ms)?;
        let segment_base_offset = segment.base_offset();
        for (header, meta) in headers.iter().zip(&prepared.metas) {
            state.producers.record(header, meta.base_offset);
        }
        state.unsynced_bytes += prepared.total;
        self.publish(state);
        Ok(AppendInfo {
            base_offset: first.base_offset,
            last_offset: last.last_offset,
            log_append_time: append_time.unwrap_or(NO_TIMESTAMP),
            max_timestamp: prepared
                .metas
                .iter()
                .map(|m| m.max_timestamp)
                .max()
                .unwrap_or(NO_TIMESTAMP),
            batch_count: prepared.metas.len(),
            segment_base_offset,
            position: segment_position,
            log_start_offset: state.log_start_offset,
            duplicate: false,
        })
    }

    fn should_roll(&self, state: &LogState, incoming: u64, last_offset: i64, now_ms: i64) -> bool {
        let active = state.active();
        if active.is_empty() {
            return false;
        }
        let config = &state.config;
        active.size() + incoming > config.segment_bytes
            || active
                .first_append_ms()
                .is_some_and(|first| now_ms - first >= config.segment_ms)
            || active.offset_index_bytes() + 8 > config.segment_index_bytes
            || last_offset - active.base_offset() > i64::from(u32::MAX)
    }

    /// Starts a new active segment at the log end. The old one is synced by the next
    /// `sync_to`, outside the lock.
    pub(super) fn roll(&self, state: &mut LogState) -> Result<()> {
        let base = state.log_end_offset();
        let interval = state.config.index_interval_bytes;
        let old = state.active();
        state.unsynced.push((
            std::sync::Arc::clone(old.file()),
            old.log_path().to_path_buf(),
        ));
        let segment = Segment::create(&self.dir, base, interval)?;
        state.active_mut().release_index_files();
        state.segments.insert(base, segment);
        state.dir_dirty = true;
        tracing::debug!(log = %self.dir.display(), base_offset = base, "rolled a new segment");
        Ok(())
    }

    /// Waits until the records below `end_offset` are as durable as the flush policy
    /// promises: fsynced (with group commit) under `always`, per the interval under
    /// `interval`, not at all under `os`. The second half of [`append`](Self::append), for
    /// callers that append with [`append_unsynced`](Self::append_unsynced) and wait apart.
    pub fn sync_per_policy(&self, end_offset: i64) -> Result<()> {
        if self.sync_due(end_offset) {
            self.sync_to(end_offset)?;
        }
        Ok(())
    }

    /// Whether [`sync_per_policy`](Self::sync_per_policy) would fsync for `end_offset`:
    /// cheap, no I/O, so that callers can skip handing it to a blocking thread.
    pub fn sync_due(&self, end_offset: i64) -> bool {
        let state = self.lock();
        let config = &state.config;
        match config.flush {
            FlushPolicy::Always => self.durable_offset() < end_offset,
            FlushPolicy::Interval => {
                state.unsynced_bytes >= config.flush_interval_bytes
                    || self.since_last_sync_finished() >= config.flush_interval
            }
            FlushPolicy::Os => false,
        }
    }
}

/// Headers of the whole batches in `bytes`, which must hold nothing else.
fn parse_all(bytes: &[u8]) -> Result<Vec<BatchHeader>> {
    let mut iter = BatchIter::new(bytes);
    let headers: Vec<BatchHeader> = iter.by_ref().map(|(header, _)| header).collect();
    if iter.position() != bytes.len() {
        let rest = &bytes[iter.position()..];
        return Err(match BatchHeader::parse(rest) {
            Err(e) => e,
            Ok(header) => BatchError::Truncated {
                position: iter.position(),
                needed: header.size(),
                available: rest.len(),
            },
        }
        .into());
    }
    Ok(headers)
}

/// Patched headers and metadata for producer batches placed at `base_offset`.
fn prepare(
    batches: &[u8],
    headers: &[BatchHeader],
    base_offset: i64,
    leader_epoch: i32,
    append_time: Option<i64>,
) -> Prepared {
    let mut next = base_offset;
    let mut position = 0;
    let mut prepared = Prepared {
        headers: Vec::with_capacity(headers.len()),
        metas: Vec::with_capacity(headers.len()),
        total: 0,
    };
    for header in headers {
        let whole = &batches[position..position + header.size()];
        let mut raw = [0u8; HEADER_SIZE];
        raw.copy_from_slice(&whole[..HEADER_SIZE]);
        batch::set_base_offset(&mut raw, next);
        batch::set_partition_leader_epoch(&mut raw, leader_epoch);
        let mut max_timestamp = header.max_timestamp;
        if let Some(time) = append_time {
            batch::set_log_append_time_header(&mut raw, &whole[HEADER_SIZE..], time);
            max_timestamp = time;
        }
        let last = next + i64::from(header.last_offset_delta);
        prepared.metas.push(BatchMeta {
            base_offset: next,
            last_offset: last,
            max_timestamp,
            size: header.size() as u64,
        });
        prepared.headers.push(raw);
        prepared.total += header.size() as u64;
        next = last + 1;
        position += header.size();
    }
    prepared
}
