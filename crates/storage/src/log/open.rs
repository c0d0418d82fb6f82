//! Opening a partition log, and recovery after a crash.
//!
//! After a clean shutdown (the marker is present) every segment is trusted and only its
//! index is sanity-checked. Otherwise segments wholly below the recovery point are trusted
//! the same way, and the rest are read batch by batch with CRC checks from the recovery
//! point on; the first batch that is torn or does not check out ends the log there, and any
//! later segments are deleted, since what follows a hole cannot be served in order.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::compact::SCRATCH_PREFIX;
use super::{FlushState, LogState, PartitionLog, producers};
use crate::checkpoint::{self, CLEAN_SHUTDOWN, LOG_START_OFFSET, RECOVERY_POINT, TMP_SUFFIX};
use crate::config::LogConfig;
use crate::error::{IoContext, Result, StorageError};
use crate::segment::{INDEX_SUFFIX, LOG_SUFFIX, Segment, TIME_INDEX_SUFFIX, segment_path};

/// Suffixes of files left by an interrupted compaction or segment deletion.
const LEFTOVER_SUFFIXES: &[&str] = &[TMP_SUFFIX, "cleaned", "swap", "deleted"];

/// What opening a log found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The log had been closed cleanly.
    pub clean_shutdown: bool,
    /// Segments read batch by batch with CRC checks.
    pub segments_scanned: usize,
    /// Bytes cut from the tail because they were torn or corrupt.
    pub truncated_bytes: u64,
    /// Segments deleted because they followed a cut.
    pub segments_dropped: usize,
    /// Why the cut was made.
    pub reason: Option<String>,
}

impl PartitionLog {
    /// Opens the log in `dir`, creating it empty (starting at offset 0) if it does not exist,
    /// and recovers it if it was not closed cleanly.
    pub fn open(dir: &Path, config: LogConfig) -> Result<PartitionLog> {
        config.validate()?;
        fs::create_dir_all(dir).at("create", dir)?;
        let base_offsets = list_segments(dir)?;
        let clean = dir.join(CLEAN_SHUTDOWN).exists();
        let recovery_point = if clean {
            i64::MAX
        } else {
            checkpoint::read_offset(dir, RECOVERY_POINT)?.unwrap_or(i64::MIN)
        };
        let checkpointed_start = checkpoint::read_offset(dir, LOG_START_OFFSET)?;

        let mut report = RecoveryReport {
            clean_shutdown: clean,
            ..RecoveryReport::default()
        };
        let segments = load_segments(dir, &base_offsets, recovery_point, &config, &mut report)?;
        let mut segments = segments;
        if segments.is_empty() {
            let start = checkpointed_start.unwrap_or(0).max(0);
            segments.insert(
                start,
                Segment::create(dir, start, config.index_interval_bytes)?,
            );
        }
        let first_base = segments.keys().next().copied().unwrap_or(0);
        let mut state = LogState {
            config: Arc::new(config),
            segments,
            log_start_offset: checkpointed_start.unwrap_or(first_base).max(first_base),
            unsynced: Vec::new(),
            dir_dirty: true,
            unsynced_bytes: 0,
            producers: Default::default(),
            producers_snapshotted: None,
            closed: false,
        };
        let end = state.log_end_offset();
        state.log_start_offset = state.log_start_offset.min(end);
        let interval = state.config.index_interval_bytes;
        state.active_mut().set_index_interval(interval);
        (state.producers, state.producers_snapshotted) = producers::rebuild(dir, &state)?;

        // What recovery kept is now made durable, so the recovery point can move to the end.
        for segment in state.segments.values() {
            if !clean && segment.next_offset() > recovery_point {
                segment.sync()?;
            }
        }
        checkpoint::sync_dir(dir)?;
        checkpoint::write_offset(dir, RECOVERY_POINT, end)?;
        checkpoint::take_marker(dir, CLEAN_SHUTDOWN)?;
        if report.truncated_bytes > 0 || report.segments_dropped > 0 {
            tracing::warn!(
                log = %dir.display(),
                truncated_bytes = report.truncated_bytes,
                segments_dropped = report.segments_dropped,
                reason = report.reason.as_deref().unwrap_or(""),
                "recovery cut a torn or corrupt tail"
            );
        }
        let device = fs::metadata(dir).at("stat", dir)?.dev();
        let log = PartitionLog {
            dir: dir.to_path_buf(),
            device,
            log_end_offset: AtomicI64::new(end),
            log_start_offset: AtomicI64::new(state.log_start_offset),
            durable_offset: AtomicI64::new(end),
            state: Mutex::new(state),
            flush: Mutex::new(FlushState { checkpointed: end }),
            last_sync: Mutex::new(Instant::now()),
            recovery: report,
        };
        Ok(log)
    }
}

