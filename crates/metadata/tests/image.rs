//! The image: every record kind applied, every refusal, and the queries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use streambus_metadata::{
    ApplyError, CommitError, ConfigResource, MetadataImage, MetadataRecord, PartitionImage, Uuid,
};

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn topic(name: &str, n: u128) -> MetadataRecord {
    MetadataRecord::Topic {
        name: name.into(),
        topic_id: id(n),
    }
}

fn partition(topic: u128, partition: i32, leader_epoch: i32) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id: id(topic),
        partition,
        replicas: vec![1, 2, 3],
        isr: vec![1, 2],
        leader: 1,
        leader_epoch,
        partition_epoch: leader_epoch,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    }
}

fn topic_config(topic: &str, name: &str, value: Option<&str>) -> MetadataRecord {
    MetadataRecord::Config {
        resource: ConfigResource::Topic(topic.into()),
        name: name.into(),
        value: value.map(Into::into),
    }
}

fn broker(node_id: i32, port: u16) -> MetadataRecord {
    MetadataRecord::RegisterBroker {
        node_id,
        host: "localhost".into(),
        port,
        rack: None,
    }
}

/// Replicas, isr, leader, leader epoch, partition epoch, and the expected refusal reason.
type BadState = (Vec<i32>, Vec<i32>, i32, i32, i32, &'static str);

fn image_of(records: &[MetadataRecord]) -> MetadataImage {
    let mut image = MetadataImage::new();
    for r in records {
        image.apply(r).unwrap();
    }
    image
}

/// Applies `record`, expects `error`, and checks the image did not change.
fn refused(image: &mut MetadataImage, record: MetadataRecord, error: ApplyError) {
    let before = image.clone();
    assert_eq!(image.apply(&record), Err(error), "{record:?}");
    assert_eq!(*image, before, "a refused record changed the image");
}

#[test]
fn brokers_register_and_reregister() {
    let mut image = image_of(&[broker(2, 9093), broker(1, 9092)]);
    let nodes: Vec<i32> = image.brokers().map(|b| b.node_id).collect();
    assert_eq!(nodes, [1, 2]);
    image
        .apply(&MetadataRecord::RegisterBroker {
            node_id: 1,
            host: "10.0.0.1".into(),
            port: 19092,
            rack: Some("a".into()),
        })
        .unwrap();
    let b = image.broker(1).unwrap();
    assert_eq!(
        (b.host.as_str(), b.port, b.rack.as_deref()),
        ("10.0.0.1", 19092, Some("a"))
    );
    assert_eq!(image.brokers().len(), 2);

    for (record, reason) in [
        (broker(-1, 9092), "node id is negative"),
        (broker(3, 0), "port is 0"),
        (
            MetadataRecord::RegisterBroker {
                node_id: 3,
                host: String::new(),
                port: 1,
                rack: None,
            },
            "host is empty",
        ),
    ] {
        let node_id = match &record {
            MetadataRecord::RegisterBroker { node_id, .. } => *node_id,
            _ => unreachable!(),
        };
        refused(
            &mut image,
            record,
            ApplyError::InvalidBroker { node_id, reason },
        );
    }
}

#[test]
fn topics_by_name_and_id() {
    let mut image = image_of(&[topic("b", 2), topic("a", 1), partition(1, 0, 0)]);
    assert_eq!(image.topic("a").unwrap().id, id(1));
    assert_eq!(image.topic_by_id(id(2)).unwrap().name, "b");
    let names: Vec<&str> = image.topics().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b"], "topics() is sorted by name");
    assert!(image.topic("c").is_none());
    assert!(image.topic_by_id(id(9)).is_none());

    refused(
        &mut image,
        topic("a", 3),
        ApplyError::TopicNameInUse {
            name: "a".into(),
            existing: id(1),
        },
    );
    refused(
        &mut image,
        topic("c", 1),
        ApplyError::TopicIdInUse {
            topic_id: id(1),
            existing: "a".into(),
        },
    );
    refused(
        &mut image,
        topic("a", 1),
        ApplyError::TopicIdInUse {
            topic_id: id(1),
            existing: "a".into(),
        },
    );
    refused(
        &mut image,
        topic("c", 0),
        ApplyError::NilTopicId { name: "c".into() },
    );
    for bad in ["", ".", "..", "a b", "ü", &"x".repeat(250)] {
        let before = image.clone();
        assert!(
            matches!(
                image.apply(&topic(bad, 7)),
                Err(ApplyError::InvalidTopicName { .. })
            ),
            "{bad:?}"
        );
        assert_eq!(image, before);
    }
    image.apply(&topic(&"x".repeat(249), 7)).unwrap();
    image.apply(&topic("A-b.c_9", 8)).unwrap();
}

#[test]
fn partitions_are_created_replaced_and_checked() {
    let mut image = image_of(&[topic("t", 1), partition(1, 0, 0), partition(1, 1, 0)]);
    assert_eq!(image.topic("t").unwrap().partitions.len(), 2);
    let p = image.partition("t", 1).unwrap();
    assert_eq!(
        *p,
        PartitionImage {
            partition: 1,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }
    );
    assert!(image.partition("t", 2).is_none());
    assert!(image.partition("t", -1).is_none());
    assert!(image.partition("u", 0).is_none());

    // Replacing: a new leader at a higher epoch, and a leaderless state.
    image
        .apply(&MetadataRecord::Partition {
            topic_id: id(1),
            partition: 0,
            replicas: vec![1, 2, 3],
            isr: vec![2],
            leader: 2,
            leader_epoch: 1,
            partition_epoch: 1,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        })
        .unwrap();
    assert_eq!(image.partition("t", 0).unwrap().leader, 2);
    image
        .apply(&MetadataRecord::Partition {
            topic_id: id(1),
            partition: 0,
            replicas: vec![1, 2, 3],
            isr: vec![],
            leader: -1,
            leader_epoch: 2,
            partition_epoch: 2,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        })
        .unwrap();
    assert_eq!(image.partition("t", 0).unwrap().leader, -1);

    refused(
        &mut image,
        partition(9, 0, 0),
        ApplyError::UnknownTopicId { topic_id: id(9) },
    );
    refused(
        &mut image,
        partition(1, 3, 0),
        ApplyError::PartitionGap {
            topic: "t".into(),
            partition: 3,
            count: 2,
        },
    );
    refused(
        &mut image,
        partition(1, 0, 1),
        ApplyError::StalePartitionEpoch {
            topic: "t".into(),
            partition: 0,
            current: 2,
            proposed: 1,
        },
    );
    let bad_states: [BadState; 8] = [
        (vec![1], vec![1], 1, 0, 0, "index is negative"),
        (vec![], vec![], -1, 5, 5, "replica list is empty"),
        (vec![1, -2], vec![1], 1, 5, 5, "replica node id is negative"),
        (vec![1, 1], vec![1], 1, 5, 5, "replica list has duplicates"),
        (vec![1, 2], vec![3], 1, 5, 5, "isr member is not a replica"),
        (vec![1, 2], vec![1, 1], 1, 5, 5, "isr has duplicates"),
        (
            vec![1, 2],
            vec![1],
            2,
            5,
            5,
            "leader is neither -1 nor in the isr",
        ),
        (vec![1, 2], vec![1], 1, -1, 5, "epoch is negative"),
    ];
    for (i, (replicas, isr, leader, leader_epoch, partition_epoch, reason)) in
        bad_states.into_iter().enumerate()
    {
        let index = if i == 0 { -1 } else { 1 };
        refused(
            &mut image,
            MetadataRecord::Partition {
                topic_id: id(1),
                partition: index,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
            },
            ApplyError::InvalidPartition {
                topic: "t".into(),
                partition: index,
                reason,
            },
        );
    }
}

/// A partition record at partition epoch `partition_epoch` and leader epoch `leader_epoch`.
fn change(isr: &[i32], leader: i32, leader_epoch: i32, partition_epoch: i32) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id: id(1),
        partition: 0,
        replicas: vec![1, 2, 3],
        isr: isr.to_vec(),
        leader,
        leader_epoch,
        partition_epoch,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    }
}

