//! Primitive readers and writers of the Kafka wire format, used by the generated messages
//! and the hand-written headers.
//!
//! Invariants: a reader checks the bytes left before it reads or reserves anything, so no
//! input makes it panic or allocate more than the input could hold; byte fields come back as
//! zero-copy slices of the input `Bytes`. Non-flexible versions use int16 (strings) and
//! int32 (bytes, arrays) length prefixes with -1 for null; flexible versions use unsigned
//! varints holding length + 1, with 0 for null.

use bytes::{Buf, Bytes};

use crate::output::Output;

use crate::error::{DecodeError, EncodeError};

/// Adds `field` as context to a decoding error.
pub(crate) fn field<T>(name: &'static str, r: Result<T, DecodeError>) -> Result<T, DecodeError> {
    r.map_err(|e| DecodeError::Field {
        field: name,
        source: Box::new(e),
    })
}

fn need(buf: &Bytes, n: usize) -> Result<(), DecodeError> {
    if buf.len() < n {
        Err(DecodeError::UnexpectedEof {
            needed: n,
            remaining: buf.len(),
        })
    } else {
        Ok(())
    }
}

/// Splits `n` bytes off the front of `buf` without copying.
pub(crate) fn take(buf: &mut Bytes, n: usize) -> Result<Bytes, DecodeError> {
    need(buf, n)?;
    Ok(buf.split_to(n))
}

macro_rules! getter {
    ($name:ident, $ty:ty, $n:expr, $get:ident) => {
        pub(crate) fn $name(buf: &mut Bytes) -> Result<$ty, DecodeError> {
            need(buf, $n)?;
            Ok(buf.$get())
        }
    };
}

getter!(get_i8, i8, 1, get_i8);
getter!(get_i16, i16, 2, get_i16);
getter!(get_u16, u16, 2, get_u16);
getter!(get_i32, i32, 4, get_i32);
getter!(get_i64, i64, 8, get_i64);
getter!(get_f64, f64, 8, get_f64);

pub(crate) fn get_bool(buf: &mut Bytes) -> Result<bool, DecodeError> {
    Ok(get_i8(buf)? != 0)
}

pub(crate) fn get_uuid(buf: &mut Bytes) -> Result<crate::Uuid, DecodeError> {
    need(buf, 16)?;
    let mut id = [0u8; 16];
    buf.copy_to_slice(&mut id);
    Ok(id)
}

/// Reads an unsigned varint of at most five bytes.
pub(crate) fn get_uvarint(buf: &mut Bytes) -> Result<u32, DecodeError> {
    let mut value: u32 = 0;
    for i in 0..5 {
        let b = get_i8(buf)? as u8;
        if i == 4 && b > 0x0f {
            return Err(DecodeError::VarintTooLong);
        }
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::VarintTooLong)
}

/// Reads a length prefix; `None` is null. `wide` selects int32 over int16 when not flexible.
fn get_len(buf: &mut Bytes, flexible: bool, wide: bool) -> Result<Option<usize>, DecodeError> {
    let len = if flexible {
        i64::from(get_uvarint(buf)?) - 1
    } else if wide {
        i64::from(get_i32(buf)?)
    } else {
        i64::from(get_i16(buf)?)
    };
    match len {
        -1 => Ok(None),
        l if l < -1 => Err(DecodeError::NegativeLength { length: l }),
        l => usize::try_from(l)
            .map(Some)
            .map_err(|_| DecodeError::NegativeLength { length: l }),
    }
}

fn utf8(b: Bytes) -> Result<String, DecodeError> {
    String::from_utf8(b.to_vec()).map_err(|source| DecodeError::InvalidUtf8 { source })
}

pub(crate) fn get_nullable_string(
    buf: &mut Bytes,
    flexible: bool,
) -> Result<Option<String>, DecodeError> {
    match get_len(buf, flexible, false)? {
        None => Ok(None),
        Some(n) => utf8(take(buf, n)?).map(Some),
    }
}

pub(crate) fn get_string(buf: &mut Bytes, flexible: bool) -> Result<String, DecodeError> {
    get_nullable_string(buf, flexible)?.ok_or(DecodeError::UnexpectedNull)
}

pub(crate) fn get_nullable_bytes(
    buf: &mut Bytes,
    flexible: bool,
) -> Result<Option<Bytes>, DecodeError> {
    match get_len(buf, flexible, true)? {
        None => Ok(None),
        Some(n) => take(buf, n).map(Some),
    }
}

pub(crate) fn get_bytes(buf: &mut Bytes, flexible: bool) -> Result<Bytes, DecodeError> {
    get_nullable_bytes(buf, flexible)?.ok_or(DecodeError::UnexpectedNull)
}

