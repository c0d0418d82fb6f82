//! Helpers shared by the integration tests: librdkafka clients pointed at a `TestBroker`,
//! admin futures run to completion under a deadline, bounded consumption of a partition,
//! and a raw Kafka wire connection whose every read has a timeout.
#![allow(dead_code)] // each test file uses a different subset

pub mod groups;

use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use streambus_protocol::messages::api_versions_request::ApiVersionsRequest;
use streambus_protocol::messages::api_versions_response::ApiVersionsResponse;
use streambus_protocol::{ApiKey, Request, RequestHeader, Response, decode_response};
use streambus_testkit::TestBroker;

/// How long any single client operation may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Runs a future (an admin operation, a delivery) to completion, failing after [`TIMEOUT`].
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { tokio::time::timeout(TIMEOUT, future).await })
        .expect("the operation finished within the timeout")
}

/// A client config for `broker` with the given extra settings.
pub fn config(broker: &TestBroker, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", broker.bootstrap())
        .set("message.timeout.ms", "15000")
        .set("socket.timeout.ms", "10000");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config
}

/// A future producer with the given extra settings.
pub fn producer(broker: &TestBroker, extra: &[(&str, &str)]) -> FutureProducer {
    config(broker, extra).create().unwrap()
}

/// A consumer that is assigned partitions by hand and commits nothing.
pub fn consumer(broker: &TestBroker, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut config = config(broker, &[]);
    config
        .set("group.id", "streambus-tests")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config.create().unwrap()
}

/// An admin client.
pub fn admin(broker: &TestBroker) -> AdminClient<DefaultClientContext> {
    config(broker, &[]).create().unwrap()
}

/// Admin options with the test timeout.
pub fn admin_options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(TIMEOUT))
}

/// Creates `name` with `partitions` partitions and the given configs; panics unless it is
/// created.
pub fn create_topic(broker: &TestBroker, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin = admin(broker);
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let results = block_on(admin.create_topics([&topic], &admin_options())).unwrap();
    assert_eq!(results, vec![Ok(name.to_string())], "creating {name}");
}

/// A record as a test sends it and expects it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp: Option<i64>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl TestRecord {
    /// A record with a key and a value, no timestamp and no headers.
    pub fn kv(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        TestRecord {
            key: Some(key.into()),
            value: Some(value.into()),
            timestamp: None,
            headers: Vec::new(),
        }
    }
}

/// A consumed record with where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub record: TestRecord,
}

/// Sends every record to `topic` (to `partition` when given, else by key) and waits for all
/// deliveries; returns each delivery's (partition, offset) or error, in send order.
pub fn produce(
    producer: &FutureProducer,
    topic: &str,
    partition: Option<i32>,
    records: &[TestRecord],
) -> Vec<Result<(i32, i64), KafkaError>> {
    let deadline = Instant::now() + TIMEOUT;
    let mut futures = Vec::with_capacity(records.len());
    for record in records {
        let mut headers = OwnedHeaders::new();
        for (key, value) in &record.headers {
            headers = headers.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
        let mut future_record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(topic).headers(headers);
        if let Some(key) = &record.key {
            future_record = future_record.key(key.as_slice());
        }
        if let Some(value) = &record.value {
            future_record = future_record.payload(value.as_slice());
        }
        if let Some(timestamp) = record.timestamp {
            future_record = future_record.timestamp(timestamp);
        }
        if let Some(partition) = partition {
            future_record = future_record.partition(partition);
        }
        // The local queue may fill up; let librdkafka drain it, within the deadline.
        loop {
            match producer.send_result(future_record) {
                Ok(future) => {
                    futures.push(future);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    assert!(Instant::now() < deadline, "producer queue stayed full");
                    future_record = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => panic!("enqueueing a record failed: {e}"),
            }
        }
    }
    block_on(async {
        let mut results = Vec::with_capacity(futures.len());
        for future in futures {
            results.push(match future.await.expect("the producer is alive") {
                Ok(delivery) => Ok((delivery.partition, delivery.offset)),
                Err((e, _)) => Err(e),
            });
        }
        results
    })
}

/// Like [`produce`], and panics unless every record is delivered.
pub fn produce_ok(
    producer: &FutureProducer,
    topic: &str,
    partition: Option<i32>,
    records: &[TestRecord],
) -> Vec<(i32, i64)> {
    produce(producer, topic, partition, records)
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("record {i} to {topic} not delivered: {e}")))
        .collect()
}

