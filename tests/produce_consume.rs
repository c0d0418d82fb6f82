//! Produce and consume through librdkafka, checked byte for byte: keys, values, headers
//! (with null values) and explicit timestamps over six partitions, by explicit partition and
//! by key; every compression codec; a 1 MiB message and one over the topic's
//! `max.message.bytes`; acks 0, 1 and all; an idempotent producer; many messages in flight;
//! one raw Fetch of six partitions whose batches, small and large, come back byte for byte;
//! raw Produce requests over 24 partitions, answered in request order and committed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, HashMap};

use rdkafka::Offset;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use streambus_testkit::TestBroker;
use support::{Consumed, TIMEOUT, TestRecord};

/// Checks that `consumed` is exactly `expected` (offset, record) pairs of `partition`, with
/// offsets dense from 0, and that the partition holds nothing more.
fn assert_partition(
    broker: &TestBroker,
    topic: &str,
    partition: i32,
    expected: &[(i64, TestRecord)],
) {
    let consumed = support::consume_partition(broker, topic, partition, expected.len());
    let want: Vec<Consumed> = expected
        .iter()
        .map(|(offset, record)| Consumed {
            partition,
            offset: *offset,
            record: record.clone(),
        })
        .collect();
    assert_eq!(
        consumed.len(),
        want.len(),
        "{topic}/{partition}: record count"
    );
    for (got, want) in consumed.iter().zip(&want) {
        assert_eq!(got, want, "{topic}/{partition} at offset {}", want.offset);
    }
    for (i, (offset, _)) in expected.iter().enumerate() {
        assert_eq!(*offset, i as i64, "{topic}/{partition}: offsets are dense");
    }
    let consumer = support::consumer(broker, &[]);
    let watermarks = consumer
        .fetch_watermarks(topic, partition, TIMEOUT)
        .unwrap();
    assert_eq!(
        watermarks,
        (0, expected.len() as i64),
        "{topic}/{partition}"
    );
}

/// Deterministic bytes that do not compress.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

/// A varied record: binary keys, empty and null values, several headers (repeated keys,
/// null and empty values) and an explicit timestamp.
fn rich_record(partition: i32, i: usize) -> TestRecord {
    let key = match i % 4 {
        0 => None,
        1 => Some(Vec::new()),
        _ => Some(format!("key-{partition}-{i}\u{0}\u{ff}").into_bytes()),
    };
    let value = match i % 5 {
        0 => None,
        1 => Some(Vec::new()),
        2 => Some((0..=255u8).collect()),
        _ => Some(format!("value {partition}/{i} ünïcödé").into_bytes()),
    };
    let headers = match i % 3 {
        0 => Vec::new(),
        1 => vec![("only".to_string(), Some(vec![i as u8]))],
        _ => vec![
            ("trace".to_string(), Some(b"abc".to_vec())),
            ("null".to_string(), None),
            ("empty".to_string(), Some(Vec::new())),
            (
                "trace".to_string(),
                Some(b"second value, same key".to_vec()),
            ),
        ],
    };
    TestRecord {
        key,
        value,
        timestamp: Some(1_600_000_000_000 + i64::from(partition) * 1_000_000 + i as i64 * 7),
        headers,
    }
}

#[test]
fn fields_round_trip_byte_exact_across_six_partitions() {
    let broker = TestBroker::start();
    support::create_topic(&broker, "fields", 6, &[]);
    let producer = support::producer(&broker, &[("linger.ms", "5")]);

    let mut expected: BTreeMap<i32, Vec<(i64, TestRecord)>> = BTreeMap::new();
    // Explicit partitions.
    for partition in 0..6 {
        let records: Vec<TestRecord> = (0..25).map(|i| rich_record(partition, i)).collect();
        let delivered = support::produce_ok(&producer, "fields", Some(partition), &records);
        for ((p, offset), record) in delivered.into_iter().zip(records) {
            assert_eq!(p, partition);
            expected.entry(p).or_default().push((offset, record));
        }
    }
    // By key, through librdkafka's partitioner.
    let keyed: Vec<TestRecord> = (0..120)
        .map(|i| TestRecord {
            key: Some(format!("user-{}", i % 17).into_bytes()),
            value: Some(format!("keyed {i}").into_bytes()),
            timestamp: Some(1_700_000_000_000 + i as i64),
            headers: vec![("n".to_string(), Some(i.to_string().into_bytes()))],
        })
        .collect();
    let delivered = support::produce_ok(&producer, "fields", None, &keyed);
    let mut partition_of_key: HashMap<Vec<u8>, i32> = HashMap::new();
    for ((p, offset), record) in delivered.into_iter().zip(keyed) {
        let known = *partition_of_key
            .entry(record.key.clone().unwrap())
            .or_insert(p);
        assert_eq!(known, p, "one key, one partition");
        expected.entry(p).or_default().push((offset, record));
    }
    assert!(
        partition_of_key
            .values()
            .collect::<std::collections::HashSet<_>>()
            .len()
            > 1,
        "keys spread over partitions"
    );

    for (partition, mut records) in expected {
        records.sort_by_key(|(offset, _)| *offset);
        assert_partition(&broker, "fields", partition, &records);
    }
}

