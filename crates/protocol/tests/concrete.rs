//! Concrete messages exchanged with the `kafka-protocol` crate in both directions, comparing
//! field values (the generated differential proptests compare bytes).

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap like the tests do

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages as k;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use streambus_protocol::messages::{
    api_versions_request, api_versions_response, create_topics_response, fetch_request,
    fetch_response, init_producer_id_request, list_offsets_request, metadata_request,
    metadata_response, produce_request,
};
use streambus_protocol::{Message, Output};

fn ours_to_bytes<T: Message>(value: &T, version: i16) -> Bytes {
    let mut out = Output::new();
    value.encode(&mut out, version).unwrap();
    out.into_bytes().freeze()
}

fn theirs_to_bytes<T: Encodable>(value: &T, version: i16) -> Bytes {
    let mut out = BytesMut::new();
    value.encode(&mut out, version).unwrap();
    out.freeze()
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

#[test]
fn api_versions_both_ways() {
    for version in 0..=3 {
        let mut theirs = k::ApiVersionsRequest::default();
        if version >= 3 {
            theirs.client_software_name = s("librdkafka");
            theirs.client_software_version = s("2.3.0");
        }
        let bytes = theirs_to_bytes(&theirs, version);
        let ours =
            api_versions_request::ApiVersionsRequest::decode(&mut bytes.clone(), version).unwrap();
        assert_eq!(
            ours.client_software_name,
            theirs.client_software_name.as_str()
        );
        assert_eq!(ours_to_bytes(&ours, version), bytes);

        let ours = api_versions_response::ApiVersionsResponse {
            error_code: 35,
            api_keys: vec![api_versions_response::ApiVersion {
                api_key: 18,
                min_version: 0,
                max_version: 3,
            }],
            throttle_time_ms: if version >= 1 { 7 } else { 0 },
            finalized_features_epoch: if version >= 3 { 9 } else { -1 },
            zk_migration_ready: version >= 3,
            ..Default::default()
        };
        let bytes = ours_to_bytes(&ours, version);
        let theirs = k::ApiVersionsResponse::decode(&mut bytes.clone(), version).unwrap();
        assert_eq!(theirs.error_code, 35);
        assert_eq!(theirs.api_keys.len(), 1);
        assert_eq!(theirs.api_keys[0].max_version, 3);
        assert_eq!(theirs.throttle_time_ms, ours.throttle_time_ms);
        assert_eq!(
            theirs.finalized_features_epoch,
            ours.finalized_features_epoch
        );
        assert_eq!(theirs.zk_migration_ready, ours.zk_migration_ready);
        assert_eq!(theirs_to_bytes(&theirs, version), bytes);
    }
}

#[test]
fn produce_records_are_zero_copy_and_agree() {
    let batch = Bytes::from_static(b"\x00\x01record-batch-bytes");
    for version in [3, 7, 8, 9] {
        let theirs = k::ProduceRequest::default()
            .with_transactional_id(Some(k::TransactionalId(s("tx-1"))))
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![
                k::produce_request::TopicProduceData::default()
                    .with_name(k::TopicName(s("orders")))
                    .with_partition_data(vec![
                        k::produce_request::PartitionProduceData::default()
                            .with_index(2)
                            .with_records(Some(batch.clone())),
                    ]),
            ]);
        let frame = theirs_to_bytes(&theirs, version);
        let ours = produce_request::ProduceRequest::decode(&mut frame.clone(), version).unwrap();
        assert_eq!(ours.transactional_id.as_deref(), Some("tx-1"));
        assert_eq!(ours.acks, -1);
        assert_eq!(ours.timeout_ms, 30_000);
        assert_eq!(ours.topic_data[0].name, "orders");
        let records = ours.topic_data[0].partition_data[0]
            .records
            .clone()
            .unwrap();
        assert_eq!(records, batch);
        // Zero copy: the records slice points into the frame's memory.
        let frame_range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
        assert!(
            frame_range.contains(&(records.as_ptr() as usize)),
            "v{version}"
        );
        assert_eq!(ours_to_bytes(&ours, version), frame);
    }
}

