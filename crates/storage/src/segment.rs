//! One segment: a file of whole batches starting at `base_offset`, with its two indexes.
//!
//! A segment knows its committed size, the offset after its last batch and its largest
//! timestamp. It is mutated only under the owning log's lock; readers clone the
//! `Arc<File>` and read committed bytes with `pread` outside that lock, so a slow reader
//! never blocks an append. Files are named by base offset, zero-padded to 20 digits:
//! `00000000000000000042.log`, `.index`, `.timeindex`.

use std::fs::File;
use std::io::IoSlice;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::{BatchHeader, HEADER_SIZE, check_integrity};
use crate::error::{IoContext, Result, StorageError};
use crate::index::{IndexFile, OffsetEntry, TimeEntry};
use crate::scan::{BatchScanner, ScanEnd, ScanMode};

/// Suffix of segment data files.
pub(crate) const LOG_SUFFIX: &str = "log";
/// Suffix of offset index files.
pub(crate) const INDEX_SUFFIX: &str = "index";
/// Suffix of time index files.
pub(crate) const TIME_INDEX_SUFFIX: &str = "timeindex";

/// `dir/00000000000000000042.suffix`.
pub(crate) fn segment_path(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{suffix}"))
}

/// What an append tells the segment about each batch it writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchMeta {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub size: u64,
}

impl From<&BatchHeader> for BatchMeta {
    fn from(header: &BatchHeader) -> Self {
        BatchMeta {
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
            max_timestamp: header.max_timestamp,
            size: header.size() as u64,
        }
    }
}

/// What recovery found in a segment's tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TailCheck {
    /// Bytes cut from the end because they were not a whole valid batch.
    pub truncated_bytes: u64,
    /// Why the cut was made, when one was.
    pub reason: Option<String>,
}

pub(crate) struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    file: Arc<File>,
    offset_index: IndexFile<OffsetEntry>,
    time_index: IndexFile<TimeEntry>,
    size: u64,
    next_offset: i64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    bytes_since_index: u64,
    /// `index.interval.bytes` of the owning log.
    index_interval: u64,
    /// Wall-clock milliseconds of the first append, for `segment.ms`.
    first_append_ms: Option<i64>,
}

fn open_log_file(path: &Path, truncate: bool) -> Result<File> {
    crate::index::open_for_writing(path, truncate).at("open", path)
}

impl Segment {
    /// Creates an empty segment, replacing any files with its name.
    pub fn create(dir: &Path, base_offset: i64, index_interval: u64) -> Result<Segment> {
        let log_path = segment_path(dir, base_offset, LOG_SUFFIX);
        let file = open_log_file(&log_path, true)?;
        let index_path = segment_path(dir, base_offset, INDEX_SUFFIX);
        let time_path = segment_path(dir, base_offset, TIME_INDEX_SUFFIX);
        Ok(Segment {
            base_offset,
            log_path,
            file: Arc::new(file),
            offset_index: IndexFile::create(&index_path).at("create", &index_path)?,
            time_index: IndexFile::create(&time_path).at("create", &time_path)?,
            size: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            bytes_since_index: 0,
            index_interval,
            first_append_ms: None,
        })
    }

    /// Opens a segment whose bytes are known to be whole, valid batches (it was closed
    /// cleanly or lies before the recovery point). Indexes that do not check out are
    /// rebuilt; the tail after the last index entry is read to find the end offset.
    pub fn open_trusted(dir: &Path, base_offset: i64, index_interval: u64) -> Result<Segment> {
        let index_missing = !segment_path(dir, base_offset, INDEX_SUFFIX).exists()
            || !segment_path(dir, base_offset, TIME_INDEX_SUFFIX).exists();
        let mut segment = Self::open_files(dir, base_offset, index_interval)?;
        if index_missing && !segment.is_empty() {
            segment.rebuild_from(0, ScanMode::Headers)?;
        } else if !segment.indexes_check_out()? {
            tracing::warn!(segment = %segment.log_path.display(), "rebuilding index that does not check out");
            segment.rebuild_from(0, ScanMode::Headers)?;
        } else {
            let (relative, position) = segment
                .offset_index
                .last()
                .map_or((0, 0), |e| (e.relative_offset, e.position));
            segment.next_offset = base_offset + i64::from(relative);
            segment.restore_time_bounds();
            segment.scan_tail_from(u64::from(position))?;
            if segment.offset_of_max_timestamp >= segment.next_offset && !segment.is_empty() {
                tracing::warn!(segment = %segment.log_path.display(), "rebuilding a time index that points past the segment");
                segment.rebuild_from(0, ScanMode::Headers)?;
            }
        }
        Ok(segment)
    }

