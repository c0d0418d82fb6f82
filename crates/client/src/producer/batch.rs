//! The records of one partition on their way to the broker: batches being filled, batches
//! waiting to be sent or re-sent, and the sequence numbers that make retries safe.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use streambus_records::batch::Compression;
use streambus_records::records::{BatchBuilder, RecordHeader};
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use crate::backoff::{Backoff, BackoffConfig};
use crate::error::{Error, Result};
use crate::producer::record::{ProducerRecord, RecordMetadata};

/// A record accepted by `enqueue`, with the caller waiting for its outcome.
pub struct PendingRecord {
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    pub delivery: oneshot::Sender<Result<RecordMetadata>>,
    /// Its share of `buffer_memory`, returned when the record is settled.
    _permit: OwnedSemaphorePermit,
}

impl PendingRecord {
    pub fn new(
        record: ProducerRecord,
        timestamp: i64,
        delivery: oneshot::Sender<Result<RecordMetadata>>,
        permit: OwnedSemaphorePermit,
    ) -> PendingRecord {
        PendingRecord {
            timestamp,
            key: record.key,
            value: record.value,
            headers: record.headers,
            delivery,
            _permit: permit,
        }
    }
}

/// Records sent to the broker together as one RecordBatch.
pub struct Batch {
    pub records: Vec<PendingRecord>,
    pub bytes: usize,
    pub created: Instant,
    /// When its first record's delivery timeout runs out.
    pub deadline: Instant,
    /// Assigned when the batch is first sent (idempotent producers), kept for re-sends.
    pub base_sequence: Option<i32>,
    /// The encoded batch, built once so that a re-send is byte-identical.
    pub encoded: Option<Bytes>,
    /// Times it has been sent.
    pub attempts: u32,
}

impl Batch {
    pub fn new(now: Instant, deadline: Instant) -> Batch {
        Batch {
            records: Vec::new(),
            bytes: 0,
            created: now,
            deadline,
            base_sequence: None,
            encoded: None,
            attempts: 0,
        }
    }

    /// Encodes the records; `producer` is (id, epoch, base sequence) when idempotent.
    pub fn encode(
        &mut self,
        compression: Compression,
        producer: Option<(i64, i16, i32)>,
    ) -> Result<Bytes> {
        if let Some(encoded) = &self.encoded {
            return Ok(encoded.clone());
        }
        let mut builder = BatchBuilder::new().compression(compression);
        if let Some((id, epoch, sequence)) = producer {
            builder = builder.producer(id, epoch, sequence);
        }
        for record in &self.records {
            let headers = record
                .headers
                .iter()
                .map(|(key, value)| RecordHeader {
                    key: Bytes::copy_from_slice(key.as_bytes()),
                    value: value.clone(),
                })
                .collect();
            builder.push_kv(
                record.timestamp,
                record.key.clone(),
                record.value.clone(),
                headers,
            );
        }
        let encoded = builder
            .build()
            .map_err(|e| Error::Invalid(format!("cannot encode a record batch: {e}")))?
            .freeze();
        self.encoded = Some(encoded.clone());
        Ok(encoded)
    }

    /// Tells every caller where its record went: offsets from `base_offset` on (-1 for
    /// all when the broker does not say), timestamps the broker's when it set them.
    pub fn succeed(
        self,
        topic: &std::sync::Arc<str>,
        partition: i32,
        base_offset: i64,
        append_time: i64,
    ) {
        for (i, record) in self.records.into_iter().enumerate() {
            let offset = if base_offset < 0 {
                -1
            } else {
                base_offset + i as i64
            };
            let timestamp = if append_time >= 0 {
                append_time
            } else {
                record.timestamp
            };
            let _ = record.delivery.send(Ok(RecordMetadata {
                topic: topic.clone(),
                partition,
                offset,
                timestamp,
            }));
        }
    }

    /// Tells every caller that its record was not written.
    pub fn fail(self, error: impl Fn() -> Error) {
        for record in self.records {
            let _ = record.delivery.send(Err(error()));
        }
    }
}

/// The queue of one partition.
pub struct PartitionQueue {
    /// The topic's name, handed to every acknowledged record of the partition.
    pub topic: std::sync::Arc<str>,
    /// Oldest first; the back batch is the one being filled.
    pub batches: VecDeque<Batch>,
    pub in_flight: usize,
    pub next_sequence: i32,
    /// No send before this, after a failure.
    pub backoff_until: Option<Instant>,
    pub backoff: Backoff,
    /// Sequence ranges (base, records) of batches the broker refused for good while later
    /// batches were already numbered: those later batches move down by these counts.
    pub dropped: Vec<(i32, i32)>,
}

impl PartitionQueue {
    pub fn new(topic: &str, backoff: BackoffConfig) -> PartitionQueue {
        PartitionQueue {
            topic: topic.into(),
            batches: VecDeque::new(),
            in_flight: 0,
            next_sequence: 0,
            backoff_until: None,
            backoff: Backoff::new(backoff),
            dropped: Vec::new(),
        }
    }

