//! What a caller hands the producer, and what it gets back once the record is written.

use bytes::Bytes;

/// A record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// The topic.
    pub topic: String,
    /// The partition, or `None` to let the partitioner choose (by key, or sticky).
    pub partition: Option<i32>,
    /// The key, if any.
    pub key: Option<Bytes>,
    /// The value; `None` is a tombstone on a compacted topic.
    pub value: Option<Bytes>,
    /// Headers in order; a header value may be null.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// The timestamp in milliseconds since the epoch; `None` for the time of sending.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record for `topic` with no key, value or headers yet.
    pub fn new(topic: impl Into<String>) -> ProducerRecord {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// With this key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// With this value.
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// With one more header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((key.into(), Some(value.into())));
        self
    }

    /// To this partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// With this timestamp (milliseconds since the epoch).
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// The bytes this record takes in a batch, roughly: what batching and the buffer
    /// limit count.
    pub(crate) fn estimated_size(&self) -> usize {
        let field = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.len() + field(v) + 4)
            .sum();
        // Length, attributes, timestamp and offset deltas, two length varints: ~20 bytes.
        20 + field(&self.key) + field(&self.value) + headers
    }
}

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic (shared by the records of a partition, rather than copied for each).
    pub topic: std::sync::Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset; -1 with `acks = 0`, where the broker does not say.
    pub offset: i64,
    /// The record's timestamp: its create time, or the broker's append time on a topic
    /// with `message.timestamp.type=LogAppendTime`.
    pub timestamp: i64,
}
