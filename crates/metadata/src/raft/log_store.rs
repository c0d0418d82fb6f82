//! The Raft log on disk: openraft's [`RaftLogStorage`] over files in the quorum directory.
//!
//! Files:
//! - `raft.log`: one checksummed frame (the `codec` module) per log entry, in index order;
//! - `vote`, `purged`, `committed`: whole-file values (the `disk` module).
//!
//! Invariants:
//! - an append, a truncation and a vote are fsynced before openraft is told they are done
//!   (the append callback, the return of `truncate` and `save_vote`);
//! - `raft.log` holds consecutive indexes; entries at or below `purged` may linger in it
//!   after a crash between the two steps of a purge (write `purged`, rewrite the file) and
//!   are dropped on open;
//! - a torn tail (a crash during an append) is cut on open: it was never acknowledged.
//!
//! Every entry after the last purge is also kept in memory, which the snapshot threshold
//! bounds. `committed` is a hint for replay after a restart and is not fsynced: losing it
//! only delays applying until a leader commits again.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, OptionalSend, RaftLogId, RaftLogReader, StorageIOError, Vote};

use super::codec;
use super::disk::{self, corrupt};
use super::types::{Entry, LogId, StorageError, TypeConfig};
use crate::error::{IoContext, MetadataError};
use crate::snapshot::{sync_dir, tmp_path};

const LOG: &str = "raft.log";
const VOTE: &str = "vote";
const PURGED: &str = "purged";
const COMMITTED: &str = "committed";

/// The Raft log store; clones share one log.
#[derive(Debug, Clone)]
pub(crate) struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    /// `raft.log`, opened for appending.
    file: File,
    /// Bytes in `raft.log`.
    len: u64,
    /// Entries after `purged`, by index, with their byte position in `raft.log`.
    entries: BTreeMap<u64, (u64, Entry)>,
    vote: Option<Vote<u64>>,
    purged: Option<LogId>,
    committed: Option<LogId>,
}

impl LogStore {
    /// Opens the log in `dir` (created empty if absent), cutting a torn tail.
    pub fn open(dir: &Path) -> Result<LogStore, MetadataError> {
        let vote = disk::read_value(dir, VOTE)?;
        let purged: Option<LogId> = disk::read_value(dir, PURGED)?;
        // Only a hint: a damaged file is as good as none.
        let committed = disk::read_value(dir, COMMITTED).unwrap_or(None);
        let path = dir.join(LOG);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).at("read", &path),
        };
        let mut entries = BTreeMap::new();
        let mut pos = 0usize;
        let mut previous: Option<u64> = None;
        while pos < bytes.len() {
            let Ok((entry, len)) = codec::decode::<Entry>(&bytes[pos..]) else {
                tracing::warn!(log = %path.display(), at = pos, "cutting a torn raft log tail");
                break;
            };
            let index = entry.log_id.index;
            if previous.is_some_and(|p| index != p + 1) {
                return Err(corrupt(
                    &path,
                    format!("entry {index} at byte {pos} does not follow {previous:?}"),
                ));
            }
            previous = Some(index);
            if purged.is_none_or(|p: LogId| index > p.index) {
                entries.insert(index, (pos as u64, entry));
            }
            pos += len;
        }
        let file = open_append(&path)?;
        if pos < bytes.len() {
            file.set_len(pos as u64).at("truncate", &path)?;
            file.sync_all().at("fsync", &path)?;
        }
        Ok(LogStore {
            inner: Arc::new(Mutex::new(Inner {
                dir: dir.to_path_buf(),
                file,
                len: pos as u64,
                entries,
                vote,
                purged,
                committed,
            })),
        })
    }

    /// Whether nothing was ever stored: no vote and no entry.
    pub fn is_pristine(&self) -> Result<bool, MetadataError> {
        let inner = self.lock().map_err(|e| MetadataError::Raft {
            reason: e.to_string(),
        })?;
        Ok(inner.vote.is_none() && inner.entries.is_empty() && inner.purged.is_none())
    }

    // The error is openraft's, the one its storage traits return.
    #[allow(clippy::result_large_err)]
    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StorageError> {
        self.inner
            .lock()
            .map_err(|_| StorageIOError::read_logs(openraft::AnyError::new(&poisoned())).into())
    }
}

fn poisoned() -> std::io::Error {
    std::io::Error::other("raft log lock poisoned by a panic")
}

fn open_append(path: &Path) -> Result<File, MetadataError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .at("open", path)
}