#[test]
fn fetch_request_and_response_agree() {
    for version in [4, 7, 11, 12, 13] {
        let ours = fetch_request::FetchRequest {
            replica_id: -1,
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 52_428_800,
            isolation_level: 1,
            session_id: if version >= 7 { 3 } else { 0 },
            session_epoch: if version >= 7 { 4 } else { -1 },
            topics: vec![fetch_request::FetchTopic {
                topic: if version <= 12 {
                    "events".into()
                } else {
                    String::new()
                },
                topic_id: if version >= 13 { [7; 16] } else { [0; 16] },
                partitions: vec![fetch_request::FetchPartition {
                    partition: 0,
                    current_leader_epoch: if version >= 9 { 5 } else { -1 },
                    fetch_offset: 100,
                    last_fetched_epoch: if version >= 12 { 4 } else { -1 },
                    log_start_offset: 0,
                    partition_max_bytes: 1_048_576,
                }],
            }],
            rack_id: if version >= 11 {
                "rack-a".into()
            } else {
                String::new()
            },
            ..Default::default()
        };
        let bytes = ours_to_bytes(&ours, version);
        let theirs = k::FetchRequest::decode(&mut bytes.clone(), version).unwrap();
        assert_eq!(theirs.max_wait_ms, 500);
        assert_eq!(theirs.isolation_level, 1);
        assert_eq!(theirs.rack_id.as_str(), ours.rack_id);
        let tp = &theirs.topics[0];
        if version >= 13 {
            assert_eq!(tp.topic_id.as_bytes(), &[7; 16]);
        } else {
            assert_eq!(tp.topic.0.as_str(), "events");
        }
        assert_eq!(tp.partitions[0].fetch_offset, 100);
        assert_eq!(
            tp.partitions[0].current_leader_epoch,
            ours.topics[0].partitions[0].current_leader_epoch
        );
        assert_eq!(theirs_to_bytes(&theirs, version), bytes);

        // Response with tagged fields (current leader) from v12.
        let mut part = k::fetch_response::PartitionData::default()
            .with_partition_index(0)
            .with_high_watermark(200)
            .with_last_stable_offset(150)
            .with_log_start_offset(10)
            .with_records(Some(Bytes::from_static(b"batch")));
        if version >= 12 {
            part = part.with_current_leader(
                k::fetch_response::LeaderIdAndEpoch::default()
                    .with_leader_id(k::BrokerId(1))
                    .with_leader_epoch(6),
            );
        }
        let theirs = k::FetchResponse::default()
            .with_throttle_time_ms(0)
            .with_session_id(if version >= 7 { 3 } else { 0 })
            .with_responses(vec![
                k::fetch_response::FetchableTopicResponse::default()
                    .with_topic(k::TopicName(s(if version <= 12 { "events" } else { "" })))
                    .with_partitions(vec![part]),
            ]);
        let bytes = theirs_to_bytes(&theirs, version);
        let ours = fetch_response::FetchResponse::decode(&mut bytes.clone(), version).unwrap();
        let p = &ours.responses[0].partitions[0];
        assert_eq!(p.high_watermark, 200);
        assert_eq!(p.last_stable_offset, 150);
        assert_eq!(p.records.as_deref(), Some(&b"batch"[..]));
        if version >= 12 {
            assert_eq!(p.current_leader.leader_id, 1);
            assert_eq!(p.current_leader.leader_epoch, 6);
        }
        assert_eq!(ours_to_bytes(&ours, version), bytes);
    }
}

