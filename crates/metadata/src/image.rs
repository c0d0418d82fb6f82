//! The in-memory metadata image: the state that applying the committed records in order
//! builds, and the queries the broker answers Metadata, DescribeConfigs and the like from.
//!
//! Invariants, kept by [`MetadataImage::apply`] (in `apply.rs`), which refuses any record
//! that would break them and then leaves the image unchanged:
//! - topic names and topic ids are each unique among live topics, and the two indexes agree;
//! - a topic's partitions are numbered densely from 0; every partition has a non-empty
//!   replica list without duplicates, an ISR within it, a leader in the ISR or -1, a leader
//!   epoch that never goes back, and a partition epoch that each change moves up by exactly
//!   one (a change is a compare-and-set on the version it was made from);
//! - config overrides exist only for live topics (removing a topic removes them);
//! - producer id blocks are handed out back to back from 0, and `next_producer_id` is the
//!   first id not yet handed out.
//!
//! Images are shared as `Arc<MetadataImage>` and never change once published: a commit
//! clones the current image, applies the batch to the clone and publishes it. The clone is
//! shallow for topics (each is an `Arc<TopicImage>`, copied only when a record changes it),
//! but copies the name and id indexes and the broker and config maps, so a commit costs
//! O(topics + brokers) pointer copies. That is fine for thousands of topics; a cluster with
//! hundreds of thousands would want persistent maps here.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use uuid::Uuid;

use crate::record::{ConfigResource, MetadataRecord};

/// A registered broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistration {
    /// The node id.
    pub node_id: i32,
    /// The host clients connect to.
    pub host: String,
    /// The Kafka listener port.
    pub port: u16,
    /// The rack, if any.
    pub rack: Option<String>,
}

/// The state of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    /// The partition index.
    pub partition: i32,
    /// Replica node ids, preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// The leader's node id, or -1.
    pub leader: i32,
    /// The leader epoch.
    pub leader_epoch: i32,
    /// The partition epoch.
    pub partition_epoch: i32,
    /// Replicas a reassignment in progress adds; empty when none runs.
    pub adding_replicas: Vec<i32>,
    /// Replicas a reassignment in progress removes once the added ones are in sync.
    pub removing_replicas: Vec<i32>,
}

impl PartitionImage {
    /// The record that sets a partition of topic `topic_id` to this state.
    pub fn record(&self, topic_id: Uuid) -> MetadataRecord {
        MetadataRecord::Partition {
            topic_id,
            partition: self.partition,
            replicas: self.replicas.clone(),
            isr: self.isr.clone(),
            leader: self.leader,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            adding_replicas: self.adding_replicas.clone(),
            removing_replicas: self.removing_replicas.clone(),
        }
    }

    /// Whether a reassignment is in progress.
    pub fn is_reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    /// The replicas a reassignment in progress moves to (every replica when none runs):
    /// `replicas` without those being removed, in replica order.
    pub fn target_replicas(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|r| !self.removing_replicas.contains(r))
            .collect()
    }

    /// The replicas before the reassignment in progress began (every replica when none
    /// runs): `replicas` without those being added, in replica order (which puts the
    /// target's members first, so their original order is not kept, as in Kafka).
    pub fn original_replicas(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|r| !self.adding_replicas.contains(r))
            .collect()
    }
}

/// A live topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    /// The topic name.
    pub name: String,
    /// The topic id.
    pub id: Uuid,
    /// Partitions, indexed by partition number.
    pub partitions: Vec<PartitionImage>,
    /// Config overrides by name.
    pub configs: BTreeMap<String, String>,
}

impl TopicImage {
    /// Partition `partition`, if the topic has it.
    pub fn partition(&self, partition: i32) -> Option<&PartitionImage> {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.partitions.get(p))
    }
}

