//! The key and value formats of `__consumer_offsets` records, Kafka's own (so tools that read
//! the topic understand it): every key and value starts with an `int16` schema version.
//!
//! | key version | key | value |
//! | --- | --- | --- |
//! | 0, 1 | OffsetCommitKey: group, topic, partition | OffsetCommitValue v0-v3 (we write v3) |
//! | 2 | GroupMetadataKey: group | GroupMetadataValue v0-v3 (we write v3) |
//!
//! A null value is a tombstone for its key. Decoding never panics and never allocates more
//! than the input holds: a record that does not parse is reported, not trusted.

use crate::effect::{GroupMetadata, MemberMetadata};
use crate::event::TopicPartition;
use crate::offsets::CommittedOffset;

/// What a `__consumer_offsets` key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredKey {
    /// A group's committed offset for one partition.
    Offset {
        /// The group.
        group: String,
        /// The partition.
        partition: TopicPartition,
    },
    /// A group's metadata.
    Group {
        /// The group.
        group: String,
    },
}

impl StoredKey {
    /// The group the key belongs to.
    pub fn group(&self) -> &str {
        match self {
            StoredKey::Offset { group, .. } | StoredKey::Group { group } => group,
        }
    }

    /// The key's bytes, in the newest key version of its kind.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            StoredKey::Offset { group, partition } => {
                put_i16(&mut out, 1);
                put_str(&mut out, group);
                put_str(&mut out, &partition.topic);
                put_i32(&mut out, partition.partition);
            }
            StoredKey::Group { group } => {
                put_i16(&mut out, 2);
                put_str(&mut out, group);
            }
        }
        out
    }

    /// Parses a key; `None` if it is not one of Kafka's key versions.
    pub fn decode(bytes: &[u8]) -> Option<StoredKey> {
        let mut r = Reader(bytes);
        let key = match r.i16()? {
            0 | 1 => StoredKey::Offset {
                group: r.string()?,
                partition: TopicPartition {
                    topic: r.string()?,
                    partition: r.i32()?,
                },
            },
            2 => StoredKey::Group { group: r.string()? },
            _ => return None,
        };
        Some(key)
    }
}

/// The value of an offset key, OffsetCommitValue v3.
pub fn encode_offset(offset: &CommittedOffset) -> Vec<u8> {
    let mut out = Vec::new();
    put_i16(&mut out, 3);
    put_i64(&mut out, offset.offset);
    put_i32(&mut out, offset.leader_epoch);
    put_str(&mut out, offset.metadata.as_deref().unwrap_or_default());
    put_i64(&mut out, offset.commit_timestamp_ms as i64);
    out
}

/// Parses an OffsetCommitValue of any version from 0 to 3.
pub fn decode_offset(bytes: &[u8]) -> Option<CommittedOffset> {
    let mut r = Reader(bytes);
    let version = r.i16()?;
    if !(0..=3).contains(&version) {
        return None;
    }
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.string()?;
    let commit_timestamp = r.i64()?;
    if version == 1 {
        let _expire_timestamp = r.i64()?;
    }
    Some(CommittedOffset {
        offset,
        leader_epoch,
        metadata: Some(metadata),
        commit_timestamp_ms: u64::try_from(commit_timestamp).unwrap_or(0),
    })
}

/// The value of a group key, GroupMetadataValue v3.
pub fn encode_group(group: &GroupMetadata) -> Vec<u8> {
    let mut out = Vec::new();
    put_i16(&mut out, 3);
    put_str(&mut out, group.protocol_type.as_deref().unwrap_or_default());
    put_i32(&mut out, group.generation);
    put_nullable_str(&mut out, group.protocol_name.as_deref());
    put_nullable_str(&mut out, group.leader.as_deref());
    put_i64(&mut out, group.current_state_timestamp_ms as i64);
    put_i32(&mut out, group.members.len() as i32);
    for m in &group.members {
        put_str(&mut out, &m.member_id);
        put_nullable_str(&mut out, m.group_instance_id.as_deref());
        put_str(&mut out, &m.client_id);
        put_str(&mut out, &m.client_host);
        put_i32(&mut out, m.rebalance_timeout_ms as i32);
        put_i32(&mut out, m.session_timeout_ms as i32);
        put_bytes(&mut out, &m.subscription);
        put_bytes(&mut out, &m.assignment);
    }
    out
}

