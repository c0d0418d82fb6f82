//! Fetch without I/O: the request for one leader's partitions, and the records of one
//! fetched partition as the user sees them.
//!
//! A fetched records blob is a sequence of RecordBatch v2 frames as the broker stored them.
//! Decoding keeps the Java consumer's rules:
//! - the blob may end with a partial batch (the broker cuts at the byte limits); it is
//!   skipped, and fetched again from its start next time;
//! - a batch may start before the fetch offset (the broker returns whole batches); its records
//!   before the offset are skipped one by one, and a batch wholly before it is skipped;
//! - every batch's CRC is checked before its records are read (`check.crcs`);
//! - control batches (transaction markers) are never returned, and with `read_committed` the
//!   batches of aborted transactions, as the response's `aborted_transactions` list says,
//!   are skipped too;
//! - the position after a fetch is past the last whole batch, so that skipped batches (control
//!   or aborted) at the end are not fetched again.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use streambus_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use streambus_protocol::messages::fetch_response::AbortedTransaction;
use streambus_records::batch::{BatchIter, TimestampType, check_integrity};
use streambus_records::records::decode_records_bytes;

use crate::error::{Error, Result};
use crate::offsets::TopicPartition;

/// The most a compressed batch may inflate to; Kafka sets no bound, this one keeps a bad
/// batch from exhausting memory.
const MAX_UNCOMPRESSED: usize = 256 * 1024 * 1024;

/// Control record type of an abort marker (the key is `version: i16, type: i16`).
const ABORT_MARKER: i16 = 0;

/// A record as the consumer returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// Milliseconds since the epoch: the producer's, or the broker's with `log_append_time`.
    pub timestamp: i64,
    /// Whether the timestamp is the broker's append time (`LogAppendTime`).
    pub log_append_time: bool,
    /// The key, `None` for a null key.
    pub key: Option<Bytes>,
    /// The value, `None` for a null value (a tombstone).
    pub value: Option<Bytes>,
    /// The headers, in order; keys are read as UTF-8 (invalid bytes replaced).
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Settings of a fetch request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchLimits {
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub partition_max_bytes: i32,
    pub read_committed: bool,
}

/// A sessionless fetch (session 0, epoch -1) of `partitions` from their offsets, in the
/// order given (the broker fills the response in request order, so the caller rotates it
/// to let every partition come first in turn).
pub(crate) fn request(partitions: &[(TopicPartition, i64)], limits: FetchLimits) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for ((topic, partition), offset) in partitions {
        let entry = FetchPartition {
            partition: *partition,
            current_leader_epoch: -1,
            fetch_offset: *offset,
            last_fetched_epoch: -1,
            log_start_offset: -1,
            partition_max_bytes: limits.partition_max_bytes,
        };
        match topics.last_mut() {
            Some(last) if last.topic == *topic => last.partitions.push(entry),
            _ => topics.push(FetchTopic {
                topic: topic.clone(),
                topic_id: [0; 16],
                partitions: vec![entry],
            }),
        }
    }
    FetchRequest {
        cluster_id: None,
        replica_id: -1,
        max_wait_ms: limits.max_wait_ms,
        min_bytes: limits.min_bytes,
        max_bytes: limits.max_bytes,
        isolation_level: i8::from(limits.read_committed),
        session_id: 0,
        session_epoch: -1,
        topics,
        forgotten_topics_data: Vec::new(),
        rack_id: String::new(),
    }
}

/// The records of one fetched partition from `fetch_offset` on.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// The records to return, in offset order.
    pub records: Vec<ConsumerRecord>,
    /// The position after them: past the last whole batch, or `None` when the data held
    /// no whole batch (nothing to move past).
    pub next_offset: Option<i64>,
}

