//! Opening a metadata directory, and recovery after a crash.
//!
//! Recovery takes the newest snapshot that checks out and that the log continues (its first
//! frame is at most one past the snapshot), replays the log frames after it, and cuts the
//! log after its last whole frame. A torn or corrupt tail is what a crash during an append
//! leaves, so it is cut with a warning: it was never acknowledged. Anything else that does
//! not check out (a whole frame that does not apply, offsets out of order, a log that starts
//! after every usable snapshot) is acknowledged data gone wrong, which only an operator can
//! decide about, so opening fails with [`MetadataError::Corrupt`].

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use super::{LOCK_FILE, LOG_FILE, LocalMetadataLog, State, Status, open_for_append};
use crate::config::MetadataConfig;
use crate::error::{IoContext, MetadataError};
use crate::frame::{self, Scan};
use crate::image::MetadataImage;
use crate::snapshot;

/// What opening a metadata log found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The offset of the snapshot the image was loaded from, if any.
    pub snapshot_offset: Option<u64>,
    /// Newer snapshots that were not usable, and were deleted.
    pub skipped_snapshots: Vec<SkippedSnapshot>,
    /// Log frames (batches) replayed after the snapshot.
    pub batches_replayed: usize,
    /// Records in those frames.
    pub records_replayed: u64,
    /// Bytes cut from the tail of `metadata.log` because they were torn or corrupt.
    pub truncated_bytes: u64,
    /// Why the cut was made.
    pub truncation_reason: Option<String>,
    /// The offset of the last committed batch after recovery.
    pub last_offset: u64,
}

/// A snapshot that recovery could not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedSnapshot {
    /// The snapshot's offset.
    pub offset: u64,
    /// Why it was not used.
    pub reason: String,
}

impl LocalMetadataLog {
    /// Opens the metadata log in `dir`, creating the directory and an empty log if needed,
    /// and recovers it. Fails with [`MetadataError::Locked`] if another process (or another
    /// open log in this one) holds the directory.
    pub fn open(dir: &Path, config: MetadataConfig) -> Result<LocalMetadataLog, MetadataError> {
        config.validate()?;
        fs::create_dir_all(dir).at("create", dir)?;
        let lock = lock_dir(dir)?;
        remove_leftovers(dir)?;

        let log_path = dir.join(LOG_FILE);
        let bytes = match fs::read(&log_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).at("read", &log_path),
        };
        let scan = frame::scan(&bytes);
        let mut report = OpenReport::default();
        let (mut image, mut snapshots) = load_snapshot(dir, &log_path, &scan, &mut report)?;
        report.snapshot_offset = snapshots.last().copied();
        replay(&log_path, &scan, &mut image, &mut report)?;
        snapshots.retain(|&offset| offset <= image.offset());
        report.last_offset = image.offset();

        if scan.valid_len < bytes.len() as u64 {
            report.truncated_bytes = bytes.len() as u64 - scan.valid_len;
            report.truncation_reason = scan.problem.clone();
            tracing::warn!(
                log = %log_path.display(),
                truncated_bytes = report.truncated_bytes,
                reason = report.truncation_reason.as_deref().unwrap_or(""),
                "metadata log recovery cut a torn or corrupt tail"
            );
            let file = OpenOptions::new()
                .write(true)
                .open(&log_path)
                .at("open", &log_path)?;
            file.set_len(scan.valid_len).at("truncate", &log_path)?;
            file.sync_all().at("fsync", &log_path)?;
        }
        let file = open_for_append(&log_path)?;
        snapshot::sync_dir(dir)?;

        let image = Arc::new(image);
        let state = State {
            file,
            len: scan.valid_len,
            frames: scan.frames.iter().map(|f| (f.offset, f.position)).collect(),
            image: Arc::clone(&image),
            snapshots,
            records_since_snapshot: report.records_replayed,
            status: Status::Open,
        };
        Ok(LocalMetadataLog {
            dir: dir.to_path_buf(),
            config,
            state: Mutex::new(state),
            published: Mutex::new(image),
            changed: Condvar::new(),
            report,
            _lock: lock,
        })
    }
}

