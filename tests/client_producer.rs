//! The StreamBus Rust producer against a real broker, read back with librdkafka: byte-exact
//! records with every codec, the Java-compatible partitioner, batching by linger, the errors
//! a caller sees, and retries across a broker restart with no duplicates and no losses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use rdkafka::Offset;
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureProducer;
use streambus_client::producer::{Acks, Compression, Producer, ProducerConfig, ProducerRecord};
use streambus_client::{ClientConfig, ErrorCode};
use streambus_testkit::TestBroker;
use support::{Consumed, TestRecord, consume_from, create_topic, produce_ok};

/// A runtime for the async producer; brokers are made and dropped outside it.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn producer_config(broker: &TestBroker) -> ProducerConfig {
    let mut client = ClientConfig::new(&broker.bootstrap());
    client.request_timeout = Duration::from_secs(5);
    let mut config = ProducerConfig::new(client);
    config.delivery_timeout = Duration::from_secs(30);
    config
}

/// The records of the byte-exact test: keys, null keys and values, headers, a null
/// header value, empty and binary payloads, explicit timestamps.
fn sample_records(n: usize) -> Vec<TestRecord> {
    (0..n)
        .map(|i| TestRecord {
            key: (i % 5 != 0).then(|| format!("key-{i}").into_bytes()),
            value: (i % 7 != 3).then(|| {
                let mut value = format!("value {i} ").repeat(i % 13).into_bytes();
                value.extend([0u8, 255, i as u8]);
                value
            }),
            timestamp: Some(1_700_000_000_000 + i as i64),
            headers: match i % 3 {
                0 => vec![],
                1 => vec![("trace".into(), Some(format!("t{i}").into_bytes()))],
                _ => vec![("a".into(), Some(vec![1, 2])), ("b".into(), None)],
            },
        })
        .collect()
}

fn to_producer_record(topic: &str, partition: i32, record: &TestRecord) -> ProducerRecord {
    ProducerRecord {
        topic: topic.to_owned(),
        partition: Some(partition),
        key: record.key.clone().map(Bytes::from),
        value: record.value.clone().map(Bytes::from),
        headers: record
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().map(Bytes::from)))
            .collect(),
        timestamp: record.timestamp,
    }
}

#[test]
fn what_the_producer_writes_librdkafka_reads_byte_exact_with_every_codec() {
    let broker = TestBroker::start();
    let codecs = [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ];
    let records = sample_records(300);
    for (name, codec) in codecs {
        let topic = format!("exact-{name}");
        create_topic(&broker, &topic, 1, &[]);
        let mut config = producer_config(&broker);
        config.compression = codec;
        config.batch_size = 4096;
        let offsets = runtime().block_on(async {
            let producer = Producer::new(config).await.unwrap();
            let mut deliveries = Vec::new();
            for record in &records {
                let record = to_producer_record(&topic, 0, record);
                deliveries.push(producer.enqueue(record).await.unwrap());
            }
            let mut offsets = Vec::new();
            for delivery in deliveries {
                let metadata = delivery.await.unwrap();
                assert_eq!((&*metadata.topic, metadata.partition), (topic.as_str(), 0));
                offsets.push(metadata.offset);
            }
            producer.close().await.unwrap();
            offsets
        });
        assert_eq!(
            offsets,
            (0..300).collect::<Vec<i64>>(),
            "{name}: offsets in order"
        );
        let read = consume_from(&broker, &[], &topic, &[(0, Offset::Beginning)], 300);
        let read: Vec<TestRecord> = read.into_iter().map(|c| c.record).collect();
        assert_eq!(read, records, "{name}: librdkafka reads what was sent");
    }
}