    /// Opens a segment that may end in a torn or corrupt write: everything from
    /// `from_offset` on is read and checked (CRC included); the file is cut at the first
    /// batch that does not check out and the indexes are rebuilt past that point.
    pub fn open_and_recover(
        dir: &Path,
        base_offset: i64,
        from_offset: i64,
        index_interval: u64,
    ) -> Result<(Segment, TailCheck)> {
        let mut segment = Self::open_files(dir, base_offset, index_interval)?;
        let sane = segment.indexes_check_out()?;
        let start_position = if sane {
            let relative = u32::try_from(from_offset.saturating_sub(base_offset)).unwrap_or(0);
            let (relative, position) = segment.offset_index.position_floor(relative);
            segment.next_offset = base_offset + i64::from(relative);
            segment
                .offset_index
                .truncate_to_position(u64::from(position) + 1)
                .at("truncate", segment.offset_index.path().to_path_buf())?;
            segment
                .time_index
                .truncate_to_offset(relative.saturating_add(1))
                .at("truncate", segment.time_index.path().to_path_buf())?;
            segment.restore_time_bounds();
            u64::from(position)
        } else {
            0
        };
        if start_position == 0 {
            segment
                .offset_index
                .clear()
                .at("truncate", segment.offset_index.path().to_path_buf())?;
            segment
                .time_index
                .clear()
                .at("truncate", segment.time_index.path().to_path_buf())?;
            segment.next_offset = base_offset;
            segment.max_timestamp = -1;
            segment.offset_of_max_timestamp = base_offset;
        }
        let check = segment.rebuild_from(start_position, ScanMode::Verified)?;
        Ok((segment, check))
    }

    fn open_files(dir: &Path, base_offset: i64, index_interval: u64) -> Result<Segment> {
        let log_path = segment_path(dir, base_offset, LOG_SUFFIX);
        let file = open_log_file(&log_path, false)?;
        let size = file.metadata().at("stat", &log_path)?.len();
        let index_path = segment_path(dir, base_offset, INDEX_SUFFIX);
        let time_path = segment_path(dir, base_offset, TIME_INDEX_SUFFIX);
        Ok(Segment {
            base_offset,
            log_path,
            file: Arc::new(file),
            offset_index: IndexFile::open(&index_path).at("open", &index_path)?,
            time_index: IndexFile::open(&time_path).at("open", &time_path)?,
            size,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            bytes_since_index: 0,
            index_interval,
            first_append_ms: None,
        })
    }

    /// Cheap checks that the indexes agree with the data: ordered entries inside the file,
    /// and the last offset entry pointing at a batch with the offset it claims.
    fn indexes_check_out(&self) -> Result<bool> {
        if !self.offset_index.is_sane(self.size) {
            return Ok(false);
        }
        if let Some(last) = self.offset_index.last() {
            let mut raw = [0u8; HEADER_SIZE];
            let position = u64::from(last.position);
            if position + HEADER_SIZE as u64 > self.size {
                return Ok(false);
            }
            read_exact_at(&self.file, &mut raw, position, &self.log_path)?;
            match BatchHeader::parse(&raw) {
                Ok(h) if h.base_offset == self.base_offset + i64::from(last.relative_offset) => {}
                _ => return Ok(false),
            }
        }
        Ok(self.time_index.is_ordered())
    }

    fn restore_time_bounds(&mut self) {
        if let Some(last) = self.time_index.last() {
            self.max_timestamp = last.timestamp;
            self.offset_of_max_timestamp = self.base_offset + i64::from(last.relative_offset);
        }
    }

    /// Reads the batches from `position` to the end of the file, updating the end offset
    /// and max timestamp (but not the indexes). Used on trusted data.
    fn scan_tail_from(&mut self, position: u64) -> Result<()> {
        let (file, path) = (Arc::clone(&self.file), self.log_path.clone());
        let mut scanner = BatchScanner::new(&file, &path, position, self.size, ScanMode::Headers);
        while let Some((_, header, _)) = scanner.next_batch()? {
            self.observe(&BatchMeta::from(&header));
        }
        if let ScanEnd::Invalid { position, reason } = scanner.end() {
            return Err(StorageError::Corrupt {
                path,
                position,
                reason,
            });
        }
        Ok(())
    }

