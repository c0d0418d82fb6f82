//! Bad input over raw sockets: garbage, truncated frames, absurd and negative size prefixes,
//! unknown APIs and versions, bodies that do not parse, frames over
//! `socket.request.max.bytes`, huge array counts. After each, the broker must have closed
//! that connection (or answered as Kafka does) and still serve a new connection. Then
//! produce errors, per partition and with the connection kept: invalid topic names, unknown
//! partitions, bad CRCs, oversized batches, two batches, bad magic, zstd before v7, bad acks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::{BufMut, Bytes, BytesMut};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use streambus_protocol::messages::api_versions_request::ApiVersionsRequest;
use streambus_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use streambus_protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use streambus_protocol::{ApiKey, Request, Response, decode_response};
use streambus_storage::batch::Compression;
use streambus_storage::records::BatchBuilder;
use streambus_testkit::TestBroker;
use support::{TestRecord, Wire};

/// A request header v1 by hand: api key, version, correlation id, client id "raw".
fn header_v1(api_key: i16, api_version: i16, correlation_id: i32) -> BytesMut {
    let mut out = BytesMut::new();
    out.put_i16(api_key);
    out.put_i16(api_version);
    out.put_i32(correlation_id);
    out.put_i16(3);
    out.put_slice(b"raw");
    out
}

/// `payload` behind its size prefix.
fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// Sends `bytes` on a new connection and asserts the broker closes it without answering,
/// then that a new connection is served.
fn assert_refused(broker: &TestBroker, what: &str, bytes: &[u8]) {
    let mut wire = Wire::connect(broker.addr());
    // The broker may close before it has read everything; a failed write is fine.
    let _ = wire.send_raw(bytes);
    wire.assert_closed(what);
    support::assert_alive(broker.addr());
}

fn batch(values: &[&[u8]]) -> BytesMut {
    let mut builder = BatchBuilder::new();
    for (i, value) in values.iter().enumerate() {
        builder.push_kv(
            1_000 + i as i64,
            Some(Bytes::from(format!("k{i}"))),
            Some(Bytes::copy_from_slice(value)),
            Vec::new(),
        );
    }
    builder.build().unwrap()
}

#[test]
fn garbage_is_refused_and_the_broker_lives_on() {
    let broker = TestBroker::start();
    assert_refused(
        &broker,
        "an HTTP request",
        b"GET / HTTP/1.1\r\nHost: broker\r\n\r\n",
    );
    assert_refused(
        &broker,
        "a frame of garbage",
        &framed(&[0xde, 0xad, 0xbe, 0xef, 0xff, 0x00, 0x13, 0x37]),
    );
    assert_refused(&broker, "a frame too short for a header", &framed(&[0, 3]));
    assert_refused(&broker, "an empty frame", &framed(&[]));
}

#[test]
fn a_truncated_frame_then_close_is_dropped() {
    let broker = TestBroker::start();
    let mut wire = Wire::connect(broker.addr());
    let mut bytes = 100i32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&header_v1(18, 0, 1)[..]);
    wire.send_raw(&bytes).unwrap();
    wire.shutdown_write();
    wire.assert_closed("a truncated frame and a closed write half");
    support::assert_alive(broker.addr());
}

#[test]
fn absurd_and_negative_size_prefixes_close_the_connection() {
    let broker = TestBroker::start();
    for (what, prefix) in [
        ("a 2 GiB size prefix", 0x7fff_ffff_i32),
        ("a size of 100 MiB + 1", 100 * 1024 * 1024 + 1),
        ("a negative size prefix", -1),
        ("the most negative size prefix", i32::MIN),
    ] {
        // Only the prefix: the broker must decide without waiting for the body.
        assert_refused(&broker, what, &prefix.to_be_bytes());
    }
}