/// Parses a GroupMetadataValue of any version from 0 to 3.
pub fn decode_group(bytes: &[u8]) -> Option<GroupMetadata> {
    let mut r = Reader(bytes);
    let version = r.i16()?;
    if !(0..=3).contains(&version) {
        return None;
    }
    let protocol_type = Some(r.string()?).filter(|t| !t.is_empty());
    let generation = r.i32()?;
    let protocol_name = r.nullable_string()?;
    let leader = r.nullable_string()?;
    let current_state_timestamp = if version >= 2 { r.i64()? } else { 0 };
    // A member takes at least 22 bytes (four empty strings, two timeouts, two empty byte
    // fields), so a wild count fails before anything is reserved.
    let count = usize::try_from(r.i32()?).ok()?;
    if count > r.0.len() / 22 {
        return None;
    }
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        let member_id = r.string()?;
        let group_instance_id = if version >= 3 {
            r.nullable_string()?
        } else {
            None
        };
        let client_id = r.string()?;
        let client_host = r.string()?;
        let rebalance_timeout = if version >= 1 { Some(r.i32()?) } else { None };
        let session_timeout = r.i32()?;
        members.push(MemberMetadata {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms: u32::try_from(rebalance_timeout.unwrap_or(session_timeout))
                .ok()?,
            session_timeout_ms: u32::try_from(session_timeout).ok()?,
            subscription: r.bytes()?,
            assignment: r.bytes()?,
        });
    }
    Some(GroupMetadata {
        protocol_type,
        generation,
        protocol_name,
        leader,
        current_state_timestamp_ms: u64::try_from(current_state_timestamp).unwrap_or(0),
        members,
    })
}

fn put_i16(out: &mut Vec<u8>, v: i16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Strings longer than `i16::MAX` bytes cannot be written; group ids, topic names, member ids
/// and client ids are far shorter, and the metadata string is capped well below that.
fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = s.len().min(i16::MAX as usize);
    put_i16(out, len as i16);
    out.extend_from_slice(&s.as_bytes()[..len]);
}

fn put_nullable_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => put_i16(out, -1),
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_i32(out, b.len() as i32);
    out.extend_from_slice(b);
}

/// Big-endian reads that fail on short input.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    fn nullable_string(&mut self) -> Option<Option<String>> {
        let len = self.i16()?;
        if len == -1 {
            return Some(None);
        }
        let bytes = self.take(usize::try_from(len).ok()?)?;
        Some(Some(String::from_utf8(bytes.to_vec()).ok()?))
    }

    fn string(&mut self) -> Option<String> {
        self.nullable_string()?
    }

    fn bytes(&mut self) -> Option<Vec<u8>> {
        let len = self.i32()?;
        if len == -1 {
            return Some(Vec::new());
        }
        Some(self.take(usize::try_from(len).ok()?)?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> GroupMetadata {
        GroupMetadata {
            protocol_type: Some("consumer".into()),
            generation: 7,
            protocol_name: Some("range".into()),
            leader: Some("m-1".into()),
            current_state_timestamp_ms: 1_700_000_000_000,
            members: vec![MemberMetadata {
                member_id: "m-1".into(),
                group_instance_id: Some("i-1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: vec![0, 1, 2],
                assignment: vec![9; 40],
            }],
        }
    }

    #[test]
    fn keys_round_trip_in_kafkas_layout() {
        let key = StoredKey::Offset {
            group: "g".into(),
            partition: TopicPartition::new("t", 3),
        };
        let bytes = key.encode();
        assert_eq!(bytes, [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        assert_eq!(StoredKey::decode(&bytes), Some(key));
        let key = StoredKey::Group { group: "g".into() };
        assert_eq!(key.encode(), [0, 2, 0, 1, b'g']);
        assert_eq!(StoredKey::decode(&key.encode()), Some(key));
        assert_eq!(StoredKey::decode(&[0, 3, 0, 1, b'g']), None);
    }

    #[test]
    fn offsets_round_trip_and_old_versions_read() {
        let offset = CommittedOffset {
            offset: 42,
            leader_epoch: 5,
            metadata: Some("meta".into()),
            commit_timestamp_ms: 1234,
        };
        assert_eq!(decode_offset(&encode_offset(&offset)), Some(offset));
        // v1: offset, metadata, commit timestamp, expire timestamp.
        let mut v1 = vec![0, 1];
        v1.extend_from_slice(&10i64.to_be_bytes());
        v1.extend_from_slice(&[0, 0]);
        v1.extend_from_slice(&99i64.to_be_bytes());
        v1.extend_from_slice(&(-1i64).to_be_bytes());
        let read = decode_offset(&v1).unwrap();
        assert_eq!(
            (read.offset, read.leader_epoch, read.commit_timestamp_ms),
            (10, -1, 99)
        );
    }

    #[test]
    fn groups_round_trip() {
        assert_eq!(decode_group(&encode_group(&group())), Some(group()));
        let empty = GroupMetadata {
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: Vec::new(),
            ..group()
        };
        assert_eq!(decode_group(&encode_group(&empty)), Some(empty));
    }

    #[test]
    fn truncated_or_wild_values_are_refused() {
        let bytes = encode_group(&group());
        for len in 0..bytes.len() {
            assert_eq!(decode_group(&bytes[..len]), None, "prefix of {len} bytes");
        }
        let mut wild = encode_group(&GroupMetadata {
            members: Vec::new(),
            ..group()
        });
        let at = wild.len() - 4;
        wild[at..].copy_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(decode_group(&wild), None);
        let bytes = encode_offset(&CommittedOffset {
            offset: 1,
            leader_epoch: 0,
            metadata: None,
            commit_timestamp_ms: 0,
        });
        for len in 0..bytes.len() {
            assert_eq!(decode_offset(&bytes[..len]), None);
        }
    }
}