#[test]
fn what_librdkafka_writes_our_partitioner_places_on_the_same_partitions() {
    let broker = TestBroker::start();
    create_topic(&broker, "keys-rdkafka", 7, &[]);
    create_topic(&broker, "keys-ours", 7, &[]);
    let keys: Vec<String> = (0..300).map(|i| format!("user-{i}-{}", i * 7919)).collect();
    let records: Vec<TestRecord> = keys
        .iter()
        .map(|k| TestRecord::kv(k.clone(), "v"))
        .collect();
    let rdkafka: FutureProducer = support::producer(&broker, &[("partitioner", "murmur2_random")]);
    let theirs = produce_ok(&rdkafka, "keys-rdkafka", None, &records);

    let ours = runtime().block_on(async {
        let producer = Producer::new(producer_config(&broker)).await.unwrap();
        let mut partitions = Vec::new();
        for key in &keys {
            let record = ProducerRecord::new("keys-ours").key(key.clone()).value("v");
            partitions.push(producer.send(record).await.unwrap().partition);
        }
        partitions
    });
    let theirs: Vec<i32> = theirs.into_iter().map(|(partition, _)| partition).collect();
    assert_eq!(ours, theirs, "every key on librdkafka's murmur2 partition");
    let used: std::collections::HashSet<i32> = ours.iter().copied().collect();
    assert_eq!(used.len(), 7, "300 keys reach all 7 partitions");
}

#[test]
fn keyless_records_within_linger_fill_one_batch_on_one_partition() {
    let broker = TestBroker::start();
    create_topic(&broker, "sticky", 4, &[]);
    let mut config = producer_config(&broker);
    config.linger = Duration::from_millis(500);
    config.batch_size = 1 << 20;
    let placed = runtime().block_on(async {
        let producer = Producer::new(config).await.unwrap();
        let mut deliveries = Vec::new();
        for i in 0..50 {
            let record = ProducerRecord::new("sticky").value(format!("{i}"));
            deliveries.push(producer.enqueue(record).await.unwrap());
        }
        let mut placed = Vec::new();
        for delivery in deliveries {
            let metadata = delivery.await.unwrap();
            placed.push((metadata.partition, metadata.offset));
        }
        placed
    });
    let partition = placed[0].0;
    let expected: Vec<(i32, i64)> = (0..50).map(|i| (partition, i)).collect();
    assert_eq!(placed, expected, "one partition, consecutive offsets");
    // One batch: the broker stored a single RecordBatch of 50 records.
    assert_eq!(stored_batches(&broker, "sticky", partition), vec![(50, 0)]);
}

