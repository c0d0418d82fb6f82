//! Kafka's zigzag varints and varlongs, as records use them for lengths, deltas and counts.

/// Longest encoding of a 32-bit varint.
const MAX_VARINT_BYTES: usize = 5;
/// Longest encoding of a 64-bit varlong.
const MAX_VARLONG_BYTES: usize = 10;

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The input ends before the varint does.
    Truncated,
    /// More bytes than the type's longest encoding have the continuation bit.
    TooLong,
    /// The value does not fit the type.
    Overflow,
}

/// Reads a zigzag varint (i32) from the start of `input`: the value and the bytes it used.
pub(crate) fn read_varint(input: &[u8]) -> Result<(i32, usize), VarintError> {
    let (raw, used) = read_unsigned(input, MAX_VARINT_BYTES)?;
    let raw = u32::try_from(raw).map_err(|_| VarintError::Overflow)?;
    Ok(((raw >> 1) as i32 ^ -((raw & 1) as i32), used))
}

/// Reads a zigzag varlong (i64) from the start of `input`: the value and the bytes it used.
pub(crate) fn read_varlong(input: &[u8]) -> Result<(i64, usize), VarintError> {
    let (raw, used) = read_unsigned(input, MAX_VARLONG_BYTES)?;
    Ok(((raw >> 1) as i64 ^ -((raw & 1) as i64), used))
}

fn read_unsigned(input: &[u8], max_bytes: usize) -> Result<(u64, usize), VarintError> {
    let mut value = 0u64;
    for (i, &byte) in input.iter().take(max_bytes).enumerate() {
        let bits = u64::from(byte & 0x7f);
        let shift = 7 * i;
        // The tenth byte of a 64-bit varint holds a single bit.
        if shift == 63 && bits > 1 {
            return Err(VarintError::Overflow);
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    if input.len() < max_bytes {
        Err(VarintError::Truncated)
    } else {
        Err(VarintError::TooLong)
    }
}

/// Appends `value` as a zigzag varint.
pub(crate) fn write_varint(out: &mut Vec<u8>, value: i32) {
    write_unsigned(out, u64::from(((value << 1) ^ (value >> 31)) as u32));
}

/// Appends `value` as a zigzag varlong.
pub(crate) fn write_varlong(out: &mut Vec<u8>, value: i64) {
    write_unsigned(out, ((value << 1) ^ (value >> 63)) as u64);
}

fn write_unsigned(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}
