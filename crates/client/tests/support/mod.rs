//! Helpers shared by the client's test binaries: a runtime per test, brokers with fast groups, topics, a librdkafka producer,
//! consumer settings for tests, and polling under a deadline.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use streambus_client::consumer::{Consumer, ConsumerConfig, ConsumerRecord, OffsetReset};
use streambus_client::{ClientConfig, Cluster};
use streambus_protocol::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use streambus_testkit::TestBroker;

/// How long any one wait for a condition may take.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Runs `future` on a fresh runtime, so that brokers are created and dropped outside it.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { tokio::time::timeout(Duration::from_secs(40), future).await })
        .expect("the test finished within its time")
}

/// A broker whose groups rebalance at once and accept short sessions.
pub fn group_broker() -> TestBroker {
    TestBroker::start_with(|c| {
        c.group.initial_rebalance_delay_ms = 0;
        c.group.min_session_timeout_ms = 1000;
        c.offsets_topic_num_partitions = 3;
    })
}

/// Consumer settings for tests: from the earliest offset, short sessions and waits.
pub fn config(broker: &TestBroker, group: Option<&str>) -> ConsumerConfig {
    let mut client = ClientConfig::new(&broker.bootstrap());
    client.request_timeout = Duration::from_secs(10);
    let mut config = ConsumerConfig::new(client);
    config.group_id = group.map(str::to_owned);
    config.auto_offset_reset = OffsetReset::Earliest;
    config.session_timeout = Duration::from_secs(3);
    config.heartbeat_interval = Duration::from_millis(200);
    config.rebalance_timeout = Duration::from_secs(10);
    config.fetch_max_wait = Duration::from_millis(100);
    config
}

pub async fn consumer(config: ConsumerConfig) -> Consumer {
    Consumer::new(config).await.unwrap()
}

pub async fn create_topic(broker: &TestBroker, name: &str, partitions: i32) {
    let cluster = Cluster::connect(ClientConfig::new(&broker.bootstrap()))
        .await
        .unwrap();
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.into(),
            num_partitions: partitions,
            replication_factor: 1,
            ..Default::default()
        }],
        timeout_ms: 10_000,
        ..Default::default()
    };
    let response = cluster.call_controller(request).await.unwrap();
    assert_eq!(response.topics[0].error_code, 0, "creating {name}");
}

/// A record as produced, to compare with what is consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: i64,
}

impl TestRecord {
    pub fn value(value: &str, timestamp: i64) -> TestRecord {
        TestRecord {
            key: None,
            value: Some(value.as_bytes().to_vec()),
            headers: Vec::new(),
            timestamp,
        }
    }

    /// Whether `record` carries exactly these bytes and this timestamp.
    pub fn matches(&self, record: &ConsumerRecord) -> bool {
        let headers: Vec<(String, Option<Vec<u8>>)> = record
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.as_ref().map(|v| v.to_vec())))
            .collect();
        self.key.as_deref() == record.key.as_deref()
            && self.value.as_deref() == record.value.as_deref()
            && self.headers == headers
            && self.timestamp == record.timestamp
            && !record.log_append_time
    }
}

pub fn producer(broker: &TestBroker, extra: &[(&str, &str)]) -> FutureProducer {
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", broker.bootstrap())
        .set("message.timeout.ms", "15000")
        .set("linger.ms", "5");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config.create().unwrap()
}

/// Produces `records` to `topic`-`partition` with librdkafka; returns their offsets.
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    records: &[TestRecord],
) -> Vec<i64> {
    let mut deliveries = Vec::new();
    for r in records {
        let mut headers = OwnedHeaders::new();
        for (key, value) in &r.headers {
            headers = headers.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
        let mut record = FutureRecord::<[u8], [u8]>::to(topic)
            .partition(partition)
            .timestamp(r.timestamp)
            .headers(headers);
        if let Some(key) = &r.key {
            record = record.key(key);
        }
        if let Some(value) = &r.value {
            record = record.payload(value);
        }
        deliveries.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    let mut offsets = Vec::new();
    for delivery in deliveries {
        let delivered = delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
        assert_eq!(delivered.partition, partition);
        offsets.push(delivered.offset);
    }
    offsets
}

/// Produces `count` small records to each of `partitions` of `topic`.
pub async fn produce_round(broker: &TestBroker, topic: &str, partitions: i32, count: usize) {
    let producer = producer(broker, &[]);
    for p in 0..partitions {
        let records: Vec<TestRecord> = (0..count)
            .map(|i| TestRecord::value(&format!("{p}-{i}"), 1_700_000_000_000 + i as i64))
            .collect();
        produce(&producer, topic, p, &records).await;
    }
}

/// Polls `consumer` until `done` holds of everything it returned, or fails at the deadline.
pub async fn poll_until(
    consumer: &mut Consumer,
    what: &str,
    mut done: impl FnMut(&Consumer, &[ConsumerRecord]) -> bool,
) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + DEADLINE;
    let mut got = Vec::new();
    loop {
        got.extend(consumer.poll(Duration::from_millis(100)).await.unwrap());
        if done(consumer, &got) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: got {} records, assignment {:?}",
            got.len(),
            consumer.assignment()
        );
    }
}

/// What several consumers returned, by partition and offset, with how often.
#[derive(Default, Debug)]
pub struct Ledger(pub BTreeMap<(i32, i64), usize>);

impl Ledger {
    pub fn add(&mut self, records: &[ConsumerRecord]) {
        for r in records {
            *self.0.entry((r.partition, r.offset)).or_default() += 1;
        }
    }

    /// Whether every offset `0..count` of each of `partitions` was seen.
    pub fn covers(&self, partitions: i32, count: i64) -> bool {
        (0..partitions).all(|p| (0..count).all(|o| self.0.contains_key(&(p, o))))
    }

    pub fn assert_once(&self) {
        let twice: Vec<_> = self.0.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "consumed more than once: {twice:?}");
    }
}
