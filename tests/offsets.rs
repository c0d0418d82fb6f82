//! Offsets: lookups by timestamp (`offsets_for_times`, and ListOffsets' earliest, latest and
//! max-timestamp raw), low and high watermarks, DeleteRecords moving the low watermark and
//! what consumers then read, consumers positioned out of range with `auto.offset.reset`
//! error, earliest and latest, and OffsetForLeaderEpoch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use streambus_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsTopic,
};
use streambus_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use streambus_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderEpochRequest, OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use streambus_protocol::{Request, Response};
use streambus_testkit::TestBroker;
use support::{TIMEOUT, TestRecord, Wire};

/// Records with the given timestamps, valued by their position.
fn stamped(timestamps: &[i64]) -> Vec<TestRecord> {
    timestamps
        .iter()
        .enumerate()
        .map(|(i, ts)| TestRecord {
            key: None,
            value: Some(format!("#{i}@{ts}").into_bytes()),
            timestamp: Some(*ts),
            headers: Vec::new(),
        })
        .collect()
}

/// Produces `records` to `topic`/`partition` one request at a time, so that each is its own
/// batch; returns their offsets.
fn produce_one_by_one(broker: &TestBroker, topic: &str, partition: i32, records: &[TestRecord]) {
    let producer = support::producer(broker, &[("linger.ms", "0")]);
    for (i, record) in records.iter().enumerate() {
        let delivered = support::produce_ok(
            &producer,
            topic,
            Some(partition),
            std::slice::from_ref(record),
        );
        assert_eq!(delivered, vec![(partition, i as i64)]);
    }
}

/// ListOffsets v7 for one partition: (error code, timestamp, offset).
fn list_offset(
    broker: &TestBroker,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> (i16, i64, i64) {
    let mut wire = Wire::connect(broker.addr());
    let response = wire.call(
        7,
        Request::ListOffsets(ListOffsetsRequest {
            replica_id: -1,
            isolation_level: 0,
            topics: vec![ListOffsetsTopic {
                name: topic.into(),
                partitions: vec![ListOffsetsPartition {
                    partition_index: partition,
                    current_leader_epoch: -1,
                    timestamp,
                    ..Default::default()
                }],
            }],
        }),
    );
    let Response::ListOffsets(response) = response else {
        panic!("not a ListOffsets response: {response:?}");
    };
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.partition_index, partition);
    (p.error_code, p.timestamp, p.offset)
}

/// `offsets_for_times` of one partition.
fn offset_for_time(broker: &TestBroker, topic: &str, partition: i32, timestamp: i64) -> Offset {
    let consumer = support::consumer(broker, &[]);
    let mut query = TopicPartitionList::new();
    query
        .add_partition_offset(topic, partition, Offset::Offset(timestamp))
        .unwrap();
    let result = consumer.offsets_for_times(query, TIMEOUT).unwrap();
    let element = result.find_partition(topic, partition).unwrap();
    element.error().unwrap();
    element.offset()
}

