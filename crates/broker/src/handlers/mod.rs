//! One module per Kafka API, named as the protocol names it. Each has a `handle` function
//! that takes the broker, the request context and the decoded request, and returns the
//! response to encode at the request's version.

pub(crate) mod alter_configs;
pub(crate) mod alter_partition_reassignments;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;

pub(crate) mod api_versions;
pub(crate) mod create_partitions;
pub(crate) mod create_topics;
pub(crate) mod delete_groups;
pub(crate) mod delete_records;
pub(crate) mod delete_topics;
pub(crate) mod describe_cluster;
pub(crate) mod describe_configs;
pub(crate) mod describe_groups;
pub(crate) mod describe_producers;
pub(crate) mod elect_leaders;
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
#[cfg(test)]
mod group_tests;
pub(crate) mod heartbeat;
pub(crate) mod incremental_alter_configs;
pub(crate) mod init_producer_id;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_groups;
pub(crate) mod list_offsets;
pub(crate) mod list_partition_reassignments;
pub(crate) mod metadata;
pub(crate) mod offset_commit;
pub(crate) mod offset_delete;
pub(crate) mod offset_fetch;
pub(crate) mod offset_for_leader_epoch;
pub(crate) mod produce;
pub(crate) mod produce_trace;
pub(crate) mod sync_group;

/// The keys that appear more than once: requests that name a resource twice are refused
/// for that resource, as Kafka does.
pub(crate) fn repeated<K: Hash + Eq>(keys: impl IntoIterator<Item = K>) -> HashSet<K> {
    let mut counts: HashMap<K, usize> = HashMap::new();
    for key in keys {
        *counts.entry(key).or_default() += 1;
    }
    counts
        .into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(key, _)| key)
        .collect()
}

/// A real broker in a temporary directory and request contexts, for handler tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use streambus_metadata::MetadataRecord;
    use streambus_protocol::ApiKey;

    use crate::context::{ANONYMOUS, ConnectionInfo, RequestContext};
    use crate::topics::TopicSpec;
    use crate::{AdvertisedAddr, Broker, BrokerConfig};

    /// A broker (node 1) over a fresh data directory; keep the directory alive with it.
    pub(crate) fn broker() -> (tempfile::TempDir, Arc<Broker>) {
        let dir = tempfile::tempdir().unwrap();
        let broker = open(dir.path());
        (dir, broker)
    }

    /// A broker over an existing data directory.
    pub(crate) fn open(dir: &std::path::Path) -> Arc<Broker> {
        open_with(dir, |_| {})
    }

    /// A broker over an existing data directory, its config adjusted by `configure`.
    pub(crate) fn open_with(
        dir: &std::path::Path,
        configure: impl FnOnce(&mut BrokerConfig),
    ) -> Arc<Broker> {
        let addr = AdvertisedAddr {
            host: "127.0.0.1".into(),
            port: 9092,
        };
        let mut config = BrokerConfig::new(dir, addr);
        configure(&mut config);
        Broker::open(config).unwrap()
    }

    /// The context of a request of `api` at `version`.
    pub(crate) fn ctx(api: ApiKey, version: i16) -> RequestContext {
        RequestContext {
            connection: ConnectionInfo {
                id: 1,
                peer: "127.0.0.1:40000".parse().unwrap(),
                listener: "test",
                principal: ANONYMOUS.into(),
            },
            api_key: api as i16,
            api_version: version,
            correlation_id: 1,
            client_id: Some("test".into()),
        }
    }

    /// Registers broker 2 and commits topic `name` (id `id`) whose partitions have broker 2
    /// as their one replica and the given `(leader, leader_epoch)`: partitions this broker
    /// (node 1) neither leads nor hosts.
    pub(crate) fn led_elsewhere(broker: &Broker, name: &str, id: u128, leaders: &[(i32, i32)]) {
        let topic_id = streambus_metadata::Uuid::from_u128(id);
        let mut records = vec![
            MetadataRecord::RegisterBroker {
                node_id: 2,
                host: "127.0.0.2".into(),
                port: 9092,
                rack: None,
            },
            MetadataRecord::Topic {
                name: name.into(),
                topic_id,
            },
        ];
        records.extend(
            leaders
                .iter()
                .zip(0..)
                .map(
                    |(&(leader, leader_epoch), partition)| MetadataRecord::Partition {
                        topic_id,
                        partition,
                        replicas: vec![2],
                        isr: vec![2],
                        leader,
                        leader_epoch,
                        partition_epoch: 0,
                        adding_replicas: Vec::new(),
                        removing_replicas: Vec::new(),
                    },
                ),
        );
        broker.commit(records).unwrap();
        broker.host_partitions().unwrap();
    }

    /// Creates topic `name` with `partitions` partitions and the given overrides.
    pub(crate) async fn create_topic(
        broker: &Broker,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) {
        let spec = TopicSpec {
            name: name.into(),
            partitions,
            replication_factor: -1,
            assignments: Vec::new(),
            configs: configs
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                .collect(),
        };
        broker.create_topic(&spec, false).await.unwrap();
    }

    /// Appends one batch of `count` records to a partition, from an idempotent producer
    /// `(id, epoch, base sequence)` if given; returns the base offset.
    pub(crate) async fn produce(
        broker: &Broker,
        topic: &str,
        partition: i32,
        producer: Option<(i64, i16, i32)>,
        count: usize,
    ) -> i64 {
        let mut builder = streambus_storage::records::BatchBuilder::new();
        if let Some((id, epoch, sequence)) = producer {
            builder = builder.producer(id, epoch, sequence);
        }
        for i in 0..count {
            builder.push_kv(
                1_000 + i as i64,
                None,
                Some(bytes::Bytes::from(format!("value {i}"))),
                Vec::new(),
            );
        }
        let batch = builder.build().unwrap().freeze();
        let partition = broker
            .replicas
            .partition(&streambus_storage::TopicPartition::new(topic, partition))
            .unwrap();
        partition.append(batch).await.unwrap().base_offset
    }
}
