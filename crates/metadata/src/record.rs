//! The metadata records: every change to the cluster's metadata is one [`MetadataRecord`].
//!
//! Records are the unit the metadata log stores and replicates, and the only way the
//! [`MetadataImage`](crate::MetadataImage) changes. Their serde form (externally tagged JSON,
//! field names as written here) is the on-disk format of the log and of snapshots, so a
//! field or variant is never renamed; new kinds of records are added as new variants (the
//! enum is `#[non_exhaustive]` so that code outside this crate already allows for them).
//! Consumer groups are not metadata: they live in `__consumer_offsets`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One change to the cluster metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MetadataRecord {
    /// A broker joined, or came back with a new address. Replaces an earlier registration of
    /// the same node.
    RegisterBroker {
        /// The broker's node id (`>= 0`).
        node_id: i32,
        /// The host clients connect to.
        host: String,
        /// The Kafka listener port (not 0).
        port: u16,
        /// The rack, for rack-aware replica placement.
        rack: Option<String>,
    },
    /// A topic was created. Its partitions follow as [`MetadataRecord::Partition`] records.
    Topic {
        /// The topic name, unique among live topics.
        name: String,
        /// The topic id, unique for ever (never the nil UUID).
        topic_id: Uuid,
    },
    /// Creates a partition, or replaces its whole state (new leader, ISR change,
    /// reassignment). Partitions of a topic are numbered densely from 0.
    ///
    /// A record for a partition that exists is a compare-and-set: it must carry
    /// `partition_epoch` equal to the image's plus one (it replaces exactly the version it
    /// was made from, so a change made from a stale image is refused on every node) and a
    /// `leader_epoch` no lower than the image's. A new partition may start at any epochs.
    Partition {
        /// The topic the partition belongs to.
        topic_id: Uuid,
        /// The partition index.
        partition: i32,
        /// Replica node ids, preferred leader first; non-empty, no duplicates.
        replicas: Vec<i32>,
        /// In-sync replicas, a subset of `replicas`.
        isr: Vec<i32>,
        /// The leader's node id, a member of `isr`, or -1 when there is none.
        leader: i32,
        /// Bumped on every leader change; never goes back.
        leader_epoch: i32,
        /// The version of the partition's state: one more than the version it replaces.
        partition_epoch: i32,
        /// While a reassignment runs: the replicas it adds (members of `replicas`, not yet
        /// all in sync). Empty otherwise, and absent from the serde form when empty, so
        /// records written before reassignments existed read the same.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        adding_replicas: Vec<i32>,
        /// While a reassignment runs: the replicas it removes once the added ones are in
        /// sync (members of `replicas`, none of them also being added).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        removing_replicas: Vec<i32>,
    },
    /// A topic was deleted, with its partitions and its config overrides.
    RemoveTopic {
        /// The topic's id.
        topic_id: Uuid,
    },
    /// A config override was set (`Some`) or removed (`None`).
    Config {
        /// What the override applies to.
        resource: ConfigResource,
        /// The config name, such as `retention.ms`.
        name: String,
        /// The new value, or `None` to remove the override.
        value: Option<String>,
    },
    /// A block of producer ids was handed to a broker; the block must start at the image's
    /// next free producer id, which it then moves past the block.
    ProducerIds {
        /// The broker the block was handed to.
        node_id: i32,
        /// The first producer id of the block.
        first_producer_id: i64,
        /// How many ids the block holds (`> 0`).
        block_size: i64,
    },
}

/// What a config override applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConfigResource {
    /// A topic, by name.
    Topic(String),
    /// A broker, by node id.
    Broker(i32),
}

impl MetadataRecord {
    /// The records that create topic `name` with id `topic_id` and `partitions` partitions,
    /// each with the single replica `node_id` as leader and sole ISR member, at epoch 0: the
    /// batch a single-node broker commits for CreateTopics.
    pub fn topic_with_partitions(
        name: impl Into<String>,
        topic_id: Uuid,
        partitions: i32,
        node_id: i32,
    ) -> Vec<MetadataRecord> {
        let mut records = Vec::with_capacity(1 + usize::try_from(partitions).unwrap_or(0));
        records.push(MetadataRecord::Topic {
            name: name.into(),
            topic_id,
        });
        records.extend(
            (0..partitions)
                .map(|partition| Self::single_replica_partition(topic_id, partition, node_id)),
        );
        records
    }

    /// A new partition whose single replica `node_id` leads it at epoch 0.
    pub fn single_replica_partition(
        topic_id: Uuid,
        partition: i32,
        node_id: i32,
    ) -> MetadataRecord {
        MetadataRecord::Partition {
            topic_id,
            partition,
            replicas: vec![node_id],
            isr: vec![node_id],
            leader: node_id,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }
    }

    /// A short name of the record's kind, for logs and error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            MetadataRecord::RegisterBroker { .. } => "register_broker",
            MetadataRecord::Topic { .. } => "topic",
            MetadataRecord::Partition { .. } => "partition",
            MetadataRecord::RemoveTopic { .. } => "remove_topic",
            MetadataRecord::Config { .. } => "config",
            MetadataRecord::ProducerIds { .. } => "producer_ids",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_form_is_stable() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let record = MetadataRecord::Topic {
            name: "orders".into(),
            topic_id: id,
        };
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(
            json,
            r#"{"Topic":{"name":"orders","topic_id":"01234567-89ab-cdef-0123-456789abcdef"}}"#
        );
        let config = MetadataRecord::Config {
            resource: ConfigResource::Broker(3),
            name: "log.retention.ms".into(),
            value: None,
        };
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(
            json,
            r#"{"Config":{"resource":{"Broker":3},"name":"log.retention.ms","value":null}}"#
        );
        for r in [record, config] {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<MetadataRecord>(&json).unwrap(), r);
        }
    }

    #[test]
    fn topic_with_partitions_builds_a_creation_batch() {
        let id = Uuid::new_v4();
        let records = MetadataRecord::topic_with_partitions("t", id, 3, 1);
        assert_eq!(records.len(), 4);
        assert_eq!(records[0].kind(), "topic");
        assert!(matches!(
            &records[3],
            MetadataRecord::Partition { partition: 2, replicas, leader: 1, .. } if replicas == &[1]
        ));
        assert_eq!(
            MetadataRecord::topic_with_partitions("t", id, 0, 1).len(),
            1
        );
    }
}