#[test]
fn unknown_apis_and_unsupported_versions() {
    let broker = TestBroker::start();
    assert_refused(
        &broker,
        "an unknown API key",
        &framed(&header_v1(999, 0, 1)),
    );
    assert_refused(&broker, "a negative API key", &framed(&header_v1(-5, 0, 1)));
    // An API the codec knows but the broker does not advertise (OffsetCommit needs groups)
    // or does advertise, at a version it does not serve.
    let mut metadata = header_v1(ApiKey::Metadata as i16, 99, 7);
    metadata.put_i32(-1);
    assert_refused(&broker, "Metadata v99", &framed(&metadata));
    let mut produce_v2 = header_v1(ApiKey::Produce as i16, 2, 7);
    produce_v2.put_i16(1);
    produce_v2.put_i32(1000);
    produce_v2.put_i32(0);
    assert_refused(
        &broker,
        "Produce v2 (below the supported 3)",
        &framed(&produce_v2),
    );

    // ApiVersions at an unknown version: a v0 response with UNSUPPORTED_VERSION and the
    // supported ranges (KIP-511), and the connection stays open for the retry.
    let mut wire = Wire::connect(broker.addr());
    let mut request = BytesMut::new();
    request.put_i16(ApiKey::ApiVersions as i16);
    request.put_i16(99);
    request.put_i32(4242);
    request.put_i16(-1); // null client id
    request.put_u8(0); // no tagged fields (a flexible header, as v3+ clients send)
    request.put_u8(1); // empty compact client software name
    request.put_u8(1); // empty compact client software version
    request.put_u8(0);
    wire.send_raw(&framed(&request)).unwrap();
    let payload = wire
        .read_frame()
        .unwrap()
        .expect("an answer to ApiVersions v99");
    let (header, response) = decode_response(ApiKey::ApiVersions, 0, payload).unwrap();
    assert_eq!(header.correlation_id, 4242);
    let Response::ApiVersions(response) = response else {
        panic!("not an ApiVersions response: {response:?}");
    };
    assert_eq!(response.error_code, 35, "UNSUPPORTED_VERSION");
    support::assert_api_list(&response);
    let response = wire.call(
        3,
        Request::ApiVersions(ApiVersionsRequest {
            client_software_name: "retry".into(),
            client_software_version: "1".into(),
        }),
    );
    let Response::ApiVersions(response) = response else {
        panic!("not an ApiVersions response: {response:?}");
    };
    assert_eq!(response.error_code, 0);
    support::assert_api_list(&response);
    support::assert_alive(broker.addr());
}

#[test]
fn bodies_that_do_not_parse_close_the_connection() {
    let broker = TestBroker::start();
    // Produce v8: transactional id null, then acks cut short.
    let mut produce = header_v1(ApiKey::Produce as i16, 8, 1);
    produce.put_i16(-1);
    produce.put_u8(0xff);
    assert_refused(&broker, "a truncated Produce body", &framed(&produce));
    // Produce v8 whose topic name length runs past the frame.
    let mut produce = header_v1(ApiKey::Produce as i16, 8, 1);
    produce.put_i16(-1);
    produce.put_i16(1);
    produce.put_i32(1000);
    produce.put_i32(1);
    produce.put_i16(30000);
    produce.put_slice(b"short");
    assert_refused(
        &broker,
        "a Produce topic name past the frame",
        &framed(&produce),
    );
    // Metadata v1 claiming 2^31-1 topics in a few bytes.
    let mut metadata = header_v1(ApiKey::Metadata as i16, 1, 1);
    metadata.put_i32(i32::MAX);
    metadata.put_slice(&[0, 1, b'a', 0]);
    assert_eq!(framed(&metadata).len(), 4 + 13 + 8);
    assert_refused(&broker, "a 2^31-1 array count", &framed(&metadata));
    // The same in a flexible version: a compact array count of 2^31-1.
    let mut metadata = BytesMut::new();
    metadata.put_i16(ApiKey::Metadata as i16);
    metadata.put_i16(12);
    metadata.put_i32(1);
    metadata.put_i16(-1);
    metadata.put_u8(0);
    metadata.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]); // uvarint 2^31 - 1
    metadata.put_slice(&[0, 0, 0]);
    assert_refused(&broker, "a 2^31-1 compact array count", &framed(&metadata));
    support::assert_alive(broker.addr());
}