    /// Re-reads batches from `position` (an indexed batch boundary), re-indexing them. In
    /// `Verified` mode (recovery of an unsynced tail) the file is cut at the first batch that
    /// does not check out; in `Headers` mode (trusted data) that is a `Corrupt` error.
    fn rebuild_from(&mut self, position: u64, mode: ScanMode) -> Result<TailCheck> {
        if position == 0 {
            self.offset_index
                .clear()
                .at("truncate", self.offset_index.path().to_path_buf())?;
            self.time_index
                .clear()
                .at("truncate", self.time_index.path().to_path_buf())?;
        }
        let end = self.size;
        self.size = position;
        self.bytes_since_index = 0;
        let (file, path) = (Arc::clone(&self.file), self.log_path.clone());
        let mut scanner = BatchScanner::new(&file, &path, position, end, mode);
        let mut cut_reason = None;
        while let Some((batch_position, header, _)) = scanner.next_batch()? {
            let meta = BatchMeta::from(&header);
            if let Some(reason) = self.offset_problem(&meta) {
                cut_reason = Some(reason);
                break;
            }
            self.index_batch(batch_position, &meta)?;
            self.size = batch_position + meta.size;
        }
        if cut_reason.is_none()
            && let ScanEnd::Invalid { reason, .. } = scanner.end()
        {
            cut_reason = Some(reason);
        }
        let truncated_bytes = end - self.size;
        if truncated_bytes > 0 {
            if mode == ScanMode::Headers {
                // Trusted data (synced, acknowledged) that does not check out: an error for
                // an operator, never something to cut silently.
                return Err(StorageError::Corrupt {
                    path: self.log_path.clone(),
                    position: self.size,
                    reason: cut_reason.unwrap_or_else(|| "bytes after the last batch".into()),
                });
            }
            self.file
                .set_len(self.size)
                .at("truncate", &self.log_path)?;
        }
        Ok(TailCheck {
            truncated_bytes,
            reason: cut_reason,
        })
    }

    /// Why a batch cannot follow the current end of this segment, if it cannot.
    fn offset_problem(&self, meta: &BatchMeta) -> Option<String> {
        if meta.base_offset < self.next_offset {
            return Some(format!(
                "batch base offset {} is below the segment's next offset {}",
                meta.base_offset, self.next_offset
            ));
        }
        if meta.last_offset < meta.base_offset {
            return Some(format!(
                "batch at offset {} has a negative offset delta",
                meta.base_offset
            ));
        }
        if meta.last_offset - self.base_offset > i64::from(u32::MAX) {
            return Some(format!(
                "batch at offset {} is beyond what the segment can index",
                meta.base_offset
            ));
        }
        None
    }

    fn observe(&mut self, meta: &BatchMeta) {
        if meta.max_timestamp > self.max_timestamp {
            self.max_timestamp = meta.max_timestamp;
            self.offset_of_max_timestamp = meta.base_offset;
        }
        self.next_offset = meta.last_offset + 1;
    }