    /// The broker refused the batch numbered from `base` for good, so it never took those
    /// sequence numbers: the batches numbered after it are renumbered (and re-encoded) to
    /// close the gap, now for those queued and on their return for those in flight.
    pub fn drop_sequences(&mut self, base: i32, records: i32) {
        self.next_sequence -= records;
        for batch in &mut self.batches {
            if let Some(sequence) = batch.base_sequence.filter(|s| *s > base) {
                batch.base_sequence = Some(sequence - records);
                batch.encoded = None;
            }
        }
        if self.in_flight > 0 {
            self.dropped.push((base, records));
        }
    }

    /// Renumbers a batch that was in flight when earlier sequences were dropped.
    pub fn renumber(&self, batch: &mut Batch) {
        let Some(sequence) = batch.base_sequence else {
            return;
        };
        let shift: i32 = self
            .dropped
            .iter()
            .filter(|(base, _)| *base < sequence)
            .map(|(_, records)| records)
            .sum();
        if shift > 0 {
            batch.base_sequence = Some(sequence - shift);
            batch.encoded = None;
        }
    }

    /// Whether a batch that failed is waiting to be re-sent: then batches go one at a time,
    /// so that the re-sent ones keep their order.
    pub fn retrying(&self) -> bool {
        self.batches.iter().any(|b| b.attempts > 0)
    }

    /// Puts a failed batch back for a re-send, before every batch with a later sequence
    /// (or never sent), and backs off.
    pub fn requeue(&mut self, batch: Batch, now: Instant) {
        let position = self
            .batches
            .iter()
            .position(|queued| match (queued.base_sequence, batch.base_sequence) {
                (Some(queued), Some(failed)) => queued > failed,
                _ => queued.attempts == 0,
            })
            .unwrap_or(self.batches.len());
        self.batches.insert(position, batch);
        self.backoff_until = Some(now + self.backoff.next_delay());
    }

    /// The next sequence number for a batch of `records`, advancing it (wrapping at
    /// `i32::MAX` to 0, as Kafka does).
    pub fn take_sequence(&mut self, records: usize) -> i32 {
        let sequence = self.next_sequence;
        let next = i64::from(sequence) + records as i64;
        self.next_sequence = (next % (i64::from(i32::MAX) + 1)) as i32;
        sequence
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn numbered(queue: &mut PartitionQueue, records: usize, now: Instant) -> Batch {
        let mut batch = Batch::new(now, now + Duration::from_secs(60));
        for _ in 0..records {
            let (delivery, _) = oneshot::channel();
            let permit = std::sync::Arc::new(tokio::sync::Semaphore::new(1))
                .try_acquire_owned()
                .unwrap();
            let record = ProducerRecord::new("t").value("v");
            batch
                .records
                .push(PendingRecord::new(record, 0, delivery, permit));
        }
        batch.base_sequence = Some(queue.take_sequence(records));
        batch.encoded = Some(Bytes::from_static(b"encoded"));
        batch.attempts = 1;
        batch
    }

    fn sequences(queue: &PartitionQueue) -> Vec<Option<i32>> {
        queue.batches.iter().map(|b| b.base_sequence).collect()
    }

    #[test]
    fn sequences_advance_by_record_count_and_wrap_at_the_maximum() {
        let mut queue = PartitionQueue::new("t", BackoffConfig::default());
        assert_eq!(queue.take_sequence(3), 0);
        assert_eq!(queue.take_sequence(2), 3);
        assert_eq!(queue.next_sequence, 5);
        queue.next_sequence = i32::MAX - 1;
        assert_eq!(queue.take_sequence(5), i32::MAX - 1);
        assert_eq!(queue.next_sequence, 3, "wraps to 0 as Kafka does");
    }

    #[test]
    fn a_failed_batch_goes_back_before_later_ones_in_sequence_order() {
        let now = Instant::now();
        let mut queue = PartitionQueue::new("t", BackoffConfig::default());
        let first = numbered(&mut queue, 2, now);
        let second = numbered(&mut queue, 2, now);
        queue.batches.push_back(Batch::new(now, now)); // never sent
        queue.requeue(second, now);
        queue.requeue(first, now);
        assert_eq!(sequences(&queue), [Some(0), Some(2), None]);
        assert!(queue.retrying());
        assert!(queue.backoff_until.is_some_and(|t| t > now));
    }

    #[test]
    fn a_refused_batch_frees_its_sequences_for_the_batches_after_it() {
        let now = Instant::now();
        let mut queue = PartitionQueue::new("t", BackoffConfig::default());
        let refused = numbered(&mut queue, 3, now);
        let mut in_flight = numbered(&mut queue, 2, now);
        let queued = numbered(&mut queue, 4, now);
        queue.batches.push_back(queued);
        queue.in_flight = 1;
        queue.drop_sequences(refused.base_sequence.unwrap(), 3);
        assert_eq!(sequences(&queue), [Some(2)], "5 moves down to 2");
        assert!(
            queue.batches[0].encoded.is_none(),
            "re-encoded with its new number"
        );
        assert_eq!(queue.next_sequence, 6);
        // The batch that was in flight comes back refused as out of order: renumbered.
        queue.renumber(&mut in_flight);
        assert_eq!(in_flight.base_sequence, Some(0));
        assert!(in_flight.encoded.is_none());
    }
}