#[test]
fn frames_over_socket_request_max_bytes_close_the_connection() {
    let broker = TestBroker::start_with(|c| {
        c.socket_request_max_bytes = 64 * 1024;
        c.auto_create_topics = false;
    });
    support::create_topic(&broker, "limited", 1, &[]);
    let produce = |size: usize| {
        Request::Produce(ProduceRequest {
            transactional_id: None,
            acks: -1,
            timeout_ms: 5_000,
            topic_data: vec![TopicProduceData {
                name: "limited".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch(&[&vec![b'x'; size]]).freeze()),
                }],
            }],
        })
    };
    // Just under the limit: served.
    let mut wire = Wire::connect(broker.addr());
    let response = wire.call(8, produce(60 * 1024));
    let Response::Produce(response) = response else {
        panic!("not a Produce response: {response:?}");
    };
    assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    // Over it: the connection is closed, whether the whole frame is sent or only its prefix.
    let (_, frame) = wire.frame(8, &produce(100 * 1024));
    assert!(frame.len() > 64 * 1024 + 4);
    assert_refused(&broker, "a 100 KiB Produce frame", &frame);
    assert_refused(&broker, "a 100 KiB frame prefix", &frame[..4]);
    assert_refused(
        &broker,
        "a prefix one past the limit",
        &(64 * 1024 + 1_i32).to_be_bytes(),
    );
}