#[test]
fn offsets_for_times_find_the_first_record_at_or_after_a_timestamp() {
    let broker = TestBroker::start();
    support::create_topic(&broker, "timed", 2, &[]);
    // Partition 0: increasing timestamps, one batch each.
    let increasing: Vec<i64> = (1..=10).map(|i| i * 1_000).collect();
    produce_one_by_one(&broker, "timed", 0, &stamped(&increasing));
    // Partition 1: out of order, in one batch.
    let shuffled = [5_000, 3_000, 8_000, 1_000, 9_000, 2_000];
    let producer = support::producer(&broker, &[("linger.ms", "50")]);
    let delivered = support::produce_ok(&producer, "timed", Some(1), &stamped(&shuffled));
    assert_eq!(
        delivered.iter().map(|(_, o)| *o).collect::<Vec<_>>(),
        (0..6).collect::<Vec<i64>>()
    );

    let cases_0 = [
        (0, Offset::Offset(0)),
        (1_000, Offset::Offset(0)),
        (1_001, Offset::Offset(1)),
        (5_500, Offset::Offset(5)),
        (10_000, Offset::Offset(9)),
        (10_001, Offset::End),
    ];
    for (timestamp, want) in cases_0 {
        assert_eq!(
            offset_for_time(&broker, "timed", 0, timestamp),
            want,
            "p0 @{timestamp}"
        );
    }
    let cases_1 = [
        (500, Offset::Offset(0)),
        (5_000, Offset::Offset(0)),
        (6_000, Offset::Offset(2)),
        (8_500, Offset::Offset(4)),
        (9_001, Offset::End),
    ];
    for (timestamp, want) in cases_1 {
        assert_eq!(
            offset_for_time(&broker, "timed", 1, timestamp),
            want,
            "p1 @{timestamp}"
        );
    }

    // The raw answers carry the timestamp found, too.
    assert_eq!(list_offset(&broker, "timed", 0, 5_500), (0, 6_000, 5));
    assert_eq!(list_offset(&broker, "timed", 1, 6_000), (0, 8_000, 2));
    assert_eq!(list_offset(&broker, "timed", 1, 9_001), (0, -1, -1));
    // Earliest (-2), latest (-1), max timestamp (-3).
    assert_eq!(list_offset(&broker, "timed", 1, -2), (0, -1, 0));
    assert_eq!(list_offset(&broker, "timed", 1, -1), (0, -1, 6));
    assert_eq!(list_offset(&broker, "timed", 1, -3), (0, 9_000, 4));
    assert_eq!(list_offset(&broker, "timed", 0, -3), (0, 10_000, 9));
    // Unknown partition and topic.
    assert_eq!(list_offset(&broker, "timed", 2, -1).0, 3);
    assert_eq!(list_offset(&broker, "untimed", 0, -1).0, 3);
}

#[test]
fn watermarks_follow_appends() {
    let broker = TestBroker::start();
    support::create_topic(&broker, "marks", 3, &[]);
    let consumer = support::consumer(&broker, &[]);
    for partition in 0..3 {
        assert_eq!(
            consumer
                .fetch_watermarks("marks", partition, TIMEOUT)
                .unwrap(),
            (0, 0)
        );
    }
    let producer = support::producer(&broker, &[]);
    let records: Vec<TestRecord> = (0..25)
        .map(|i| TestRecord::kv("k", format!("{i}")))
        .collect();
    support::produce_ok(&producer, "marks", Some(1), &records);
    support::produce_ok(&producer, "marks", Some(2), &records[..3]);
    assert_eq!(
        consumer.fetch_watermarks("marks", 0, TIMEOUT).unwrap(),
        (0, 0)
    );
    assert_eq!(
        consumer.fetch_watermarks("marks", 1, TIMEOUT).unwrap(),
        (0, 25)
    );
    assert_eq!(
        consumer.fetch_watermarks("marks", 2, TIMEOUT).unwrap(),
        (0, 3)
    );
    assert_eq!(list_offset(&broker, "marks", 1, -1), (0, -1, 25));
}

