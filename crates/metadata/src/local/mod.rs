//! [`LocalMetadataLog`]: the metadata log of a single node, kept in one directory.
//!
//! The directory holds:
//! - `metadata.log`: one frame per committed batch (see the `frame` module), appended and
//!   fsynced before a commit returns;
//! - `snapshot-<offset>.json`: the image as of an offset (see the `snapshot` module), taken
//!   every [`MetadataConfig::snapshot_every_records`] records and on a clean close;
//! - `.lock`: held with an exclusive file lock while the log is open, so that two processes
//!   never write the same directory.
//!
//! Invariants:
//! - the image published is the one the durable log and snapshots rebuild: a batch is
//!   published only after its frame is fsynced, and a refused batch writes nothing;
//! - the newest two snapshots are kept, and `metadata.log` keeps every frame after the older
//!   of them, so that if the newest snapshot is damaged the older one plus the log still
//!   rebuilds the image (and with a single snapshot, the log holds everything from offset 1);
//! - after a write or fsync fails, the log is fenced: what reached the disk is unknown, so
//!   it refuses commits until it is reopened, which recovers from what is there.
//!
//! Commits are serialized by one mutex, held across the append and fsync; readers take the
//! published image from another mutex, so they never wait for a disk. The commit that
//! crosses the snapshot threshold also writes the snapshot (and rewrites the log) before it
//! returns, which costs that one commit time proportional to the image; its failure is
//! logged and retried after the next commit, never reported as a failed commit, since the
//! batch itself is already durable.

mod open;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub(crate) use open::lock_dir;
pub use open::{OpenReport, SkippedSnapshot};

use crate::config::MetadataConfig;
use crate::error::{CommitError, IoContext, MetadataError};
use crate::frame;
use crate::image::MetadataImage;
use crate::log::MetadataLog;
use crate::record::MetadataRecord;
use crate::snapshot;

/// The log file's name in the metadata directory.
pub const LOG_FILE: &str = "metadata.log";
/// The lock file's name in the metadata directory.
pub const LOCK_FILE: &str = ".lock";
/// Snapshots kept on disk.
const SNAPSHOTS_KEPT: usize = 2;

/// The metadata log of a single node: a [`MetadataLog`] on local disk.
#[derive(Debug)]
pub struct LocalMetadataLog {
    dir: PathBuf,
    config: MetadataConfig,
    state: Mutex<State>,
    published: Mutex<Arc<MetadataImage>>,
    changed: Condvar,
    report: OpenReport,
    /// Holds the directory lock for as long as the log lives.
    _lock: File,
}

/// What commits change; guarded by `LocalMetadataLog::state`.
#[derive(Debug)]
struct State {
    /// `metadata.log`, opened for appending.
    file: File,
    /// Bytes in `metadata.log`.
    len: u64,
    /// Offset and byte position of every frame in `metadata.log`, in order.
    frames: Vec<(u64, u64)>,
    /// The image as of the last committed batch.
    image: Arc<MetadataImage>,
    /// Offsets of the snapshots on disk, ascending.
    snapshots: Vec<u64>,
    /// Records committed after the newest snapshot.
    records_since_snapshot: u64,
    status: Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Open,
    Closed,
    Fenced,
}

impl LocalMetadataLog {
    /// The metadata directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What opening the log found and did.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// Takes a snapshot of the current image now, unless the newest snapshot already is of
    /// it, and drops the log frames that snapshots make redundant.
    pub fn snapshot(&self) -> Result<(), MetadataError> {
        let mut state = self.lock_state()?;
        state.check_open(&self.dir)?;
        self.snapshot_locked(&mut state)
    }