#[test]
fn produce_errors_are_per_partition_and_keep_the_connection() {
    let broker = TestBroker::start_with(|c| c.auto_create_topics = true);
    support::create_topic(&broker, "strict", 2, &[("max.message.bytes", "1024")]);
    let mut wire = Wire::connect(broker.addr());
    let good = || batch(&[b"one", b"two"]).freeze();

    assert_eq!(
        support::raw_produce(&mut wire, "strict", 0, good(), -1),
        (0, 0)
    );

    // Kafka answers a Produce to a topic it does not have, valid name or not, with
    // UNKNOWN_TOPIC_OR_PARTITION: Produce never auto-creates (Metadata does; see below).
    assert_eq!(
        support::raw_produce(&mut wire, "bad name", 0, good(), -1).0,
        3
    );
    assert_eq!(
        support::raw_produce(&mut wire, "strict", 2, good(), -1).0,
        3
    );
    assert_eq!(
        support::raw_produce(&mut wire, "strict", -1, good(), -1).0,
        3
    );

    let mut corrupt = batch(&[b"payload to corrupt"]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    assert_eq!(
        support::raw_produce(&mut wire, "strict", 0, corrupt.freeze(), -1).0,
        2,
        "CORRUPT_MESSAGE"
    );

    let big = batch(&[&[7u8; 2000]]).freeze();
    assert!(big.len() > 1024);
    assert_eq!(
        support::raw_produce(&mut wire, "strict", 0, big, -1).0,
        10,
        "MESSAGE_TOO_LARGE"
    );

    let mut two = batch(&[b"first"]);
    two.extend_from_slice(&batch(&[b"second"]));
    assert_eq!(
        support::raw_produce(&mut wire, "strict", 0, two.freeze(), -1).0,
        87,
        "INVALID_RECORD for two batches"
    );
    assert_eq!(
        support::raw_produce(&mut wire, "strict", 0, Bytes::new(), -1).0,
        87,
        "INVALID_RECORD for no batch"
    );
    // acks must be -1, 0 or 1.
    assert_eq!(
        support::raw_produce(&mut wire, "strict", 0, good(), 5).0,
        21,
        "INVALID_REQUIRED_ACKS"
    );

    // None of the refusals left anything behind; the connection still works.
    assert_eq!(
        support::raw_produce(&mut wire, "strict", 0, good(), 1),
        (0, 2)
    );
    support::assert_alive(broker.addr());
}

#[test]
fn produce_of_a_magic_1_batch_is_invalid_record() {
    let broker = TestBroker::start();
    support::create_topic(&broker, "magic", 1, &[]);
    let mut wire = Wire::connect(broker.addr());
    // A v2 batch with only its magic byte changed: its CRC (which starts after the magic)
    // still checks out. Kafka's ProduceRequest.validateRecords refuses any batch that is
    // not magic 2 in Produce v3+ with InvalidRecordException: INVALID_RECORD (87).
    let mut magic_1 = batch(&[b"old"]);
    magic_1[16] = 1;
    assert_eq!(
        support::raw_produce(&mut wire, "magic", 0, magic_1.freeze(), -1).0,
        87,
        "INVALID_RECORD for magic 1 in Produce v3+"
    );
    let mut magic_0 = batch(&[b"older"]);
    magic_0[16] = 0;
    assert_eq!(
        support::raw_produce(&mut wire, "magic", 0, magic_0.freeze(), -1).0,
        87,
        "INVALID_RECORD for magic 0 in Produce v3+"
    );
}

#[test]
fn zstd_needs_produce_v7_and_fetch_v10() {
    let broker = TestBroker::start();
    support::create_topic(&broker, "zstd", 2, &[]);
    let mut wire = Wire::connect(broker.addr());
    // zstd needs Produce v7 (KIP-110): UNSUPPORTED_COMPRESSION_TYPE (76) before.
    let mut zstd = BatchBuilder::new().compression(Compression::Zstd);
    zstd.push_kv(1, None, Some(Bytes::from("z".repeat(100))), Vec::new());
    let zstd = zstd.build().unwrap().freeze();
    let request = Request::Produce(ProduceRequest {
        transactional_id: None,
        acks: 1,
        timeout_ms: 5_000,
        topic_data: vec![TopicProduceData {
            name: "zstd".into(),
            partition_data: vec![PartitionProduceData {
                index: 1,
                records: Some(zstd.clone()),
            }],
        }],
    });
    let Response::Produce(response) = wire.call(6, request) else {
        panic!("not a Produce response");
    };
    assert_eq!(response.responses[0].partition_responses[0].error_code, 76);
    assert_eq!(
        support::raw_produce(&mut wire, "zstd", 1, zstd, 1),
        (0, 0),
        "zstd in Produce v8"
    );
    // And it can only be fetched with Fetch v10+: older fetches get 76 for the partition.
    for (version, code, has_records) in [(9, 76, false), (10, 0, true)] {
        let request = Request::Fetch(FetchRequest {
            replica_id: -1,
            max_wait_ms: 0,
            max_bytes: 1 << 20,
            session_epoch: -1,
            topics: vec![FetchTopic {
                topic: "zstd".into(),
                partitions: vec![FetchPartition {
                    partition: 1,
                    fetch_offset: 0,
                    partition_max_bytes: 1 << 20,
                    current_leader_epoch: -1,
                    log_start_offset: -1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        let Response::Fetch(response) = wire.call(version, request) else {
            panic!("not a Fetch response");
        };
        let partition = &response.responses[0].partitions[0];
        assert_eq!(partition.error_code, code, "Fetch v{version}");
        assert_eq!(
            partition.records.as_ref().is_some_and(|r| !r.is_empty()),
            has_records,
            "Fetch v{version}"
        );
    }
}

#[test]
fn librdkafka_reports_invalid_topics_and_unknown_partitions() {
    let broker = TestBroker::start_with(|c| c.auto_create_topics = true);
    support::create_topic(&broker, "known", 2, &[]);
    let producer = support::producer(&broker, &[("message.timeout.ms", "5000")]);
    // With auto-creation on, Metadata answers INVALID_TOPIC_EXCEPTION for an illegal name and
    // librdkafka fails the message with it.
    let result = support::produce(&producer, "bad name", None, &[TestRecord::kv("k", "v")]);
    assert_eq!(
        result,
        vec![Err(KafkaError::MessageProduction(
            RDKafkaErrorCode::InvalidTopic
        ))]
    );
    let result = support::produce(&producer, "known", Some(0), &[TestRecord::kv("k", "v")]);
    assert_eq!(result, vec![Ok((0, 0))]);
}