#[test]
fn a_partition_change_is_a_compare_and_set_on_its_partition_epoch() {
    // Creation may start at any epochs.
    let mut image = image_of(&[topic("t", 1), change(&[1, 2, 3], 1, 4, 7)]);
    let stale = |proposed| ApplyError::StalePartitionEpoch {
        topic: "t".into(),
        partition: 0,
        current: 7,
        proposed,
    };
    // The same version again (a replay of the change it replaces, or a second change made
    // from the same image), an older one, and a skipped one are all refused.
    refused(&mut image, change(&[1, 2], 1, 4, 7), stale(7));
    refused(&mut image, change(&[1, 2], 1, 4, 6), stale(6));
    refused(&mut image, change(&[1, 2], 1, 4, 9), stale(9));
    // The next version applies, with the leader epoch unchanged (an ISR change)...
    image.apply(&change(&[1, 2], 1, 4, 8)).unwrap();
    assert_eq!(image.partition("t", 0).unwrap().isr, [1, 2]);
    // ...and a second change made from the image before it is now stale.
    refused(
        &mut image,
        change(&[1], 1, 4, 8),
        ApplyError::StalePartitionEpoch {
            topic: "t".into(),
            partition: 0,
            current: 8,
            proposed: 8,
        },
    );
    // A leader epoch still never goes back, even at the right partition epoch.
    refused(
        &mut image,
        change(&[2], 2, 3, 9),
        ApplyError::EpochRegression {
            topic: "t".into(),
            partition: 0,
            epoch: "leader_epoch",
            current: 4,
            proposed: 3,
        },
    );
    image.apply(&change(&[2], 2, 5, 9)).unwrap();
    let p = image.partition("t", 0).unwrap();
    assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (2, 5, 9));
    // At the largest epoch there is no next version.
    let mut image = image_of(&[topic("t", 1), change(&[1], 1, 0, i32::MAX)]);
    refused(
        &mut image,
        change(&[1], 1, 0, i32::MAX),
        ApplyError::StalePartitionEpoch {
            topic: "t".into(),
            partition: 0,
            current: i32::MAX,
            proposed: i32::MAX,
        },
    );
}

