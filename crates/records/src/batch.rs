//! RecordBatch v2 headers: parsing, validation and in-place rewriting.
//!
//! A partition stores batches exactly as producers sent them (ARCHITECTURE.md, decision 2),
//! so this module is the only place that looks inside a batch on the hot path, and it never
//! decodes records: it reads the fixed 61-byte header, checks it, and rewrites the few fields
//! the broker owns (base offset, partition leader epoch, and for `LogAppendTime` the max
//! timestamp and attributes, after which the CRC is recomputed).
//!
//! Layout (big-endian), offsets in bytes from the start of the batch:
//!
//! | offset | field | | offset | field |
//! | --- | --- | --- | --- | --- |
//! | 0 | base offset (i64) | | 27 | base timestamp (i64) |
//! | 8 | batch length (i32) | | 35 | max timestamp (i64) |
//! | 12 | partition leader epoch (i32) | | 43 | producer id (i64) |
//! | 16 | magic (i8) | | 51 | producer epoch (i16) |
//! | 17 | crc (u32, CRC32C of 21..end) | | 53 | base sequence (i32) |
//! | 21 | attributes (i16) | | 57 | record count (i32) |
//! | 23 | last offset delta (i32) | | 61 | records |

use thiserror::Error;

/// Bytes before the `batch length` field is counted: base offset and the length itself.
pub const LOG_OVERHEAD: usize = 12;
/// Size of the fixed header, up to and including the record count.
pub const HEADER_SIZE: usize = 61;
/// The only message format StreamBus stores.
pub const MAGIC_V2: i8 = 2;
/// Timestamp meaning "none given".
pub const NO_TIMESTAMP: i64 = -1;
/// Producer id of a batch from a non-idempotent producer.
pub const NO_PRODUCER_ID: i64 = -1;

pub(crate) const BASE_OFFSET: usize = 0;
pub(crate) const BATCH_LENGTH: usize = 8;
pub(crate) const LEADER_EPOCH: usize = 12;
pub(crate) const MAGIC: usize = 16;
pub(crate) const CRC: usize = 17;
pub(crate) const ATTRIBUTES: usize = 21;
pub(crate) const LAST_OFFSET_DELTA: usize = 23;
pub(crate) const BASE_TIMESTAMP: usize = 27;
pub(crate) const MAX_TIMESTAMP: usize = 35;
pub(crate) const PRODUCER_ID: usize = 43;
pub(crate) const PRODUCER_EPOCH: usize = 51;
pub(crate) const BASE_SEQUENCE: usize = 53;
pub(crate) const RECORD_COUNT: usize = 57;

const COMPRESSION_MASK: i16 = 0x07;
pub(crate) const TIMESTAMP_TYPE_FLAG: i16 = 0x08;
pub(crate) const TRANSACTIONAL_FLAG: i16 = 0x10;
pub(crate) const CONTROL_FLAG: i16 = 0x20;
const DELETE_HORIZON_FLAG: i16 = 0x40;

/// Why a batch was refused. The broker maps each variant to a Kafka error code with
/// [`BatchError::kafka_error`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    /// Fewer bytes than a batch header, or a length field that disagrees with the bytes.
    #[error("batch at byte {position} is truncated: needs {needed} bytes, {available} available")]
    Truncated {
        /// Byte position of the batch within the buffer.
        position: usize,
        /// Bytes the header says the batch occupies.
        needed: usize,
        /// Bytes that were there.
        available: usize,
    },
    /// The length field is smaller than a header.
    #[error("batch at byte {position} has an invalid length {length}")]
    InvalidLength {
        /// Byte position of the batch within the buffer.
        position: usize,
        /// The length field as read.
        length: i32,
    },
    /// Not a v2 batch.
    #[error("batch at byte {position} has magic {magic}, only magic 2 is supported")]
    UnsupportedMagic {
        /// Byte position of the batch within the buffer.
        position: usize,
        /// The magic byte as read.
        magic: i8,
    },
    /// The CRC32C stored in the header does not match the bytes.
    #[error(
        "batch at byte {position} fails its crc check: stored {stored:#010x}, computed {computed:#010x}"
    )]
    CrcMismatch {
        /// Byte position of the batch within the buffer.
        position: usize,
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// The batch is larger than `max.message.bytes`.
    #[error("batch of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the batch in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A header field is inconsistent (count, offsets, producer fields, flags, timestamps).
    #[error("invalid record batch: {reason}")]
    InvalidRecord {
        /// What is wrong, for the response's error message.
        reason: &'static str,
    },
    /// The compression codec id is not one Kafka defines.
    #[error("batch uses unknown compression codec {codec}")]
    UnknownCompression {
        /// The codec bits of the attributes.
        codec: i16,
    },
}

