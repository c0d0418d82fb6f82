//! The record-level codec of RecordBatch v2: decoding the records inside a batch and building
//! whole batches from records.
//!
//! The hot path never comes here (ARCHITECTURE.md, decision 2): produce and fetch move batches
//! as bytes. Key compaction, timestamp lookups and tests do, and they may read batches written
//! by any client, so the decoder keeps these invariants:
//! - every length and count read from the input is checked against the bytes remaining
//!   before anything is allocated or sliced, and malformed input is an error, never a panic;
//! - a compressed records section is never inflated beyond the caller's limit
//!   (see [`crate::compression`]);
//! - keys, values and header values are `Bytes` slices of one buffer: of the caller's batch
//!   itself with [`decode_records_bytes`] on an uncompressed batch (zero-copy), otherwise of
//!   one copy of the records section or of its decompressed form.
//!
//! Wire format of one record (varints are zigzag-encoded, as in Kafka's `ByteUtils`):
//!
//! ```text
//! length: varint            -- bytes of the record after this field
//! attributes: i8            -- unused, 0
//! timestampDelta: varlong   -- timestamp minus the batch's base timestamp
//! offsetDelta: varint       -- offset minus the batch's base offset
//! keyLength: varint         -- -1 for a null key
//! key: byte[keyLength]
//! valueLength: varint       -- -1 for a null value
//! value: byte[valueLength]
//! headerCount: varint
//! headers: [headerKeyLength: varint, headerKey, headerValueLength: varint (-1 null), value]
//! ```

mod builder;
mod varint;

use bytes::Bytes;
use thiserror::Error;

pub use builder::{BatchBuilder, BuildError};
use varint::{VarintError, read_varint, read_varlong};
#[cfg(test)]
use varint::{write_varint, write_varlong};

use crate::batch::{BatchError, BatchHeader, Compression, HEADER_SIZE, MAGIC_V2};
use crate::compression::{self, CompressionError};

/// Smallest possible encoded record: a one-byte length and six one-byte fields.
const MIN_RECORD_SIZE: usize = 7;

/// One record of a v2 batch, with its offset and timestamp relative to the batch's base.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Record attributes; unused by Kafka so far, written as 0.
    pub attributes: i8,
    /// Timestamp minus the batch's base timestamp (may be negative).
    pub timestamp_delta: i64,
    /// Offset minus the batch's base offset.
    pub offset_delta: i32,
    /// The key, `None` for a null key.
    pub key: Option<Bytes>,
    /// The value, `None` for a null value (a tombstone under compaction).
    pub value: Option<Bytes>,
    /// The record headers, in order.
    pub headers: Vec<RecordHeader>,
}

impl Record {
    /// The record's absolute offset in a batch with this base offset.
    pub fn offset(&self, base_offset: i64) -> i64 {
        base_offset.wrapping_add(i64::from(self.offset_delta))
    }

    /// The record's absolute timestamp in a batch with this base timestamp.
    pub fn timestamp(&self, base_timestamp: i64) -> i64 {
        base_timestamp.wrapping_add(self.timestamp_delta)
    }
}

/// One record header. The key is a string on the wire; it is kept as raw bytes and its UTF-8
/// is not checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordHeader {
    /// The header key.
    pub key: Bytes,
    /// The header value, `None` for null.
    pub value: Option<Bytes>,
}

