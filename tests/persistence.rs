//! What survives a clean restart on the same data directory: every acknowledged record of
//! several topics and partitions over many small segments, byte for byte; topics, partition
//! counts and config overrides; deletions (topics and records); added partitions; and the
//! idempotent producer state that recognises a retried batch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use bytes::Bytes;
use rdkafka::admin::{NewPartitions, ResourceSpecifier};
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use streambus_protocol::messages::describe_configs_request::{
    DescribeConfigsRequest, DescribeConfigsResource,
};
use streambus_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use streambus_protocol::{Request, Response};
use streambus_storage::records::BatchBuilder;
use streambus_testkit::TestBroker;
use support::{TIMEOUT, TestRecord, Wire};

/// Segments small enough that a few hundred records span several of them.
const SEGMENT_BYTES: u64 = 16 * 1024;

fn small_segments() -> TestBroker {
    TestBroker::start_with(|c| c.log.segment_bytes = SEGMENT_BYTES)
}

/// The `.log` segment files of a partition on disk.
fn segment_count(broker: &TestBroker, topic: &str, partition: i32) -> usize {
    let dir = broker.data_dir().join(format!("{topic}-{partition}"));
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|ext| ext == "log")
        })
        .count()
}

/// Records whose every field is distinct per (topic, partition, index).
fn records(topic: &str, partition: i32, count: usize) -> Vec<TestRecord> {
    (0..count)
        .map(|i| TestRecord {
            key: (i % 7 != 0).then(|| format!("{topic}/{partition}/key-{i}").into_bytes()),
            value: (i % 11 != 0).then(|| {
                let mut value = format!("{topic}/{partition}/{i}:").into_bytes();
                value.extend((0..200).map(|j| (i * 31 + j) as u8));
                value
            }),
            timestamp: Some(1_600_000_000_000 + (i as i64) * 1_000 + i64::from(partition)),
            headers: vec![
                ("i".to_string(), Some(i.to_string().into_bytes())),
                ("null".to_string(), None),
            ],
        })
        .collect()
}

/// Topic config overrides and their values, raw (config source 1 is a topic override).
fn overrides(broker: &TestBroker, topic: &str) -> BTreeMap<String, String> {
    let mut wire = Wire::connect(broker.addr());
    let response = wire.call(
        4,
        Request::DescribeConfigs(DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: 2,
                resource_name: topic.into(),
                configuration_keys: None,
            }],
            ..Default::default()
        }),
    );
    let Response::DescribeConfigs(response) = response else {
        panic!("not a DescribeConfigs response: {response:?}");
    };
    assert_eq!(response.results[0].error_code, 0, "{topic}");
    response.results[0]
        .configs
        .iter()
        .filter(|c| c.config_source == 1)
        .map(|c| (c.name.clone(), c.value.clone().unwrap_or_default()))
        .collect()
}

fn partition_count(broker: &TestBroker, topic: &str) -> Option<usize> {
    let consumer = support::consumer(broker, &[]);
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT).unwrap();
    let found = &metadata.topics()[0];
    found.error().is_none().then(|| found.partitions().len())
}

#[test]
fn acknowledged_records_topics_and_configs_survive_restarts() {
    let mut broker = small_segments();
    support::create_topic(&broker, "kept-a", 3, &[]);
    support::create_topic(
        &broker,
        "kept-b",
        2,
        &[("retention.ms", "86400000"), ("cleanup.policy", "delete")],
    );
    support::create_topic(&broker, "dropped", 1, &[]);

    let layout = [("kept-a", 3, 150), ("kept-b", 2, 220)];
    let mut expected: BTreeMap<(String, i32), Vec<TestRecord>> = BTreeMap::new();
    {
        let producer = support::producer(
            &broker,
            &[
                ("acks", "all"),
                ("linger.ms", "1"),
                ("batch.num.messages", "10"),
            ],
        );
        for (topic, partitions, count) in layout {
            for partition in 0..partitions {
                let records = records(topic, partition, count);
                let delivered = support::produce_ok(&producer, topic, Some(partition), &records);
                let offsets: Vec<i64> = delivered.iter().map(|(_, o)| *o).collect();
                assert_eq!(offsets, (0..count as i64).collect::<Vec<_>>());
                expected.insert((topic.to_string(), partition), records);
            }
        }
        let admin = support::admin(&broker);
        let deleted =
            support::block_on(admin.delete_topics(&["dropped"], &support::admin_options()))
                .unwrap();
        assert_eq!(deleted, vec![Ok("dropped".to_string())]);
    }
    for (topic, partition) in expected.keys() {
        assert!(
            segment_count(&broker, topic, *partition) >= 3,
            "{topic}-{partition} spans several segments"
        );
    }

    for round in 0..2 {
        broker.restart();
        assert_eq!(partition_count(&broker, "kept-a"), Some(3), "round {round}");
        assert_eq!(partition_count(&broker, "kept-b"), Some(2), "round {round}");
        assert_eq!(partition_count(&broker, "dropped"), None, "round {round}");
        assert_eq!(overrides(&broker, "kept-a"), BTreeMap::new());
        assert_eq!(
            overrides(&broker, "kept-b"),
            BTreeMap::from([
                ("cleanup.policy".to_string(), "delete".to_string()),
                ("retention.ms".to_string(), "86400000".to_string()),
            ])
        );
        let consumer = support::consumer(&broker, &[]);
        for ((topic, partition), records) in &expected {
            assert_eq!(
                consumer
                    .fetch_watermarks(topic, *partition, TIMEOUT)
                    .unwrap(),
                (0, records.len() as i64),
                "{topic}-{partition}, round {round}"
            );
            let consumed = support::consume_partition(&broker, topic, *partition, records.len());
            assert_eq!(consumed.len(), records.len(), "{topic}-{partition}");
            for (i, (got, want)) in consumed.iter().zip(records).enumerate() {
                assert_eq!(got.offset, i as i64, "{topic}-{partition}");
                assert_eq!(
                    &got.record, want,
                    "{topic}-{partition} offset {i}, round {round}"
                );
            }
        }
    }

    // Appends continue where the log ended.
    let producer = support::producer(&broker, &[("acks", "all")]);
    let delivered = support::produce_ok(
        &producer,
        "kept-b",
        Some(1),
        &[TestRecord::kv("after", "restart")],
    );
    assert_eq!(delivered, vec![(1, 220)]);
}