#[test]
fn delete_records_raises_the_low_watermark_and_consumers_start_there() {
    let broker = TestBroker::start();
    support::create_topic(&broker, "trimmed", 2, &[]);
    let producer = support::producer(&broker, &[("linger.ms", "0")]);
    // Ten batches of ten records, so that deletion cuts into a batch.
    let mut all = Vec::new();
    for batch in 0..10 {
        let records: Vec<TestRecord> = (0..10)
            .map(|i| {
                TestRecord::kv(
                    format!("k{}", batch * 10 + i),
                    format!("v{}", batch * 10 + i),
                )
            })
            .collect();
        support::produce_ok(&producer, "trimmed", Some(0), &records);
        all.extend(records);
    }
    support::produce_ok(&producer, "trimmed", Some(1), &all[..5]);

    let admin = support::admin(&broker);
    let delete = |partition: i32, offset: Offset| {
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset("trimmed", partition, offset)
            .unwrap();
        let result =
            support::block_on(admin.delete_records(&offsets, &support::admin_options())).unwrap();
        let element = result.find_partition("trimmed", partition).unwrap();
        element.error().map(|()| element.offset())
    };

    assert_eq!(delete(0, Offset::Offset(35)), Ok(Offset::Offset(35)));
    let consumer = support::consumer(&broker, &[]);
    assert_eq!(
        consumer.fetch_watermarks("trimmed", 0, TIMEOUT).unwrap(),
        (35, 100)
    );
    assert_eq!(list_offset(&broker, "trimmed", 0, -2), (0, -1, 35));

    // From the beginning, consumers get offset 35 first, mid-batch.
    let consumed = support::consume_from(&broker, &[], "trimmed", &[(0, Offset::Beginning)], 65);
    assert_eq!(consumed.len(), 65);
    for (n, got) in consumed.iter().enumerate() {
        let offset = 35 + n as i64;
        assert_eq!(got.offset, offset);
        assert_eq!(got.record.value, all[offset as usize].value);
    }
    // A position below the low watermark resets to it with auto.offset.reset=earliest.
    let consumed = support::consume_from(
        &broker,
        &[("auto.offset.reset", "earliest")],
        "trimmed",
        &[(0, Offset::Offset(3))],
        1,
    );
    assert_eq!(consumed.first().map(|c| c.offset), Some(35));

    // Deleting below the low watermark changes nothing; -1 (End) means the high watermark.
    assert_eq!(delete(0, Offset::Offset(10)), Ok(Offset::Offset(35)));
    assert_eq!(
        delete(0, Offset::Offset(101)).map_err(|e| e.rdkafka_error_code()),
        Err(Some(RDKafkaErrorCode::OffsetOutOfRange))
    );
    assert_eq!(
        consumer.fetch_watermarks("trimmed", 0, TIMEOUT).unwrap(),
        (35, 100)
    );
    assert_eq!(delete(0, Offset::End), Ok(Offset::Offset(100)));
    assert_eq!(
        consumer.fetch_watermarks("trimmed", 0, TIMEOUT).unwrap(),
        (100, 100)
    );
    // librdkafka refuses an unknown partition itself, so ask raw.
    let mut wire = Wire::connect(broker.addr());
    let response = wire.call(
        2,
        Request::DeleteRecords(DeleteRecordsRequest {
            topics: vec![
                DeleteRecordsTopic {
                    name: "trimmed".into(),
                    partitions: vec![
                        DeleteRecordsPartition {
                            partition_index: 7,
                            offset: 1,
                        },
                        DeleteRecordsPartition {
                            partition_index: 1,
                            offset: 2,
                        },
                    ],
                },
                DeleteRecordsTopic {
                    name: "absent".into(),
                    partitions: vec![DeleteRecordsPartition {
                        partition_index: 0,
                        offset: 0,
                    }],
                },
            ],
            timeout_ms: 5_000,
        }),
    );
    let Response::DeleteRecords(response) = response else {
        panic!("not a DeleteRecords response: {response:?}");
    };
    let results: Vec<(String, i32, i16, i64)> = response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.clone(),
                    p.partition_index,
                    p.error_code,
                    p.low_watermark,
                )
            })
        })
        .collect();
    assert_eq!(
        results,
        vec![
            ("trimmed".to_string(), 7, 3, -1),
            ("trimmed".to_string(), 1, 0, 2),
            ("absent".to_string(), 0, 3, -1),
        ]
    );
    // Partition 1 moved only as far as asked, and appends continue after deleted offsets.
    assert_eq!(
        consumer.fetch_watermarks("trimmed", 1, TIMEOUT).unwrap(),
        (2, 5)
    );
    let delivered = support::produce_ok(
        &producer,
        "trimmed",
        Some(0),
        &[TestRecord::kv("k", "after")],
    );
    assert_eq!(delivered, vec![(0, 100)]);
    let consumed = support::consume_partition(&broker, "trimmed", 0, 1);
    assert_eq!(consumed.len(), 1);
    assert_eq!(consumed[0].offset, 100);
    assert_eq!(consumed[0].record.value.as_deref(), Some(&b"after"[..]));
}

/// Polls `consumer` until an error arrives or the timeout passes; returns the error, and
/// panics if a message arrives first.
fn first_error(consumer: &rdkafka::consumer::BaseConsumer) -> Option<KafkaError> {
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Err(e)) => return Some(e),
            Some(Ok(message)) => panic!("unexpected message at offset {}", message.offset()),
            None => {}
        }
    }
    None
}

