//! Framing: every request and response is a big-endian int32 size followed by that many
//! bytes. The size is checked against a configured maximum before anything is allocated for
//! the frame, so a client cannot make the broker reserve memory by announcing a large frame.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::output::Output;

/// Kafka's default `socket.request.max.bytes`: 100 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 100 * 1024 * 1024;

/// A frame size prefix that must not be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The size prefix is negative.
    #[error("negative frame size {size}")]
    NegativeSize {
        /// The size read.
        size: i32,
    },
    /// The size prefix exceeds the configured maximum.
    #[error("frame size {size} exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The size read.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
}

/// What the bytes at the front of a buffer hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameStatus {
    /// A whole frame whose payload is `size` bytes (after the 4-byte prefix).
    Complete {
        /// The payload size.
        size: usize,
    },
    /// More bytes are needed: at least `needed` in total, counting the prefix.
    Incomplete {
        /// Total bytes the buffer must hold before the frame is complete.
        needed: usize,
    },
}

/// Checks the frame at the front of `buf` without consuming or allocating anything.
pub fn check(buf: &[u8], max_size: usize) -> Result<FrameStatus, FrameError> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(FrameStatus::Incomplete { needed: 4 });
    };
    let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let size = usize::try_from(size).map_err(|_| FrameError::NegativeSize { size })?;
    if size > max_size {
        return Err(FrameError::TooLarge {
            size,
            max: max_size,
        });
    }
    if buf.len() - 4 < size {
        Ok(FrameStatus::Incomplete { needed: 4 + size })
    } else {
        Ok(FrameStatus::Complete { size })
    }
}

/// Splits the next whole frame off `buf` and returns its payload without copying, or
/// `None` if `buf` does not hold a whole frame yet.
pub fn split(buf: &mut BytesMut, max_size: usize) -> Result<Option<Bytes>, FrameError> {
    match check(buf, max_size)? {
        FrameStatus::Incomplete { .. } => Ok(None),
        FrameStatus::Complete { size } => {
            buf.advance(4);
            Ok(Some(buf.split_to(size).freeze()))
        }
    }
}

/// Appends one frame to `out` whose payload `encode` writes in place: a size placeholder is
/// put first and filled in afterwards, so the payload is never copied. If `encode` fails, or
/// the payload does not fit a frame, `out` is left as it was.
pub fn write_with<E>(
    out: &mut Output,
    encode: impl FnOnce(&mut Output) -> Result<(), E>,
    too_long: impl FnOnce(usize) -> E,
) -> Result<(), E> {
    let start = out.mark();
    out.put_i32(0);
    if let Err(e) = encode(out) {
        out.roll_back(start);
        return Err(e);
    }
    let len = out.len() - Output::len_at(start) - 4;
    let Ok(size) = i32::try_from(len) else {
        out.roll_back(start);
        return Err(too_long(len));
    };
    out.overwrite_at(start, &size.to_be_bytes());
    Ok(())
}

/// Appends `payload` to `out` as one frame.
pub fn write(out: &mut BytesMut, payload: &[u8]) -> Result<(), FrameError> {
    let size = i32::try_from(payload.len()).map_err(|_| FrameError::TooLarge {
        size: payload.len(),
        max: i32::MAX as usize,
    })?;
    out.reserve(4 + payload.len());
    out.put_i32(size);
    out.put_slice(payload);
    Ok(())
}
