//! The checksummed frame used on the wire between quorum nodes and in the quorum's files:
//! `[u32 length][u32 crc32c of payload][payload]`, big-endian, as in the `frame` module.
//!
//! Invariant: a length above the limit is refused from the 8-byte header alone, before any
//! buffer for the payload is allocated, so a peer (or a damaged file) cannot make a node
//! reserve memory it names.

use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub(crate) use crate::frame::{HEADER_LEN, MAX_FRAME_BYTES};

/// Why a frame could not be read or written.
#[derive(Debug, Error)]
pub(crate) enum FrameError {
    /// The peer closed the stream at a frame boundary.
    #[error("end of stream")]
    Eof,
    /// The length field, or the payload to send, exceeds the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    /// The payload does not match its checksum, or is cut short.
    #[error("damaged frame: {0}")]
    Damaged(&'static str),
    /// The payload is not the JSON expected.
    #[error("frame payload does not parse: {0}")]
    Json(#[from] serde_json::Error),
    /// The stream failed.
    #[error("frame i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Encodes `value` as JSON in one frame.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, FrameError> {
    let payload = serde_json::to_vec(value)?;
    if payload.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge {
            len: payload.len(),
            max: MAX_FRAME_BYTES,
        });
    }
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    // Fits in a u32: checked against MAX_FRAME_BYTES above.
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// The payload length and checksum a header announces, refusing a length over the limit.
pub(crate) fn header(bytes: [u8; HEADER_LEN]) -> Result<(usize, u32), FrameError> {
    let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let crc = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_BYTES,
        });
    }
    Ok((len, crc))
}

/// Decodes the frame at the start of `bytes`: its value and its length in bytes.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), FrameError> {
    let head: [u8; HEADER_LEN] = bytes
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(FrameError::Damaged("header cut short"))?;
    let (len, crc) = header(head)?;
    let payload = bytes
        .get(HEADER_LEN..HEADER_LEN + len)
        .ok_or(FrameError::Damaged("payload cut short"))?;
    if crc32c::crc32c(payload) != crc {
        return Err(FrameError::Damaged("checksum mismatch"));
    }
    Ok((serde_json::from_slice(payload)?, HEADER_LEN + len))
}

/// Reads one frame from a stream and decodes its JSON.
pub(crate) async fn read<R, T>(reader: &mut R) -> Result<T, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut head = [0u8; HEADER_LEN];
    match reader.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Eof),
        Err(e) => return Err(e.into()),
    }
    let (len, crc) = header(head)?;
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload).await?;
    if crc32c::crc32c(&payload) != crc {
        return Err(FrameError::Damaged("checksum mismatch"));
    }
    Ok(serde_json::from_slice(&payload)?)
}

/// Writes one encoded frame to a stream and flushes it.
pub(crate) async fn write<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frame: &[u8],
) -> Result<(), FrameError> {
    writer.write_all(frame).await?;
    writer.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let frame = encode(&("hello", 7u32)).unwrap();
        let (value, len): ((String, u32), usize) = decode(&frame).unwrap();
        assert_eq!(value, ("hello".to_owned(), 7));
        assert_eq!(len, frame.len());
        let mut damaged = frame.clone();
        damaged[HEADER_LEN + 2] ^= 1;
        assert!(matches!(
            decode::<(String, u32)>(&damaged),
            Err(FrameError::Damaged(_))
        ));
        assert!(decode::<(String, u32)>(&frame[..frame.len() - 1]).is_err());
    }

    #[tokio::test]
    async fn an_oversized_length_is_refused_from_the_header() {
        // Only the header exists: reading the announced payload would wait for ever or fail
        // with an early end, so `TooLarge` proves the length was checked first.
        let mut head = (u32::MAX).to_be_bytes().to_vec();
        head.extend([0u8; 4]);
        let mut reader: &[u8] = &head;
        match read::<_, String>(&mut reader).await {
            Err(FrameError::TooLarge { len, max }) => {
                assert_eq!(len, u32::MAX as usize);
                assert_eq!(max, MAX_FRAME_BYTES);
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut empty: &[u8] = &[];
        assert!(matches!(
            read::<_, String>(&mut empty).await,
            Err(FrameError::Eof)
        ));
    }
}
