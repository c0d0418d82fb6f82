//! Property tests against a model: random sequences of valid and invalid records applied to
//! an image agree, record by record, with a small independent model of what each record
//! should do; and random batches committed to a log (with snapshots every few records)
//! rebuild the same image after a reopen.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use streambus_metadata::{
    ConfigResource, LocalMetadataLog, MetadataConfig, MetadataImage, MetadataLog, MetadataRecord,
    Uuid,
};

/// A partition as the model keeps it: replicas, isr, leader, leader epoch, partition epoch.
type Part = (Vec<i32>, Vec<i32>, i32, i32, i32);

/// A topic as the model keeps it: id, partitions, configs.
type ModelTopic = (u128, Vec<Part>, BTreeMap<String, String>);

#[derive(Debug, Default, Clone)]
struct Model {
    topics: BTreeMap<String, ModelTopic>,
    brokers: BTreeMap<i32, u16>,
    broker_configs: BTreeMap<i32, BTreeMap<String, String>>,
    next_producer_id: i64,
}

impl Model {
    fn name_of(&self, id: u128) -> Option<String> {
        self.topics
            .iter()
            .find(|(_, t)| t.0 == id)
            .map(|(n, _)| n.clone())
    }

    /// Applies `record` if it is valid; returns whether it was.
    fn apply(&mut self, record: &MetadataRecord) -> bool {
        match record {
            MetadataRecord::RegisterBroker { node_id, port, .. } => {
                if *node_id < 0 || *port == 0 {
                    return false;
                }
                self.brokers.insert(*node_id, *port);
            }
            MetadataRecord::Topic { name, topic_id } => {
                let id = topic_id.as_u128();
                if id == 0 || self.name_of(id).is_some() || self.topics.contains_key(name) {
                    return false;
                }
                self.topics
                    .insert(name.clone(), (id, Vec::new(), BTreeMap::new()));
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
                .. // the generator makes no reassignments
            } => {
                let Some(name) = self.name_of(topic_id.as_u128()) else {
                    return false;
                };
                let parts = &mut self.topics.get_mut(&name).unwrap().1;
                let mut sorted = replicas.clone();
                sorted.sort();
                sorted.dedup();
                let mut sorted_isr = isr.clone();
                sorted_isr.sort();
                sorted_isr.dedup();
                let state_ok = !replicas.is_empty()
                    && sorted.len() == replicas.len()
                    && replicas.iter().all(|&r| r >= 0)
                    && sorted_isr.len() == isr.len()
                    && isr.iter().all(|r| replicas.contains(r))
                    && (*leader == -1 || isr.contains(leader))
                    && *leader_epoch >= 0
                    && *partition_epoch >= 0;
                if *partition < 0 || !state_ok {
                    return false;
                }
                let state = (
                    replicas.clone(),
                    isr.clone(),
                    *leader,
                    *leader_epoch,
                    *partition_epoch,
                );
                let index = *partition as usize;
                if index < parts.len() {
                    if *leader_epoch < parts[index].3 || *partition_epoch != parts[index].4 + 1 {
                        return false;
                    }
                    parts[index] = state;
                } else if index == parts.len() {
                    parts.push(state);
                } else {
                    return false;
                }
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                let Some(name) = self.name_of(topic_id.as_u128()) else {
                    return false;
                };
                self.topics.remove(&name);
            }
            MetadataRecord::Config {
                resource,
                name,
                value,
            } => {
                if name.is_empty() {
                    return false;
                }
                let configs = match resource {
                    ConfigResource::Topic(topic) => match self.topics.get_mut(topic) {
                        Some(t) => &mut t.2,
                        None => return false,
                    },
                    ConfigResource::Broker(node) if *node < 0 => return false,
                    ConfigResource::Broker(node) => self.broker_configs.entry(*node).or_default(),
                };
                match value {
                    Some(v) => {
                        configs.insert(name.clone(), v.clone());
                    }
                    None => {
                        configs.remove(name);
                    }
                }
                self.broker_configs.retain(|_, c| !c.is_empty());
            }
            MetadataRecord::ProducerIds {
                first_producer_id,
                block_size,
                ..
            } => {
                if *block_size <= 0 || *first_producer_id != self.next_producer_id {
                    return false;
                }
                self.next_producer_id += block_size;
            }
            _ => unreachable!("the generator makes no other records"),
        }
        true
    }

    fn check(&self, image: &MetadataImage) {
        let names: Vec<&String> = self.topics.keys().collect();
        let image_names: Vec<&String> = image.topics().map(|t| &t.name).collect();
        assert_eq!(image_names, names);
        for (name, (id, parts, configs)) in &self.topics {
            let topic = image.topic(name).unwrap();
            assert_eq!(topic.id.as_u128(), *id);
            assert_eq!(image.topic_by_id(topic.id).unwrap().name, *name);
            assert_eq!(&topic.configs, configs);
            assert_eq!(image.topic_configs(name), Some(configs));
            assert_eq!(topic.partitions.len(), parts.len());
            for (i, (replicas, isr, leader, le, pe)) in parts.iter().enumerate() {
                let p = image.partition(name, i as i32).unwrap();
                assert_eq!(p.partition, i as i32);
                assert_eq!((&p.replicas, &p.isr, p.leader), (replicas, isr, *leader));
                assert_eq!((p.leader_epoch, p.partition_epoch), (*le, *pe));
            }
        }
        let brokers: Vec<(i32, u16)> = image.brokers().map(|b| (b.node_id, b.port)).collect();
        let model_brokers: Vec<(i32, u16)> = self.brokers.iter().map(|(&n, &p)| (n, p)).collect();
        assert_eq!(brokers, model_brokers);
        for node in -1..4 {
            let empty = BTreeMap::new();
            let expected = self.broker_configs.get(&node).unwrap_or(&empty);
            assert_eq!(image.broker_configs(node), expected);
        }
        assert_eq!(image.next_producer_id(), self.next_producer_id);
    }
}