#[test]
fn a_batch_with_a_stale_partition_change_applies_nothing() {
    let image = image_of(&[topic("t", 1), change(&[1, 2, 3], 1, 0, 0)]);
    let error = image
        .apply_batch(
            9,
            &[
                broker(1, 9092),
                change(&[1, 2], 1, 0, 1),
                change(&[1], 1, 0, 1),
            ],
        )
        .unwrap_err();
    assert!(matches!(
        error,
        CommitError::Rejected {
            index: 2,
            kind: "partition",
            source: ApplyError::StalePartitionEpoch {
                current: 1,
                proposed: 1,
                ..
            }
        }
    ));
    // Two changes in one batch chain: each names the version the one before it made.
    let next = image
        .apply_batch(9, &[change(&[1, 2], 1, 0, 1), change(&[1], 1, 0, 2)])
        .unwrap();
    assert_eq!(next.partition("t", 0).unwrap().isr, [1]);
}

#[test]
fn remove_topic_removes_partitions_and_configs() {
    let mut image = image_of(&[
        topic("t", 1),
        partition(1, 0, 0),
        topic_config("t", "retention.ms", Some("1000")),
    ]);
    image
        .apply(&MetadataRecord::RemoveTopic { topic_id: id(1) })
        .unwrap();
    assert!(image.topic("t").is_none());
    assert!(image.topic_by_id(id(1)).is_none());
    assert!(image.topic_configs("t").is_none());
    assert_eq!(image.topics().len(), 0);
    refused(
        &mut image,
        MetadataRecord::RemoveTopic { topic_id: id(1) },
        ApplyError::UnknownTopicId { topic_id: id(1) },
    );
    // The name is free again, with a new id; the old configs did not come back.
    image.apply(&topic("t", 2)).unwrap();
    assert!(image.topic_configs("t").unwrap().is_empty());
    assert!(image.partition("t", 0).is_none());
}