/// Converts a consumed message into a [`Consumed`].
pub fn consumed<M: Message>(message: &M) -> Consumed {
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default();
    Consumed {
        partition: message.partition(),
        offset: message.offset(),
        record: TestRecord {
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            timestamp: message.timestamp().to_millis(),
            headers,
        },
    }
}

/// Reads partitions of `topic` from `start` with a consumer made with `extra`, until
/// `count` records have arrived or the deadline passes; returns what arrived, in order.
pub fn consume_from(
    broker: &TestBroker,
    extra: &[(&str, &str)],
    topic: &str,
    partitions: &[(i32, Offset)],
    count: usize,
) -> Vec<Consumed> {
    let consumer = consumer(broker, extra);
    let mut assignment = TopicPartitionList::new();
    for (partition, offset) in partitions {
        assignment
            .add_partition_offset(topic, *partition, *offset)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    poll_records(&consumer, count)
}

/// Polls `consumer` until `count` records arrived or [`TIMEOUT`] passed; panics on an error.
pub fn poll_records(consumer: &BaseConsumer, count: usize) -> Vec<Consumed> {
    poll_records_for(consumer, count, TIMEOUT)
}

/// Polls `consumer` until `count` records arrived or `limit` passed; panics on an error.
pub fn poll_records_for(consumer: &BaseConsumer, count: usize, limit: Duration) -> Vec<Consumed> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::with_capacity(count);
    while got.len() < count && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(50)) {
            got.push(consumed(&message.expect("no consume error")));
        }
    }
    got
}

/// Reads all of partition `partition` of `topic` from the beginning, expecting `count`
/// records, and checks no more arrive shortly after.
pub fn consume_partition(
    broker: &TestBroker,
    topic: &str,
    partition: i32,
    count: usize,
) -> Vec<Consumed> {
    consume_from(broker, &[], topic, &[(partition, Offset::Beginning)], count)
}

/// A connection speaking the Kafka wire protocol by hand. Every read times out, so a broker
/// that neither answers nor closes fails the test instead of hanging it.
pub struct Wire {
    stream: TcpStream,
    correlation_id: i32,
}

/// How the broker ended a connection, or that it did not.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The broker closed (EOF or reset) without answering.
    Closed,
    /// Bytes arrived.
    Answered(usize),
    /// Nothing arrived within the read timeout.
    StillOpen,
}

impl Wire {
    /// Connects to `addr` with 5-second read and write timeouts.
    pub fn connect(addr: SocketAddr) -> Wire {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Wire {
            stream,
            correlation_id: 0,
        }
    }

    /// Writes raw bytes. A broker that has already closed may make this fail; that is
    /// returned, not a panic.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Closes the write half, as a client that gives up mid-frame.
    pub fn shutdown_write(&self) {
        self.stream.shutdown(std::net::Shutdown::Write).unwrap();
    }

    /// Encodes `request` at `version` as a whole frame with the next correlation id.
    pub fn frame(&mut self, version: i16, request: &Request) -> (i32, BytesMut) {
        self.correlation_id += 1;
        let header = RequestHeader {
            api_key: request.api_key() as i16,
            api_version: version,
            correlation_id: self.correlation_id,
            client_id: Some("streambus-tests".into()),
        };
        let mut out = streambus_protocol::Output::new();
        streambus_protocol::encode_request(&mut out, &header, request).unwrap();
        (self.correlation_id, out.into_bytes())
    }