/// Loads the newest usable snapshot, deleting newer unusable ones; returns its image (the
/// empty image if there is none) and the offsets of the snapshots still on disk.
fn load_snapshot(
    dir: &Path,
    log_path: &Path,
    scan: &Scan,
    report: &mut OpenReport,
) -> Result<(MetadataImage, Vec<u64>), MetadataError> {
    let first_frame = scan.frames.first().map(|f| f.offset);
    let mut snapshots = snapshot::list(dir)?;
    let mut base = None;
    while let Some(&offset) = snapshots.last() {
        let reason = match snapshot::read(dir, offset)? {
            Ok(image) => match first_frame {
                Some(first) if first > offset + 1 => {
                    format!("the log starts at offset {first}, after the snapshot")
                }
                _ => {
                    base = Some(image);
                    break;
                }
            },
            Err(reason) => reason,
        };
        tracing::warn!(
            path = %snapshot::path(dir, offset).display(),
            reason,
            "skipping an unusable metadata snapshot"
        );
        report
            .skipped_snapshots
            .push(SkippedSnapshot { offset, reason });
        snapshots.pop();
    }
    let image = match base {
        Some(image) => image,
        None => {
            if let Some(first) = first_frame.filter(|&first| first > 1) {
                return Err(MetadataError::Corrupt {
                    path: log_path.to_path_buf(),
                    reason: format!("no snapshot checks out and the log starts at offset {first}"),
                });
            }
            MetadataImage::new()
        }
    };
    // The image is rebuilt without the unusable snapshots, which are all newer than it: the
    // log covers them, and leaving them would only have every later open skip them again.
    for skipped in &report.skipped_snapshots {
        snapshot::remove(dir, skipped.offset)?;
    }
    Ok((image, snapshots))
}

/// Applies the frames after the image's offset.
fn replay(
    log_path: &Path,
    scan: &Scan,
    image: &mut MetadataImage,
    report: &mut OpenReport,
) -> Result<(), MetadataError> {
    let corrupt = |reason: String| MetadataError::Corrupt {
        path: log_path.to_path_buf(),
        reason,
    };
    let mut previous: Option<u64> = None;
    for frame in &scan.frames {
        if previous.is_some_and(|p| frame.offset <= p) {
            return Err(corrupt(format!(
                "frame for offset {} at byte {} follows offset {}",
                frame.offset,
                frame.position,
                previous.unwrap_or(0)
            )));
        }
        previous = Some(frame.offset);
        if frame.offset <= image.offset() {
            continue;
        }
        if frame.offset != image.offset() + 1 {
            return Err(corrupt(format!(
                "frame for offset {} at byte {} follows offset {}",
                frame.offset,
                frame.position,
                image.offset()
            )));
        }
        for (index, record) in frame.records.iter().enumerate() {
            image.apply(record).map_err(|e| {
                corrupt(format!(
                    "record {index} of the batch at offset {} does not apply: {e}",
                    frame.offset
                ))
            })?;
        }
        image.set_offset(frame.offset);
        report.batches_replayed += 1;
        report.records_replayed += frame.records.len() as u64;
    }
    Ok(())
}

/// Takes the directory's exclusive lock, held until the returned file is dropped (the local
/// log's and the quorum's directories alike).
pub(crate) fn lock_dir(dir: &Path) -> Result<File, MetadataError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .at("open", &path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(MetadataError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(e).at("lock", &path),
    }
}

/// Removes temporary files that an interrupted snapshot or log rewrite left.
fn remove_leftovers(dir: &Path) -> Result<(), MetadataError> {
    for entry in fs::read_dir(dir).at("list", dir)? {
        let entry = entry.at("list", dir)?;
        let path: PathBuf = entry.path();
        let is_tmp = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(snapshot::TMP_SUFFIX));
        if is_tmp {
            fs::remove_file(&path).at("delete", &path)?;
        }
    }
    Ok(())
}