#[test]
fn metadata_request_and_response_agree() {
    for version in [0, 1, 4, 9, 10, 12] {
        let ours = metadata_request::MetadataRequest {
            topics: Some(vec![metadata_request::MetadataRequestTopic {
                topic_id: [0; 16],
                name: Some("orders".into()),
            }]),
            allow_auto_topic_creation: version < 4,
            include_topic_authorized_operations: version >= 8,
            ..Default::default()
        };
        let bytes = ours_to_bytes(&ours, version);
        let theirs = k::MetadataRequest::decode(&mut bytes.clone(), version).unwrap();
        let topics = theirs.topics.as_ref().unwrap();
        assert_eq!(topics[0].name.as_ref().unwrap().0.as_str(), "orders");
        assert_eq!(
            theirs.allow_auto_topic_creation,
            ours.allow_auto_topic_creation || version < 4
        );
        assert_eq!(theirs_to_bytes(&theirs, version), bytes);

        let theirs = k::MetadataResponse::default()
            .with_brokers(vec![
                k::metadata_response::MetadataResponseBroker::default()
                    .with_node_id(k::BrokerId(1))
                    .with_host(s("localhost"))
                    .with_port(9092)
                    .with_rack(if version >= 1 { Some(s("r1")) } else { None }),
            ])
            .with_cluster_id(if version >= 2 {
                Some(s("cluster"))
            } else {
                None
            })
            .with_controller_id(k::BrokerId(if version >= 1 { 1 } else { -1 }))
            .with_topics(vec![
                k::metadata_response::MetadataResponseTopic::default()
                    .with_name(Some(k::TopicName(s("orders"))))
                    .with_partitions(vec![
                        k::metadata_response::MetadataResponsePartition::default()
                            .with_partition_index(0)
                            .with_leader_id(k::BrokerId(1))
                            .with_replica_nodes(vec![k::BrokerId(1)])
                            .with_isr_nodes(vec![k::BrokerId(1)]),
                    ]),
            ]);
        let bytes = theirs_to_bytes(&theirs, version);
        let ours =
            metadata_response::MetadataResponse::decode(&mut bytes.clone(), version).unwrap();
        assert_eq!(ours.brokers[0].host, "localhost");
        assert_eq!(ours.brokers[0].port, 9092);
        assert_eq!(
            ours.brokers[0].rack.as_deref(),
            if version >= 1 { Some("r1") } else { None }
        );
        assert_eq!(
            ours.cluster_id.as_deref(),
            if version >= 2 { Some("cluster") } else { None }
        );
        assert_eq!(ours.topics[0].name.as_deref(), Some("orders"));
        assert_eq!(ours.topics[0].partitions[0].isr_nodes, vec![1]);
        assert_eq!(ours_to_bytes(&ours, version), bytes);
    }
}

#[test]
fn create_topics_response_tagged_and_nullable_fields_agree() {
    for version in [2, 5, 7] {
        let ours = create_topics_response::CreateTopicsResponse {
            throttle_time_ms: 1,
            topics: vec![create_topics_response::CreatableTopicResult {
                name: "t".into(),
                topic_id: if version >= 7 { [1; 16] } else { [0; 16] },
                error_code: 36,
                error_message: Some("exists".into()),
                topic_config_error_code: if version >= 5 { 40 } else { 0 },
                num_partitions: if version >= 5 { 3 } else { -1 },
                replication_factor: if version >= 5 { 1 } else { -1 },
                configs: if version >= 5 { None } else { Some(vec![]) },
            }],
        };
        let bytes = ours_to_bytes(&ours, version);
        let theirs = k::CreateTopicsResponse::decode(&mut bytes.clone(), version).unwrap();
        let t = &theirs.topics[0];
        assert_eq!(t.error_code, 36);
        assert_eq!(t.error_message.as_deref(), Some("exists"));
        assert_eq!(
            t.topic_config_error_code,
            ours.topics[0].topic_config_error_code
        );
        assert_eq!(t.num_partitions, ours.topics[0].num_partitions);
        assert_eq!(theirs_to_bytes(&theirs, version), bytes);
    }
}

#[test]
fn list_offsets_and_init_producer_id_agree() {
    for version in [1, 4, 6, 7] {
        let theirs = k::ListOffsetsRequest::default()
            .with_replica_id(k::BrokerId(-1))
            .with_isolation_level(if version >= 2 { 1 } else { 0 })
            .with_topics(vec![
                k::list_offsets_request::ListOffsetsTopic::default()
                    .with_name(k::TopicName(s("t")))
                    .with_partitions(vec![
                        k::list_offsets_request::ListOffsetsPartition::default()
                            .with_partition_index(3)
                            .with_timestamp(-2),
                    ]),
            ]);
        let bytes = theirs_to_bytes(&theirs, version);
        let ours =
            list_offsets_request::ListOffsetsRequest::decode(&mut bytes.clone(), version).unwrap();
        assert_eq!(ours.replica_id, -1);
        assert_eq!(ours.topics[0].partitions[0].timestamp, -2);
        assert_eq!(ours.topics[0].partitions[0].partition_index, 3);
        assert_eq!(ours_to_bytes(&ours, version), bytes);
    }
    for version in 0..=4 {
        let ours = init_producer_id_request::InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 60_000,
            producer_id: if version >= 3 { 77 } else { -1 },
            producer_epoch: if version >= 3 { 2 } else { -1 },
        };
        let bytes = ours_to_bytes(&ours, version);
        let theirs = k::InitProducerIdRequest::decode(&mut bytes.clone(), version).unwrap();
        assert!(theirs.transactional_id.is_none());
        assert_eq!(theirs.transaction_timeout_ms, 60_000);
        assert_eq!(theirs.producer_id.0, ours.producer_id);
        assert_eq!(theirs_to_bytes(&theirs, version), bytes);
    }
}