/// Reads an array whose elements take at least `min_size` bytes each. The count is checked
/// against the bytes left before the vector is reserved.
pub(crate) fn get_nullable_array<T>(
    buf: &mut Bytes,
    flexible: bool,
    min_size: usize,
    mut read: impl FnMut(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<Option<Vec<T>>, DecodeError> {
    let Some(count) = get_len(buf, flexible, true)? else {
        return Ok(None);
    };
    if count.saturating_mul(min_size) > buf.len() {
        return Err(DecodeError::ArrayTooLong {
            count: count as u64,
            remaining: buf.len(),
        });
    }
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        items.push(read(buf)?);
    }
    Ok(Some(items))
}

pub(crate) fn get_array<T>(
    buf: &mut Bytes,
    flexible: bool,
    min_size: usize,
    read: impl FnMut(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    get_nullable_array(buf, flexible, min_size, read)?.ok_or(DecodeError::UnexpectedNull)
}

/// Skips a tagged-field section whose fields are all unknown.
pub(crate) fn skip_tagged_fields(buf: &mut Bytes) -> Result<(), DecodeError> {
    let count = get_uvarint(buf)?;
    for _ in 0..count {
        get_uvarint(buf)?;
        let size = get_uvarint(buf)? as usize;
        take(buf, size)?;
    }
    Ok(())
}

pub(crate) fn put_i8(out: &mut Output, v: i8) {
    out.put_i8(v);
}
pub(crate) fn put_i16(out: &mut Output, v: i16) {
    out.put_i16(v);
}
pub(crate) fn put_u16(out: &mut Output, v: u16) {
    out.put_u16(v);
}
pub(crate) fn put_i32(out: &mut Output, v: i32) {
    out.put_i32(v);
}
pub(crate) fn put_i64(out: &mut Output, v: i64) {
    out.put_i64(v);
}
pub(crate) fn put_f64(out: &mut Output, v: f64) {
    out.put_f64(v);
}
pub(crate) fn put_bool(out: &mut Output, v: bool) {
    out.put_i8(i8::from(v));
}
pub(crate) fn put_uuid(out: &mut Output, v: &crate::Uuid) {
    out.put_slice(v);
}

pub(crate) fn put_uvarint(out: &mut Output, mut v: u32) {
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

/// Writes a length prefix for `len`, or null for `None`.
fn put_len(out: &mut Output, len: Option<usize>, flexible: bool, wide: bool) -> Option<()> {
    match (len, flexible, wide) {
        (None, true, _) => put_uvarint(out, 0),
        (None, false, true) => out.put_i32(-1),
        (None, false, false) => out.put_i16(-1),
        (Some(n), true, _) => put_uvarint(out, u32::try_from(n).ok()?.checked_add(1)?),
        (Some(n), false, true) => out.put_i32(i32::try_from(n).ok()?),
        (Some(n), false, false) => out.put_i16(i16::try_from(n).ok()?),
    }
    Some(())
}

pub(crate) fn put_nullable_string(
    out: &mut Output,
    v: Option<&str>,
    flexible: bool,
) -> Result<(), EncodeError> {
    let len = v.map(str::len);
    put_len(out, len, flexible, false).ok_or(EncodeError::StringTooLong {
        len: len.unwrap_or(0),
    })?;
    if let Some(s) = v {
        out.put_slice(s.as_bytes());
    }
    Ok(())
}

pub(crate) fn put_string(out: &mut Output, v: &str, flexible: bool) -> Result<(), EncodeError> {
    put_nullable_string(out, Some(v), flexible)
}

pub(crate) fn put_nullable_bytes(
    out: &mut Output,
    v: Option<&[u8]>,
    flexible: bool,
) -> Result<(), EncodeError> {
    put_bytes_len(out, v.map(<[u8]>::len), flexible)?;
    if let Some(b) = v {
        out.put_slice(b);
    }
    Ok(())
}

/// The length prefix of a bytes field of `len` bytes, or of a null one.
fn put_bytes_len(out: &mut Output, len: Option<usize>, flexible: bool) -> Result<(), EncodeError> {
    put_len(out, len, flexible, true).ok_or(EncodeError::BytesTooLong {
        len: len.unwrap_or(0),
    })
}

/// A `records` field: like nullable bytes, but a splicing output references large ones.
pub(crate) fn put_nullable_records(
    out: &mut Output,
    v: Option<&Bytes>,
    flexible: bool,
) -> Result<(), EncodeError> {
    put_bytes_len(out, v.map(Bytes::len), flexible)?;
    if let Some(records) = v {
        out.put_records(records);
    }
    Ok(())
}

pub(crate) fn put_bytes(out: &mut Output, v: &[u8], flexible: bool) -> Result<(), EncodeError> {
    put_nullable_bytes(out, Some(v), flexible)
}

pub(crate) fn put_nullable_array<T>(
    out: &mut Output,
    v: Option<&[T]>,
    flexible: bool,
    mut write: impl FnMut(&mut Output, &T) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let len = v.map(<[T]>::len);
    put_len(out, len, flexible, true).ok_or(EncodeError::ArrayTooLong {
        len: len.unwrap_or(0),
    })?;
    for item in v.unwrap_or(&[]) {
        write(out, item)?;
    }
    Ok(())
}

pub(crate) fn put_array<T>(
    out: &mut Output,
    v: &[T],
    flexible: bool,
    write: impl FnMut(&mut Output, &T) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    put_nullable_array(out, Some(v), flexible, write)
}

/// Writes one tagged field: tag, size, then the already-encoded value.
pub(crate) fn put_tagged(out: &mut Output, tag: u32, data: &[u8]) -> Result<(), EncodeError> {
    let len =
        u32::try_from(data.len()).map_err(|_| EncodeError::BytesTooLong { len: data.len() })?;
    put_uvarint(out, tag);
    put_uvarint(out, len);
    out.put_slice(data);
    Ok(())
}