#[test]
fn configs_are_set_replaced_and_removed() {
    let mut image = image_of(&[topic("t", 1)]);
    image
        .apply(&topic_config("t", "retention.ms", Some("1")))
        .unwrap();
    image
        .apply(&topic_config("t", "retention.ms", Some("2")))
        .unwrap();
    image
        .apply(&topic_config("t", "cleanup.policy", Some("compact")))
        .unwrap();
    let configs = image.topic_configs("t").unwrap();
    assert_eq!(configs.get("retention.ms").map(String::as_str), Some("2"));
    assert_eq!(configs.len(), 2);
    image
        .apply(&topic_config("t", "retention.ms", None))
        .unwrap();
    image.apply(&topic_config("t", "never.set", None)).unwrap();
    assert_eq!(image.topic_configs("t").unwrap().len(), 1);

    let broker_config = |node_id, value: Option<&str>| MetadataRecord::Config {
        resource: ConfigResource::Broker(node_id),
        name: "log.retention.ms".into(),
        value: value.map(Into::into),
    };
    assert!(image.broker_configs(1).is_empty());
    image.apply(&broker_config(1, Some("5"))).unwrap();
    assert_eq!(
        image.broker_configs(1).get("log.retention.ms").unwrap(),
        "5"
    );
    image.apply(&broker_config(1, None)).unwrap();
    assert!(image.broker_configs(1).is_empty());
    assert_eq!(image, image_of(&image.to_records()).with_offset(0));

    refused(
        &mut image,
        topic_config("u", "x", Some("1")),
        ApplyError::UnknownTopic { name: "u".into() },
    );
    refused(
        &mut image,
        topic_config("t", "", Some("1")),
        ApplyError::InvalidConfig {
            name: String::new(),
            reason: "name is empty",
        },
    );
    refused(
        &mut image,
        broker_config(-1, Some("1")),
        ApplyError::InvalidConfig {
            name: "log.retention.ms".into(),
            reason: "broker node id is negative",
        },
    );
}

#[test]
fn producer_id_blocks_are_handed_out_back_to_back() {
    let block = |node_id, first, size| MetadataRecord::ProducerIds {
        node_id,
        first_producer_id: first,
        block_size: size,
    };
    let mut image = MetadataImage::new();
    assert_eq!(image.next_producer_id(), 0);
    image.apply(&block(1, 0, 1000)).unwrap();
    image.apply(&block(2, 1000, 1000)).unwrap();
    assert_eq!(image.next_producer_id(), 2000);
    refused(
        &mut image,
        block(1, 0, 1000),
        ApplyError::ProducerIdBlockMismatch {
            node_id: 1,
            expected: 2000,
            first: 0,
        },
    );
    refused(
        &mut image,
        block(1, 2000, 0),
        ApplyError::InvalidProducerIdBlock {
            node_id: 1,
            first: 2000,
            size: 0,
        },
    );
    refused(
        &mut image,
        block(1, 2000, i64::MAX),
        ApplyError::InvalidProducerIdBlock {
            node_id: 1,
            first: 2000,
            size: i64::MAX,
        },
    );
}

#[test]
fn a_batch_applies_all_or_nothing() {
    let image = image_of(&[topic("t", 1)]);
    let batch = [topic("u", 2), partition(2, 0, 0), partition(9, 0, 0)];
    match image.apply_batch(1, &batch) {
        Err(CommitError::Rejected {
            index: 2,
            kind: "partition",
            source: ApplyError::UnknownTopicId { .. },
        }) => {}
        other => panic!("unexpected {other:?}"),
    }
    assert!(image.topic("u").is_none());
    let next = image.apply_batch(5, &batch[..2]).unwrap();
    assert_eq!(next.offset(), 5);
    assert_eq!(next.partition("u", 0).unwrap().leader, 1);
    assert_eq!(image.offset(), 0, "apply_batch never changes its receiver");
}