fn io_error(e: MetadataError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// openraft's error payload for `e`.
fn any(e: MetadataError) -> openraft::AnyError {
    openraft::AnyError::new(&e)
}

impl Inner {
    fn last_log_id(&self) -> Option<LogId> {
        self.entries
            .last_key_value()
            .map(|(_, (_, e))| *e.get_log_id())
            .or(self.purged)
    }

    fn append(&mut self, entries: Vec<Entry>) -> Result<(), MetadataError> {
        let path = self.dir.join(LOG);
        if let Some(first) = entries.first()
            && self.entries.contains_key(&first.log_id.index)
        {
            self.truncate(first.log_id.index)?;
        }
        let mut bytes = Vec::new();
        let mut positions = Vec::with_capacity(entries.len());
        for entry in &entries {
            positions.push(self.len + bytes.len() as u64);
            bytes.extend(codec::encode(entry).map_err(|e| corrupt(&path, e.to_string()))?);
        }
        self.file.write_all(&bytes).at("write", &path)?;
        self.file.sync_data().at("fsync", &path)?;
        self.len += bytes.len() as u64;
        for (entry, pos) in entries.into_iter().zip(positions) {
            self.entries.insert(entry.log_id.index, (pos, entry));
        }
        Ok(())
    }

    /// Deletes the entries from `index` on.
    fn truncate(&mut self, index: u64) -> Result<(), MetadataError> {
        let Some(&(pos, _)) = self.entries.get(&index) else {
            return Ok(());
        };
        let path = self.dir.join(LOG);
        self.file.set_len(pos).at("truncate", &path)?;
        self.file.sync_all().at("fsync", &path)?;
        self.len = pos;
        self.entries.split_off(&index);
        Ok(())
    }

    /// Deletes the entries up to `log_id`: records the purge, then rewrites the file.
    fn purge(&mut self, log_id: LogId) -> Result<(), MetadataError> {
        disk::write_value(&self.dir, PURGED, &log_id)?;
        self.purged = Some(log_id);
        self.entries = self.entries.split_off(&(log_id.index + 1));
        let path = self.dir.join(LOG);
        let tmp = tmp_path(&path);
        let mut bytes = Vec::new();
        for (pos, entry) in self.entries.values_mut() {
            *pos = bytes.len() as u64;
            bytes.extend(codec::encode(entry).map_err(|e| corrupt(&path, e.to_string()))?);
        }
        let mut file = File::create(&tmp).at("create", &tmp)?;
        file.write_all(&bytes).at("write", &tmp)?;
        file.sync_all().at("fsync", &tmp)?;
        drop(file);
        fs::rename(&tmp, &path).at("rename", &path)?;
        sync_dir(&self.dir)?;
        self.file = open_append(&path)?;
        self.len = bytes.len() as u64;
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let inner = self.lock()?;
        Ok(inner
            .entries
            .range(range)
            .map(|(_, (_, e))| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let inner = self.lock()?;
        Ok(LogState {
            last_purged_log_id: inner.purged,
            last_log_id: inner.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        let mut inner = self.lock()?;
        disk::write_value(&inner.dir, VOTE, vote)
            .map_err(|e| StorageIOError::write_vote(any(e)))?;
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        Ok(self.lock()?.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let mut inner = self.lock()?;
        inner.committed = committed;
        if let Some(committed) = committed {
            // A hint only (see the module doc): a failure is logged, not fatal.
            if let Err(e) = write_hint(&inner.dir, &committed) {
                tracing::warn!(error = %e, "could not record the committed raft index");
            }
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.lock()?.committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut inner = self.lock()?;
        match inner.append(entries.into_iter().collect()) {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "raft log append failed");
                callback.log_io_completed(Err(io_error(e)));
                Err(StorageIOError::write_logs(openraft::AnyError::error("append failed")).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut inner = self.lock()?;
        inner
            .truncate(log_id.index)
            .map_err(|e| StorageIOError::write_logs(any(e)).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut inner = self.lock()?;
        inner
            .purge(log_id)
            .map_err(|e| StorageIOError::write_logs(any(e)).into())
    }
}

/// Writes the committed hint: atomic replace without fsync.
fn write_hint(dir: &Path, committed: &LogId) -> Result<(), MetadataError> {
    let path = dir.join(COMMITTED);
    let frame = codec::encode(committed).map_err(|e| corrupt(&path, e.to_string()))?;
    let tmp = tmp_path(&path);
    fs::write(&tmp, frame).at("write", &tmp)?;
    fs::rename(&tmp, &path).at("rename", &path)
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    fn indexes(store: &LogStore) -> Vec<u64> {
        store
            .inner
            .lock()
            .unwrap()
            .entries
            .keys()
            .copied()
            .collect()
    }

    #[test]
    fn appends_truncations_and_purges_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        assert!(store.is_pristine().unwrap());
        store
            .inner
            .lock()
            .unwrap()
            .append((1..=6).map(entry).collect())
            .unwrap();
        store.inner.lock().unwrap().truncate(5).unwrap();
        // Appending over an existing index replaces the tail from there.
        store
            .inner
            .lock()
            .unwrap()
            .append(vec![entry(4), entry(5)])
            .unwrap();
        drop(store);
        let store = LogStore::open(dir.path()).unwrap();
        assert_eq!(indexes(&store), [1, 2, 3, 4, 5]);

        store.inner.lock().unwrap().purge(entry(2).log_id).unwrap();
        drop(store);
        let store = LogStore::open(dir.path()).unwrap();
        assert_eq!(indexes(&store), [3, 4, 5]);
        let inner = store.inner.lock().unwrap();
        assert_eq!(inner.purged, Some(entry(2).log_id));
        assert_eq!(inner.last_log_id(), Some(entry(5).log_id));
    }

    #[test]
    fn a_torn_tail_is_cut_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        store
            .inner
            .lock()
            .unwrap()
            .append((1..=3).map(entry).collect())
            .unwrap();
        let len = store.inner.lock().unwrap().len;
        drop(store);
        let path = dir.path().join(LOG);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len - 3).unwrap();
        drop(file);
        let store = LogStore::open(dir.path()).unwrap();
        assert_eq!(indexes(&store), [1, 2]);
        let cut = fs::metadata(&path).unwrap().len();
        assert_eq!(
            cut,
            store.inner.lock().unwrap().len,
            "the tail was cut on disk"
        );
        store.inner.lock().unwrap().append(vec![entry(3)]).unwrap();
        drop(store);
        assert_eq!(indexes(&LogStore::open(dir.path()).unwrap()), [1, 2, 3]);
    }
}
