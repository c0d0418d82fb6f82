//! Small durable files beside a log: offset checkpoints and the clean-shutdown marker.
//!
//! A checkpoint holds one offset as text with a CRC32C, is written to a temporary file,
//! fsynced, renamed over the old one and the directory fsynced, so a reader sees either the
//! old value or the new one. A checkpoint that is missing or does not check out reads as
//! absent, which only costs a longer recovery scan, never data.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::{IoContext, Result};

/// Offset below which every batch is known to be on disk (fsynced).
pub(crate) const RECOVERY_POINT: &str = "recovery-point.checkpoint";
/// The log start offset raised by DeleteRecords or retention.
pub(crate) const LOG_START_OFFSET: &str = "log-start-offset.checkpoint";
/// Present only while a log is closed after a clean shutdown.
pub(crate) const CLEAN_SHUTDOWN: &str = ".clean-shutdown";
/// Suffix of a checkpoint being written.
pub(crate) const TMP_SUFFIX: &str = "tmp";

/// Writes `offset` to `dir/name` atomically and durably.
pub(crate) fn write_offset(dir: &Path, name: &str, offset: i64) -> Result<()> {
    let text = format!("{offset}");
    let body = format!("v1 {text} {:08x}\n", crc32c::crc32c(text.as_bytes()));
    let tmp = dir.join(format!("{name}.{TMP_SUFFIX}"));
    let mut file = File::create(&tmp).at("create", &tmp)?;
    file.write_all(body.as_bytes()).at("write", &tmp)?;
    file.sync_all().at("fsync", &tmp)?;
    let path = dir.join(name);
    fs::rename(&tmp, &path).at("rename", &path)?;
    sync_dir(dir)
}

/// Reads `dir/name`; `None` if it is missing or damaged.
pub(crate) fn read_offset(dir: &Path, name: &str) -> Result<Option<i64>> {
    let path = dir.join(name);
    let body = match fs::read_to_string(&path) {
        Ok(body) => body,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Ok(None),
        Err(e) => return Err(e).at("read", &path),
    };
    let parsed = parse(&body);
    if parsed.is_none() {
        tracing::warn!(path = %path.display(), "ignoring a damaged checkpoint");
    }
    Ok(parsed)
}

fn parse(body: &str) -> Option<i64> {
    let mut parts = body.trim_end().split(' ');
    let (version, text, crc) = (parts.next()?, parts.next()?, parts.next()?);
    if version != "v1" || parts.next().is_some() {
        return None;
    }
    let crc = u32::from_str_radix(crc, 16).ok()?;
    (crc32c::crc32c(text.as_bytes()) == crc).then(|| text.parse().ok())?
}

/// Creates an empty marker file durably.
pub(crate) fn write_marker(dir: &Path, name: &str) -> Result<()> {
    let path = dir.join(name);
    File::create(&path)
        .and_then(|f| f.sync_all())
        .at("create", &path)?;
    sync_dir(dir)
}

/// Removes a marker file, durably; true if it was there.
pub(crate) fn take_marker(dir: &Path, name: &str) -> Result<bool> {
    let path = dir.join(name);
    match fs::remove_file(&path) {
        Ok(()) => {
            sync_dir(dir)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).at("delete", &path),
    }
}

/// Fsyncs a directory so that file creations, renames and deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at("fsync", dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_offset(dir.path(), RECOVERY_POINT).unwrap(), None);
        write_offset(dir.path(), RECOVERY_POINT, 1234).unwrap();
        assert_eq!(read_offset(dir.path(), RECOVERY_POINT).unwrap(), Some(1234));
        write_offset(dir.path(), RECOVERY_POINT, -1).unwrap();
        assert_eq!(read_offset(dir.path(), RECOVERY_POINT).unwrap(), Some(-1));
        let path = dir.path().join(RECOVERY_POINT);
        let damaged = fs::read_to_string(&path).unwrap().replace("-1", "-7");
        fs::write(&path, damaged).unwrap();
        assert_eq!(read_offset(dir.path(), RECOVERY_POINT).unwrap(), None);
        fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(read_offset(dir.path(), RECOVERY_POINT).unwrap(), None);
    }

    #[test]
    fn markers() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!take_marker(dir.path(), CLEAN_SHUTDOWN).unwrap());
        write_marker(dir.path(), CLEAN_SHUTDOWN).unwrap();
        assert!(take_marker(dir.path(), CLEAN_SHUTDOWN).unwrap());
        assert!(!take_marker(dir.path(), CLEAN_SHUTDOWN).unwrap());
    }
}