/// The Kafka error a producer expects for a refused batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaBatchError {
    /// CORRUPT_MESSAGE (2): the bytes are damaged or malformed.
    CorruptMessage,
    /// MESSAGE_TOO_LARGE (10).
    MessageTooLarge,
    /// INVALID_RECORD (87): well-formed but semantically invalid.
    InvalidRecord,
    /// UNSUPPORTED_COMPRESSION_TYPE (76).
    UnsupportedCompressionType,
}

impl KafkaBatchError {
    /// The numeric Kafka error code.
    pub fn code(self) -> i16 {
        match self {
            KafkaBatchError::CorruptMessage => 2,
            KafkaBatchError::MessageTooLarge => 10,
            KafkaBatchError::InvalidRecord => 87,
            KafkaBatchError::UnsupportedCompressionType => 76,
        }
    }
}

impl BatchError {
    /// The Kafka error this failure is reported as.
    pub fn kafka_error(&self) -> KafkaBatchError {
        match self {
            BatchError::Truncated { .. }
            | BatchError::InvalidLength { .. }
            | BatchError::CrcMismatch { .. } => KafkaBatchError::CorruptMessage,
            // Produce v3+ carries only magic 2; Kafka refuses older batches as invalid.
            BatchError::UnsupportedMagic { .. } => KafkaBatchError::InvalidRecord,
            BatchError::TooLarge { .. } => KafkaBatchError::MessageTooLarge,
            BatchError::InvalidRecord { .. } => KafkaBatchError::InvalidRecord,
            BatchError::UnknownCompression { .. } => KafkaBatchError::UnsupportedCompressionType,
        }
    }
}

/// Compression codec of a batch's records, from the low three attribute bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Records stored as they are.
    None,
    /// gzip (codec 1).
    Gzip,
    /// Snappy in the xerial framing Kafka uses (codec 2).
    Snappy,
    /// LZ4 frame format (codec 3).
    Lz4,
    /// Zstandard (codec 4).
    Zstd,
}

impl Compression {
    /// The codec for attribute bits, or an error for codecs Kafka does not define.
    pub fn from_attributes(attributes: i16) -> Result<Self, BatchError> {
        match attributes & COMPRESSION_MASK {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            codec => Err(BatchError::UnknownCompression { codec }),
        }
    }

    /// The attribute bits for this codec.
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }
}

/// Which clock a batch's timestamps come from (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// The producer's timestamps.
    #[default]
    CreateTime,
    /// The broker's clock at append.
    LogAppendTime,
}

/// A parsed, length-checked view of a batch header. Cheap to copy; reads only the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the length field; the whole batch is `batch_length + 12` bytes.
    pub batch_length: i32,
    /// Leader epoch the batch was appended under.
    pub partition_leader_epoch: i32,
    /// Message format; always 2 for a valid batch.
    pub magic: i8,
    /// Stored CRC32C.
    pub crc: u32,
    /// Attribute bits (codec, timestamp type, transactional, control).
    pub attributes: i16,
    /// Offset of the last record minus the base offset.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest record timestamp (or the append time for `LogAppendTime`).
    pub max_timestamp: i64,
    /// Producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records in the batch.
    pub record_count: i32,
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(raw)
}

impl BatchHeader {
    /// Parses the header at the start of `bytes`. Checks only that the header is present and
    /// the length field is plausible, not that the whole batch is there.
    pub fn parse(bytes: &[u8]) -> Result<Self, BatchError> {
        Self::parse_at(bytes, 0)
    }