#[test]
fn every_compression_codec_round_trips() {
    let broker = TestBroker::start();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        support::create_topic(&broker, &topic, 1, &[]);
        let producer = support::producer(
            &broker,
            &[("compression.codec", codec), ("linger.ms", "20")],
        );
        let records: Vec<TestRecord> = (0..300)
            .map(|i| TestRecord {
                key: Some(format!("k{}", i % 10).into_bytes()),
                // Half compressible, half noise, so the codecs have work of both kinds.
                value: Some(if i % 2 == 0 {
                    format!("{codec} {i} ").repeat(40).into_bytes()
                } else {
                    noise(700, i as u64)
                }),
                timestamp: Some(1_650_000_000_000 + i as i64),
                headers: vec![("codec".to_string(), Some(codec.as_bytes().to_vec()))],
            })
            .collect();
        let delivered = support::produce_ok(&producer, &topic, Some(0), &records);
        let expected: Vec<(i64, TestRecord)> = delivered
            .into_iter()
            .map(|(_, offset)| offset)
            .zip(records)
            .collect();
        assert_partition(&broker, &topic, 0, &expected);
    }
}

#[test]
fn a_one_mebibyte_message_round_trips_and_a_larger_one_is_refused() {
    let broker = TestBroker::start();
    support::create_topic(&broker, "big", 1, &[("max.message.bytes", "1200000")]);
    // The producer's own limit is above the topic's, so that the broker does the refusing.
    let producer = support::producer(&broker, &[("message.max.bytes", "4000000")]);

    let mebibyte = TestRecord {
        key: Some(b"big".to_vec()),
        value: Some(noise(1 << 20, 1)),
        timestamp: Some(1_600_000_000_000),
        headers: vec![("size".to_string(), Some(b"1MiB".to_vec()))],
    };
    let delivered = support::produce_ok(&producer, "big", Some(0), std::slice::from_ref(&mebibyte));
    assert_eq!(delivered, vec![(0, 0)]);

    let too_big = TestRecord::kv("too-big", noise(1_500_000, 2));
    let result = support::produce(&producer, "big", Some(0), &[too_big]);
    assert_eq!(
        result,
        vec![Err(KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageSizeTooLarge
        ))]
    );

    // The refused message left nothing behind; the next one follows the first.
    let after = TestRecord::kv("after", "small");
    let delivered = support::produce_ok(&producer, "big", Some(0), std::slice::from_ref(&after));
    assert_eq!(delivered, vec![(0, 1)]);
    let consumed = support::consume_from(
        &broker,
        &[
            ("fetch.max.bytes", "4000000"),
            ("max.partition.fetch.bytes", "4000000"),
        ],
        "big",
        &[(0, Offset::Beginning)],
        2,
    );
    assert_eq!(consumed.len(), 2);
    assert_eq!(consumed[0].offset, 0);
    assert_eq!(
        consumed[0].record, mebibyte,
        "the 1 MiB message is byte-exact"
    );
    assert_eq!(consumed[1].offset, 1);
    assert_eq!(consumed[1].record.value.as_deref(), Some(&b"small"[..]));
}

#[test]
fn acks_zero_one_and_all_deliver() {
    let broker = TestBroker::start();
    for acks in ["0", "1", "all"] {
        let topic = format!("acks-{acks}");
        support::create_topic(&broker, &topic, 1, &[]);
        let producer = support::producer(&broker, &[("acks", acks), ("linger.ms", "2")]);
        let records: Vec<TestRecord> = (0..200)
            .map(|i| TestRecord::kv(format!("k{i}"), format!("acks={acks} #{i}")))
            .collect();
        let delivered = support::produce_ok(&producer, &topic, Some(0), &records);
        if acks != "0" {
            let offsets: Vec<i64> = delivered.iter().map(|(_, o)| *o).collect();
            assert_eq!(offsets, (0..200).collect::<Vec<i64>>(), "acks={acks}");
        }
        let consumed = support::consume_partition(&broker, &topic, 0, records.len());
        assert_eq!(consumed.len(), records.len(), "acks={acks}");
        for (i, (got, want)) in consumed.iter().zip(&records).enumerate() {
            assert_eq!(got.offset, i as i64, "acks={acks}");
            assert_eq!(got.record.key, want.key, "acks={acks}");
            assert_eq!(got.record.value, want.value, "acks={acks}");
        }
    }
}