    fn lock_state(&self) -> Result<MutexGuard<'_, State>, MetadataError> {
        // A panic while committing leaves the file in an unknown state: treat it as fenced.
        self.state.lock().map_err(|_| MetadataError::Fenced {
            path: self.dir.clone(),
        })
    }

    fn publish(&self, image: Arc<MetadataImage>) {
        // The guarded value is a single `Arc`, always whole, so a poisoned lock is harmless.
        *self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = image;
        self.changed.notify_all();
    }

    fn snapshot_locked(&self, state: &mut State) -> Result<(), MetadataError> {
        let offset = state.image.offset();
        if state.snapshots.last() == Some(&offset) {
            state.records_since_snapshot = 0;
            return Ok(());
        }
        let path = snapshot::write(&self.dir, &state.image)?;
        tracing::debug!(path = %path.display(), offset, "wrote a metadata snapshot");
        state.snapshots.push(offset);
        state.records_since_snapshot = 0;
        while state.snapshots.len() > SNAPSHOTS_KEPT {
            let oldest = state.snapshots.remove(0);
            snapshot::remove(&self.dir, oldest)?;
        }
        if state.snapshots.len() == SNAPSHOTS_KEPT {
            self.drop_frames_through(state, state.snapshots[0])?;
        }
        Ok(())
    }

    /// Rewrites `metadata.log` without the frames at or below `cutoff`: the kept frames go
    /// to a new file beside it, which is fsynced and renamed over the old one.
    fn drop_frames_through(&self, state: &mut State, cutoff: u64) -> Result<(), MetadataError> {
        let keep_from = state
            .frames
            .iter()
            .find(|&&(offset, _)| offset > cutoff)
            .map_or(state.len, |&(_, position)| position);
        if keep_from == 0 {
            return Ok(());
        }
        let path = self.dir.join(LOG_FILE);
        let tmp = snapshot::tmp_path(&path);
        let bytes = fs::read(&path).at("read", &path)?;
        let start = usize::try_from(keep_from).unwrap_or(usize::MAX);
        let end = usize::try_from(state.len).unwrap_or(usize::MAX);
        let kept = bytes
            .get(start..end)
            .ok_or_else(|| MetadataError::Corrupt {
                path: path.clone(),
                reason: format!("file holds {} bytes, {} expected", bytes.len(), state.len),
            })?;
        let mut file = File::create(&tmp).at("create", &tmp)?;
        file.write_all(kept).at("write", &tmp)?;
        file.sync_all().at("fsync", &tmp)?;
        drop(file);
        fs::rename(&tmp, &path).at("rename", &path)?;
        // From here on the handle in `state` is of the old, unlinked file.
        let reopened = snapshot::sync_dir(&self.dir).and_then(|()| open_for_append(&path));
        match reopened {
            Ok(file) => state.file = file,
            Err(e) => {
                state.status = Status::Fenced;
                return Err(e);
            }
        }
        state.len -= keep_from;
        state.frames.retain(|&(offset, _)| offset > cutoff);
        for frame in &mut state.frames {
            frame.1 -= keep_from;
        }
        tracing::debug!(
            cutoff,
            bytes_dropped = keep_from,
            "rewrote the metadata log"
        );
        Ok(())
    }
}

impl State {
    fn check_open(&self, dir: &Path) -> Result<(), MetadataError> {
        match self.status {
            Status::Open => Ok(()),
            Status::Closed => Err(MetadataError::Closed {
                path: dir.to_path_buf(),
            }),
            Status::Fenced => Err(MetadataError::Fenced {
                path: dir.to_path_buf(),
            }),
        }
    }

    /// Appends one frame and fsyncs it; fences the log if that fails.
    fn append(&mut self, dir: &Path, offset: u64, frame: &[u8]) -> Result<(), MetadataError> {
        let path = dir.join(LOG_FILE);
        let written = self
            .file
            .write_all(frame)
            .at("write", &path)
            .and_then(|()| self.file.sync_data().at("fsync", &path));
        if let Err(e) = written {
            tracing::error!(log = %path.display(), offset, error = %e, "metadata log write failed; fencing the log");
            self.status = Status::Fenced;
            return Err(e);
        }
        self.frames.push((offset, self.len));
        self.len += frame.len() as u64;
        Ok(())
    }
}

impl MetadataLog for LocalMetadataLog {
    fn commit(&self, records: Vec<MetadataRecord>) -> Result<u64, CommitError> {
        if records.is_empty() {
            return Err(CommitError::Empty);
        }
        let mut state = self.lock_state()?;
        state.check_open(&self.dir)?;
        let offset = state.image.offset() + 1;
        let next = Arc::new(state.image.apply_batch(offset, &records)?);
        let frame = frame::encode(offset, &records)?;
        state.append(&self.dir, offset, &frame)?;
        state.image = Arc::clone(&next);
        state.records_since_snapshot += records.len() as u64;
        self.publish(next);
        if state.records_since_snapshot >= self.config.snapshot_every_records
            && let Err(e) = self.snapshot_locked(&mut state)
        {
            // The batch is durable and published; the snapshot is retried after the next
            // commit, and until then recovery only replays more of the log.
            tracing::warn!(dir = %self.dir.display(), offset, error = %e, "metadata snapshot failed");
        }
        Ok(offset)
    }

    fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(
            &self
                .published
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn last_offset(&self) -> u64 {
        self.image().offset()
    }

    fn wait_for_offset(&self, offset: u64, timeout: Duration) -> Option<Arc<MetadataImage>> {
        let deadline = Instant::now().checked_add(timeout);
        let mut image = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if image.offset() >= offset {
                return Some(Arc::clone(&image));
            }
            image = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.changed
                        .wait_timeout(image, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(image)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }

    fn close(&self) -> Result<(), MetadataError> {
        let mut state = self.lock_state()?;
        match state.status {
            Status::Closed => return Ok(()),
            Status::Fenced => return state.check_open(&self.dir),
            Status::Open => {}
        }
        if state.records_since_snapshot > 0 {
            self.snapshot_locked(&mut state)?;
        }
        state.status = Status::Closed;
        Ok(())
    }
}

/// Opens (creating if needed) `path` for appending.
fn open_for_append(path: &Path) -> Result<File, MetadataError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .at("open", path)
}
