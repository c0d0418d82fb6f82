//! Sparse per-segment indexes: offset to file position, and timestamp to offset.
//!
//! Both are append-only files of fixed-size big-endian entries, mirrored in memory as a
//! sorted `Vec` (8 bytes an entry for the offset index, 12 for the time index: a 1 GiB
//! segment indexed every 4 KiB costs about 2 MiB and 3 MiB). Lookups are binary searches
//! without a system call; appends write one entry with `pwrite`. Indexes are never fsynced
//! on the hot path: after a crash they are checked against their segment and rebuilt from
//! it when they do not check out, so they are a cache, never the source of truth. The file
//! handle is only needed to write: a segment that is no longer written lets it go
//! ([`IndexFile::release_file`]), so a partition holds two index files open, not two per
//! segment, and one that is written again (truncation back into it) reopens it.
//!
//! Entry meanings, as in Kafka:
//! - offset index `(relative offset, position)`: the batch whose base offset is
//!   `segment base + relative offset` starts at byte `position` of the segment file;
//! - time index `(timestamp, relative offset)`: the largest timestamp among the batches up to
//!   and including the one at that offset is `timestamp`; entries only grow.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One fixed-size index entry.
pub(crate) trait IndexEntry: Copy + std::fmt::Debug {
    /// Bytes on disk.
    const SIZE: usize;
    /// Decodes from exactly `SIZE` bytes.
    fn decode(bytes: &[u8]) -> Self;
    /// Encodes into exactly `SIZE` bytes.
    fn encode(&self, out: &mut [u8]);
}

/// `(relative offset, position)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl IndexEntry for OffsetEntry {
    const SIZE: usize = 8;
    fn decode(bytes: &[u8]) -> Self {
        OffsetEntry {
            relative_offset: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            position: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        }
    }
    fn encode(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        out[4..8].copy_from_slice(&self.position.to_be_bytes());
    }
}

/// `(timestamp, relative offset)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

impl IndexEntry for TimeEntry {
    const SIZE: usize = 12;
    fn decode(bytes: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&bytes[..8]);
        TimeEntry {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
        }
    }
    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.relative_offset.to_be_bytes());
    }
}

/// An index file and its in-memory mirror.
pub(crate) struct IndexFile<E: IndexEntry> {
    path: PathBuf,
    /// Open while the index may be written; see [`IndexFile::release_file`].
    file: Option<File>,
    entries: Vec<E>,
    /// Written since the last [`IndexFile::sync`].
    unsynced: bool,
}

/// Opens a segment or index file to read and write, creating it if missing and emptying it
/// if `truncate`.
pub(crate) fn open_for_writing(path: &Path, truncate: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .open(path)
}