/// Decodes the records blob of `topic`-`partition` fetched from `fetch_offset`.
pub(crate) fn decode(
    topic: &str,
    partition: i32,
    fetch_offset: i64,
    data: &Bytes,
    aborted: Option<&[AbortedTransaction]>,
    read_committed: bool,
) -> Result<Decoded> {
    let mut out = Decoded::default();
    // Aborted transactions by first offset; a producer id joins the aborted set when a batch
    // reaches its first offset, and leaves it at its abort marker.
    let mut pending: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    if read_committed {
        for txn in aborted.unwrap_or_default() {
            pending
                .entry(txn.first_offset)
                .or_default()
                .push(txn.producer_id);
        }
    }
    let mut aborted_producers: HashSet<i64> = HashSet::new();
    let corrupt = |offset: i64, reason: String| Error::Protocol {
        addr: "the partition leader".into(),
        reason: format!("the batch at offset {offset} of {topic}-{partition} {reason}"),
    };
    for (header, range) in BatchIter::new(data) {
        let next = header.next_offset();
        out.next_offset = Some(out.next_offset.map_or(next, |n: i64| n.max(next)));
        if header.last_offset() < fetch_offset {
            continue;
        }
        let bytes = data.slice(range);
        check_integrity(&bytes).map_err(|e| corrupt(header.base_offset, e.to_string()))?;
        if read_committed && header.has_producer_id() {
            while let Some(entry) = pending.first_entry() {
                if *entry.key() > header.last_offset() {
                    break;
                }
                aborted_producers.extend(entry.remove());
            }
        }
        let records = decode_records_bytes(&bytes, MAX_UNCOMPRESSED)
            .map_err(|e| corrupt(header.base_offset, format!("does not decode: {e}")))?;
        if header.is_control() {
            if read_committed && is_abort_marker(records.first().and_then(|r| r.key.as_deref())) {
                aborted_producers.remove(&header.producer_id);
            }
            continue;
        }
        if read_committed
            && header.is_transactional()
            && aborted_producers.contains(&header.producer_id)
        {
            continue;
        }
        let log_append_time = header.timestamp_type() == TimestampType::LogAppendTime;
        for record in records {
            let offset = record.offset(header.base_offset);
            if offset < fetch_offset {
                continue;
            }
            let timestamp = if log_append_time {
                header.max_timestamp
            } else {
                record.timestamp(header.base_timestamp)
            };
            out.records.push(ConsumerRecord {
                topic: topic.to_owned(),
                partition,
                offset,
                timestamp,
                log_append_time,
                key: record.key,
                value: record.value,
                headers: record
                    .headers
                    .into_iter()
                    .map(|h| (String::from_utf8_lossy(&h.key).into_owned(), h.value))
                    .collect(),
            });
        }
    }
    out.next_offset = out.next_offset.map(|n| n.max(fetch_offset));
    Ok(out)
}

fn is_abort_marker(key: Option<&[u8]>) -> bool {
    matches!(key, Some([_, _, t0, t1, ..]) if i16::from_be_bytes([*t0, *t1]) == ABORT_MARKER)
}

#[cfg(test)]
mod tests {
    use streambus_records::batch::Compression;
    use streambus_records::records::{BatchBuilder, RecordHeader};

    use super::*;

    fn batch(base: i64, values: &[&str]) -> BatchBuilder {
        let mut builder = BatchBuilder::new().base_offset(base);
        for (i, v) in values.iter().enumerate() {
            builder.push_kv(
                1_000 + i as i64,
                Some(Bytes::from(format!("k{i}"))),
                Some(Bytes::copy_from_slice(v.as_bytes())),
                Vec::new(),
            );
        }
        builder
    }

    fn blob(batches: &[BatchBuilder]) -> Bytes {
        let mut out = Vec::new();
        for b in batches {
            out.extend_from_slice(&b.build().unwrap());
        }
        Bytes::from(out)
    }

    fn values(decoded: &Decoded) -> Vec<(i64, String)> {
        decoded
            .records
            .iter()
            .map(|r| {
                let value = r.value.as_deref().unwrap_or_default();
                (r.offset, String::from_utf8_lossy(value).into_owned())
            })
            .collect()
    }

    fn marker(base: i64, producer_id: i64, kind: i16) -> BatchBuilder {
        let mut key = 0i16.to_be_bytes().to_vec();
        key.extend_from_slice(&kind.to_be_bytes());
        let mut b = BatchBuilder::new()
            .base_offset(base)
            .control(true)
            .transactional(true)
            .producer(producer_id, 0, -1);
        b.push_kv(
            5_000,
            Some(Bytes::from(key)),
            Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
            Vec::new(),
        );
        b
    }

    fn txn(base: i64, producer_id: i64, values: &[&str]) -> BatchBuilder {
        batch(base, values)
            .transactional(true)
            .producer(producer_id, 0, 0)
    }

    #[test]
    fn records_come_with_offsets_timestamps_keys_and_headers() {
        let mut b = BatchBuilder::new()
            .base_offset(10)
            .compression(Compression::Lz4);
        b.push_kv(
            1_234,
            None,
            Some(Bytes::from_static(b"v")),
            vec![RecordHeader {
                key: Bytes::from_static(b"h"),
                value: None,
            }],
        );
        b.push_kv(1_240, Some(Bytes::from_static(b"k")), None, Vec::new());
        let data = blob(&[b]);
        let decoded = decode("t", 3, 10, &data, None, false).unwrap();
        assert_eq!(decoded.next_offset, Some(12));
        assert_eq!(
            decoded.records,
            [
                ConsumerRecord {
                    topic: "t".into(),
                    partition: 3,
                    offset: 10,
                    timestamp: 1_234,
                    log_append_time: false,
                    key: None,
                    value: Some(Bytes::from_static(b"v")),
                    headers: vec![("h".into(), None)],
                },
                ConsumerRecord {
                    topic: "t".into(),
                    partition: 3,
                    offset: 11,
                    timestamp: 1_240,
                    log_append_time: false,
                    key: Some(Bytes::from_static(b"k")),
                    value: None,
                    headers: vec![],
                },
            ]
        );
    }

