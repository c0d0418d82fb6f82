//! The `consumer` embedded protocol: what a member puts in its JoinGroup metadata (a
//! subscription) and what the leader hands each member in SyncGroup (an assignment).
//!
//! These are not Kafka API messages but byte strings inside them, encoded as Kafka's
//! `ConsumerProtocolSubscription` and `ConsumerProtocolAssignment` schemas (versions 0-3,
//! not flexible: an `int16` version, then the fields of that version with `int16`-length
//! strings, `int32`-count arrays and `int32`-length nullable bytes), so that Java and
//! librdkafka members can share a group with ours:
//!
//! ```text
//! Subscription: version int16, topics [string], user_data nullable bytes,
//!               owned_partitions [topic string, partitions [int32]] (v1+),
//!               generation_id int32 (v2+, default -1), rack_id nullable string (v3+)
//! Assignment:   version int16, assigned_partitions [topic string, partitions [int32]],
//!               user_data nullable bytes
//! ```
//!
//! Decoding checks every length and count against the bytes left before allocating, reads a
//! newer version than 3 as version 3 (newer versions only append fields, as Java reads
//! them), and ignores trailing bytes.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

use crate::offsets::TopicPartition;

/// The highest version this client writes and reads.
pub(crate) const VERSION: i16 = 3;

/// A member's subscription, from its JoinGroup metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Subscription {
    /// The topics the member wants.
    pub topics: Vec<String>,
    /// Assignor-specific data (the cooperative-sticky assignor puts the generation here).
    pub user_data: Option<Bytes>,
    /// The partitions the member owns now (v1+).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation the owned partitions are from, -1 for none (v2+).
    pub generation_id: i32,
    /// The member's rack (v3+).
    pub rack_id: Option<String>,
}

/// What the leader assigned a member.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Assignment {
    /// The partitions.
    pub partitions: Vec<TopicPartition>,
    /// Assignor-specific data.
    pub user_data: Option<Bytes>,
}

/// Why a subscription or an assignment did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ProtocolError {
    /// A field runs past the end.
    #[error("the {0} field is truncated")]
    Truncated(&'static str),
    /// A length or count is negative where it may not be, or a string is not UTF-8.
    #[error("the {0} field is malformed")]
    Malformed(&'static str),
    /// The version is negative.
    #[error("version {0} is not a consumer protocol version")]
    Version(i16),
}

impl Subscription {
    /// Encodes at [`VERSION`].
    pub(crate) fn encode(&self) -> Bytes {
        self.encode_version(VERSION)
    }

    /// Encodes at `version` (0-3), leaving out the fields newer than it.
    pub(crate) fn encode_version(&self, version: i16) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i16(version);
        put_len(&mut out, self.topics.len());
        for topic in &self.topics {
            put_string(&mut out, topic);
        }
        put_nullable_bytes(&mut out, self.user_data.as_deref());
        if version >= 1 {
            put_topic_partitions(&mut out, &self.owned_partitions);
        }
        if version >= 2 {
            out.put_i32(self.generation_id);
        }
        if version >= 3 {
            match &self.rack_id {
                Some(rack) => put_string(&mut out, rack),
                None => out.put_i16(-1),
            }
        }
        out.freeze()
    }

    /// Decodes any version.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Subscription, ProtocolError> {
        let mut r = Reader(bytes);
        let version = r.i16("version")?;
        if version < 0 {
            return Err(ProtocolError::Version(version));
        }
        let version = version.min(VERSION);
        let count = r.count("topics", 2)?;
        let mut topics = Vec::with_capacity(count);
        for _ in 0..count {
            topics.push(r.string("topics")?);
        }
        let user_data = r.nullable_bytes("user_data")?;
        let owned_partitions = if version >= 1 {
            r.topic_partitions("owned_partitions")?
        } else {
            Vec::new()
        };
        let generation_id = if version >= 2 {
            r.i32("generation_id")?
        } else {
            -1
        };
        let rack_id = if version >= 3 {
            r.nullable_string("rack_id")?
        } else {
            None
        };
        Ok(Subscription {
            topics,
            user_data,
            owned_partitions,
            generation_id,
            rack_id,
        })
    }
}