/// Base offsets of the segment files in `dir`, sorted; removes leftovers of interrupted
/// operations and index files whose segment is gone.
fn list_segments(dir: &Path) -> Result<Vec<i64>> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir).at("list", dir)? {
        let entry = entry.at("list", dir)?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with(SCRATCH_PREFIX) {
            fs::remove_dir_all(&path).at("delete", &path)?;
            continue;
        }
        let Some((stem, suffix)) = name.rsplit_once('.') else {
            continue;
        };
        if LEFTOVER_SUFFIXES.contains(&suffix) {
            fs::remove_file(&path).at("delete", &path)?;
            continue;
        }
        let Ok(base) = stem.parse::<i64>() else {
            continue;
        };
        match suffix {
            LOG_SUFFIX if base >= 0 => logs.push(base),
            INDEX_SUFFIX | TIME_INDEX_SUFFIX => indexes.push((base, path)),
            _ => {}
        }
    }
    logs.sort_unstable();
    for (base, path) in indexes {
        if logs.binary_search(&base).is_err() {
            fs::remove_file(&path).at("delete", &path)?;
        }
    }
    Ok(logs)
}

fn load_segments(
    dir: &Path,
    base_offsets: &[i64],
    recovery_point: i64,
    config: &LogConfig,
    report: &mut RecoveryReport,
) -> Result<BTreeMap<i64, Segment>> {
    let interval = config.index_interval_bytes;
    let mut segments: BTreeMap<i64, Segment> = BTreeMap::new();
    let mut previous_end: Option<i64> = None;
    for (i, &base) in base_offsets.iter().enumerate() {
        let next_base = base_offsets.get(i + 1).copied().unwrap_or(i64::MAX);
        let trusted = next_base <= recovery_point;
        // A trusted segment that does not check out is an error, not something to cut:
        // its data was acknowledged and synced, and only an operator can decide to drop it.
        let (segment, cut) = if trusted {
            (Segment::open_trusted(dir, base, interval)?, false)
        } else {
            recover(dir, base, recovery_point.max(base), interval, report)?
        };
        if let Some(end) = previous_end
            && base < end
        {
            return Err(StorageError::Corrupt {
                path: segment_path(dir, base, LOG_SUFFIX),
                position: 0,
                reason: format!(
                    "segment starts at offset {base}, inside the previous segment that ends at {end}"
                ),
            });
        }
        previous_end = Some(segment.next_offset());
        if let Some(mut last) = segments.last_entry() {
            // Only the last segment is written: the earlier ones need no index handles.
            last.get_mut().release_index_files();
        }
        segments.insert(base, segment);
        if cut {
            drop_later_segments(dir, &base_offsets[i + 1..], report)?;
            break;
        }
    }
    Ok(segments)
}

/// Recovers one segment; returns it and whether its tail was cut.
fn recover(
    dir: &Path,
    base: i64,
    from_offset: i64,
    interval: u64,
    report: &mut RecoveryReport,
) -> Result<(Segment, bool)> {
    let (segment, check) = Segment::open_and_recover(dir, base, from_offset, interval)?;
    report.segments_scanned += 1;
    let cut = check.truncated_bytes > 0;
    if cut {
        report.truncated_bytes += check.truncated_bytes;
        report.reason = check.reason;
    }
    Ok((segment, cut))
}

fn drop_later_segments(dir: &Path, bases: &[i64], report: &mut RecoveryReport) -> Result<()> {
    for &base in bases {
        for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            let path = segment_path(dir, base, suffix);
            if let Err(e) = fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(e).at("delete", &path);
            }
        }
        report.segments_dropped += 1;
    }
    Ok(())
}