    #[test]
    fn log_append_time_batches_carry_the_brokers_time() {
        let b = batch(0, &["a", "b"])
            .timestamp_type(TimestampType::LogAppendTime)
            .max_timestamp(99_999);
        let decoded = decode("t", 0, 0, &blob(&[b]), None, false).unwrap();
        assert!(
            decoded
                .records
                .iter()
                .all(|r| r.log_append_time && r.timestamp == 99_999)
        );
    }

    #[test]
    fn records_before_the_fetch_offset_are_skipped_and_a_partial_batch_at_the_end_too() {
        let data = blob(&[
            batch(0, &["a", "b"]),
            batch(2, &["c", "d", "e"]),
            batch(5, &["f"]),
        ]);
        let cut = data.slice(..data.len() - 3);
        let decoded = decode("t", 0, 3, &cut, None, false).unwrap();
        assert_eq!(values(&decoded), [(3, "d".into()), (4, "e".into())]);
        assert_eq!(
            decoded.next_offset,
            Some(5),
            "the partial batch is fetched again"
        );

        let only_partial = data.slice(..20);
        let decoded = decode("t", 0, 0, &only_partial, None, false).unwrap();
        assert_eq!(decoded, Decoded::default());
        let empty = decode("t", 0, 7, &Bytes::new(), None, false).unwrap();
        assert_eq!(empty.next_offset, None);
    }

    #[test]
    fn a_corrupt_batch_is_an_error_naming_the_partition() {
        let mut data = blob(&[batch(0, &["a"])]).to_vec();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        let error = decode("t", 2, 0, &Bytes::from(data), None, false).unwrap_err();
        assert!(error.to_string().contains("offset 0 of t-2"), "{error}");
    }

    #[test]
    fn control_batches_are_skipped_and_the_position_moves_past_them() {
        let data = blob(&[txn(0, 7, &["a", "b"]), marker(2, 7, 1)]);
        for read_committed in [false, true] {
            let decoded = decode("t", 0, 0, &data, Some(&[]), read_committed).unwrap();
            assert_eq!(values(&decoded), [(0, "a".into()), (1, "b".into())]);
            assert_eq!(decoded.next_offset, Some(3));
        }
    }

    #[test]
    fn read_committed_skips_aborted_transactions_only() {
        // Producer 7 aborts its transaction at 0-1; producer 8 commits 2; producer 7 then
        // writes a new transaction at 5 that is not aborted.
        let data = blob(&[
            txn(0, 7, &["aborted-1", "aborted-2"]),
            txn(2, 8, &["committed"]),
            marker(3, 7, ABORT_MARKER),
            marker(4, 8, 1),
            txn(5, 7, &["later"]),
            batch(6, &["plain"]),
        ]);
        let aborted = [AbortedTransaction {
            producer_id: 7,
            first_offset: 0,
        }];
        let committed = decode("t", 0, 0, &data, Some(&aborted), true).unwrap();
        assert_eq!(
            values(&committed),
            [
                (2, "committed".into()),
                (5, "later".into()),
                (6, "plain".into())
            ]
        );
        assert_eq!(committed.next_offset, Some(7));

        let uncommitted = decode("t", 0, 0, &data, Some(&aborted), false).unwrap();
        assert_eq!(
            uncommitted.records.len(),
            5,
            "read_uncommitted sees aborted records"
        );
    }

    #[test]
    fn the_request_groups_partitions_by_topic_in_the_order_given() {
        let limits = FetchLimits {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 1000,
            partition_max_bytes: 100,
            read_committed: true,
        };
        let asked = [
            (("a".to_owned(), 1), 10),
            (("a".to_owned(), 0), 20),
            (("b".to_owned(), 0), 30),
        ];
        let request = request(&asked, limits);
        assert_eq!(request.isolation_level, 1);
        assert_eq!((request.session_id, request.session_epoch), (0, -1));
        assert_eq!(request.topics.len(), 2);
        assert_eq!(request.topics[0].partitions[0].partition, 1);
        assert_eq!(request.topics[0].partitions[1].fetch_offset, 20);
        assert_eq!(request.topics[1].partitions[0].partition_max_bytes, 100);
    }
}