#[test]
fn out_of_range_positions_follow_auto_offset_reset() {
    let broker = TestBroker::start();
    support::create_topic(&broker, "ranged", 1, &[]);
    let producer = support::producer(&broker, &[]);
    let records: Vec<TestRecord> = (0..10)
        .map(|i| TestRecord::kv("k", format!("v{i}")))
        .collect();
    support::produce_ok(&producer, "ranged", Some(0), &records);

    // error: the consumer reports the out-of-range position instead of moving.
    let consumer = support::consumer(&broker, &[("auto.offset.reset", "error")]);
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("ranged", 0, Offset::Offset(50))
        .unwrap();
    consumer.assign(&assignment).unwrap();
    assert_eq!(
        first_error(&consumer).and_then(|e| e.rdkafka_error_code()),
        Some(RDKafkaErrorCode::AutoOffsetReset)
    );

    // earliest: back to offset 0.
    let consumed = support::consume_from(
        &broker,
        &[("auto.offset.reset", "earliest")],
        "ranged",
        &[(0, Offset::Offset(50))],
        10,
    );
    let offsets: Vec<i64> = consumed.iter().map(|c| c.offset).collect();
    assert_eq!(offsets, (0..10).collect::<Vec<i64>>());

    // latest: to the high watermark, so only what is produced afterwards arrives.
    let consumer = support::consumer(&broker, &[("auto.offset.reset", "latest")]);
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("ranged", 0, Offset::Offset(50))
        .unwrap();
    consumer.assign(&assignment).unwrap();
    // The reset happens at some point after the assignment; until a record arrives, keep
    // producing. The first to arrive must be one produced after the reset: "late-k" sits at
    // offset 10 + k, and nothing below offset 10 may arrive.
    let deadline = Instant::now() + TIMEOUT;
    let mut sent = 0;
    let first = loop {
        let value = format!("late-{sent}");
        let delivered =
            support::produce_ok(&producer, "ranged", Some(0), &[TestRecord::kv("k", value)]);
        assert_eq!(delivered, vec![(0, 10 + sent)]);
        sent += 1;
        let got = support::poll_records_for(&consumer, 1, Duration::from_millis(300));
        if let Some(first) = got.into_iter().next() {
            break first;
        }
        assert!(Instant::now() < deadline, "nothing arrived after the reset");
    };
    assert!(
        first.offset >= 10,
        "offset {} is below the high watermark",
        first.offset
    );
    let k = first.offset - 10;
    assert_eq!(first.record.value, Some(format!("late-{k}").into_bytes()));
}

#[test]
fn offset_for_leader_epoch_answers_the_end_of_the_current_epoch() {
    let broker = TestBroker::start();
    support::create_topic(&broker, "epochs", 1, &[]);
    let producer = support::producer(&broker, &[]);
    let records: Vec<TestRecord> = (0..7)
        .map(|i| TestRecord::kv("k", format!("{i}")))
        .collect();
    support::produce_ok(&producer, "epochs", Some(0), &records);
    let consumer = support::consumer(&broker, &[]);
    let metadata = consumer.fetch_metadata(Some("epochs"), TIMEOUT).unwrap();
    assert_eq!(metadata.topics()[0].partitions().len(), 1);

    let mut wire = Wire::connect(broker.addr());
    let mut ask = |partition: i32, current_leader_epoch: i32, leader_epoch: i32| {
        let response = wire.call(
            4,
            Request::OffsetForLeaderEpoch(OffsetForLeaderEpochRequest {
                replica_id: -1,
                topics: vec![OffsetForLeaderTopic {
                    topic: "epochs".into(),
                    partitions: vec![OffsetForLeaderPartition {
                        partition,
                        current_leader_epoch,
                        leader_epoch,
                    }],
                }],
            }),
        );
        let Response::OffsetForLeaderEpoch(response) = response else {
            panic!("not an OffsetForLeaderEpoch response: {response:?}");
        };
        let p = &response.topics[0].partitions[0];
        assert_eq!(p.partition, partition);
        (p.error_code, p.leader_epoch, p.end_offset)
    };
    // The epoch of a new single-node partition is 0; its end is the log end offset.
    assert_eq!(ask(0, -1, 0), (0, 0, 7));
    assert_eq!(ask(0, 0, 0), (0, 0, 7));
    // An epoch not reached yet: undefined, without error.
    assert_eq!(ask(0, -1, 5), (0, -1, -1));
    // A current epoch newer than the partition's is UNKNOWN_LEADER_EPOCH (75).
    assert_eq!(ask(0, 3, 0).0, 75);
    // An unknown partition.
    assert_eq!(ask(4, -1, 0).0, 3);
}