    fn parse_at(bytes: &[u8], position: usize) -> Result<Self, BatchError> {
        if bytes.len() < HEADER_SIZE {
            return Err(BatchError::Truncated {
                position,
                needed: HEADER_SIZE,
                available: bytes.len(),
            });
        }
        let batch_length = i32_at(bytes, BATCH_LENGTH);
        if batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
            return Err(BatchError::InvalidLength {
                position,
                length: batch_length,
            });
        }
        Ok(BatchHeader {
            base_offset: i64_at(bytes, BASE_OFFSET),
            batch_length,
            partition_leader_epoch: i32_at(bytes, LEADER_EPOCH),
            magic: bytes[MAGIC] as i8,
            crc: u32::from_be_bytes([bytes[CRC], bytes[CRC + 1], bytes[CRC + 2], bytes[CRC + 3]]),
            attributes: i16_at(bytes, ATTRIBUTES),
            last_offset_delta: i32_at(bytes, LAST_OFFSET_DELTA),
            base_timestamp: i64_at(bytes, BASE_TIMESTAMP),
            max_timestamp: i64_at(bytes, MAX_TIMESTAMP),
            producer_id: i64_at(bytes, PRODUCER_ID),
            producer_epoch: i16_at(bytes, PRODUCER_EPOCH),
            base_sequence: i32_at(bytes, BASE_SEQUENCE),
            record_count: i32_at(bytes, RECORD_COUNT),
        })
    }

    /// Total size of the batch in bytes, header included.
    pub fn size(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Offset just past this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    /// The compression codec.
    pub fn compression(&self) -> Result<Compression, BatchError> {
        Compression::from_attributes(self.attributes)
    }

    /// Which clock the timestamps come from.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_FLAG != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Part of a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }

    /// A control batch (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }

    /// The base timestamp holds a delete horizon (set by compaction, KIP-534).
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & DELETE_HORIZON_FLAG != 0
    }

    /// Written by an idempotent or transactional producer.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id != NO_PRODUCER_ID
    }
}

/// CRC32C of a batch's checked region (from the attributes to the end).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES..])
}

/// Checks one whole batch already known to start at `bytes[0]`: lengths, magic and CRC.
/// This is what recovery and reads of stored data rely on.
pub fn check_integrity(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    check_integrity_at(bytes, 0)
}

fn check_integrity_at(bytes: &[u8], position: usize) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse_at(bytes, position)?;
    if bytes.len() < header.size() {
        return Err(BatchError::Truncated {
            position,
            needed: header.size(),
            available: bytes.len(),
        });
    }
    if header.magic != MAGIC_V2 {
        return Err(BatchError::UnsupportedMagic {
            position,
            magic: header.magic,
        });
    }
    let computed = compute_crc(&bytes[..header.size()]);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch {
            position,
            stored: header.crc,
            computed,
        });
    }
    Ok(header)
}

/// What a producer's batches are checked against.
#[derive(Debug, Clone, Copy)]
pub struct ProduceLimits {
    /// `max.message.bytes`: the largest batch accepted.
    pub max_batch_bytes: usize,
}

/// Summary of a produce request's batches for one partition, all validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatedBatches {
    /// Number of batches.
    pub batch_count: usize,
    /// Number of records over all batches.
    pub record_count: i64,
    /// Header of the first batch (producer id, epoch and sequence for idempotence checks).
    pub first: BatchHeader,
    /// Header of the last batch.
    pub last: BatchHeader,
}

/// Validates the records a producer sent for one partition: one or more whole v2 batches
/// back to back, each structurally sound (lengths, magic, CRC) and semantically valid the
/// way Kafka's log validator requires for client batches (count matches the offset range,
/// producer fields consistent, no control batches, a known codec, timestamps ordered).
pub fn validate_produce(
    bytes: &[u8],
    limits: ProduceLimits,
) -> Result<ValidatedBatches, BatchError> {
    if bytes.is_empty() {
        return Err(BatchError::InvalidRecord {
            reason: "produce request has no record batches",
        });
    }
    let mut position = 0;
    let mut first = None;
    let mut last = None;
    let mut batch_count = 0;
    let mut record_count = 0i64;
    while position < bytes.len() {
        let rest = &bytes[position..];
        let header = BatchHeader::parse_at(rest, position)?;
        if header.size() > limits.max_batch_bytes {
            return Err(BatchError::TooLarge {
                size: header.size(),
                limit: limits.max_batch_bytes,
            });
        }
        check_integrity_at(rest, position)?;
        check_client_semantics(&header)?;
        if let Some(previous) = last {
            check_same_producer(&previous, &header)?;
        }
        batch_count += 1;
        record_count += i64::from(header.record_count);
        first.get_or_insert(header);
        last = Some(header);
        position += header.size();
    }
    match (first, last) {
        (Some(first), Some(last)) => Ok(ValidatedBatches {
            batch_count,
            record_count,
            first,
            last,
        }),
        _ => Err(BatchError::InvalidRecord {
            reason: "produce request has no record batches",
        }),
    }
}