#[test]
fn to_records_rebuilds_the_image() {
    let mut records = vec![
        broker(1, 9092),
        broker(2, 9093),
        MetadataRecord::Config {
            resource: ConfigResource::Broker(2),
            name: "a".into(),
            value: Some("b".into()),
        },
        MetadataRecord::ProducerIds {
            node_id: 1,
            first_producer_id: 0,
            block_size: 42,
        },
    ];
    records.extend(MetadataRecord::topic_with_partitions("t", id(1), 3, 1));
    records.push(topic_config("t", "segment.bytes", Some("1024")));
    records.push(partition(1, 1, 1));
    records.extend(MetadataRecord::topic_with_partitions("gone", id(2), 1, 1));
    records.push(MetadataRecord::RemoveTopic { topic_id: id(2) });
    let image = image_of(&records);
    let rebuilt = image_of(&image.to_records());
    assert_eq!(rebuilt, image);
    assert_eq!(rebuilt.next_producer_id(), 42);
}

trait WithOffset {
    fn with_offset(self, offset: u64) -> Self;
}

impl WithOffset for MetadataImage {
    fn with_offset(mut self, offset: u64) -> Self {
        self.set_offset(offset);
        self
    }
}

/// Partition 0 of topic 1 on replicas 1..=4, moving from [1, 2, 3] to [1, 2, 4].
fn moving(adding: &[i32], removing: &[i32], partition_epoch: i32) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id: id(1),
        partition: 0,
        replicas: vec![1, 2, 4, 3],
        isr: vec![1, 2, 3],
        leader: 1,
        leader_epoch: 1,
        partition_epoch,
        adding_replicas: adding.to_vec(),
        removing_replicas: removing.to_vec(),
    }
}

#[test]
fn a_reassignment_in_progress_is_part_of_the_partition_state() {
    let mut image = image_of(&[topic("t", 1), partition(1, 0, 0), moving(&[4], &[3], 1)]);
    let p = image.partition("t", 0).unwrap().clone();
    assert!(p.is_reassigning());
    assert_eq!(p.target_replicas(), vec![1, 2, 4]);
    assert_eq!(p.original_replicas(), vec![1, 2, 3]);
    assert_eq!(p.record(id(1)), moving(&[4], &[3], 1));
    assert_eq!(image_of(&image.to_records()), image, "snapshots keep it");

    let bad: [(&[i32], &[i32], &str); 5] = [
        (&[5], &[], "an adding or removing replica is not a replica"),
        (&[4, 4], &[], "adding or removing replicas have duplicates"),
        (&[], &[3, 3], "adding or removing replicas have duplicates"),
        (&[4], &[4], "a replica is both added and removed"),
        (&[], &[1, 2, 4, 3], "a reassignment removes every replica"),
    ];
    for (adding, removing, reason) in bad {
        refused(
            &mut image,
            moving(adding, removing, 2),
            ApplyError::InvalidPartition {
                topic: "t".into(),
                partition: 0,
                reason,
            },
        );
    }
    image.apply(&moving(&[], &[], 2)).unwrap();
    let p = image.partition("t", 0).unwrap();
    assert!(!p.is_reassigning());
    assert_eq!(p.target_replicas(), p.replicas);
    assert_eq!(p.original_replicas(), p.replicas);
}

#[test]
fn partition_records_without_reassignment_fields_read_as_none_running() {
    let stored = r#"{"Partition":{"topic_id":"00000000-0000-0000-0000-000000000001","partition":0,"replicas":[1,2],"isr":[1],"leader":1,"leader_epoch":3,"partition_epoch":4}}"#;
    let record: MetadataRecord = serde_json::from_str(stored).unwrap();
    let MetadataRecord::Partition {
        adding_replicas,
        removing_replicas,
        ..
    } = &record
    else {
        panic!("not a partition: {record:?}");
    };
    assert!(adding_replicas.is_empty() && removing_replicas.is_empty());
    assert_eq!(
        serde_json::to_string(&record).unwrap(),
        stored,
        "written as before when no reassignment runs"
    );
    let running = serde_json::to_string(&moving(&[4], &[3], 1)).unwrap();
    assert!(
        running.contains(r#""adding_replicas":[4],"removing_replicas":[3]"#),
        "{running}"
    );
}
