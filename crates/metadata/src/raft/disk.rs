//! Small durable files of the quorum directory: the directory lock, and whole-file values
//! (vote, last purged id, committed id, snapshot) written as one checksummed frame.
//!
//! Invariant: [`write_value`] replaces a file atomically (temporary file, fsync, rename,
//! directory fsync), so after a crash a value file holds the old value or the new one,
//! never a mix; [`read_value`] refuses a file that does not check out rather than guess.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::codec;
use crate::error::{IoContext, MetadataError};
use crate::snapshot::{sync_dir, tmp_path};

/// Replaces `dir/name` with `value`, durably.
pub(crate) fn write_value<T: Serialize>(
    dir: &Path,
    name: &str,
    value: &T,
) -> Result<(), MetadataError> {
    let path = dir.join(name);
    let frame = codec::encode(value).map_err(|e| corrupt(&path, e.to_string()))?;
    let tmp = tmp_path(&path);
    let mut file = File::create(&tmp).at("create", &tmp)?;
    file.write_all(&frame).at("write", &tmp)?;
    file.sync_all().at("fsync", &tmp)?;
    drop(file);
    fs::rename(&tmp, &path).at("rename", &path)?;
    sync_dir(dir)
}

/// Reads the value in `dir/name`; `None` if there is no such file.
pub(crate) fn read_value<T: DeserializeOwned>(
    dir: &Path,
    name: &str,
) -> Result<Option<T>, MetadataError> {
    let path = dir.join(name);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).at("read", &path),
    };
    match codec::decode(&bytes) {
        Ok((value, len)) if len == bytes.len() => Ok(Some(value)),
        Ok(_) => Err(corrupt(&path, "trailing bytes after the frame".to_owned())),
        Err(e) => Err(corrupt(&path, e.to_string())),
    }
}

/// Removes temporary files an interrupted write left behind.
pub(crate) fn remove_leftovers(dir: &Path) -> Result<(), MetadataError> {
    for entry in fs::read_dir(dir).at("list", dir)? {
        let path: PathBuf = entry.at("list", dir)?.path();
        let is_tmp = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(crate::snapshot::TMP_SUFFIX));
        if is_tmp {
            fs::remove_file(&path).at("delete", &path)?;
        }
    }
    Ok(())
}

/// A [`MetadataError::Corrupt`] for `path`.
pub(crate) fn corrupt(path: &Path, reason: String) -> MetadataError {
    MetadataError::Corrupt {
        path: path.to_path_buf(),
        reason,
    }
}