#[test]
fn idempotent_producer_delivers_ten_thousand_in_order_without_duplicates() {
    let broker = TestBroker::start();
    support::create_topic(&broker, "idempotent", 2, &[]);
    let producer = support::producer(
        &broker,
        &[
            ("enable.idempotence", "true"),
            ("linger.ms", "1"),
            ("batch.num.messages", "200"),
        ],
    );
    let mut delivered = Vec::new();
    for partition in 0..2 {
        let records: Vec<TestRecord> = (0..5_000)
            .map(|i| TestRecord::kv(format!("{partition}"), format!("{partition}:{i:05}")))
            .collect();
        delivered.push(support::produce(
            &producer,
            "idempotent",
            Some(partition),
            &records,
        ));
    }
    for (partition, results) in delivered.iter().enumerate() {
        let offsets: Vec<i64> = results
            .iter()
            .map(|r| r.as_ref().expect("delivered").1)
            .collect();
        assert_eq!(
            offsets,
            (0..5_000).collect::<Vec<i64>>(),
            "partition {partition}"
        );
    }
    for partition in 0..2 {
        let consumed = support::consume_partition(&broker, "idempotent", partition, 5_000);
        let values: Vec<String> = consumed
            .iter()
            .map(|c| String::from_utf8(c.record.value.clone().unwrap()).unwrap())
            .collect();
        let want: Vec<String> = (0..5_000).map(|i| format!("{partition}:{i:05}")).collect();
        assert_eq!(
            values, want,
            "partition {partition}: in order, no duplicates"
        );
        let offsets: Vec<i64> = consumed.iter().map(|c| c.offset).collect();
        assert_eq!(offsets, (0..5_000).collect::<Vec<i64>>());
        let consumer = support::consumer(&broker, &[]);
        assert_eq!(
            consumer
                .fetch_watermarks("idempotent", partition, TIMEOUT)
                .unwrap(),
            (0, 5_000)
        );
    }
}

#[test]
fn many_in_flight_messages_all_arrive_where_their_deliveries_say() {
    const COUNT: usize = 40_000;
    let broker = TestBroker::start();
    support::create_topic(&broker, "in-flight", 4, &[]);
    let producer = support::producer(
        &broker,
        &[
            ("linger.ms", "1"),
            ("batch.num.messages", "100"),
            ("max.in.flight.requests.per.connection", "20"),
            ("queue.buffering.max.messages", "100000"),
        ],
    );
    let records: Vec<TestRecord> = (0..COUNT)
        .map(|i| TestRecord::kv(format!("key-{}", i % 101), format!("message {i}")))
        .collect();
    let delivered = support::produce_ok(&producer, "in-flight", None, &records);

    // Every (partition, offset) is handed out once, and each partition's offsets are dense.
    let mut at: HashMap<(i32, i64), usize> = HashMap::new();
    let mut per_partition: BTreeMap<i32, usize> = BTreeMap::new();
    for (i, (partition, offset)) in delivered.iter().enumerate() {
        assert!(
            at.insert((*partition, *offset), i).is_none(),
            "offset given twice"
        );
        *per_partition.entry(*partition).or_default() += 1;
    }
    assert_eq!(per_partition.values().sum::<usize>(), COUNT);
    for (partition, count) in per_partition {
        let consumed = support::consume_partition(&broker, "in-flight", partition, count);
        assert_eq!(consumed.len(), count, "partition {partition}");
        for (n, got) in consumed.iter().enumerate() {
            assert_eq!(got.offset, n as i64);
            let index = at[&(partition, got.offset)];
            assert_eq!(got.record.value, records[index].value);
            assert_eq!(got.record.key, records[index].key);
        }
    }
}