/// Why the records of a batch could not be decoded.
#[derive(Debug, Error)]
pub enum RecordError {
    /// The batch header is missing, truncated or not v2, or its codec is unknown.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The compressed records section could not be decompressed within the limit.
    #[error("records section cannot be decompressed")]
    Decompress(#[source] CompressionError),
    /// The header's record count is negative.
    #[error("record count {count} is negative")]
    NegativeRecordCount {
        /// The record count of the header.
        count: i32,
    },
    /// A field runs past the end of its record or of the records section.
    #[error("record {index} is truncated in its {field}: needs {needed} bytes, {available} left")]
    Truncated {
        /// Position of the record in the batch, from 0.
        index: usize,
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A varint does not end within its maximum length or overflows its type.
    #[error("record {index} has a malformed varint in its {field}: {reason}")]
    MalformedVarint {
        /// Position of the record in the batch, from 0.
        index: usize,
        /// The field being read.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A length or count is negative where that is not allowed.
    #[error("record {index} has an invalid {field} {value}")]
    InvalidLength {
        /// Position of the record in the batch, from 0.
        index: usize,
        /// The field read.
        field: &'static str,
        /// The value read.
        value: i64,
    },
    /// A record's length field says more bytes than its fields use.
    #[error("record {index} has {unused} bytes beyond its last header")]
    RecordLengthMismatch {
        /// Position of the record in the batch, from 0.
        index: usize,
        /// Bytes the record length covers but no field uses.
        unused: usize,
    },
    /// Bytes follow the last record the header counts.
    #[error("{unused} bytes follow the last of {count} records")]
    TrailingBytes {
        /// The header's record count.
        count: usize,
        /// Bytes after the last record.
        unused: usize,
    },
}

/// Decodes every record of one whole batch starting at `batch[0]` (its base offset). Bytes
/// after the batch's length are ignored. The CRC is not checked: call
/// [`crate::batch::check_integrity`] first where the bytes are untrusted. A compressed records
/// section is inflated to at most `max_uncompressed` bytes.
///
/// Keys and values are slices of one copy of the records section; use
/// [`decode_records_bytes`] to slice an uncompressed batch without copying.
pub fn decode_records(batch: &[u8], max_uncompressed: usize) -> Result<Vec<Record>, RecordError> {
    let (header, codec) = check_batch(batch)?;
    let section = &batch[HEADER_SIZE..header.size()];
    let section = match codec {
        Compression::None => Bytes::copy_from_slice(section),
        codec => inflate(codec, section, max_uncompressed)?,
    };
    decode_section(section, header.record_count)
}

/// Like [`decode_records`], but keys and values of an uncompressed batch are zero-copy slices
/// of `batch`.
pub fn decode_records_bytes(
    batch: &Bytes,
    max_uncompressed: usize,
) -> Result<Vec<Record>, RecordError> {
    let (header, codec) = check_batch(batch)?;
    let section = match codec {
        Compression::None => batch.slice(HEADER_SIZE..header.size()),
        codec => inflate(codec, &batch[HEADER_SIZE..header.size()], max_uncompressed)?,
    };
    decode_section(section, header.record_count)
}

/// Parses the header and checks the batch is v2, complete and of a known codec.
fn check_batch(batch: &[u8]) -> Result<(BatchHeader, Compression), RecordError> {
    let header = BatchHeader::parse(batch)?;
    if header.magic != MAGIC_V2 {
        return Err(BatchError::UnsupportedMagic {
            position: 0,
            magic: header.magic,
        }
        .into());
    }
    if batch.len() < header.size() {
        return Err(BatchError::Truncated {
            position: 0,
            needed: header.size(),
            available: batch.len(),
        }
        .into());
    }
    Ok((header, header.compression()?))
}

fn inflate(codec: Compression, section: &[u8], limit: usize) -> Result<Bytes, RecordError> {
    compression::decompress(codec, section, limit)
        .map(Bytes::from)
        .map_err(RecordError::Decompress)
}

/// Decodes exactly `count` records that must fill `section` exactly.
fn decode_section(section: Bytes, count: i32) -> Result<Vec<Record>, RecordError> {
    let count = usize::try_from(count).map_err(|_| RecordError::NegativeRecordCount { count })?;
    // Never trust the count for the allocation: the bytes present bound it.
    let mut records = Vec::with_capacity(count.min(section.len() / MIN_RECORD_SIZE));
    let mut reader = Reader::new(section, 0);
    for index in 0..count {
        reader.index = index;
        records.push(decode_record(&mut reader)?);
    }
    if reader.remaining() > 0 {
        return Err(RecordError::TrailingBytes {
            count,
            unused: reader.remaining(),
        });
    }
    Ok(records)
}

fn decode_record(reader: &mut Reader) -> Result<Record, RecordError> {
    let length = reader.length("record length")?;
    let mut body = Reader::new(reader.take(length, "record")?, reader.index);
    let record = Record {
        attributes: body.i8("attributes")?,
        timestamp_delta: body.varlong("timestamp delta")?,
        offset_delta: body.varint("offset delta")?,
        key: body.nullable_bytes("key length")?,
        value: body.nullable_bytes("value length")?,
        headers: decode_headers(&mut body)?,
    };
    if body.remaining() > 0 {
        return Err(RecordError::RecordLengthMismatch {
            index: body.index,
            unused: body.remaining(),
        });
    }
    Ok(record)
}

fn decode_headers(body: &mut Reader) -> Result<Vec<RecordHeader>, RecordError> {
    /// A header is at least a one-byte key length and a one-byte value length.
    const MIN_HEADER_SIZE: usize = 2;
    let count = body.length("header count")?;
    let mut headers = Vec::with_capacity(count.min(body.remaining() / MIN_HEADER_SIZE));
    for _ in 0..count {
        let key_length = body.length("header key length")?;
        headers.push(RecordHeader {
            key: body.take(key_length, "header key")?,
            value: body.nullable_bytes("header value length")?,
        });
    }
    Ok(headers)
}

/// A bounds-checked cursor over a records section or one record.
struct Reader {
    buf: Bytes,
    position: usize,
    /// The record being read, for error context.
    index: usize,
}

impl Reader {
    fn new(buf: Bytes, index: usize) -> Self {
        Reader {
            buf,
            position: 0,
            index,
        }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.position
    }

    fn truncated(&self, field: &'static str, needed: usize) -> RecordError {
        RecordError::Truncated {
            index: self.index,
            field,
            needed,
            available: self.remaining(),
        }
    }

    /// The next `len` bytes as a slice of the buffer, once they are known to be there.
    fn take(&mut self, len: usize, field: &'static str) -> Result<Bytes, RecordError> {
        if len > self.remaining() {
            return Err(self.truncated(field, len));
        }
        let bytes = self.buf.slice(self.position..self.position + len);
        self.position += len;
        Ok(bytes)
    }

    fn i8(&mut self, field: &'static str) -> Result<i8, RecordError> {
        let byte = *self
            .buf
            .get(self.position)
            .ok_or_else(|| self.truncated(field, 1))?;
        self.position += 1;
        Ok(byte as i8)
    }

    fn varint(&mut self, field: &'static str) -> Result<i32, RecordError> {
        let (value, used) =
            read_varint(&self.buf[self.position..]).map_err(|e| self.varint_error(field, e))?;
        self.position += used;
        Ok(value)
    }

    fn varlong(&mut self, field: &'static str) -> Result<i64, RecordError> {
        let (value, used) =
            read_varlong(&self.buf[self.position..]).map_err(|e| self.varint_error(field, e))?;
        self.position += used;
        Ok(value)
    }

    fn varint_error(&self, field: &'static str, error: VarintError) -> RecordError {
        match error {
            VarintError::Truncated => self.truncated(field, self.remaining() + 1),
            VarintError::TooLong => RecordError::MalformedVarint {
                index: self.index,
                field,
                reason: "does not end within its maximum length",
            },
            VarintError::Overflow => RecordError::MalformedVarint {
                index: self.index,
                field,
                reason: "overflows its type",
            },
        }
    }

    /// A non-negative length or count.
    fn length(&mut self, field: &'static str) -> Result<usize, RecordError> {
        let value = self.varint(field)?;
        usize::try_from(value).map_err(|_| RecordError::InvalidLength {
            index: self.index,
            field,
            value: i64::from(value),
        })
    }

    /// A length (-1 for null) followed by that many bytes.
    fn nullable_bytes(&mut self, field: &'static str) -> Result<Option<Bytes>, RecordError> {
        match self.varint(field)? {
            -1 => Ok(None),
            value => {
                let len = usize::try_from(value).map_err(|_| RecordError::InvalidLength {
                    index: self.index,
                    field,
                    value: i64::from(value),
                })?;
                self.take(len, field).map(Some)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::batch::{BATCH_LENGTH, LOG_OVERHEAD, RECORD_COUNT, TimestampType, check_integrity};
    use bytes::BytesMut;

    const ALL_CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    const LIMIT: usize = 1 << 20;

    fn kv_batch(timestamp: i64, key: &'static str, value: &'static str) -> BytesMut {
        let mut builder = BatchBuilder::new();
        builder.push_kv(
            timestamp,
            Some(Bytes::from(key)),
            Some(Bytes::from(value)),
            Vec::new(),
        );
        builder.build().unwrap()
    }

    /// A batch whose header claims `count` records and whose records section is `section`.
    /// The CRC is left stale: the decoder does not check it.
    fn batch_with_section(attributes: i16, count: i32, section: &[u8]) -> Vec<u8> {
        let mut batch = kv_batch(1000, "k", "v")[..HEADER_SIZE].to_vec();
        batch.extend_from_slice(section);
        let length = (batch.len() - LOG_OVERHEAD) as i32;
        batch[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&length.to_be_bytes());
        batch[RECORD_COUNT..RECORD_COUNT + 4].copy_from_slice(&count.to_be_bytes());
        batch[crate::batch::ATTRIBUTES..crate::batch::ATTRIBUTES + 2]
            .copy_from_slice(&attributes.to_be_bytes());
        batch
    }

    /// The records section of the single record key "k", value "v", deltas 0, no headers.
    const KV_RECORD: [u8; 9] = [0x10, 0x00, 0x00, 0x00, 0x02, b'k', 0x02, b'v', 0x00];

    #[test]
    fn one_record_batch_is_byte_exact() {
        // Record body: attributes 00, timestampDelta 0 -> 00, offsetDelta 0 -> 00,
        // keyLength 1 -> zigzag 2 -> 02, 'k', valueLength 1 -> 02, 'v', header count 00:
        // 8 bytes, so the record length is zigzag(8) = 16 = 0x10, and the record 9 bytes.
        // Batch: 61 + 9 = 70 bytes; batch length 70 - 12 = 58 = 0x3a.
        // CRC32C of bytes 21..70, computed independently of crc32c (bitwise, polynomial
        // 0x82F63B78): 0x716a6189.
        let expected: Vec<u8> = [
            &[0, 0, 0, 0, 0, 0, 0, 0][..],   // base offset 0
            &[0, 0, 0, 0x3a],                // batch length 58
            &[0xff, 0xff, 0xff, 0xff],       // partition leader epoch -1
            &[2],                            // magic
            &[0x71, 0x6a, 0x61, 0x89],       // crc
            &[0, 0],                         // attributes
            &[0, 0, 0, 0],                   // last offset delta 0
            &[0, 0, 0, 0, 0, 0, 0x03, 0xe8], // base timestamp 1000
            &[0, 0, 0, 0, 0, 0, 0x03, 0xe8], // max timestamp 1000
            &[0xff; 8],                      // producer id -1
            &[0xff, 0xff],                   // producer epoch -1
            &[0xff, 0xff, 0xff, 0xff],       // base sequence -1
            &[0, 0, 0, 1],                   // record count 1
            &KV_RECORD,
        ]
        .concat();
        let batch = kv_batch(1000, "k", "v");
        assert_eq!(&batch[..], &expected[..]);
        let header = check_integrity(&batch).unwrap();
        assert_eq!(header.size(), 70);
        let records = decode_records(&batch, LIMIT).unwrap();
        assert_eq!(
            records,
            vec![Record {
                key: Some(Bytes::from("k")),
                value: Some(Bytes::from("v")),
                ..Record::default()
            }]
        );
    }

    #[test]
    fn push_kv_computes_deltas_and_header_timestamps() {
        let mut builder = BatchBuilder::new().base_offset(100);
        builder.push_kv(1000, None, Some(Bytes::from("a")), Vec::new());
        builder.push_kv(990, Some(Bytes::from("b")), None, Vec::new());
        builder.push_kv(1500, None, None, Vec::new());
        let batch = builder.build().unwrap();
        let header = check_integrity(&batch).unwrap();
        assert_eq!(header.base_offset, 100);
        assert_eq!(header.base_timestamp, 1000);
        assert_eq!(header.max_timestamp, 1500);
        assert_eq!(header.last_offset_delta, 2);
        assert_eq!(header.record_count, 3);
        let records = decode_records(&batch, LIMIT).unwrap();
        let deltas: Vec<_> = records
            .iter()
            .map(|r| (r.offset_delta, r.timestamp_delta))
            .collect();
        assert_eq!(deltas, vec![(0, 0), (1, -10), (2, 500)]);
        assert_eq!(records[1].timestamp(header.base_timestamp), 990);
        assert_eq!(records[2].offset(header.base_offset), 102);
    }

    #[test]
    fn header_settings_are_written() {
        let mut builder = BatchBuilder::new()
            .base_offset(7)
            .partition_leader_epoch(3)
            .compression(Compression::Zstd)
            .timestamp_type(TimestampType::LogAppendTime)
            .transactional(true)
            .control(true)
            .producer(12, 1, 40)
            .base_timestamp(500)
            .max_timestamp(9000);
        builder.push_kv(600, None, None, Vec::new());
        let batch = builder.build().unwrap();
        let header = check_integrity(&batch).unwrap();
        assert_eq!(header.partition_leader_epoch, 3);
        assert_eq!(header.compression().unwrap(), Compression::Zstd);
        assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
        assert!(header.is_transactional());
        assert!(header.is_control());
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (12, 1, 40)
        );
        assert_eq!((header.base_timestamp, header.max_timestamp), (500, 9000));
        assert_eq!(
            decode_records(&batch, LIMIT).unwrap()[0].timestamp_delta,
            100
        );
    }

    #[test]
    fn compacted_batch_keeps_offset_deltas_and_last_offset_delta() {
        let mut builder = BatchBuilder::new().base_timestamp(0).last_offset_delta(7);
        for offset_delta in [1, 4] {
            builder.push(Record {
                offset_delta,
                value: Some(Bytes::from("x")),
                ..Record::default()
            });
        }
        let batch = builder.build().unwrap();
        let header = check_integrity(&batch).unwrap();
        assert_eq!((header.record_count, header.last_offset_delta), (2, 7));
        let records = decode_records(&batch, LIMIT).unwrap();
        assert_eq!(
            records.iter().map(|r| r.offset_delta).collect::<Vec<_>>(),
            [1, 4]
        );
    }

    #[test]
    fn empty_batch_needs_an_explicit_last_offset_delta() {
        assert!(matches!(
            BatchBuilder::new().build(),
            Err(BuildError::EmptyWithoutLastOffsetDelta)
        ));
        let batch = BatchBuilder::new().last_offset_delta(4).build().unwrap();
        let header = check_integrity(&batch).unwrap();
        assert_eq!((header.record_count, header.last_offset_delta), (0, 4));
        assert!(decode_records(&batch, LIMIT).unwrap().is_empty());
    }

    #[test]
    fn builder_refuses_unordered_offset_deltas() {
        let mut builder = BatchBuilder::new();
        builder.push(Record {
            offset_delta: 2,
            ..Record::default()
        });
        builder.push(Record {
            offset_delta: 2,
            ..Record::default()
        });
        assert!(matches!(
            builder.build(),
            Err(BuildError::OffsetDeltaOrder {
                index: 1,
                offset_delta: 2
            })
        ));
        let mut builder = BatchBuilder::new().last_offset_delta(1);
        builder.push(Record {
            offset_delta: 2,
            ..Record::default()
        });
        assert!(matches!(
            builder.build(),
            Err(BuildError::LastOffsetDeltaTooSmall { .. })
        ));
        let mut builder = BatchBuilder::new();
        builder.push(Record {
            offset_delta: -1,
            ..Record::default()
        });
        assert!(matches!(
            builder.build(),
            Err(BuildError::OffsetDeltaOrder { index: 0, .. })
        ));
    }

    #[test]
    fn uncompressed_values_are_slices_of_the_batch() {
        let batch = kv_batch(1000, "k", "v").freeze();
        let records = decode_records_bytes(&batch, LIMIT).unwrap();
        let value = records[0].value.as_ref().unwrap();
        let range = batch.as_ptr_range();
        assert!(range.contains(&value.as_ptr()));
    }

    #[test]
    fn varints_round_trip_at_their_limits() {
        for value in [0, 1, -1, 63, -64, 64, i32::MAX, i32::MIN] {
            let mut out = Vec::new();
            write_varint(&mut out, value);
            assert_eq!(read_varint(&out), Ok((value, out.len())));
        }
        for value in [0, -1, 1 << 40, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_varlong(&mut out, value);
            assert_eq!(read_varlong(&out), Ok((value, out.len())));
        }
        assert_eq!(read_varint(&[0x80, 0x80]), Err(VarintError::Truncated));
        assert_eq!(read_varint(&[0xff; 6]), Err(VarintError::TooLong));
        assert_eq!(
            read_varint(&[0xff, 0xff, 0xff, 0xff, 0x7f]),
            Err(VarintError::Overflow)
        );
        assert_eq!(read_varlong(&[0x81; 11]), Err(VarintError::TooLong));
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert_eq!(read_varlong(&too_big), Err(VarintError::Overflow));
    }

    fn decode_section_of(count: i32, section: &[u8]) -> Result<Vec<Record>, RecordError> {
        decode_records(&batch_with_section(0, count, section), LIMIT)
    }

    #[test]
    fn the_handmade_section_decodes() {
        assert_eq!(decode_section_of(1, &KV_RECORD).unwrap().len(), 1);
    }

    #[test]
    fn truncated_record_is_an_error() {
        let error = decode_section_of(1, &KV_RECORD[..8]).unwrap_err();
        assert!(
            matches!(
                error,
                RecordError::Truncated {
                    field: "record",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn endless_varint_is_an_error() {
        let error = decode_section_of(1, &[0xff; 20]).unwrap_err();
        assert!(
            matches!(error, RecordError::MalformedVarint { .. }),
            "{error}"
        );
        let error = decode_section_of(1, &[0x80, 0x80]).unwrap_err();
        assert!(matches!(error, RecordError::Truncated { .. }), "{error}");
        // Inside a record: a timestamp delta whose bytes all continue.
        let error = decode_section_of(1, &[0x08, 0x00, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(matches!(
            error,
            RecordError::Truncated {
                field: "timestamp delta",
                ..
            }
        ));
    }

    #[test]
    fn key_longer_than_the_record_is_an_error() {
        // keyLength 100 -> zigzag 200 -> varint c8 01; the body is 9 bytes -> length 0x12.
        let section = [0x12, 0x00, 0x00, 0x00, 0xc8, 0x01, b'k', 0x02, b'v', 0x00];
        let error = decode_section_of(1, &section).unwrap_err();
        assert!(
            matches!(
                error,
                RecordError::Truncated {
                    field: "key length",
                    needed: 100,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn more_records_counted_than_present_is_an_error() {
        let error = decode_section_of(2, &KV_RECORD).unwrap_err();
        assert!(
            matches!(
                error,
                RecordError::Truncated {
                    index: 1,
                    field: "record length",
                    ..
                }
            ),
            "{error}"
        );
        let error = decode_section_of(i32::MAX, &KV_RECORD).unwrap_err();
        assert!(
            matches!(error, RecordError::Truncated { index: 1, .. }),
            "{error}"
        );
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let section = [&KV_RECORD[..], &[0x00]].concat();
        let error = decode_section_of(1, &section).unwrap_err();
        assert!(
            matches!(error, RecordError::TrailingBytes { unused: 1, .. }),
            "{error}"
        );
    }

    #[test]
    fn record_longer_than_its_fields_is_an_error() {
        let section = [0x12, 0x00, 0x00, 0x00, 0x02, b'k', 0x02, b'v', 0x00, 0x00];
        let error = decode_section_of(1, &section).unwrap_err();
        assert!(
            matches!(error, RecordError::RecordLengthMismatch { unused: 1, .. }),
            "{error}"
        );
    }

    #[test]
    fn negative_lengths_and_counts_are_errors() {
        assert!(matches!(
            decode_section_of(-1, &KV_RECORD),
            Err(RecordError::NegativeRecordCount { count: -1 })
        ));
        // keyLength -2 -> zigzag 3.
        let section = [0x10, 0x00, 0x00, 0x00, 0x03, b'k', 0x02, b'v', 0x00];
        assert!(matches!(
            decode_section_of(1, &section),
            Err(RecordError::InvalidLength {
                field: "key length",
                value: -2,
                ..
            })
        ));
        // Header count -1 -> zigzag 1.
        let section = [0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01];
        assert!(matches!(
            decode_section_of(1, &section),
            Err(RecordError::InvalidLength {
                field: "header count",
                ..
            })
        ));
        // Record length -1.
        assert!(matches!(
            decode_section_of(1, &[0x01]),
            Err(RecordError::InvalidLength {
                field: "record length",
                ..
            })
        ));
    }

    #[test]
    fn huge_header_count_fails_without_allocating() {
        // Header count 1_000_000_000 -> zigzag 2_000_000_000 -> 5-byte varint.
        let mut body = vec![0x00, 0x00, 0x00, 0x01, 0x01];
        write_varint(&mut body, 1_000_000_000);
        let mut section = Vec::new();
        write_varint(&mut section, body.len() as i32);
        section.extend_from_slice(&body);
        let error = decode_section_of(1, &section).unwrap_err();
        assert!(matches!(error, RecordError::Truncated { .. }), "{error}");
    }

    #[test]
    fn batch_level_problems_are_errors() {
        let batch = kv_batch(1000, "k", "v");
        assert!(matches!(
            decode_records(&batch[..batch.len() - 1], LIMIT),
            Err(RecordError::Batch(BatchError::Truncated { .. }))
        ));
        assert!(matches!(
            decode_records(&batch[..30], LIMIT),
            Err(RecordError::Batch(BatchError::Truncated { .. }))
        ));
        let mut bad_magic = batch.to_vec();
        bad_magic[crate::batch::MAGIC] = 1;
        assert!(matches!(
            decode_records(&bad_magic, LIMIT),
            Err(RecordError::Batch(BatchError::UnsupportedMagic { .. }))
        ));
        let unknown_codec = batch_with_section(7, 1, &KV_RECORD);
        assert!(matches!(
            decode_records(&unknown_codec, LIMIT),
            Err(RecordError::Batch(BatchError::UnknownCompression {
                codec: 7
            }))
        ));
        let garbage_gzip = batch_with_section(Compression::Gzip.id(), 1, &KV_RECORD);
        assert!(matches!(
            decode_records(&garbage_gzip, LIMIT),
            Err(RecordError::Decompress(_))
        ));
    }

    #[test]
    fn compressed_section_over_the_limit_is_refused() {
        let mut builder = BatchBuilder::new().compression(Compression::Gzip);
        builder.push_kv(0, None, Some(Bytes::from(vec![0u8; 100_000])), Vec::new());
        let batch = builder.build().unwrap();
        assert!(decode_records(&batch, 200_000).is_ok());
        assert!(matches!(
            decode_records(&batch, 50_000),
            Err(RecordError::Decompress(
                CompressionError::OutputTooLarge { .. }
            ))
        ));
    }

    fn arb_bytes() -> impl Strategy<Value = Bytes> {
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from)
    }

    fn arb_header() -> impl Strategy<Value = RecordHeader> {
        (arb_bytes(), prop::option::of(arb_bytes()))
            .prop_map(|(key, value)| RecordHeader { key, value })
    }

    /// Records with strictly increasing offset deltas (gaps allowed, as after compaction).
    fn arb_records() -> impl Strategy<Value = Vec<Record>> {
        let record = (
            any::<i64>(),
            0..3i32,
            prop::option::of(arb_bytes()),
            prop::option::of(arb_bytes()),
            prop::collection::vec(arb_header(), 0..4),
        );
        prop::collection::vec(record, 1..20).prop_map(|records| {
            let mut offset_delta = -1;
            records
                .into_iter()
                .map(|(timestamp_delta, gap, key, value, headers)| {
                    offset_delta += 1 + gap;
                    Record {
                        attributes: 0,
                        timestamp_delta,
                        offset_delta,
                        key,
                        value,
                        headers,
                    }
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn arbitrary_records_round_trip_with_every_codec(
            records in arb_records(),
            base_offset in 0..i64::MAX / 2,
            base_timestamp in any::<i64>(),
            extra_offsets in 0..3i32,
        ) {
            let last = records.last().map_or(0, |r| r.offset_delta) + extra_offsets;
            for codec in ALL_CODECS {
                let mut builder = BatchBuilder::new()
                    .base_offset(base_offset)
                    .base_timestamp(base_timestamp)
                    .compression(codec)
                    .last_offset_delta(last);
                for record in &records {
                    builder.push(record.clone());
                }
                let batch = builder.build().unwrap().freeze();
                let header = check_integrity(&batch).unwrap();
                prop_assert_eq!(header.compression().unwrap(), codec);
                prop_assert_eq!(header.record_count as usize, records.len());
                prop_assert_eq!(header.last_offset_delta, last);
                prop_assert_eq!(&decode_records(&batch, LIMIT).unwrap(), &records);
                prop_assert_eq!(&decode_records_bytes(&batch, LIMIT).unwrap(), &records);
            }
        }

        #[test]
        fn arbitrary_bytes_after_a_valid_header_never_panic(
            section in prop::collection::vec(any::<u8>(), 0..300),
            count in prop_oneof![0..10i32, any::<i32>()],
            codec in 0..8i16,
        ) {
            let batch = batch_with_section(codec, count, &section);
            let _ = decode_records(&batch, LIMIT);
            let _ = decode_records_bytes(&Bytes::from(batch), LIMIT);
        }

        #[test]
        fn mutated_valid_batches_never_panic(
            records in arb_records(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut builder = BatchBuilder::new();
            for record in records {
                builder.push(record);
            }
            let mut batch = builder.build().unwrap().to_vec();
            let section_len = batch.len() - HEADER_SIZE;
            for (index, byte) in flips {
                batch[HEADER_SIZE + index.index(section_len)] = byte;
            }
            let _ = decode_records(&batch, LIMIT);
        }
    }
}