impl Assignment {
    /// Encodes at [`VERSION`].
    pub(crate) fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i16(VERSION);
        put_topic_partitions(&mut out, &self.partitions);
        put_nullable_bytes(&mut out, self.user_data.as_deref());
        out.freeze()
    }

    /// Decodes any version. Empty bytes (what a member gets when the leader assigned it
    /// nothing at all) are an empty assignment.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Assignment, ProtocolError> {
        if bytes.is_empty() {
            return Ok(Assignment::default());
        }
        let mut r = Reader(bytes);
        let version = r.i16("version")?;
        if version < 0 {
            return Err(ProtocolError::Version(version));
        }
        let partitions = r.topic_partitions("assigned_partitions")?;
        let user_data = r.nullable_bytes("user_data")?;
        Ok(Assignment {
            partitions,
            user_data,
        })
    }
}

fn put_len(out: &mut BytesMut, len: usize) {
    out.put_i32(i32::try_from(len).unwrap_or(i32::MAX));
}

fn put_string(out: &mut BytesMut, s: &str) {
    // Topic names and racks are far below 32 KiB; a longer string is cut rather than
    // written with a wrapped length.
    let bytes = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    out.put_i16(bytes.len() as i16);
    out.put_slice(bytes);
}

fn put_nullable_bytes(out: &mut BytesMut, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            put_len(out, bytes.len());
            out.put_slice(bytes);
        }
        None => out.put_i32(-1),
    }
}

