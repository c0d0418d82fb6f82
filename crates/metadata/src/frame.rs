//! The frame format of `metadata.log`: one frame per committed batch,
//! `[u32 length][u32 crc32c of payload][payload]`, both integers big-endian, where the
//! payload is the JSON of `(offset, [records])`.
//!
//! A frame is whole or it is not there: scanning stops at the first frame that is cut short,
//! claims an impossible length, fails its checksum or does not parse, and reports where the
//! good part of the file ends so that recovery can cut the rest.

use serde::Deserialize;

use crate::error::{CommitError, MetadataError};
use crate::record::MetadataRecord;

/// Bytes before a frame's payload: the length and the checksum.
pub(crate) const HEADER_LEN: usize = 8;
/// The largest payload a frame may carry; a length field above it means damage.
pub const MAX_FRAME_BYTES: usize = 64 << 20;

/// Encodes the batch at `offset` as one frame.
pub(crate) fn encode(offset: u64, records: &[MetadataRecord]) -> Result<Vec<u8>, CommitError> {
    let payload = serde_json::to_vec(&(offset, records))
        .map_err(|source| MetadataError::Encode { source })?;
    if payload.len() > MAX_FRAME_BYTES {
        return Err(CommitError::TooLarge {
            bytes: payload.len(),
            max: MAX_FRAME_BYTES,
        });
    }
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    // The length fits: it was checked against MAX_FRAME_BYTES above.
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// One whole frame found by [`scan`].
#[derive(Debug)]
pub(crate) struct Frame {
    /// Byte position of the frame in the file.
    pub position: u64,
    /// The batch's offset.
    pub offset: u64,
    /// The batch.
    pub records: Vec<MetadataRecord>,
}

/// What [`scan`] found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// The whole frames, in file order.
    pub frames: Vec<Frame>,
    /// Length of the good prefix of the file: the end of the last whole frame.
    pub valid_len: u64,
    /// Why scanning stopped before the end of the file, if it did.
    pub problem: Option<String>,
}

/// Reads the frames of a log file's bytes, up to the first that is not whole.
pub(crate) fn scan(bytes: &[u8]) -> Scan {
    let mut scan = Scan::default();
    let mut pos = 0usize;
    while pos < bytes.len() {
        match read_frame(&bytes[pos..]) {
            Ok((offset, records, len)) => {
                scan.frames.push(Frame {
                    position: pos as u64,
                    offset,
                    records,
                });
                pos += len;
            }
            Err(problem) => {
                scan.problem = Some(format!("frame at byte {pos}: {problem}"));
                break;
            }
        }
    }
    scan.valid_len = pos as u64;
    scan
}

/// Decodes the frame at the start of `bytes`: its offset, records and length in bytes.
fn read_frame(bytes: &[u8]) -> Result<(u64, Vec<MetadataRecord>, usize), String> {
    let header = bytes
        .get(..HEADER_LEN)
        .ok_or_else(|| format!("header cut short ({} bytes)", bytes.len()))?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_FRAME_BYTES {
        return Err(format!("length {len} exceeds the frame limit"));
    }
    let payload = bytes
        .get(HEADER_LEN..HEADER_LEN + len)
        .ok_or_else(|| format!("payload cut short ({len} bytes announced)"))?;
    if crc32c::crc32c(payload) != crc {
        return Err("checksum mismatch".to_owned());
    }
    let (offset, records) = decode_payload(payload)?;
    Ok((offset, records, HEADER_LEN + len))
}

fn decode_payload(payload: &[u8]) -> Result<(u64, Vec<MetadataRecord>), String> {
    #[derive(Deserialize)]
    struct Payload(u64, Vec<MetadataRecord>);
    let Payload(offset, records) =
        serde_json::from_slice(payload).map_err(|e| format!("payload does not parse: {e}"))?;
    Ok((offset, records))
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn batch(n: u8) -> Vec<MetadataRecord> {
        vec![MetadataRecord::Topic {
            name: format!("t{n}"),
            topic_id: Uuid::from_u128(u128::from(n) + 1),
        }]
    }

    #[test]
    fn frames_round_trip_and_stop_at_damage() {
        let mut file = Vec::new();
        for n in 1..=3u8 {
            file.extend(encode(u64::from(n), &batch(n)).unwrap());
        }
        let whole = scan(&file);
        assert_eq!(whole.frames.len(), 3);
        assert_eq!(whole.valid_len, file.len() as u64);
        assert!(whole.problem.is_none());
        assert_eq!(whole.frames[2].offset, 3);
        assert_eq!(whole.frames[2].records, batch(3));
        let third = whole.frames[2].position as usize;

        // Every cut inside the last frame keeps the first two.
        for cut in third + 1..file.len() {
            let s = scan(&file[..cut]);
            assert_eq!(s.frames.len(), 2, "cut at {cut}");
            assert_eq!(s.valid_len, third as u64);
            assert!(s.problem.is_some());
        }
        // A flipped payload byte fails the checksum.
        let mut damaged = file.clone();
        damaged[third + HEADER_LEN + 3] ^= 0x40;
        let s = scan(&damaged);
        assert_eq!(s.frames.len(), 2);
        assert!(s.problem.unwrap().contains("checksum"));
        // A huge length is refused before anything is read.
        let mut damaged = file.clone();
        damaged[third..third + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(scan(&damaged).problem.unwrap().contains("limit"));
        // Zeroes (a preallocated tail) are not a frame: an empty payload does not parse.
        let mut zeroes = file;
        zeroes.extend([0u8; 16]);
        let s = scan(&zeroes);
        assert_eq!(s.frames.len(), 3);
        assert!(s.problem.is_some());
    }
}