/// The cluster metadata as of one offset of the metadata log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    /// The offset of the last batch applied; 0 for the empty image.
    pub(crate) offset: u64,
    /// Live topics by name.
    pub(crate) topics: BTreeMap<String, Arc<TopicImage>>,
    /// Names of live topics by id.
    pub(crate) names_by_id: HashMap<Uuid, String>,
    /// Registered brokers by node id.
    pub(crate) brokers: BTreeMap<i32, BrokerRegistration>,
    /// Broker config overrides by node id, then by name.
    pub(crate) broker_configs: BTreeMap<i32, BTreeMap<String, String>>,
    /// The first producer id not yet handed out.
    pub(crate) next_producer_id: i64,
}

impl MetadataImage {
    /// The empty image (offset 0, no topics, no brokers).
    pub fn new() -> MetadataImage {
        MetadataImage::default()
    }

    /// The offset of the last committed batch this image includes; 0 for the empty image.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Sets the offset the image stands for. The metadata log calls this after applying a
    /// batch; an implementation of [`MetadataLog`](crate::MetadataLog) built on another log
    /// (Raft) does the same with its log index.
    pub fn set_offset(&mut self, offset: u64) {
        self.offset = offset;
    }

    /// The live topic named `name`.
    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name).map(|t| &**t)
    }

    /// The live topic with id `id`.
    pub fn topic_by_id(&self, id: Uuid) -> Option<&TopicImage> {
        self.names_by_id.get(&id).and_then(|name| self.topic(name))
    }

    /// All live topics, sorted by name.
    pub fn topics(&self) -> impl ExactSizeIterator<Item = &TopicImage> {
        self.topics.values().map(|t| &**t)
    }

    /// Partition `partition` of topic `name`.
    pub fn partition(&self, name: &str, partition: i32) -> Option<&PartitionImage> {
        self.topic(name).and_then(|t| t.partition(partition))
    }

    /// Registered brokers, sorted by node id.
    pub fn brokers(&self) -> impl ExactSizeIterator<Item = &BrokerRegistration> {
        self.brokers.values()
    }

    /// The registration of broker `node_id`.
    pub fn broker(&self, node_id: i32) -> Option<&BrokerRegistration> {
        self.brokers.get(&node_id)
    }

    /// The config overrides of topic `name`; `None` if there is no such topic.
    pub fn topic_configs(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.topic(name).map(|t| &t.configs)
    }

    /// The config overrides of broker `node_id` (empty if it has none).
    pub fn broker_configs(&self, node_id: i32) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.broker_configs.get(&node_id).unwrap_or(&EMPTY)
    }

    /// The first producer id not yet handed out.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }

    /// Records that rebuild this image when applied to an empty one, in an order the image
    /// accepts: what a snapshot stores. The offset is not a record; the snapshot keeps it.
    ///
    /// The producer-id high-water mark is carried as one block from 0 held by node -1, since
    /// the image keeps only the next free id, not who holds the earlier blocks.
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        for broker in self.brokers.values() {
            records.push(MetadataRecord::RegisterBroker {
                node_id: broker.node_id,
                host: broker.host.clone(),
                port: broker.port,
                rack: broker.rack.clone(),
            });
        }
        for (&node_id, configs) in &self.broker_configs {
            for (name, value) in configs {
                records.push(MetadataRecord::Config {
                    resource: ConfigResource::Broker(node_id),
                    name: name.clone(),
                    value: Some(value.clone()),
                });
            }
        }
        if self.next_producer_id > 0 {
            records.push(MetadataRecord::ProducerIds {
                node_id: -1,
                first_producer_id: 0,
                block_size: self.next_producer_id,
            });
        }
        for topic in self.topics.values() {
            records.push(MetadataRecord::Topic {
                name: topic.name.clone(),
                topic_id: topic.id,
            });
            for p in &topic.partitions {
                records.push(p.record(topic.id));
            }
            for (name, value) in &topic.configs {
                records.push(MetadataRecord::Config {
                    resource: ConfigResource::Topic(topic.name.clone()),
                    name: name.clone(),
                    value: Some(value.clone()),
                });
            }
        }
        records
    }
}