/// Writes `[topic string, partitions [int32]]`, one entry per topic in name order.
fn put_topic_partitions(out: &mut BytesMut, partitions: &[TopicPartition]) {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        by_topic.entry(topic).or_default().push(*partition);
    }
    put_len(out, by_topic.len());
    for (topic, partitions) in by_topic {
        put_string(out, topic);
        put_len(out, partitions.len());
        for partition in partitions {
            out.put_i32(partition);
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&[u8], ProtocolError> {
        if self.0.len() < n {
            return Err(ProtocolError::Truncated(field));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, ProtocolError> {
        let b = self.take(2, field)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, ProtocolError> {
        let b = self.take(4, field)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An array count, checked against the bytes left given each element's least size.
    fn count(&mut self, field: &'static str, min_element: usize) -> Result<usize, ProtocolError> {
        let count = self.i32(field)?;
        let count = usize::try_from(count).map_err(|_| ProtocolError::Malformed(field))?;
        if count > self.0.len() / min_element {
            return Err(ProtocolError::Truncated(field));
        }
        Ok(count)
    }

    fn string(&mut self, field: &'static str) -> Result<String, ProtocolError> {
        self.nullable_string(field)?
            .ok_or(ProtocolError::Malformed(field))
    }

    fn nullable_string(&mut self, field: &'static str) -> Result<Option<String>, ProtocolError> {
        let len = self.i16(field)?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(len as usize, field)?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| ProtocolError::Malformed(field))
    }

    fn nullable_bytes(&mut self, field: &'static str) -> Result<Option<Bytes>, ProtocolError> {
        let len = self.i32(field)?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(len as usize, field)?;
        Ok(Some(Bytes::copy_from_slice(bytes)))
    }

    fn topic_partitions(
        &mut self,
        field: &'static str,
    ) -> Result<Vec<TopicPartition>, ProtocolError> {
        let topics = self.count(field, 6)?;
        let mut out = Vec::new();
        for _ in 0..topics {
            let topic = self.string(field)?;
            let count = self.count(field, 4)?;
            out.reserve(count);
            for _ in 0..count {
                out.push((topic.clone(), self.i32(field)?));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        (topic.to_owned(), partition)
    }

    /// `(len: int16, bytes)`, as the schema's `string`.
    fn string(s: &str) -> Vec<u8> {
        let mut out = (s.len() as i16).to_be_bytes().to_vec();
        out.extend_from_slice(s.as_bytes());
        out
    }

    fn i32s(values: &[i32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    fn subscription() -> Subscription {
        Subscription {
            topics: vec!["orders".into(), "payments".into()],
            user_data: Some(Bytes::from_static(&[0, 0, 0, 7])),
            owned_partitions: vec![tp("orders", 0), tp("orders", 2), tp("payments", 1)],
            generation_id: 7,
            rack_id: Some("r1".into()),
        }
    }

    #[test]
    fn a_v3_subscription_is_laid_out_as_the_schema_says() {
        let mut expected = vec![0, 3]; // version
        expected.extend(i32s(&[2])); // topics
        expected.extend(string("orders"));
        expected.extend(string("payments"));
        expected.extend(i32s(&[4, 7])); // user_data: length 4, then the bytes 0 0 0 7
        expected.extend(i32s(&[2])); // owned_partitions: 2 topics
        expected.extend(string("orders"));
        expected.extend(i32s(&[2, 0, 2]));
        expected.extend(string("payments"));
        expected.extend(i32s(&[1, 1]));
        expected.extend(i32s(&[7])); // generation_id
        expected.extend(string("r1")); // rack_id
        let encoded = subscription().encode();
        assert_eq!(encoded.as_ref(), expected.as_slice());
        assert_eq!(Subscription::decode(&expected).unwrap(), subscription());
    }

    #[test]
    fn older_versions_leave_out_the_newer_fields() {
        let sub = Subscription {
            user_data: None,
            rack_id: None,
            ..subscription()
        };
        // v0 is what Java 2.2 and older send: version, topics, user_data.
        let mut v0 = vec![0, 0];
        v0.extend(i32s(&[2]));
        v0.extend(string("orders"));
        v0.extend(string("payments"));
        v0.extend(i32s(&[-1]));
        assert_eq!(sub.encode_version(0).as_ref(), v0.as_slice());
        let decoded = Subscription::decode(&v0).unwrap();
        assert_eq!(decoded.topics, sub.topics);
        assert!(decoded.owned_partitions.is_empty());
        assert_eq!(decoded.generation_id, -1, "the schema's default");

        let v3 = sub.encode_version(3);
        assert_eq!(
            &v3[v3.len() - 2..],
            &[0xff, 0xff],
            "a null rack is length -1"
        );
        assert_eq!(Subscription::decode(&v3).unwrap(), sub);
    }

    #[test]
    fn a_newer_version_reads_as_version_3_and_trailing_bytes_are_ignored() {
        let mut bytes = subscription().encode().to_vec();
        bytes[1] = 9;
        bytes.extend_from_slice(&[1, 2, 3]);
        assert_eq!(Subscription::decode(&bytes).unwrap(), subscription());
    }

    #[test]
    fn an_assignment_is_laid_out_as_the_schema_says() {
        let assignment = Assignment {
            partitions: vec![tp("b", 3), tp("a", 1), tp("b", 0)],
            user_data: None,
        };
        let mut expected = vec![0, 3];
        expected.extend(i32s(&[2]));
        expected.extend(string("a"));
        expected.extend(i32s(&[1, 1]));
        expected.extend(string("b"));
        expected.extend(i32s(&[2, 3, 0]));
        expected.extend(i32s(&[-1]));
        assert_eq!(assignment.encode().as_ref(), expected.as_slice());
        let decoded = Assignment::decode(&expected).unwrap();
        assert_eq!(decoded.partitions, [tp("a", 1), tp("b", 3), tp("b", 0)]);
        assert_eq!(decoded.user_data, None);
    }

    #[test]
    fn a_v0_assignment_from_an_old_client_decodes() {
        let mut v0 = vec![0, 0];
        v0.extend(i32s(&[1]));
        v0.extend(string("t"));
        v0.extend(i32s(&[1, 5]));
        v0.extend(i32s(&[2]));
        v0.extend_from_slice(&[9, 9]);
        let decoded = Assignment::decode(&v0).unwrap();
        assert_eq!(decoded.partitions, [tp("t", 5)]);
        assert_eq!(decoded.user_data, Some(Bytes::from_static(&[9, 9])));
        assert_eq!(Assignment::decode(&[]).unwrap(), Assignment::default());
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic_or_an_allocation() {
        assert_eq!(
            Subscription::decode(&[0]),
            Err(ProtocolError::Truncated("version"))
        );
        assert_eq!(
            Subscription::decode(&[0, 0, 0x7f, 0xff, 0xff, 0xff]),
            Err(ProtocolError::Truncated("topics"))
        );
        assert_eq!(
            Subscription::decode(&[0xff, 0xff]),
            Err(ProtocolError::Version(-1))
        );
        let mut bad_utf8 = vec![0, 0, 0, 0, 0, 1, 0, 1, 0xff];
        bad_utf8.extend(i32s(&[-1]));
        assert_eq!(
            Subscription::decode(&bad_utf8),
            Err(ProtocolError::Malformed("topics"))
        );
        assert!(Assignment::decode(&[0, 1, 0, 0, 0, 1, 0, 9]).is_err());
        // Every prefix of a valid encoding fails cleanly.
        let full = subscription().encode();
        for len in 0..full.len() {
            assert!(Subscription::decode(&full[..len]).is_err(), "prefix {len}");
        }
    }
}
