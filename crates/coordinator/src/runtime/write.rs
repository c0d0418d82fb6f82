//! Writing the state machine's [`Record`]s to the group's `__consumer_offsets` partition:
//! one uncompressed batch per record, keyed as [`crate::stored`] describes, committed (as
//! durable as the topic's flush policy makes it) before `append` returns.

use std::sync::Arc;

use bytes::Bytes;
use streambus_replication::{Partition, ReplicationError};
use streambus_storage::records::{BatchBuilder, BuildError};
use thiserror::Error;

use crate::effect::Record;
use crate::stored::{self, StoredKey};

/// Why group state could not be written.
#[derive(Debug, Error)]
pub enum WriteError {
    /// The batch could not be built.
    #[error("cannot build the batch")]
    Build(#[source] BuildError),
    /// The partition refused or failed the append.
    #[error("cannot append to {partition}")]
    Append {
        /// The `__consumer_offsets` partition.
        partition: String,
        /// What went wrong.
        #[source]
        source: ReplicationError,
    },
}

/// The key/value pairs a record stands for; `None` values are tombstones.
fn entries(group: &str, record: &Record) -> Vec<(StoredKey, Option<Vec<u8>>)> {
    let group_key = || StoredKey::Group {
        group: group.to_string(),
    };
    let offset_key = |partition: &crate::TopicPartition| StoredKey::Offset {
        group: group.to_string(),
        partition: partition.clone(),
    };
    match record {
        Record::Group(metadata) => vec![(group_key(), Some(stored::encode_group(metadata)))],
        Record::GroupTombstone => vec![(group_key(), None)],
        Record::Offsets(offsets) => offsets
            .iter()
            .map(|(tp, offset)| (offset_key(tp), Some(stored::encode_offset(offset))))
            .collect(),
        Record::OffsetTombstones(partitions) => {
            partitions.iter().map(|tp| (offset_key(tp), None)).collect()
        }
    }
}

/// Appends `record` of `group` and waits until it is committed.
pub(super) async fn append(
    partition: &Arc<Partition>,
    group: &str,
    record: &Record,
) -> Result<(), WriteError> {
    let entries = entries(group, record);
    if entries.is_empty() {
        return Ok(());
    }
    let now = streambus_storage::now_ms();
    let mut builder = BatchBuilder::new();
    for (key, value) in entries {
        builder.push_kv(
            now,
            Some(Bytes::from(key.encode())),
            value.map(Bytes::from),
            Vec::new(),
        );
    }
    let batch = builder.build().map_err(WriteError::Build)?.freeze();
    partition
        .append(batch)
        .await
        .map_err(|source| WriteError::Append {
            partition: partition.topic_partition().to_string(),
            source,
        })?;
    Ok(())
}