    /// Records a batch written at `position`: indexes it if the interval has passed.
    fn index_batch(&mut self, position: u64, meta: &BatchMeta) -> Result<()> {
        self.observe(meta);
        if position > 0 && self.bytes_since_index >= self.index_interval {
            let relative = (meta.base_offset - self.base_offset) as u32;
            self.offset_index
                .append(OffsetEntry {
                    relative_offset: relative,
                    position: position as u32,
                })
                .at("write", self.offset_index.path().to_path_buf())?;
            if self
                .time_index
                .last()
                .is_none_or(|e| e.timestamp < self.max_timestamp)
            {
                self.time_index
                    .append(TimeEntry {
                        timestamp: self.max_timestamp,
                        relative_offset: (self.offset_of_max_timestamp - self.base_offset) as u32,
                    })
                    .at("write", self.time_index.path().to_path_buf())?;
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += meta.size;
        Ok(())
    }

    /// Writes whole batches, given as slices in order and described by `batches`, at the
    /// end of the segment with vectored writes.
    pub fn append(
        &mut self,
        slices: &mut [IoSlice<'_>],
        batches: &[BatchMeta],
        now_ms: i64,
    ) -> Result<()> {
        write_all_vectored_at(&self.file, slices, self.size).at("write", &self.log_path)?;
        let mut position = self.size;
        for meta in batches {
            self.index_batch(position, meta)?;
            position += meta.size;
        }
        self.size = position;
        self.first_append_ms.get_or_insert(now_ms);
        Ok(())
    }

    /// Cuts the segment so that it ends before the batch holding `offset`. Returns the new
    /// next offset (the base of the removed batch, or unchanged if nothing was removed).
    pub fn truncate_to(&mut self, offset: i64) -> Result<i64> {
        if offset >= self.next_offset {
            return Ok(self.next_offset);
        }
        let relative = u32::try_from(offset.saturating_sub(self.base_offset)).unwrap_or(0);
        let (_, start) = self.offset_index.position_floor(relative);
        let mut scanner = BatchScanner::new(
            &self.file,
            &self.log_path,
            u64::from(start),
            self.size,
            ScanMode::Headers,
        );
        let mut cut = self.size;
        while let Some((position, header, _)) = scanner.next_batch()? {
            if header.last_offset() >= offset {
                cut = position;
                break;
            }
        }
        self.offset_index
            .truncate_to_position(cut)
            .at("truncate", self.offset_index.path().to_path_buf())?;
        self.file.set_len(cut).at("truncate", &self.log_path)?;
        self.size = cut;
        // Recompute the end offset and time bounds from the last surviving index entry.
        let (relative, position) = self
            .offset_index
            .last()
            .map_or((0, 0), |e| (e.relative_offset, e.position));
        self.time_index
            .truncate_to_offset(relative.saturating_add(1))
            .at("truncate", self.time_index.path().to_path_buf())?;
        self.next_offset = self.base_offset + i64::from(relative);
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = self.base_offset;
        self.restore_time_bounds();
        self.scan_tail_from(u64::from(position))?;
        self.bytes_since_index = self.size - u64::from(position);
        if self.size == 0 {
            self.first_append_ms = None;
        }
        Ok(self.next_offset)
    }

    /// Position of the last indexed batch at or before `offset`.
    pub fn index_position(&self, offset: i64) -> u64 {
        let relative = u32::try_from(offset.saturating_sub(self.base_offset)).unwrap_or(u32::MAX);
        u64::from(self.offset_index.position_floor(relative).1)
    }

    /// Offset to start a timestamp search from: the last time entry below `timestamp`.
    pub fn time_floor_offset(&self, timestamp: i64) -> i64 {
        self.time_index
            .floor_by(timestamp.saturating_sub(1), |e| e.timestamp)
            .map_or(self.base_offset, |e| {
                self.base_offset + i64::from(e.relative_offset)
            })
    }

    /// Applies a new `index.interval.bytes`.
    pub fn set_index_interval(&mut self, index_interval: u64) {
        self.index_interval = index_interval;
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().at("fsync", &self.log_path)
    }

    /// Syncs the indexes too, for a clean shutdown.
    pub fn sync_all(&mut self) -> Result<()> {
        self.sync()?;
        self.offset_index
            .sync()
            .at("fsync", self.offset_index.path().to_path_buf())?;
        self.time_index
            .sync()
            .at("fsync", self.time_index.path().to_path_buf())
    }

    /// Removes the segment's files. Readers holding the file keep reading it until they drop it.
    pub fn delete_files(&self) -> Result<()> {
        for path in [
            &self.log_path,
            &self.offset_index.path().to_path_buf(),
            &self.time_index.path().to_path_buf(),
        ] {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).at("delete", path.clone()),
            }
        }
        Ok(())
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    pub fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp
    }
    pub fn first_append_ms(&self) -> Option<i64> {
        self.first_append_ms
    }
    pub fn file(&self) -> &Arc<File> {
        &self.file
    }
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
    pub fn offset_index_bytes(&self) -> u64 {
        self.offset_index.size_bytes()
    }

    /// Closes the index files' handles once the segment is no longer the active one; a
    /// later write to them (truncation back into this segment) reopens them.
    pub fn release_index_files(&mut self) {
        self.offset_index.release_file();
        self.time_index.release_file();
    }
}

/// `pwritev` of every byte of `slices` at `position`, resuming after short writes.
fn write_all_vectored_at(
    file: &File,
    mut slices: &mut [IoSlice<'_>],
    mut position: u64,
) -> std::io::Result<()> {
    while !slices.is_empty() {
        // Linux takes at most IOV_MAX (1024) slices per call.
        let batch = slices.len().min(1024);
        let written = rustix::io::pwritev(file, &slices[..batch], position)?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        position += written as u64;
        IoSlice::advance_slices(&mut slices, written);
    }
    Ok(())
}

/// `pread` of exactly `buf.len()` bytes.
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], position: u64, path: &Path) -> Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, position).at("read", path)
}

/// `pread` of exactly `len` bytes into a new buffer, without zero-filling it first.
pub(crate) fn read_vec_at(file: &File, len: usize, position: u64, path: &Path) -> Result<Vec<u8>> {
    // `with_capacity` gives exactly `len` bytes of capacity, so a read never goes past it.
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        let at = position + buf.len() as u64;
        let read = rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), at)
            .map_err(std::io::Error::from)
            .at("read", path)?;
        if read == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)).at("read", path);
        }
    }
    Ok(buf)
}

/// Checks a batch read back from a segment; a failure is corruption of stored data.
pub(crate) fn check_stored(bytes: &[u8], path: &Path, position: u64) -> Result<BatchHeader> {
    check_integrity(bytes).map_err(|e| StorageError::Corrupt {
        path: path.to_path_buf(),
        position,
        reason: e.to_string(),
    })
}
