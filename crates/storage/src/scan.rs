//! Sequential reading of the batches in a segment file, through a reusable buffer.
//!
//! Recovery, truncation, timestamp lookups and compaction all walk a segment batch by batch.
//! The scanner reads large chunks with `pread` (one system call covers many small batches)
//! and stops at the first batch that is not whole or, when asked to verify, fails its CRC;
//! it never trusts a length field beyond the bytes that are really there.

use std::fs::File;
use std::path::Path;

use crate::batch::{BatchHeader, HEADER_SIZE, MAGIC_V2, check_integrity};
use crate::error::Result;
use crate::segment::read_exact_at;

/// How a scan stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanEnd {
    /// It reached the end with whole batches only.
    Complete,
    /// The batch at `position` is torn or does not check out.
    Invalid { position: u64, reason: String },
}

/// What a scan reads of each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanMode {
    /// Headers only (the returned slice is the 61-byte header).
    Headers,
    /// Whole batches with magic and CRC checked.
    Verified,
}

/// Reads whole batches from `[position, end)` of a segment file.
pub(crate) struct BatchScanner<'a> {
    file: &'a File,
    path: &'a Path,
    position: u64,
    end: u64,
    mode: ScanMode,
    buf: Vec<u8>,
    buf_start: u64,
    stopped: Option<ScanEnd>,
}

/// Bytes read at a time when whole batches are wanted.
const LOAD_CHUNK: usize = 1 << 20;
/// Bytes read at a time when only headers are wanted.
const HEADER_CHUNK: usize = 16 << 10;

impl<'a> BatchScanner<'a> {
    /// A scanner over `[position, end)` of `file`.
    pub fn new(file: &'a File, path: &'a Path, position: u64, end: u64, mode: ScanMode) -> Self {
        BatchScanner {
            file,
            path,
            position,
            end,
            mode,
            buf: Vec::new(),
            buf_start: position,
            stopped: None,
        }
    }

    /// How the scan ended; `Complete` until it stops early.
    pub fn end(&self) -> ScanEnd {
        self.stopped.clone().unwrap_or(ScanEnd::Complete)
    }

    /// The next batch: its position, header, and bytes (the header alone in `Headers`
    /// mode). `None` at the end or at the first invalid batch.
    pub fn next_batch(&mut self) -> Result<Option<(u64, BatchHeader, &[u8])>> {
        if self.stopped.is_some() || self.position >= self.end {
            return Ok(None);
        }
        let position = self.position;
        let left = self.end - position;
        if left < HEADER_SIZE as u64 {
            return self.stop(
                position,
                format!("torn write: {left} bytes where a batch header needs {HEADER_SIZE}"),
            );
        }
        self.fill(position, HEADER_SIZE)?;
        let header = match BatchHeader::parse(self.slice(position, HEADER_SIZE)) {
            Ok(header) => header,
            Err(e) => return self.stop(position, e.to_string()),
        };
        let size = header.size() as u64;
        if size > left {
            return self.stop(
                position,
                format!("torn write: batch needs {size} bytes, {left} left in the file"),
            );
        }
        if header.magic != MAGIC_V2 {
            return self.stop(
                position,
                format!("batch has magic {}, expected 2", header.magic),
            );
        }
        let want = match self.mode {
            ScanMode::Headers => HEADER_SIZE,
            ScanMode::Verified => size as usize,
        };
        self.fill(position, want)?;
        if self.mode == ScanMode::Verified
            && let Err(e) = check_integrity(self.slice(position, want))
        {
            return self.stop(position, e.to_string());
        }
        self.position = position + size;
        Ok(Some((position, header, self.slice(position, want))))
    }

    fn stop<T>(&mut self, position: u64, reason: String) -> Result<Option<T>> {
        self.stopped = Some(ScanEnd::Invalid { position, reason });
        Ok(None)
    }

    fn slice(&self, position: u64, len: usize) -> &[u8] {
        let start = (position - self.buf_start) as usize;
        &self.buf[start..start + len]
    }

    /// Makes `[position, position + len)` available in the buffer (the caller has checked
    /// it lies before `end`).
    fn fill(&mut self, position: u64, len: usize) -> Result<()> {
        let buffered_end = self.buf_start + self.buf.len() as u64;
        if position >= self.buf_start && position + len as u64 <= buffered_end {
            return Ok(());
        }
        let chunk = match self.mode {
            ScanMode::Headers => HEADER_CHUNK,
            ScanMode::Verified => LOAD_CHUNK,
        };
        let read_len = (len.max(chunk) as u64).min(self.end - position) as usize;
        self.buf.resize(read_len, 0);
        self.buf_start = position;
        read_exact_at(self.file, &mut self.buf, position, self.path)
    }
}
