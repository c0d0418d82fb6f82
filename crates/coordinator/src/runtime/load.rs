//! Loading a `__consumer_offsets` partition: replaying its records, oldest first, into the
//! latest metadata and offsets of each group, and rebuilding the groups from them.
//!
//! Later records win and tombstones remove, which is exactly the view key compaction keeps,
//! so a compacted and an uncompacted log load the same. Control batches are skipped, and a
//! record that does not parse is logged and ignored rather than trusted.

use std::collections::BTreeMap;
use std::sync::Arc;

use streambus_replication::{Partition, ReplicationError};
use streambus_storage::batch::BatchIter;
use streambus_storage::records::decode_records_bytes;
use thiserror::Error;

use super::{GroupCoordinator, Slot, lock, now_ms};
use crate::effect::GroupMetadata;
use crate::event::TopicPartition;
use crate::group::Group;
use crate::offsets::CommittedOffset;
use crate::stored::{self, StoredKey};

/// Bytes read from the log at a time while loading.
const READ_CHUNK: usize = 1 << 20;
/// Largest records section inflated from one batch (we write none compressed).
const MAX_UNCOMPRESSED: usize = 64 << 20;

/// Why a partition could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The log could not be read.
    #[error("cannot read {partition} at offset {offset}")]
    Read {
        /// The partition.
        partition: String,
        /// Where the read started.
        offset: i64,
        /// What went wrong.
        #[source]
        source: ReplicationError,
    },
    /// A read returned no batch that moves past the offset asked for.
    #[error("{partition} makes no progress at offset {offset}")]
    Stuck {
        /// The partition.
        partition: String,
        /// The offset.
        offset: i64,
    },
}

/// What the log holds for one group.
#[derive(Default)]
struct StoredGroup {
    metadata: Option<GroupMetadata>,
    offsets: BTreeMap<TopicPartition, CommittedOffset>,
}

/// Replays every committed record of `partition`.
fn replay(partition: &Partition) -> Result<BTreeMap<String, StoredGroup>, LoadError> {
    let name = partition.topic_partition().to_string();
    let mut groups: BTreeMap<String, StoredGroup> = BTreeMap::new();
    let mut offset = partition.log_start_offset();
    let end = partition.high_watermark();
    let mut skipped = 0usize;
    while offset < end {
        let read = partition
            .read(offset, READ_CHUNK)
            .map_err(|source| LoadError::Read {
                partition: name.clone(),
                offset,
                source,
            })?;
        let start = offset;
        for (header, range) in BatchIter::new(&read.records) {
            if header.last_offset() < offset {
                continue;
            }
            offset = header.next_offset();
            if header.is_control() {
                continue;
            }
            let records = match decode_records_bytes(&read.records.slice(range), MAX_UNCOMPRESSED) {
                Ok(records) => records,
                Err(error) => {
                    tracing::warn!(partition = %name, offset = header.base_offset, %error, "skipping a batch that does not decode");
                    continue;
                }
            };
            for record in records {
                if !apply(&mut groups, record.key.as_deref(), record.value.as_deref()) {
                    skipped += 1;
                }
            }
        }
        if offset <= start {
            return Err(LoadError::Stuck {
                partition: name,
                offset,
            });
        }
    }
    if skipped > 0 {
        tracing::warn!(partition = %name, skipped, "skipped records that do not parse");
    }
    Ok(groups)
}

/// Applies one record; `false` if it does not parse.
fn apply(
    groups: &mut BTreeMap<String, StoredGroup>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> bool {
    let Some(key) = key.and_then(StoredKey::decode) else {
        return false;
    };
    let group = groups.entry(key.group().to_string()).or_default();
    match (key, value) {
        (StoredKey::Group { .. }, None) => group.metadata = None,
        (StoredKey::Group { .. }, Some(value)) => match stored::decode_group(value) {
            Some(metadata) => group.metadata = Some(metadata),
            None => return false,
        },
        (StoredKey::Offset { partition, .. }, None) => {
            group.offsets.remove(&partition);
        }
        (StoredKey::Offset { partition, .. }, Some(value)) => match stored::decode_offset(value) {
            Some(offset) => {
                group.offsets.insert(partition, offset);
            }
            None => return false,
        },
    }
    true
}

impl GroupCoordinator {
    /// Loads partition `index` of `__consumer_offsets` and serves its groups from now on.
    /// Returns how many groups it holds. Idempotent: groups already loaded are kept.
    pub fn load(&self, index: i32, partition: Arc<Partition>) -> Result<usize, LoadError> {
        if lock(&self.partitions).contains_key(&index) {
            return Ok(0);
        }
        let stored = replay(&partition)?;
        let now = now_ms();
        let mut loaded = 0;
        {
            let mut groups = lock(&self.groups);
            for (id, stored) in stored {
                if stored.metadata.is_none() && stored.offsets.is_empty() {
                    continue;
                }
                if self.partition_for(&id) != index {
                    tracing::warn!(group = %id, partition = index, "a group stored in the wrong partition is ignored");
                    continue;
                }
                let group = Group::restore(
                    id.clone(),
                    self.config.clone(),
                    stored.metadata,
                    stored.offsets,
                    now,
                );
                groups.insert(
                    id,
                    Arc::new(Slot {
                        group: tokio::sync::Mutex::new(group),
                        timer: std::sync::Mutex::new(None),
                    }),
                );
                loaded += 1;
            }
        }
        lock(&self.partitions).insert(index, partition);
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_records_win_and_tombstones_remove() {
        let mut groups = BTreeMap::new();
        let tp = TopicPartition::new("t", 0);
        let key = StoredKey::Offset {
            group: "g".into(),
            partition: tp.clone(),
        }
        .encode();
        let offset = |n| CommittedOffset {
            offset: n,
            leader_epoch: -1,
            metadata: Some(String::new()),
            commit_timestamp_ms: 1,
        };
        assert!(apply(
            &mut groups,
            Some(&key),
            Some(&stored::encode_offset(&offset(1)))
        ));
        assert!(apply(
            &mut groups,
            Some(&key),
            Some(&stored::encode_offset(&offset(5)))
        ));
        assert_eq!(groups["g"].offsets[&tp], offset(5));
        assert!(apply(&mut groups, Some(&key), None));
        assert!(groups["g"].offsets.is_empty());
        assert!(!apply(&mut groups, Some(&[0, 9]), None));
        assert!(!apply(&mut groups, None, None));
        assert!(!apply(&mut groups, Some(&key), Some(&[0, 3, 1])));
    }
}
