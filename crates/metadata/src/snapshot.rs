//! Snapshot files: `snapshot-<offset, 20 digits>.json` holds the image as of a log offset,
//! as the records that rebuild it ([`MetadataImage::to_records`]).
//!
//! The file is one line of JSON, `{"version":1,"offset":N,"records":[...]}`, followed by a
//! line `crc32c <8 hex digits>` over the JSON's bytes, so an operator can read it with any
//! JSON tool and a reader can tell a whole file from a damaged one. It is written to a
//! temporary file, fsynced, renamed into place and the directory fsynced, so a snapshot file
//! is either whole or absent after a crash; one that still does not check out (bad media, a
//! hand edit) is skipped and an older snapshot or a replay of the log is used instead.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, MetadataError};
use crate::image::MetadataImage;
use crate::record::MetadataRecord;

/// File name prefix of snapshots.
const PREFIX: &str = "snapshot-";
/// File name suffix of snapshots.
const SUFFIX: &str = ".json";
/// Suffix of any file being written, removed when the directory is opened.
pub(crate) const TMP_SUFFIX: &str = ".tmp";
/// The snapshot format's version.
const VERSION: u32 = 1;

#[derive(Serialize)]
struct Body<'a> {
    version: u32,
    offset: u64,
    records: &'a [MetadataRecord],
}

#[derive(Deserialize)]
struct OwnedBody {
    version: u32,
    offset: u64,
    records: Vec<MetadataRecord>,
}

/// The path of the snapshot at `offset` in `dir`.
pub(crate) fn path(dir: &Path, offset: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{offset:020}{SUFFIX}"))
}

/// Offsets of the snapshot files in `dir`, ascending.
pub(crate) fn list(dir: &Path) -> Result<Vec<u64>, MetadataError> {
    let mut offsets = Vec::new();
    for entry in fs::read_dir(dir).at("list", dir)? {
        let entry = entry.at("list", dir)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let digits = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_suffix(SUFFIX));
        if let Some(offset) = digits
            .filter(|d| d.len() == 20)
            .and_then(|d| d.parse::<u64>().ok())
        {
            offsets.push(offset);
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

/// Writes the snapshot of `image` durably and returns its path.
pub(crate) fn write(dir: &Path, image: &MetadataImage) -> Result<PathBuf, MetadataError> {
    let records = image.to_records();
    let body = Body {
        version: VERSION,
        offset: image.offset(),
        records: &records,
    };
    let mut text = serde_json::to_vec(&body).map_err(|source| MetadataError::Encode { source })?;
    let crc = crc32c::crc32c(&text);
    text.extend_from_slice(format!("\ncrc32c {crc:08x}\n").as_bytes());

    let path = path(dir, image.offset());
    let tmp = tmp_path(&path);
    let mut file = File::create(&tmp).at("create", &tmp)?;
    file.write_all(&text).at("write", &tmp)?;
    file.sync_all().at("fsync", &tmp)?;
    drop(file);
    fs::rename(&tmp, &path).at("rename", &path)?;
    sync_dir(dir)?;
    Ok(path)
}

/// Reads the snapshot at `offset` and rebuilds its image. `Ok(Err(reason))` if the file does
/// not check out; `Err` only for I/O failures other than a missing file.
pub(crate) fn read(
    dir: &Path,
    offset: u64,
) -> Result<Result<MetadataImage, String>, MetadataError> {
    let path = path(dir, offset);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Err("file is gone".to_owned()));
        }
        Err(e) => return Err(e).at("read", &path),
    };
    Ok(decode(&bytes, offset))
}

fn decode(bytes: &[u8], offset: u64) -> Result<MetadataImage, String> {
    let bytes = bytes
        .strip_suffix(b"\n")
        .ok_or("file does not end with a newline")?;
    let split = bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .ok_or("checksum line is missing")?;
    let (json, crc_line) = (&bytes[..split], &bytes[split + 1..]);
    let crc = std::str::from_utf8(crc_line)
        .ok()
        .and_then(|line| line.strip_prefix("crc32c "))
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .ok_or("checksum line does not parse")?;
    if crc32c::crc32c(json) != crc {
        return Err("checksum mismatch".to_owned());
    }
    let body: OwnedBody =
        serde_json::from_slice(json).map_err(|e| format!("body does not parse: {e}"))?;
    if body.version != VERSION {
        return Err(format!("unknown snapshot version {}", body.version));
    }
    if body.offset != offset {
        return Err(format!(
            "body is for offset {}, not the file name's",
            body.offset
        ));
    }
    let mut image = MetadataImage::new();
    for (index, record) in body.records.iter().enumerate() {
        image
            .apply(record)
            .map_err(|e| format!("record {index} does not apply: {e}"))?;
    }
    image.set_offset(offset);
    Ok(image)
}

/// Deletes the snapshot at `offset`, durably; a missing file is fine.
pub(crate) fn remove(dir: &Path, offset: u64) -> Result<(), MetadataError> {
    let path = path(dir, offset);
    match fs::remove_file(&path) {
        Ok(()) => sync_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).at("delete", &path),
    }
}

/// `path` with the temporary-file suffix.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(TMP_SUFFIX);
    PathBuf::from(name)
}

/// Fsyncs a directory so that file creations, renames and deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), MetadataError> {
    File::open(dir).and_then(|d| d.sync_all()).at("fsync", dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ConfigResource;
    use uuid::Uuid;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut image = MetadataImage::new();
        let id = Uuid::new_v4();
        for r in MetadataRecord::topic_with_partitions("a", id, 2, 1) {
            image.apply(&r).unwrap();
        }
        image
            .apply(&MetadataRecord::Config {
                resource: ConfigResource::Topic("a".into()),
                name: "cleanup.policy".into(),
                value: Some("compact".into()),
            })
            .unwrap();
        image.set_offset(42);
        let file = write(dir.path(), &image).unwrap();
        assert_eq!(list(dir.path()).unwrap(), vec![42]);
        assert_eq!(read(dir.path(), 42).unwrap().unwrap(), image);

        let text = fs::read(&file).unwrap();
        let mut damaged = text.clone();
        damaged[20] ^= 1;
        fs::write(&file, &damaged).unwrap();
        assert!(read(dir.path(), 42).unwrap().is_err());
        fs::write(&file, &text[..text.len() - 3]).unwrap();
        assert!(read(dir.path(), 42).unwrap().is_err());
        // Renamed to another offset: the body disagrees with the name.
        fs::write(path(dir.path(), 7), &text).unwrap();
        assert!(read(dir.path(), 7).unwrap().unwrap_err().contains("offset"));
        assert!(read(dir.path(), 8).unwrap().is_err());
        remove(dir.path(), 42).unwrap();
        remove(dir.path(), 42).unwrap();
        assert_eq!(list(dir.path()).unwrap(), vec![7]);
    }
}
