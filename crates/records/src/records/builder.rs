//! Building whole v2 batches from records, for compaction, tests and clients.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

use super::varint::{write_varint, write_varlong};
use super::{Record, RecordHeader};
use crate::batch::{
    CONTROL_FLAG, CRC, Compression, HEADER_SIZE, LOG_OVERHEAD, MAGIC_V2, NO_PRODUCER_ID,
    NO_TIMESTAMP, TIMESTAMP_TYPE_FLAG, TRANSACTIONAL_FLAG, TimestampType, compute_crc,
};
use crate::compression::{self, CompressionError};

/// Partition leader epoch a client writes before the broker assigns one.
const NO_PARTITION_LEADER_EPOCH: i32 = -1;
/// Producer epoch and base sequence of a non-idempotent producer.
const NO_PRODUCER_EPOCH: i16 = -1;
const NO_SEQUENCE: i32 = -1;

/// Why [`BatchBuilder::build`] could not produce a batch.
#[derive(Debug, Error)]
pub enum BuildError {
    /// The records section could not be compressed.
    #[error("records section cannot be compressed")]
    Compress(#[source] CompressionError),
    /// Offset deltas must start at 0 or more and strictly increase.
    #[error("record {index} has offset delta {offset_delta}, not above the previous one")]
    OffsetDeltaOrder {
        /// Position of the record in the builder.
        index: usize,
        /// Its offset delta.
        offset_delta: i32,
    },
    /// The explicit last offset delta is below the last record's offset delta.
    #[error(
        "last offset delta {last_offset_delta} is below the last record's {record_offset_delta}"
    )]
    LastOffsetDeltaTooSmall {
        /// The explicit last offset delta.
        last_offset_delta: i32,
        /// The last record's offset delta.
        record_offset_delta: i32,
    },
    /// A batch without records needs an explicit last offset delta.
    #[error("an empty batch needs an explicit last offset delta")]
    EmptyWithoutLastOffsetDelta,
    /// A field, a record or the batch does not fit the i32 length the format gives it.
    #[error("{what} of {size} bytes or items does not fit an i32")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        size: usize,
    },
}

/// Builds one complete, valid v2 batch (header, CRC32C and records, compressed as asked).
///
/// Settings are chained on the value; records are added with [`BatchBuilder::push`]
/// (offset and timestamp deltas as given, e.g. kept from a batch being compacted) or
/// [`BatchBuilder::push_kv`] (deltas computed from absolute timestamps and the order of the
/// pushes). Defaults are those of a non-idempotent Java producer: base offset 0, leader epoch
/// -1, no compression, `CreateTime`, producer id, epoch and base sequence -1.
///
/// ```
/// use bytes::Bytes;
/// use streambus_records::records::{decode_records, BatchBuilder};
///
/// let mut builder = BatchBuilder::new().base_offset(42);
/// builder.push_kv(1_000, Some(Bytes::from("k")), Some(Bytes::from("v")), Vec::new());
/// let batch = builder.build().unwrap();
/// let records = decode_records(&batch, 1 << 20).unwrap();
/// assert_eq!(records[0].offset(42), 42);
/// ```
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    base_offset: i64,
    partition_leader_epoch: i32,
    compression: Compression,
    timestamp_type: TimestampType,
    transactional: bool,
    control: bool,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    base_timestamp: Option<i64>,
    max_timestamp: Option<i64>,
    last_offset_delta: Option<i32>,
    records: Vec<Record>,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        BatchBuilder {
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            compression: Compression::None,
            timestamp_type: TimestampType::CreateTime,
            transactional: false,
            control: false,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            base_timestamp: None,
            max_timestamp: None,
            last_offset_delta: None,
            records: Vec::new(),
        }
    }
}

impl BatchBuilder {
    /// A builder with the defaults of a non-idempotent producer and no records.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offset of the batch's first offset (the record with offset delta 0).
    pub fn base_offset(mut self, base_offset: i64) -> Self {
        self.base_offset = base_offset;
        self
    }

    /// Leader epoch written in the header (-1 by default, as clients send).
    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Codec for the records section.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Timestamp type (attribute bit 3).
    pub fn timestamp_type(mut self, timestamp_type: TimestampType) -> Self {
        self.timestamp_type = timestamp_type;
        self
    }

    /// Marks the batch as part of a transaction (attribute bit 4).
    pub fn transactional(mut self, transactional: bool) -> Self {
        self.transactional = transactional;
        self
    }

    /// Marks the batch as a control batch (attribute bit 5).
    pub fn control(mut self, control: bool) -> Self {
        self.control = control;
        self
    }

    /// Producer id, producer epoch and base sequence of an idempotent producer.
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Base timestamp, to which records' timestamp deltas are relative. Without it, the first
    /// [`BatchBuilder::push_kv`] sets it to its timestamp, and otherwise it is -1.
    pub fn base_timestamp(mut self, base_timestamp: i64) -> Self {
        self.base_timestamp = Some(base_timestamp);
        self
    }

    /// Max timestamp written in the header instead of the largest record timestamp, as for
    /// `LogAppendTime`, where it holds the append time.
    pub fn max_timestamp(mut self, max_timestamp: i64) -> Self {
        self.max_timestamp = Some(max_timestamp);
        self
    }

    /// Last offset delta written in the header instead of the last record's offset delta, as
    /// compaction does to keep a batch's offset range when its last records are removed.
    /// Required for a batch without records.
    pub fn last_offset_delta(mut self, last_offset_delta: i32) -> Self {
        self.last_offset_delta = Some(last_offset_delta);
        self
    }