    /// Sends `request` at `version` and decodes the response; panics if none arrives.
    pub fn call(&mut self, version: i16, request: Request) -> Response {
        let api = request.api_key();
        let (correlation_id, frame) = self.frame(version, &request);
        self.send_raw(&frame).unwrap();
        let payload = self.read_frame().unwrap().unwrap_or_else(|| {
            panic!("the broker closed the connection instead of answering {api:?} v{version}")
        });
        let (header, response) = decode_response(api, version, payload).unwrap();
        assert_eq!(header.correlation_id, correlation_id);
        response
    }

    /// Reads one response frame's payload; `None` if the broker closed first.
    pub fn read_frame(&mut self) -> std::io::Result<Option<Bytes>> {
        let mut prefix = [0u8; 4];
        match self.stream.read_exact(&mut prefix) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let size = i32::from_be_bytes(prefix);
        assert!(
            (0..=64 << 20).contains(&size),
            "response frame size {size} is not sane"
        );
        let mut payload = vec![0u8; size as usize];
        self.stream.read_exact(&mut payload)?;
        Ok(Some(Bytes::from(payload)))
    }

    /// What the broker does next: close, answer, or nothing within the read timeout.
    pub fn ending(&mut self) -> Ending {
        let mut buf = [0u8; 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => Ending::Closed,
            Ok(n) => Ending::Answered(n),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::BrokenPipe
                ) =>
            {
                Ending::Closed
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Ending::StillOpen
            }
            Err(e) => panic!("unexpected read error: {e}"),
        }
    }

    /// Panics unless the broker closes the connection without sending anything.
    pub fn assert_closed(&mut self, what: &str) {
        assert_eq!(
            self.ending(),
            Ending::Closed,
            "after {what}, the broker should close the connection"
        );
    }
}

/// ApiVersions v3 on a new connection: the broker is alive and answers correctly.
pub fn assert_alive(addr: SocketAddr) {
    let mut wire = Wire::connect(addr);
    let response = wire.call(
        3,
        Request::ApiVersions(ApiVersionsRequest {
            client_software_name: "streambus-tests".into(),
            client_software_version: "1.0".into(),
        }),
    );
    let Response::ApiVersions(response) = response else {
        panic!("not an ApiVersions response: {response:?}");
    };
    assert_eq!(response.error_code, 0);
    assert_api_list(&response);
}

/// Checks that an ApiVersions response lists the core APIs at the versions the codec has.
pub fn assert_api_list(response: &ApiVersionsResponse) {
    let range = |key: ApiKey| {
        response
            .api_keys
            .iter()
            .find(|a| a.api_key == key as i16)
            .map(|a| (a.min_version, a.max_version))
    };
    assert_eq!(range(ApiKey::ApiVersions), Some((0, 3)));
    assert_eq!(range(ApiKey::Produce), Some((3, 11)));
    assert_eq!(range(ApiKey::Fetch), Some((4, 13)));
    assert_eq!(range(ApiKey::Metadata), Some((0, 12)));
    assert_eq!(range(ApiKey::ListOffsets), Some((1, 7)));
}

/// Produce v8 of one partition's records; returns (error code, base offset) of the
/// partition, or panics if there is no response (acks=0 gets none).
pub fn raw_produce(
    wire: &mut Wire,
    topic: &str,
    partition: i32,
    records: Bytes,
    acks: i16,
) -> (i16, i64) {
    use streambus_protocol::messages::produce_request::{
        PartitionProduceData, ProduceRequest, TopicProduceData,
    };
    let response = wire.call(
        8,
        Request::Produce(ProduceRequest {
            transactional_id: None,
            acks,
            timeout_ms: 10_000,
            topic_data: vec![TopicProduceData {
                name: topic.to_string(),
                partition_data: vec![PartitionProduceData {
                    index: partition,
                    records: Some(records),
                }],
            }],
        }),
    );
    let Response::Produce(response) = response else {
        panic!("not a Produce response: {response:?}");
    };
    assert_eq!(response.responses.len(), 1);
    assert_eq!(response.responses[0].name, topic);
    let partitions = &response.responses[0].partition_responses;
    assert_eq!(partitions.len(), 1);
    assert_eq!(partitions[0].index, partition);
    (partitions[0].error_code, partitions[0].base_offset)
}