#[test]
fn requests_pipelined_on_one_connection_are_appended_and_answered_in_order() {
    use streambus_protocol::messages::metadata_request::MetadataRequest;
    use streambus_protocol::messages::produce_request::{
        PartitionProduceData, ProduceRequest, TopicProduceData,
    };
    use streambus_protocol::{Request, Response, decode_response};
    use streambus_storage::records::BatchBuilder;

    let broker = TestBroker::start();
    support::create_topic(&broker, "pipelined", 1, &[]);
    let mut wire = support::Wire::connect(broker.addr());
    // Fifty one-record Produce requests (acks=all, so each waits for its fsync) with a
    // Metadata request among them, all written before any answer is read.
    let mut sent = Vec::new();
    let mut frames = Vec::new();
    for i in 0..50 {
        let request = if i == 25 {
            Request::Metadata(MetadataRequest::default())
        } else {
            let mut batch = BatchBuilder::new();
            batch.push_kv(
                0,
                None,
                Some(bytes::Bytes::from(format!("record {i}"))),
                Vec::new(),
            );
            Request::Produce(ProduceRequest {
                acks: -1,
                timeout_ms: 10_000,
                topic_data: vec![TopicProduceData {
                    name: "pipelined".into(),
                    partition_data: vec![PartitionProduceData {
                        index: 0,
                        records: Some(batch.build().unwrap().freeze()),
                    }],
                }],
                ..Default::default()
            })
        };
        let version = if i == 25 { 12 } else { 9 };
        let (correlation_id, frame) = wire.frame(version, &request);
        sent.push((correlation_id, request.api_key(), version));
        frames.extend_from_slice(&frame);
    }
    wire.send_raw(&frames).unwrap();
    let mut next_offset = 0;
    for (correlation_id, api, version) in sent {
        let payload = wire
            .read_frame()
            .unwrap()
            .expect("an answer to every request");
        let (header, response) = decode_response(api, version, payload).unwrap();
        assert_eq!(
            header.correlation_id, correlation_id,
            "answers in request order"
        );
        match response {
            Response::Produce(produce) => {
                let partition = &produce.responses[0].partition_responses[0];
                assert_eq!(partition.error_code, 0);
                assert_eq!(
                    partition.base_offset, next_offset,
                    "appended in request order"
                );
                next_offset += 1;
            }
            Response::Metadata(metadata) => assert_eq!(metadata.brokers.len(), 1),
            other => panic!("unexpected {other:?}"),
        }
    }
    let read = support::consume_from(&broker, &[], "pipelined", &[(0, Offset::Beginning)], 49);
    let values: Vec<String> = read
        .iter()
        .map(|c| String::from_utf8(c.record.value.clone().unwrap()).unwrap())
        .collect();
    let expected: Vec<String> = (0..50)
        .filter(|i| *i != 25)
        .map(|i| format!("record {i}"))
        .collect();
    assert_eq!(values, expected);
}