/// Versions the other implementation dropped, pinned to bytes written out from the protocol
/// guide's field lists.
#[test]
fn old_group_offset_versions_match_the_protocol_guide() {
    use streambus_protocol::messages::{
        offset_commit_request as ocq, offset_commit_response as ocr, offset_fetch_request as ofq,
        offset_fetch_response as ofr,
    };
    let commit = |version: i16| ocq::OffsetCommitRequest {
        group_id: "g".into(),
        generation_id_or_member_epoch: if version >= 1 { 3 } else { -1 },
        member_id: if version >= 1 {
            "m".into()
        } else {
            String::new()
        },
        topics: vec![ocq::OffsetCommitRequestTopic {
            name: "t".into(),
            partitions: vec![ocq::OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: 5,
                commit_timestamp: if version == 1 { 9 } else { -1 },
                committed_metadata: None,
                ..Default::default()
            }],
        }],
        ..Default::default()
    };
    let topic_and_partition: &[u8] = &[0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0];
    let offset: &[u8] = &[0, 0, 0, 0, 0, 0, 0, 5];
    let v0 = [
        &[0, 1, b'g'][..],
        topic_and_partition,
        offset,
        &[0xff, 0xff],
    ]
    .concat();
    let v1 = [
        &[0, 1, b'g', 0, 0, 0, 3, 0, 1, b'm'][..],
        topic_and_partition,
        offset,
        &[0, 0, 0, 0, 0, 0, 0, 9],
        &[0xff, 0xff],
    ]
    .concat();
    for (version, expected) in [(0, v0), (1, v1)] {
        assert_eq!(
            &ours_to_bytes(&commit(version), version)[..],
            &expected[..],
            "v{version}"
        );
        let decoded =
            ocq::OffsetCommitRequest::decode(&mut Bytes::from(expected), version).unwrap();
        assert_eq!(decoded, commit(version));
    }

    let commit_response = ocr::OffsetCommitResponse {
        throttle_time_ms: 0,
        topics: vec![ocr::OffsetCommitResponseTopic {
            name: "t".into(),
            partitions: vec![ocr::OffsetCommitResponsePartition {
                partition_index: 0,
                error_code: 25,
            }],
        }],
    };
    let expected = [topic_and_partition, &[0, 25]].concat();
    for version in 0..=1 {
        assert_eq!(&ours_to_bytes(&commit_response, version)[..], &expected[..]);
    }

    let fetch = ofq::OffsetFetchRequest {
        group_id: "g".into(),
        topics: Some(vec![ofq::OffsetFetchRequestTopic {
            name: "t".into(),
            partition_indexes: vec![0],
        }]),
        ..Default::default()
    };
    let expected = [&[0, 1, b'g'][..], topic_and_partition].concat();
    assert_eq!(&ours_to_bytes(&fetch, 0)[..], &expected[..]);
    assert_eq!(
        ofq::OffsetFetchRequest::decode(&mut Bytes::from(expected), 0).unwrap(),
        fetch
    );

    let fetch_response = ofr::OffsetFetchResponse {
        topics: vec![ofr::OffsetFetchResponseTopic {
            name: "t".into(),
            partitions: vec![ofr::OffsetFetchResponsePartition {
                partition_index: 0,
                committed_offset: 5,
                metadata: Some(String::new()),
                error_code: 0,
                ..Default::default()
            }],
        }],
        ..Default::default()
    };
    let expected = [topic_and_partition, offset, &[0, 0, 0, 0]].concat();
    assert_eq!(&ours_to_bytes(&fetch_response, 0)[..], &expected[..]);
    assert_eq!(
        ofr::OffsetFetchResponse::decode(&mut Bytes::from(expected), 0).unwrap(),
        fetch_response
    );
}