/// The record count and base sequence of each batch stored in a partition, read with a
/// raw Fetch.
fn stored_batches(broker: &TestBroker, topic: &str, partition: i32) -> Vec<(i32, i32)> {
    use streambus_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
    let request = FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 24,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: vec![FetchPartition {
                partition,
                fetch_offset: 0,
                partition_max_bytes: 1 << 24,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = runtime().block_on(async {
        let cluster = streambus_client::Cluster::connect(ClientConfig::new(&broker.bootstrap()))
            .await
            .unwrap();
        cluster
            .call_addr(&broker.bootstrap(), request)
            .await
            .unwrap()
    });
    let data = &response.responses[0].partitions[0];
    assert_eq!(data.error_code, 0);
    let records = data.records.clone().unwrap_or_default();
    streambus_storage::batch::BatchIter::new(&records)
        .map(|(header, _)| (header.record_count, header.base_sequence))
        .collect()
}

#[test]
fn errors_name_the_topic_and_partition() {
    let broker = TestBroker::start();
    create_topic(&broker, "small", 2, &[("max.message.bytes", "2000")]);
    runtime().block_on(async {
        let producer = Producer::new(producer_config(&broker)).await.unwrap();
        let unknown = producer
            .send(ProducerRecord::new("missing").value("x"))
            .await;
        let unknown = unknown.unwrap_err();
        assert_eq!(unknown.code(), Some(ErrorCode::UnknownTopicOrPartition));
        assert!(unknown.to_string().contains("missing"), "{unknown}");

        let out_of_range = producer
            .send(ProducerRecord::new("small").partition(2).value("x"))
            .await
            .unwrap_err();
        assert_eq!(
            out_of_range.code(),
            Some(ErrorCode::UnknownTopicOrPartition)
        );
        assert!(
            out_of_range.to_string().contains("partition 2 of small"),
            "{out_of_range}"
        );

        let too_big = producer
            .send(
                ProducerRecord::new("small")
                    .partition(0)
                    .value(vec![7u8; 5000]),
            )
            .await
            .unwrap_err();
        assert_eq!(
            too_big.code(),
            Some(ErrorCode::MessageTooLarge),
            "{too_big}"
        );
        assert!(
            too_big.to_string().contains("produce to small-0"),
            "{too_big}"
        );
        // The producer carries on after a refused record.
        let fine = producer
            .send(ProducerRecord::new("small").partition(0).value("ok"))
            .await
            .unwrap();
        assert_eq!(fine.offset, 0);
    });
}

#[test]
fn acks_zero_and_acks_one_deliver_without_idempotence() {
    let broker = TestBroker::start();
    create_topic(&broker, "acks", 1, &[]);
    runtime().block_on(async {
        for acks in [Acks::None, Acks::Leader] {
            let mut config = producer_config(&broker);
            config.acks = acks;
            config.idempotence = false;
            let producer = Producer::new(config).await.unwrap();
            for i in 0..10 {
                let metadata = producer
                    .send(
                        ProducerRecord::new("acks")
                            .partition(0)
                            .value(format!("{acks:?}-{i}")),
                    )
                    .await
                    .unwrap();
                let expected = if acks == Acks::None { -1 } else { 10 + i };
                assert_eq!(metadata.offset, expected, "{acks:?}");
            }
            producer.close().await.unwrap();
        }
        let mut config = producer_config(&broker);
        config.acks = Acks::Leader;
        let refused = Producer::new(config).await.err().unwrap();
        assert!(
            refused.to_string().contains("idempotence needs acks=all"),
            "{refused}"
        );
    });
    let read = consume_from(&broker, &[], "acks", &[(0, Offset::Beginning)], 20);
    let values: Vec<String> = read
        .iter()
        .map(|c| String::from_utf8(c.record.value.clone().unwrap()).unwrap())
        .collect();
    let mut expected: Vec<String> = (0..10).map(|i| format!("None-{i}")).collect();
    expected.extend((0..10).map(|i| format!("Leader-{i}")));
    assert_eq!(values, expected);
}

#[test]
fn a_broker_restart_mid_stream_loses_and_duplicates_nothing() {
    let mut broker = TestBroker::start();
    create_topic(&broker, "restart", 3, &[]);
    let runtime = runtime();
    let mut config = producer_config(&broker);
    config.linger = Duration::from_millis(2);
    let producer = runtime.block_on(Producer::new(config)).unwrap();
    let producer = std::sync::Arc::new(producer);
    const RECORDS: usize = 3000;
    let sending = {
        let producer = producer.clone();
        runtime.spawn(async move {
            let mut deliveries = Vec::with_capacity(RECORDS);
            for i in 0..RECORDS {
                let record = ProducerRecord::new("restart")
                    .key(format!("k{}", i % 30))
                    .value(format!("{i}"));
                deliveries.push(producer.enqueue(record).await.unwrap());
                if i % 100 == 99 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            let mut acknowledged = Vec::with_capacity(RECORDS);
            for delivery in deliveries {
                acknowledged.push(delivery.await);
            }
            acknowledged
        })
    };
    // Stop the broker while records are in flight, keep it down briefly, bring it back.
    std::thread::sleep(Duration::from_millis(120));
    assert!(
        !sending.is_finished(),
        "records are still being sent when the broker stops"
    );
    broker.shutdown();
    std::thread::sleep(Duration::from_millis(400));
    broker.restart();
    let acknowledged = runtime.block_on(sending).unwrap();
    let mut expected_offsets: HashMap<i32, Vec<i64>> = HashMap::new();
    for (i, outcome) in acknowledged.iter().enumerate() {
        let metadata = outcome
            .as_ref()
            .unwrap_or_else(|e| panic!("record {i}: {e}"));
        expected_offsets
            .entry(metadata.partition)
            .or_default()
            .push(metadata.offset);
    }
    drop(producer);
    drop(runtime);

    let mut seen = vec![0u32; RECORDS];
    for (partition, offsets) in &expected_offsets {
        let read: Vec<Consumed> = consume_from(
            &broker,
            &[],
            "restart",
            &[(*partition, Offset::Beginning)],
            offsets.len(),
        );
        let (low, high) = support::consumer(&broker, &[])
            .fetch_watermarks("restart", *partition, support::TIMEOUT)
            .unwrap();
        assert_eq!(
            (low, high),
            (0, offsets.len() as i64),
            "partition {partition}: no extra records"
        );
        let read_offsets: Vec<i64> = read.iter().map(|c| c.offset).collect();
        assert_eq!(
            &read_offsets, offsets,
            "partition {partition}: acknowledged offsets, no more"
        );
        let mut last_per_key: HashMap<Vec<u8>, usize> = HashMap::new();
        for record in read {
            let value: usize = String::from_utf8(record.record.value.unwrap())
                .unwrap()
                .parse()
                .unwrap();
            seen[value] += 1;
            let key = record.record.key.unwrap();
            if let Some(previous) = last_per_key.insert(key, value) {
                assert!(previous < value, "records of a key stay in order");
            }
        }
    }
    let wrong: Vec<(usize, u32)> = seen
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, n)| *n != 1)
        .collect();
    assert!(
        wrong.is_empty(),
        "each record exactly once; (record, copies): {wrong:?}"
    );
}

#[test]
fn records_that_time_out_while_the_broker_is_down_do_not_block_the_ones_after() {
    let mut broker = TestBroker::start();
    create_topic(&broker, "timeouts", 1, &[]);
    let runtime = runtime();
    let mut config = producer_config(&broker);
    config.delivery_timeout = Duration::from_secs(2);
    config.client.request_timeout = Duration::from_secs(1);
    let producer = runtime.block_on(Producer::new(config)).unwrap();
    let record = |value: &str| ProducerRecord::new("timeouts").value(value.to_owned());
    let before = runtime.block_on(producer.send(record("before"))).unwrap();
    assert_eq!(before.offset, 0);

    broker.shutdown();
    // Numbered, sent into a dead connection, never answered: they time out.
    let lost = runtime.block_on(async {
        let mut deliveries = Vec::new();
        for i in 0..10 {
            deliveries.push(
                producer
                    .enqueue(record(&format!("lost-{i}")))
                    .await
                    .unwrap(),
            );
        }
        let mut outcomes = Vec::new();
        for delivery in deliveries {
            outcomes.push(delivery.await);
        }
        outcomes
    });
    for outcome in &lost {
        let error = outcome.as_ref().unwrap_err();
        assert!(
            matches!(error, streambus_client::Error::DeliveryTimeout { .. }),
            "{error:?}"
        );
    }

    broker.restart();
    // The broker never saw the lost sequence numbers; the producer starts afresh under a new
    // producer id instead of leaving a gap the broker would refuse as out of order.
    let after = runtime.block_on(producer.send(record("after"))).unwrap();
    assert_eq!(after.offset, 1);
    drop(producer);
    drop(runtime);
    let values: Vec<Vec<u8>> = consume_from(&broker, &[], "timeouts", &[(0, Offset::Beginning)], 2)
        .into_iter()
        .map(|c| c.record.value.unwrap())
        .collect();
    assert_eq!(values, [b"before".to_vec(), b"after".to_vec()]);
}