#[test]
fn deleted_records_and_added_partitions_survive_a_restart() {
    let mut broker = small_segments();
    support::create_topic(&broker, "reshaped", 2, &[]);
    {
        let producer = support::producer(&broker, &[("acks", "all")]);
        support::produce_ok(&producer, "reshaped", Some(0), &records("reshaped", 0, 120));
        let admin = support::admin(&broker);
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset("reshaped", 0, Offset::Offset(77))
            .unwrap();
        let result =
            support::block_on(admin.delete_records(&offsets, &support::admin_options())).unwrap();
        let element = result.find_partition("reshaped", 0).unwrap();
        assert_eq!(
            element.error().map(|()| element.offset()),
            Ok(Offset::Offset(77))
        );
        let grown = support::block_on(admin.create_partitions(
            [&NewPartitions::new("reshaped", 4)],
            &support::admin_options(),
        ))
        .unwrap();
        assert_eq!(grown, vec![Ok("reshaped".to_string())]);
    }
    broker.restart();

    assert_eq!(partition_count(&broker, "reshaped"), Some(4));
    let consumer = support::consumer(&broker, &[]);
    assert_eq!(
        consumer.fetch_watermarks("reshaped", 0, TIMEOUT).unwrap(),
        (77, 120),
        "the log start offset survives"
    );
    let want = records("reshaped", 0, 120);
    let consumed = support::consume_partition(&broker, "reshaped", 0, 43);
    assert_eq!(consumed.len(), 43);
    for (n, got) in consumed.iter().enumerate() {
        assert_eq!(got.offset, 77 + n as i64);
        assert_eq!(got.record, want[77 + n]);
    }
    let producer = support::producer(&broker, &[("acks", "all")]);
    let delivered = support::produce_ok(
        &producer,
        "reshaped",
        Some(3),
        &[TestRecord::kv("new", "p3")],
    );
    assert_eq!(delivered, vec![(3, 0)]);

    // Configs altered before a restart are still altered after.
    let admin = support::admin(&broker);
    let alter = rdkafka::admin::AlterConfig::new(ResourceSpecifier::Topic("reshaped"))
        .set("retention.ms", "5000000");
    support::block_on(admin.alter_configs([&alter], &support::admin_options())).unwrap();
    broker.restart();
    assert_eq!(
        overrides(&broker, "reshaped"),
        BTreeMap::from([("retention.ms".to_string(), "5000000".to_string())])
    );
}

#[test]
fn a_retried_idempotent_batch_is_recognised_after_a_restart() {
    let mut broker = small_segments();
    support::create_topic(&broker, "retried", 1, &[]);
    let mut wire = Wire::connect(broker.addr());
    let response = wire.call(
        4,
        Request::InitProducerId(InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
        }),
    );
    let Response::InitProducerId(init) = response else {
        panic!("not an InitProducerId response: {response:?}");
    };
    assert_eq!(init.error_code, 0);
    let batch = |base_sequence: i32| {
        let mut builder =
            BatchBuilder::new().producer(init.producer_id, init.producer_epoch, base_sequence);
        for i in 0..5 {
            builder.push_kv(
                1_000 + i64::from(base_sequence) + i,
                None,
                Some(Bytes::from(format!("seq {}", i64::from(base_sequence) + i))),
                Vec::new(),
            );
        }
        builder.build().unwrap().freeze()
    };
    assert_eq!(
        support::raw_produce(&mut wire, "retried", 0, batch(0), -1),
        (0, 0)
    );
    assert_eq!(
        support::raw_produce(&mut wire, "retried", 0, batch(5), -1),
        (0, 5)
    );
    drop(wire);

    broker.restart();
    let mut wire = Wire::connect(broker.addr());
    // The last batch again: a duplicate, answered with its original offset, not appended.
    assert_eq!(
        support::raw_produce(&mut wire, "retried", 0, batch(5), -1),
        (0, 5)
    );
    let consumer = support::consumer(&broker, &[]);
    assert_eq!(
        consumer.fetch_watermarks("retried", 0, TIMEOUT).unwrap(),
        (0, 10)
    );
    // The next sequence continues; a gap is OUT_OF_ORDER_SEQUENCE_NUMBER (45).
    assert_eq!(
        support::raw_produce(&mut wire, "retried", 0, batch(10), -1),
        (0, 10)
    );
    assert_eq!(
        support::raw_produce(&mut wire, "retried", 0, batch(20), -1).0,
        45
    );
    assert_eq!(
        consumer.fetch_watermarks("retried", 0, TIMEOUT).unwrap(),
        (0, 15)
    );
}