    /// Adds a record with its deltas as given; offset deltas must strictly increase.
    pub fn push(&mut self, record: Record) {
        self.records.push(record);
    }

    /// Adds a record at the next offset delta, with its timestamp delta computed from
    /// `timestamp` and the base timestamp (set from the first pushed timestamp if unset).
    pub fn push_kv(
        &mut self,
        timestamp: i64,
        key: Option<Bytes>,
        value: Option<Bytes>,
        headers: Vec<RecordHeader>,
    ) {
        let base_timestamp = *self.base_timestamp.get_or_insert(timestamp);
        let offset_delta = self
            .records
            .last()
            .map_or(0, |last| last.offset_delta.saturating_add(1));
        self.records.push(Record {
            attributes: 0,
            timestamp_delta: timestamp.wrapping_sub(base_timestamp),
            offset_delta,
            key,
            value,
            headers,
        });
    }

    /// Number of records pushed so far.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record has been pushed.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Writes the batch: header fields, records (compressed as set) and CRC32C.
    pub fn build(&self) -> Result<BytesMut, BuildError> {
        let last_offset_delta = self.checked_last_offset_delta()?;
        let record_count = to_i32("record count", self.records.len())?;
        let section = compression::compress(self.compression, &self.encode_records()?)
            .map_err(BuildError::Compress)?;
        let size = HEADER_SIZE + section.len();
        let base_timestamp = self.base_timestamp.unwrap_or(NO_TIMESTAMP);

        let mut batch = BytesMut::with_capacity(size);
        batch.put_i64(self.base_offset);
        batch.put_i32(to_i32("batch", size - LOG_OVERHEAD)?);
        batch.put_i32(self.partition_leader_epoch);
        batch.put_i8(MAGIC_V2);
        batch.put_u32(0); // CRC, written last
        batch.put_i16(self.attributes());
        batch.put_i32(last_offset_delta);
        batch.put_i64(base_timestamp);
        batch.put_i64(self.max_timestamp_or(base_timestamp));
        batch.put_i64(self.producer_id);
        batch.put_i16(self.producer_epoch);
        batch.put_i32(self.base_sequence);
        batch.put_i32(record_count);
        batch.put_slice(&section);

        let crc = compute_crc(&batch);
        batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        Ok(batch)
    }

    fn attributes(&self) -> i16 {
        let mut attributes = self.compression.id();
        if self.timestamp_type == TimestampType::LogAppendTime {
            attributes |= TIMESTAMP_TYPE_FLAG;
        }
        if self.transactional {
            attributes |= TRANSACTIONAL_FLAG;
        }
        if self.control {
            attributes |= CONTROL_FLAG;
        }
        attributes
    }

    fn max_timestamp_or(&self, base_timestamp: i64) -> i64 {
        self.max_timestamp.unwrap_or_else(|| {
            self.records
                .iter()
                .map(|record| record.timestamp(base_timestamp))
                .max()
                .unwrap_or(base_timestamp)
        })
    }

    /// Checks the offset deltas increase and returns the header's last offset delta.
    fn checked_last_offset_delta(&self) -> Result<i32, BuildError> {
        let mut previous = None;
        for (index, record) in self.records.iter().enumerate() {
            let offset_delta = record.offset_delta;
            if offset_delta < 0 || previous.is_some_and(|previous| offset_delta <= previous) {
                return Err(BuildError::OffsetDeltaOrder {
                    index,
                    offset_delta,
                });
            }
            previous = Some(offset_delta);
        }
        match (self.last_offset_delta, previous) {
            (None, None) => Err(BuildError::EmptyWithoutLastOffsetDelta),
            (None, Some(record_offset_delta)) => Ok(record_offset_delta),
            (Some(last_offset_delta), Some(record_offset_delta))
                if last_offset_delta < record_offset_delta =>
            {
                Err(BuildError::LastOffsetDeltaTooSmall {
                    last_offset_delta,
                    record_offset_delta,
                })
            }
            (Some(last_offset_delta), _) => Ok(last_offset_delta),
        }
    }

    fn encode_records(&self) -> Result<Vec<u8>, BuildError> {
        let mut section = Vec::new();
        let mut body = Vec::new();
        for record in &self.records {
            body.clear();
            encode_record_body(record, &mut body)?;
            write_varint(&mut section, to_i32("record", body.len())?);
            section.extend_from_slice(&body);
        }
        Ok(section)
    }
}

fn encode_record_body(record: &Record, out: &mut Vec<u8>) -> Result<(), BuildError> {
    out.push(record.attributes as u8);
    write_varlong(out, record.timestamp_delta);
    write_varint(out, record.offset_delta);
    write_nullable(out, "key", record.key.as_deref())?;
    write_nullable(out, "value", record.value.as_deref())?;
    write_varint(out, to_i32("header count", record.headers.len())?);
    for header in &record.headers {
        write_nullable(out, "header key", Some(&header.key))?;
        write_nullable(out, "header value", header.value.as_deref())?;
    }
    Ok(())
}

fn write_nullable(
    out: &mut Vec<u8>,
    what: &'static str,
    bytes: Option<&[u8]>,
) -> Result<(), BuildError> {
    match bytes {
        None => write_varint(out, -1),
        Some(bytes) => {
            write_varint(out, to_i32(what, bytes.len())?);
            out.extend_from_slice(bytes);
        }
    }
    Ok(())
}

fn to_i32(what: &'static str, size: usize) -> Result<i32, BuildError> {
    i32::try_from(size).map_err(|_| BuildError::TooLarge { what, size })
}