/// One raw Fetch (at `version`) of `topic`'s partitions `0..partitions` from offset 0.
fn fetch_from_start(
    wire: &mut support::Wire,
    topic: &str,
    partitions: i32,
    version: i16,
) -> Vec<streambus_protocol::messages::fetch_response::PartitionData> {
    use streambus_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
    use streambus_protocol::{Request, Response};
    let request = Request::Fetch(FetchRequest {
        replica_id: -1,
        max_wait_ms: 0,
        max_bytes: 8 << 20,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: (0..partitions)
                .map(|partition| FetchPartition {
                    partition,
                    fetch_offset: 0,
                    partition_max_bytes: 2 << 20,
                    current_leader_epoch: -1,
                    log_start_offset: -1,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    });
    let Response::Fetch(response) = wire.call(version, request) else {
        panic!("not a Fetch response");
    };
    assert_eq!(response.responses.len(), 1, "Fetch v{version}");
    response.responses[0].partitions.clone()
}

/// Checks that each fetched partition holds exactly its batches of `produced`, in order,
/// byte for byte but for the leader epoch the broker stamps (bytes 12-15 of a batch,
/// outside its CRC) and the base offset it assigns (bytes 0-7), which must be dense.
fn assert_served(
    fetched: &[streambus_protocol::messages::fetch_response::PartitionData],
    produced: &[Vec<bytes::Bytes>],
    what: &str,
) {
    assert_eq!(fetched.len(), produced.len(), "{what}: partitions");
    for (partition, batches) in fetched.iter().zip(produced) {
        let at = partition.partition_index;
        assert_eq!(partition.error_code, 0, "{what}: partition {at}");
        let records = partition.records.as_ref().unwrap();
        let mut offset = 0i64;
        let mut rest = &records[..];
        for batch in batches {
            assert!(rest.len() >= batch.len(), "{what}: partition {at} is short");
            let (served, after) = rest.split_at(batch.len());
            assert_eq!(served[..8], offset.to_be_bytes(), "{what}: partition {at}");
            assert_eq!(served[8..12], batch[8..12], "{what}: partition {at}");
            assert!(
                served[16..] == batch[16..],
                "{what}: partition {at}: bytes differ"
            );
            offset += i64::from(u32::from_be_bytes(batch[57..61].try_into().unwrap()));
            rest = after;
        }
        assert!(rest.is_empty(), "{what}: partition {at} holds more");
        assert_eq!(partition.high_watermark, offset, "{what}: partition {at}");
    }
}

/// A batch of `count` records with `value_size`-byte values that do not compress.
fn noise_batch(count: usize, value_size: usize, seed: u64) -> bytes::Bytes {
    let mut builder = streambus_storage::records::BatchBuilder::new();
    for i in 0..count {
        let value = noise(value_size, seed * 1_000 + i as u64);
        builder.push_kv(1_000 + i as i64, None, Some(value.into()), Vec::new());
    }
    builder.build().unwrap().freeze()
}

#[test]
fn one_fetch_of_many_partitions_returns_each_partitions_batch_byte_for_byte() {
    // Batches of about these many value bytes, on both sides of the size above which the
    // broker writes record sets to the socket from the buffers they were read into rather
    // than copying them into the frame.
    let value_sizes = [10, 3 << 10, 5 << 10, 64 << 10, 900 << 10, 0];
    let broker = TestBroker::start();
    support::create_topic(&broker, "spliced", value_sizes.len() as i32, &[]);
    let mut wire = support::Wire::connect(broker.addr());
    let mut produced = Vec::new();
    for (partition, size) in value_sizes.iter().enumerate() {
        let batch = noise_batch(2, size / 2, partition as u64);
        let (code, base) =
            support::raw_produce(&mut wire, "spliced", partition as i32, batch.clone(), -1);
        assert_eq!((code, base), (0, 0), "partition {partition}");
        produced.push(vec![batch]);
    }
    for version in [4, 12] {
        let fetched = fetch_from_start(&mut wire, "spliced", value_sizes.len() as i32, version);
        assert_served(&fetched, &produced, &format!("Fetch v{version}"));
    }
}

#[test]
fn one_produce_request_over_many_partitions_commits_each_in_place() {
    use streambus_protocol::messages::produce_request::{
        PartitionProduceData, ProduceRequest, TopicProduceData,
    };
    use streambus_protocol::{Request, Response};

    // More partitions than the broker fsyncs one by one: one syncfs covers them.
    const PARTITIONS: i32 = 24;
    let broker = TestBroker::start();
    support::create_topic(&broker, "wide", PARTITIONS, &[]);
    let mut wire = support::Wire::connect(broker.addr());
    let mut produced: Vec<Vec<bytes::Bytes>> = vec![Vec::new(); PARTITIONS as usize];
    for round in 0..3u64 {
        // Every partition, in reverse order, with an unknown partition in the middle: each
        // answer in its place.
        let mut data = Vec::new();
        let mut expected = Vec::new();
        for partition in (0..PARTITIONS).rev() {
            if partition == PARTITIONS / 2 {
                data.push((99, noise_batch(1, 10, 0)));
                expected.push((99, 3, -1));
            }
            let batch = noise_batch(
                1 + partition as usize % 4,
                100,
                round * 100 + partition as u64,
            );
            let base = produced[partition as usize]
                .iter()
                .map(|b| i64::from(u32::from_be_bytes(b[57..61].try_into().unwrap())))
                .sum::<i64>();
            expected.push((partition, 0, base));
            produced[partition as usize].push(batch.clone());
            data.push((partition, batch));
        }
        let response = wire.call(
            8,
            Request::Produce(ProduceRequest {
                transactional_id: None,
                acks: -1,
                timeout_ms: 10_000,
                topic_data: vec![TopicProduceData {
                    name: "wide".into(),
                    partition_data: data
                        .into_iter()
                        .map(|(index, records)| PartitionProduceData {
                            index,
                            records: Some(records),
                        })
                        .collect(),
                }],
            }),
        );
        let Response::Produce(response) = response else {
            panic!("not a Produce response: {response:?}");
        };
        let answers: Vec<(i32, i16, i64)> = response.responses[0]
            .partition_responses
            .iter()
            .map(|p| (p.index, p.error_code, p.base_offset))
            .collect();
        assert_eq!(answers, expected, "round {round}: answers in request order");
        assert_served(
            &fetch_from_start(&mut wire, "wide", PARTITIONS, 12),
            &produced,
            &format!("after round {round}"),
        );
    }
}