/// Records over a small domain, so that collisions (and so refusals) are common.
fn record() -> impl Strategy<Value = MetadataRecord> {
    let name = prop::sample::select(vec!["a", "b", "c"]).prop_map(String::from);
    let id = (0u128..4).prop_map(Uuid::from_u128);
    let node = -1i32..4;
    let nodes = prop::collection::vec(-1i32..4, 0..4);
    prop_oneof![
        (node.clone(), 0u16..3).prop_map(|(node_id, port)| MetadataRecord::RegisterBroker {
            node_id,
            host: "h".into(),
            port,
            rack: None,
        }),
        (name.clone(), id.clone())
            .prop_map(|(name, topic_id)| MetadataRecord::Topic { name, topic_id }),
        (
            id.clone(),
            -1i32..4,
            nodes.clone(),
            nodes,
            -1i32..4,
            0i32..4,
            0i32..4
        )
            .prop_map(
                |(topic_id, partition, replicas, isr, leader, leader_epoch, partition_epoch)| {
                    MetadataRecord::Partition {
                        topic_id,
                        partition,
                        replicas,
                        isr,
                        leader,
                        leader_epoch,
                        partition_epoch,
                        adding_replicas: Vec::new(),
                        removing_replicas: Vec::new(),
                    }
                }
            ),
        // Well-formed states, so that partitions are created and replaced often.
        (
            id.clone(),
            0i32..4,
            prop::sample::subsequence(vec![0, 1, 2, 3], 1..4),
            0usize..4,
            0i32..4,
        )
            .prop_map(|(topic_id, partition, replicas, in_sync, epoch)| {
                let isr: Vec<i32> = replicas.iter().copied().take(in_sync).collect();
                MetadataRecord::Partition {
                    topic_id,
                    partition,
                    leader: isr.first().copied().unwrap_or(-1),
                    replicas,
                    isr,
                    leader_epoch: epoch,
                    partition_epoch: epoch,
                    adding_replicas: Vec::new(),
                    removing_replicas: Vec::new(),
                }
            }),
        id.prop_map(|topic_id| MetadataRecord::RemoveTopic { topic_id }),
        (
            prop_oneof![
                name.prop_map(ConfigResource::Topic),
                node.prop_map(ConfigResource::Broker)
            ],
            prop::sample::select(vec!["", "x", "y"]).prop_map(String::from),
            prop::option::of(prop::sample::select(vec!["1", "2"]).prop_map(String::from)),
        )
            .prop_map(|(resource, name, value)| MetadataRecord::Config {
                resource,
                name,
                value
            }),
        (0i64..30, -1i64..10).prop_map(|(first_producer_id, block_size)| {
            MetadataRecord::ProducerIds {
                node_id: 1,
                first_producer_id,
                block_size,
            }
        }),
    ]
}

proptest! {
    #[test]
    fn image_agrees_with_the_model(records in prop::collection::vec(record(), 0..120)) {
        let mut image = MetadataImage::new();
        let mut model = Model::default();
        for record in &records {
            let before = image.clone();
            let expected = model.apply(record);
            let result = image.apply(record);
            prop_assert_eq!(result.is_ok(), expected, "{:?}: {:?}", record, result);
            if result.is_err() {
                prop_assert_eq!(&image, &before);
            }
            model.check(&image);
        }
        let mut rebuilt = MetadataImage::new();
        for record in image.to_records() {
            rebuilt.apply(&record).unwrap();
        }
        prop_assert_eq!(rebuilt, image);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn committed_batches_survive_a_reopen(
        batches in prop::collection::vec(prop::collection::vec(record(), 1..4), 1..40),
        snapshot_every_records in 1u64..12,
        close in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = MetadataConfig { snapshot_every_records };
        let log = LocalMetadataLog::open(dir.path(), config.clone()).unwrap();
        let mut expected = MetadataImage::new();
        for batch in batches {
            let next = expected.apply_batch(expected.offset() + 1, &batch);
            match (log.commit(batch), next) {
                (Ok(offset), Ok(next)) => {
                    prop_assert_eq!(offset, next.offset());
                    expected = next;
                }
                (Err(_), Err(_)) => {}
                (got, want) => prop_assert!(false, "commit {:?}, image {:?}", got, want.map(|_| ())),
            }
            prop_assert_eq!(&*log.image(), &expected);
        }
        if close {
            log.close().unwrap();
        }
        drop(log);
        let log = LocalMetadataLog::open(dir.path(), config).unwrap();
        prop_assert_eq!(&*log.image(), &expected);
        prop_assert_eq!(log.open_report().truncated_bytes, 0);
    }
}