fn check_client_semantics(header: &BatchHeader) -> Result<(), BatchError> {
    let invalid = |reason| Err(BatchError::InvalidRecord { reason });
    header.compression()?;
    if header.record_count <= 0 {
        return invalid("batch reports no records");
    }
    if header.last_offset_delta < 0 || header.last_offset_delta != header.record_count - 1 {
        return invalid("record count does not match the batch's offset range");
    }
    if header.is_control() {
        return invalid("clients may not produce control batches");
    }
    if header.producer_id < NO_PRODUCER_ID {
        return invalid("producer id is negative");
    }
    if header.has_producer_id() {
        if header.producer_epoch < 0 {
            return invalid("batch has a producer id but no producer epoch");
        }
        if header.base_sequence < 0 {
            return invalid("batch has a producer id but no base sequence");
        }
    } else if header.is_transactional() {
        return invalid("transactional batch has no producer id");
    }
    if header.timestamp_type() == TimestampType::CreateTime
        && header.max_timestamp != NO_TIMESTAMP
        && header.max_timestamp < header.base_timestamp
    {
        return invalid("max timestamp is before the first timestamp");
    }
    Ok(())
}

fn check_same_producer(previous: &BatchHeader, next: &BatchHeader) -> Result<(), BatchError> {
    let same = previous.producer_id == next.producer_id
        && previous.producer_epoch == next.producer_epoch
        && previous.is_transactional() == next.is_transactional();
    if same {
        Ok(())
    } else {
        Err(BatchError::InvalidRecord {
            reason: "batches in one produce request differ in producer or transactional flag",
        })
    }
}