impl<E: IndexEntry> IndexFile<E> {
    /// Opens (creating if missing) and loads every whole entry. A trailing partial entry is
    /// dropped; whether the entries make sense is for the caller to check.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = open_for_writing(path, false)?;
        let bytes = std::fs::read(path)?;
        let entries: Vec<E> = bytes.chunks_exact(E::SIZE).map(E::decode).collect();
        let whole = (entries.len() * E::SIZE) as u64;
        if whole != bytes.len() as u64 {
            file.set_len(whole)?;
        }
        Ok(IndexFile {
            path: path.to_path_buf(),
            file: Some(file),
            entries,
            unsynced: false,
        })
    }

    /// Creates an empty index, replacing any file at `path`.
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = open_for_writing(path, true)?;
        Ok(IndexFile {
            path: path.to_path_buf(),
            file: Some(file),
            entries: Vec::new(),
            unsynced: true,
        })
    }

    /// Closes the file handle; the entries stay in memory and the next write reopens it.
    pub fn release_file(&mut self) {
        self.file = None;
    }

    fn writable(&mut self) -> io::Result<&File> {
        let file = match self.file.take() {
            Some(file) => file,
            None => open_for_writing(&self.path, false)?,
        };
        self.unsynced = true;
        Ok(self.file.insert(file))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    #[cfg(test)]
    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    pub fn last(&self) -> Option<E> {
        self.entries.last().copied()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn size_bytes(&self) -> u64 {
        (self.entries.len() * E::SIZE) as u64
    }

    pub fn append(&mut self, entry: E) -> io::Result<()> {
        let mut raw = [0u8; 16];
        entry.encode(&mut raw[..E::SIZE]);
        let at = self.size_bytes();
        self.writable()?.write_all_at(&raw[..E::SIZE], at)?;
        self.entries.push(entry);
        Ok(())
    }

    /// Keeps only the first `len` entries.
    pub fn truncate_entries(&mut self, len: usize) -> io::Result<()> {
        if len < self.entries.len() {
            self.entries.truncate(len);
            let size = self.size_bytes();
            self.writable()?.set_len(size)?;
        }
        Ok(())
    }

    /// Drops every entry.
    pub fn clear(&mut self) -> io::Result<()> {
        self.truncate_entries(0)
    }

    /// Index of the last entry whose key is at most `key`, given a key function that is
    /// non-decreasing over the entries.
    pub fn floor_by<K: Ord>(&self, key: K, key_of: impl Fn(&E) -> K) -> Option<E> {
        let after = self.entries.partition_point(|entry| key_of(entry) <= key);
        after.checked_sub(1).map(|i| self.entries[i])
    }

    /// Fsyncs what was written since the last sync (reopening a released file for it).
    pub fn sync(&mut self) -> io::Result<()> {
        if !self.unsynced {
            return Ok(());
        }
        match &self.file {
            Some(file) => file.sync_data()?,
            None => open_for_writing(&self.path, false)?.sync_data()?,
        }
        self.unsynced = false;
        Ok(())
    }
}

impl IndexFile<OffsetEntry> {
    /// Position of the last indexed batch whose relative base offset is at most `relative`,
    /// or 0 (the segment start).
    pub fn position_floor(&self, relative: u32) -> (u32, u32) {
        self.floor_by(relative, |e| e.relative_offset)
            .map_or((0, 0), |e| (e.relative_offset, e.position))
    }

    /// Checks that entries increase strictly in both fields and stay below `segment_size`.
    pub fn is_sane(&self, segment_size: u64) -> bool {
        let ordered = self
            .entries
            .windows(2)
            .all(|w| w[0].relative_offset < w[1].relative_offset && w[0].position < w[1].position);
        ordered
            && self
                .entries
                .last()
                .is_none_or(|e| u64::from(e.position) < segment_size)
    }

    /// Drops entries at or past byte `position` of the segment.
    pub fn truncate_to_position(&mut self, position: u64) -> io::Result<()> {
        let keep = self
            .entries
            .partition_point(|e| u64::from(e.position) < position);
        self.truncate_entries(keep)
    }
}

impl IndexFile<TimeEntry> {
    /// Checks that entries never decrease.
    pub fn is_ordered(&self) -> bool {
        self.entries.windows(2).all(|w| {
            w[0].timestamp <= w[1].timestamp && w[0].relative_offset <= w[1].relative_offset
        })
    }

    /// Drops entries that point at or past `relative` offset.
    pub fn truncate_to_offset(&mut self, relative: u32) -> io::Result<()> {
        let keep = self
            .entries
            .partition_point(|e| e.relative_offset < relative);
        self.truncate_entries(keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopen_and_partial_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut index = IndexFile::<OffsetEntry>::create(&path).unwrap();
        for i in 1..=3 {
            index
                .append(OffsetEntry {
                    relative_offset: i * 10,
                    position: i * 4096,
                })
                .unwrap();
        }
        // A torn write of a fourth entry.
        let file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all_at(&[0, 0, 0], 24).unwrap();
        let reopened = IndexFile::<OffsetEntry>::open(&path).unwrap();
        assert_eq!(reopened.entries(), index.entries());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 24);
        assert_eq!(reopened.position_floor(25), (20, 8192));
        assert_eq!(reopened.position_floor(5), (0, 0));
        assert!(reopened.is_sane(12289));
        assert!(!reopened.is_sane(12288));
    }

    #[test]
    fn time_index_floor_and_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = IndexFile::<TimeEntry>::create(&dir.path().join("0.timeindex")).unwrap();
        index
            .append(TimeEntry {
                timestamp: 100,
                relative_offset: 0,
            })
            .unwrap();
        index
            .append(TimeEntry {
                timestamp: 200,
                relative_offset: 7,
            })
            .unwrap();
        assert_eq!(
            index
                .floor_by(150, |e| e.timestamp)
                .map(|e| e.relative_offset),
            Some(0)
        );
        assert!(index.floor_by(99, |e| e.timestamp).is_none());
        index.truncate_to_offset(7).unwrap();
        assert_eq!(index.len(), 1);
    }
}