/// Overwrites the base offset of the batch at the start of `batch`. The CRC does not cover
/// this field, so it stays valid.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Overwrites the partition leader epoch (not covered by the CRC either).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[LEADER_EPOCH..LEADER_EPOCH + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Marks a batch as `LogAppendTime` with the given append time as its max timestamp, as
/// Kafka does, and recomputes the CRC that this change invalidates.
pub fn set_log_append_time(batch: &mut [u8], append_time: i64) {
    let attributes = i16_at(batch, ATTRIBUTES) | TIMESTAMP_TYPE_FLAG;
    batch[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&append_time.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// The same as [`set_log_append_time`] for a batch whose header was copied apart from its
/// records: patches `header` and computes the CRC over the patched header and `records`.
pub fn set_log_append_time_header(
    header: &mut [u8; HEADER_SIZE],
    records: &[u8],
    append_time: i64,
) {
    let attributes = i16_at(header, ATTRIBUTES) | TIMESTAMP_TYPE_FLAG;
    header[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    header[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&append_time.to_be_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[ATTRIBUTES..]), records);
    header[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Iterates over the whole batches in `bytes`, yielding each batch's header and byte range.
/// Stops at the first incomplete batch; see [`BatchIter::remainder`].
pub struct BatchIter<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> BatchIter<'a> {
    /// Iterates over `bytes` from the start.
    pub fn new(bytes: &'a [u8]) -> Self {
        BatchIter { bytes, position: 0 }
    }

    /// Byte position after the last whole batch yielded so far.
    pub fn position(&self) -> usize {
        self.position
    }
}

impl Iterator for BatchIter<'_> {
    type Item = (BatchHeader, std::ops::Range<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.bytes[self.position..];
        let header = BatchHeader::parse(rest).ok()?;
        if rest.len() < header.size() {
            return None;
        }
        let range = self.position..self.position + header.size();
        self.position = range.end;
        Some((header, range))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::BatchBuilder;
    use bytes::Bytes;

    const LIMITS: ProduceLimits = ProduceLimits {
        max_batch_bytes: 1 << 20,
    };

    fn batch(records: usize) -> Vec<u8> {
        let mut builder = BatchBuilder::new();
        for i in 0..records {
            builder.push_kv(
                1000 + i as i64,
                None,
                Some(Bytes::from(vec![b'x'; 10])),
                Vec::new(),
            );
        }
        builder.build().unwrap().to_vec()
    }

    fn with_crc(mut bytes: Vec<u8>) -> Vec<u8> {
        let crc = compute_crc(&bytes);
        bytes[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    fn set_i16(bytes: &mut [u8], at: usize, v: i16) {
        bytes[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }

    fn set_i32(bytes: &mut [u8], at: usize, v: i32) {
        bytes[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }

    fn set_i64(bytes: &mut [u8], at: usize, v: i64) {
        bytes[at..at + 8].copy_from_slice(&v.to_be_bytes());
    }

    fn invalid_reason(bytes: &[u8]) -> &'static str {
        match validate_produce(bytes, LIMITS) {
            Err(BatchError::InvalidRecord { reason }) => reason,
            other => panic!("expected INVALID_RECORD, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_batch_parses() {
        let bytes = batch(3);
        let validated = validate_produce(&bytes, LIMITS).unwrap();
        assert_eq!(validated.batch_count, 1);
        assert_eq!(validated.record_count, 3);
        let header = validated.first;
        assert_eq!(header.size(), bytes.len());
        assert_eq!(header.magic, 2);
        assert_eq!(header.last_offset_delta, 2);
        assert_eq!((header.base_timestamp, header.max_timestamp), (1000, 1002));
        assert_eq!(header.compression().unwrap(), Compression::None);
        assert!(!header.has_producer_id());
    }

    #[test]
    fn several_batches_back_to_back() {
        let mut bytes = batch(2);
        bytes.extend(batch(5));
        let validated = validate_produce(&bytes, LIMITS).unwrap();
        assert_eq!((validated.batch_count, validated.record_count), (2, 7));
        assert_eq!(validated.last.record_count, 5);
    }

    #[test]
    fn damage_is_corrupt_message() {
        let good = batch(2);
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let err = validate_produce(&flipped, LIMITS).unwrap_err();
        assert!(matches!(err, BatchError::CrcMismatch { position: 0, .. }));
        assert_eq!(err.kafka_error().code(), 2);

        let err = validate_produce(&good[..good.len() - 1], LIMITS).unwrap_err();
        assert!(matches!(err, BatchError::Truncated { .. }), "{err}");
        assert_eq!(err.kafka_error(), KafkaBatchError::CorruptMessage);

        let err = validate_produce(&good[..20], LIMITS).unwrap_err();
        assert!(matches!(
            err,
            BatchError::Truncated {
                needed: 61,
                available: 20,
                ..
            }
        ));

        let mut short = good.clone();
        set_i32(&mut short, BATCH_LENGTH, 10);
        assert!(matches!(
            validate_produce(&short, LIMITS),
            Err(BatchError::InvalidLength { length: 10, .. })
        ));

        let mut old = good.clone();
        old[MAGIC] = 1;
        assert!(matches!(
            validate_produce(&old, LIMITS),
            Err(BatchError::UnsupportedMagic { magic: 1, .. })
        ));

        let mut second_bad = good.clone();
        let mut tail = good.clone();
        tail[40] ^= 0xff;
        second_bad.extend(tail);
        assert!(matches!(
            validate_produce(&second_bad, LIMITS),
            Err(BatchError::CrcMismatch { position, .. }) if position == good.len()
        ));
    }

    #[test]
    fn oversized_batch_is_message_too_large() {
        let bytes = batch(100);
        let limits = ProduceLimits {
            max_batch_bytes: bytes.len() - 1,
        };
        let err = validate_produce(&bytes, limits).unwrap_err();
        assert_eq!(
            err,
            BatchError::TooLarge {
                size: bytes.len(),
                limit: bytes.len() - 1
            }
        );
        assert_eq!(err.kafka_error().code(), 10);
    }

    #[test]
    fn semantic_problems_are_invalid_record() {
        let mut count = batch(3);
        set_i32(&mut count, RECORD_COUNT, 2);
        assert_eq!(
            invalid_reason(&with_crc(count)),
            "record count does not match the batch's offset range"
        );

        let mut empty = batch(1);
        set_i32(&mut empty, RECORD_COUNT, 0);
        assert_eq!(invalid_reason(&with_crc(empty)), "batch reports no records");

        let mut control = batch(1);
        set_i16(&mut control, ATTRIBUTES, CONTROL_FLAG);
        assert_eq!(
            invalid_reason(&with_crc(control)),
            "clients may not produce control batches"
        );

        let mut txn = batch(1);
        set_i16(&mut txn, ATTRIBUTES, TRANSACTIONAL_FLAG);
        assert_eq!(
            invalid_reason(&with_crc(txn)),
            "transactional batch has no producer id"
        );

        let mut no_epoch = batch(1);
        set_i64(&mut no_epoch, PRODUCER_ID, 7);
        set_i32(&mut no_epoch, BASE_SEQUENCE, 0);
        assert_eq!(
            invalid_reason(&with_crc(no_epoch)),
            "batch has a producer id but no producer epoch"
        );

        let mut no_sequence = batch(1);
        set_i64(&mut no_sequence, PRODUCER_ID, 7);
        set_i16(&mut no_sequence, PRODUCER_EPOCH, 0);
        assert_eq!(
            invalid_reason(&with_crc(no_sequence)),
            "batch has a producer id but no base sequence"
        );

        let mut negative = batch(1);
        set_i64(&mut negative, PRODUCER_ID, -5);
        assert_eq!(
            invalid_reason(&with_crc(negative)),
            "producer id is negative"
        );

        let mut backwards = batch(2);
        set_i64(&mut backwards, MAX_TIMESTAMP, 10);
        assert_eq!(
            invalid_reason(&with_crc(backwards)),
            "max timestamp is before the first timestamp"
        );

        let mut mixed = BatchBuilder::new().producer(7, 0, 0);
        mixed.push_kv(1, None, None, Vec::new());
        let mut bytes = mixed.build().unwrap().to_vec();
        bytes.extend(batch(1));
        assert_eq!(
            invalid_reason(&bytes),
            "batches in one produce request differ in producer or transactional flag"
        );

        assert_eq!(invalid_reason(&[]), "produce request has no record batches");
    }

    #[test]
    fn unknown_codec_is_unsupported_compression() {
        let mut bytes = batch(1);
        set_i16(&mut bytes, ATTRIBUTES, 5);
        let err = validate_produce(&with_crc(bytes), LIMITS).unwrap_err();
        assert_eq!(err, BatchError::UnknownCompression { codec: 5 });
        assert_eq!(err.kafka_error().code(), 76);
    }

    #[test]
    fn idempotent_and_transactional_batches_are_accepted() {
        let mut builder = BatchBuilder::new().producer(42, 3, 17).transactional(true);
        builder.push_kv(5, None, Some(Bytes::from("v")), Vec::new());
        let bytes = builder.build().unwrap();
        let header = validate_produce(&bytes, LIMITS).unwrap().first;
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (42, 3, 17)
        );
        assert!(header.is_transactional());
    }

    #[test]
    fn rewriting_offsets_and_epochs_keeps_the_crc_valid() {
        let mut bytes = batch(2);
        set_base_offset(&mut bytes, 1234);
        set_partition_leader_epoch(&mut bytes, 9);
        let header = check_integrity(&bytes).unwrap();
        assert_eq!(
            (header.base_offset, header.partition_leader_epoch),
            (1234, 9)
        );
        assert_eq!(header.last_offset(), 1235);
    }

    #[test]
    fn log_append_time_rewrite_recomputes_the_crc_both_ways() {
        let original = batch(2);
        let mut whole = original.clone();
        set_log_append_time(&mut whole, 99_999);
        let header = check_integrity(&whole).unwrap();
        assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(header.max_timestamp, 99_999);

        let mut split = [0u8; HEADER_SIZE];
        split.copy_from_slice(&original[..HEADER_SIZE]);
        set_log_append_time_header(&mut split, &original[HEADER_SIZE..], 99_999);
        assert_eq!(&split[..], &whole[..HEADER_SIZE]);
    }

    #[test]
    fn batch_iter_stops_at_an_incomplete_batch() {
        let mut bytes = batch(1);
        let first = bytes.len();
        bytes.extend(&batch(2)[..30]);
        let mut iter = BatchIter::new(&bytes);
        assert_eq!(iter.next().map(|(_, r)| r), Some(0..first));
        assert!(iter.next().is_none());
        assert_eq!(iter.position(), first);
    }
}
