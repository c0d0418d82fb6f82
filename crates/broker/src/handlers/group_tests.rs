//! The group handlers end to end on a real broker in a temporary directory: a whole group
//! lifecycle, state reloaded from `__consumer_offsets` after a restart, and every group
//! response encoding at every advertised version. Real clients drive the same APIs in the
//! root `tests/groups.rs` and `tests/compat/`.

use std::sync::Arc;

use bytes::Bytes;
use streambus_coordinator::errors;
use streambus_protocol::messages::{
    delete_groups_request, describe_groups_request, find_coordinator_request, heartbeat_request,
    join_group_request, leave_group_request, list_groups_request, offset_commit_request,
    offset_delete_request, offset_fetch_request, sync_group_request,
};
use streambus_protocol::{ApiKey, Request, Response, encode_response, supported_versions};

use super::testing;
use crate::{Broker, dispatch};

/// A broker whose groups complete their first rebalance at once, over `dir`.
fn group_broker(dir: &std::path::Path) -> Arc<Broker> {
    testing::open_with(dir, |config| {
        config.group.initial_rebalance_delay_ms = 0;
        config.offsets_topic_num_partitions = 3;
    })
}

async fn call(broker: &Broker, version: i16, request: Request) -> Response {
    let ctx = testing::ctx(request.api_key(), version);
    dispatch::handle(broker, &ctx, request).await.unwrap()
}

async fn find_coordinator(broker: &Broker, group: &str) {
    let request = find_coordinator_request::FindCoordinatorRequest {
        key: group.into(),
        key_type: 0,
        coordinator_keys: vec![group.into()],
    };
    let Response::FindCoordinator(r) = call(broker, 4, Request::FindCoordinator(request)).await
    else {
        panic!("not a FindCoordinator response")
    };
    assert_eq!(r.coordinators[0].error_code, 0);
    assert_eq!(r.coordinators[0].node_id, 1);
    assert_eq!(r.coordinators[0].port, 9092);
}

fn join_request(group: &str, member_id: &str) -> Request {
    Request::JoinGroup(join_group_request::JoinGroupRequest {
        group_id: group.into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        member_id: member_id.into(),
        protocol_type: "consumer".into(),
        protocols: vec![join_group_request::JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: Bytes::from_static(b"\x00\x00\x00\x00\x00\x01\x00\x01t\xff\xff\xff\xff"),
        }],
        ..Default::default()
    })
}

/// Joins `group` with the KIP-394 handshake and syncs `assignment`: (member id, generation).
async fn join_and_sync(broker: &Broker, group: &str, assignment: &'static [u8]) -> (String, i32) {
    let Response::JoinGroup(first) = call(broker, 5, join_request(group, "")).await else {
        panic!("not a JoinGroup response")
    };
    assert_eq!(first.error_code, errors::MEMBER_ID_REQUIRED);
    let Response::JoinGroup(joined) = call(broker, 5, join_request(group, &first.member_id)).await
    else {
        panic!("not a JoinGroup response")
    };
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.leader, first.member_id);
    assert_eq!(joined.members.len(), 1);
    let sync = Request::SyncGroup(sync_group_request::SyncGroupRequest {
        group_id: group.into(),
        generation_id: joined.generation_id,
        member_id: joined.member_id.clone(),
        assignments: vec![sync_group_request::SyncGroupRequestAssignment {
            member_id: joined.member_id.clone(),
            assignment: Bytes::from_static(assignment),
        }],
        ..Default::default()
    });
    let Response::SyncGroup(synced) = call(broker, 5, sync).await else {
        panic!("not a SyncGroup response")
    };
    assert_eq!(synced.error_code, 0);
    assert_eq!(&synced.assignment[..], assignment);
    (joined.member_id, joined.generation_id)
}

fn commit_request(group: &str, member: &str, generation: i32, offset: i64) -> Request {
    let partition = |index, offset| offset_commit_request::OffsetCommitRequestPartition {
        partition_index: index,
        committed_offset: offset,
        committed_leader_epoch: -1,
        commit_timestamp: -1,
        committed_metadata: Some("meta".into()),
    };
    Request::OffsetCommit(offset_commit_request::OffsetCommitRequest {
        group_id: group.into(),
        generation_id_or_member_epoch: generation,
        member_id: member.into(),
        topics: vec![
            offset_commit_request::OffsetCommitRequestTopic {
                name: "t".into(),
                partitions: vec![partition(0, offset), partition(7, offset)],
            },
            offset_commit_request::OffsetCommitRequestTopic {
                name: "missing".into(),
                partitions: vec![partition(0, offset)],
            },
        ],
        ..Default::default()
    })
}

/// The committed offset and metadata of `t-0` for `group`, by OffsetFetch v8.
async fn fetch_offset(broker: &Broker, group: &str) -> (i64, Option<String>, i16) {
    let request = Request::OffsetFetch(offset_fetch_request::OffsetFetchRequest {
        groups: vec![offset_fetch_request::OffsetFetchRequestGroup {
            group_id: group.into(),
            topics: Some(vec![offset_fetch_request::OffsetFetchRequestTopics {
                name: "t".into(),
                partition_indexes: vec![0],
            }]),
            ..Default::default()
        }],
        ..Default::default()
    });
    let Response::OffsetFetch(r) = call(broker, 8, request).await else {
        panic!("not an OffsetFetch response")
    };
    let group = &r.groups[0];
    let p = &group.topics[0].partitions[0];
    (p.committed_offset, p.metadata.clone(), group.error_code)
}

async fn describe(broker: &Broker, group: &str) -> (String, usize, Bytes) {
    let request = Request::DescribeGroups(describe_groups_request::DescribeGroupsRequest {
        groups: vec![group.into()],
        include_authorized_operations: false,
    });
    let Response::DescribeGroups(r) = call(broker, 5, request).await else {
        panic!("not a DescribeGroups response")
    };
    let g = &r.groups[0];
    assert_eq!(g.error_code, 0);
    let assignment = g
        .members
        .first()
        .map(|m| m.member_assignment.clone())
        .unwrap_or_default();
    (g.group_state.clone(), g.members.len(), assignment)
}

async fn list(broker: &Broker, states: &[&str]) -> Vec<String> {
    list_typed(broker, states, &[]).await
}

async fn list_typed(broker: &Broker, states: &[&str], types: &[&str]) -> Vec<String> {
    let request = Request::ListGroups(list_groups_request::ListGroupsRequest {
        states_filter: states.iter().map(|s| s.to_string()).collect(),
        types_filter: types.iter().map(|s| s.to_string()).collect(),
    });
    let Response::ListGroups(r) = call(broker, 5, request).await else {
        panic!("not a ListGroups response")
    };
    r.groups.into_iter().map(|g| g.group_id).collect()
}

async fn delete(broker: &Broker, group: &str) -> i16 {
    let request = Request::DeleteGroups(delete_groups_request::DeleteGroupsRequest {
        groups_names: vec![group.into()],
    });
    let Response::DeleteGroups(r) = call(broker, 2, request).await else {
        panic!("not a DeleteGroups response")
    };
    r.results[0].error_code
}

#[tokio::test]
async fn a_group_lives_and_dies_through_the_handlers() {
    let dir = tempfile::tempdir().unwrap();
    let broker = group_broker(dir.path());
    testing::create_topic(&broker, "t", 2, &[]).await;
    find_coordinator(&broker, "g").await;
    let (member, generation) = join_and_sync(&broker, "g", b"assigned").await;

    let heartbeat = |member: &str, generation| {
        Request::Heartbeat(heartbeat_request::HeartbeatRequest {
            group_id: "g".into(),
            generation_id: generation,
            member_id: member.into(),
            group_instance_id: None,
        })
    };
    for (member_id, generation, expected) in [
        (member.as_str(), generation, errors::NONE),
        (member.as_str(), generation + 1, errors::ILLEGAL_GENERATION),
        ("stranger", generation, errors::UNKNOWN_MEMBER_ID),
    ] {
        let Response::Heartbeat(r) = call(&broker, 4, heartbeat(member_id, generation)).await
        else {
            panic!("not a Heartbeat response")
        };
        assert_eq!(r.error_code, expected, "{member_id} at {generation}");
    }

    let Response::OffsetCommit(r) =
        call(&broker, 8, commit_request("g", &member, generation, 5)).await
    else {
        panic!("not an OffsetCommit response")
    };
    let codes: Vec<Vec<i16>> = r
        .topics
        .iter()
        .map(|t| t.partitions.iter().map(|p| p.error_code).collect())
        .collect();
    assert_eq!(
        codes,
        [
            vec![errors::NONE, errors::UNKNOWN_TOPIC_OR_PARTITION],
            vec![errors::UNKNOWN_TOPIC_OR_PARTITION]
        ]
    );
    assert_eq!(
        fetch_offset(&broker, "g").await,
        (5, Some("meta".into()), 0)
    );
    testing::produce(&broker, "t", 0, None, 12).await;
    let lag = broker.consumer_lag("g").await.unwrap();
    assert_eq!(lag.len(), 1);
    assert_eq!(
        (lag[0].committed_offset, lag[0].high_watermark, lag[0].lag),
        (5, 12, 7)
    );
    assert!(broker.consumer_lag("nobody").await.is_none());

    assert_eq!(
        describe(&broker, "g").await,
        ("Stable".into(), 1, Bytes::from_static(b"assigned"))
    );
    assert_eq!(list(&broker, &[]).await, ["g"]);
    assert_eq!(list(&broker, &["stable"]).await, ["g"]);
    assert!(list(&broker, &["Empty"]).await.is_empty());
    assert_eq!(list_typed(&broker, &[], &["Classic"]).await, ["g"]);
    assert!(list_typed(&broker, &[], &["consumer"]).await.is_empty());
    assert_eq!(delete(&broker, "g").await, errors::NON_EMPTY_GROUP);

    // OffsetDelete refuses a topic the group still subscribes to.
    let offset_delete = || {
        Request::OffsetDelete(offset_delete_request::OffsetDeleteRequest {
            group_id: "g".into(),
            topics: vec![offset_delete_request::OffsetDeleteRequestTopic {
                name: "t".into(),
                partitions: vec![offset_delete_request::OffsetDeleteRequestPartition {
                    partition_index: 0,
                }],
            }],
        })
    };
    let Response::OffsetDelete(r) = call(&broker, 0, offset_delete()).await else {
        panic!("not an OffsetDelete response")
    };
    assert_eq!(r.error_code, 0);
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        errors::GROUP_SUBSCRIBED_TO_TOPIC
    );

    let leave = Request::LeaveGroup(leave_group_request::LeaveGroupRequest {
        group_id: "g".into(),
        member_id: member.clone(),
        members: Vec::new(),
    });
    let Response::LeaveGroup(r) = call(&broker, 0, leave).await else {
        panic!("not a LeaveGroup response")
    };
    assert_eq!(r.error_code, 0);
    assert_eq!(describe(&broker, "g").await.0, "Empty");
    assert_eq!(list(&broker, &["Empty"]).await, ["g"]);

    // Empty now: the offset can be deleted, then the group.
    let Response::OffsetDelete(r) = call(&broker, 0, offset_delete()).await else {
        panic!("not an OffsetDelete response")
    };
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(
        fetch_offset(&broker, "g").await,
        (-1, Some(String::new()), 0)
    );
    assert_eq!(delete(&broker, "g").await, errors::NONE);
    assert_eq!(delete(&broker, "g").await, errors::GROUP_ID_NOT_FOUND);
    assert_eq!(
        describe(&broker, "g").await,
        ("Dead".into(), 0, Bytes::new())
    );
    assert!(list(&broker, &[]).await.is_empty());
    broker.close().unwrap();
}

#[tokio::test]
async fn groups_and_offsets_are_reloaded_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let broker = group_broker(dir.path());
    testing::create_topic(&broker, "t", 1, &[]).await;
    find_coordinator(&broker, "stable").await;
    let (member, generation) = join_and_sync(&broker, "stable", b"mine").await;
    let commit = commit_request("stable", &member, generation, 41);
    call(&broker, 8, commit).await;
    // A simple commit from outside any group: offsets only.
    call(&broker, 8, commit_request("offsets-only", "", -1, 9)).await;
    broker.close().unwrap();
    drop(broker);

    let broker = group_broker(dir.path());
    assert_eq!(
        fetch_offset(&broker, "stable").await,
        (41, Some("meta".into()), 0)
    );
    assert_eq!(
        fetch_offset(&broker, "offsets-only").await,
        (9, Some("meta".into()), 0)
    );
    assert_eq!(
        describe(&broker, "stable").await,
        ("Stable".into(), 1, Bytes::from_static(b"mine"))
    );
    assert_eq!(describe(&broker, "offsets-only").await.0, "Empty");
    // The member carries on where it was: same id, same generation.
    let heartbeat = Request::Heartbeat(heartbeat_request::HeartbeatRequest {
        group_id: "stable".into(),
        generation_id: generation,
        member_id: member,
        group_instance_id: None,
    });
    let Response::Heartbeat(r) = call(&broker, 4, heartbeat).await else {
        panic!("not a Heartbeat response")
    };
    assert_eq!(r.error_code, 0);
    broker.close().unwrap();
}

#[tokio::test]
async fn empty_group_ids_are_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let broker = group_broker(dir.path());
    find_coordinator(&broker, "g").await;
    let Response::JoinGroup(r) = call(&broker, 5, join_request("", "")).await else {
        panic!("not a JoinGroup response")
    };
    assert_eq!(r.error_code, errors::INVALID_GROUP_ID);
    assert_eq!(delete(&broker, "").await, errors::INVALID_GROUP_ID);
    assert_eq!(fetch_offset(&broker, "").await.2, errors::INVALID_GROUP_ID);
    broker.close().unwrap();
}

/// Each group request, at every version ApiVersions advertises, answers a response that
/// encodes at that version (nullable-only-in-some-versions fields are where this breaks).
#[tokio::test]
async fn every_group_response_encodes_at_every_advertised_version() {
    let dir = tempfile::tempdir().unwrap();
    let broker = group_broker(dir.path());
    testing::create_topic(&broker, "t", 1, &[]).await;
    find_coordinator(&broker, "g").await;
    let (member, generation) = join_and_sync(&broker, "g", b"x").await;
    let apis = [
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::SyncGroup,
        ApiKey::Heartbeat,
        ApiKey::LeaveGroup,
        ApiKey::OffsetCommit,
        ApiKey::OffsetFetch,
        ApiKey::OffsetDelete,
        ApiKey::ListGroups,
        ApiKey::DescribeGroups,
        ApiKey::DeleteGroups,
    ];
    for api in apis {
        let (_, range) = supported_versions()
            .iter()
            .find(|(k, _)| *k == api)
            .unwrap();
        assert!(dispatch::supports(api, range.max), "{api:?} is not served");
        for version in range.iter() {
            // A group of its own per version, so joins never wait for each other.
            let own = format!("g-{api:?}-{version}");
            let request = match api {
                ApiKey::FindCoordinator => {
                    Request::FindCoordinator(find_coordinator_request::FindCoordinatorRequest {
                        key: own.clone(),
                        key_type: 0,
                        coordinator_keys: vec![own.clone()],
                    })
                }
                ApiKey::JoinGroup => join_request(&own, ""),
                ApiKey::SyncGroup => Request::SyncGroup(sync_group_request::SyncGroupRequest {
                    group_id: "g".into(),
                    generation_id: generation,
                    member_id: member.clone(),
                    ..Default::default()
                }),
                ApiKey::Heartbeat => Request::Heartbeat(heartbeat_request::HeartbeatRequest {
                    group_id: "g".into(),
                    generation_id: generation,
                    member_id: member.clone(),
                    group_instance_id: None,
                }),
                ApiKey::LeaveGroup => Request::LeaveGroup(leave_group_request::LeaveGroupRequest {
                    group_id: own.clone(),
                    member_id: "gone".into(),
                    members: vec![leave_group_request::MemberIdentity {
                        member_id: "gone".into(),
                        group_instance_id: None,
                        reason: None,
                    }],
                }),
                ApiKey::OffsetCommit => commit_request(&own, "", -1, 1),
                ApiKey::OffsetFetch => {
                    Request::OffsetFetch(offset_fetch_request::OffsetFetchRequest {
                        group_id: "g".into(),
                        topics: Some(vec![offset_fetch_request::OffsetFetchRequestTopic {
                            name: "t".into(),
                            partition_indexes: vec![0],
                        }]),
                        groups: vec![offset_fetch_request::OffsetFetchRequestGroup {
                            group_id: "g".into(),
                            topics: None,
                            ..Default::default()
                        }],
                        require_stable: false,
                    })
                }
                ApiKey::OffsetDelete => {
                    Request::OffsetDelete(offset_delete_request::OffsetDeleteRequest {
                        group_id: "g".into(),
                        topics: Vec::new(),
                    })
                }
                ApiKey::ListGroups => Request::ListGroups(Default::default()),
                ApiKey::DescribeGroups => {
                    Request::DescribeGroups(describe_groups_request::DescribeGroupsRequest {
                        groups: vec!["g".into(), own.clone()],
                        include_authorized_operations: true,
                    })
                }
                ApiKey::DeleteGroups => {
                    Request::DeleteGroups(delete_groups_request::DeleteGroupsRequest {
                        groups_names: vec![own.clone()],
                    })
                }
                _ => unreachable!(),
            };
            let response = call(&broker, version, request).await;
            let mut out = streambus_protocol::Output::new();
            encode_response(&mut out, version, 1, &response)
                .unwrap_or_else(|e| panic!("{api:?} v{version}: {e}"));
        }
    }
    broker.close().unwrap();
}

#[tokio::test]
async fn the_offsets_topic_cannot_be_deleted_or_grown() {
    use streambus_protocol::messages::{create_partitions_request, delete_topics_request};
    let dir = tempfile::tempdir().unwrap();
    let broker = group_broker(dir.path());
    find_coordinator(&broker, "g").await;
    let delete = Request::DeleteTopics(delete_topics_request::DeleteTopicsRequest {
        topic_names: vec!["__consumer_offsets".into()],
        timeout_ms: 1000,
        ..Default::default()
    });
    let Response::DeleteTopics(r) = call(&broker, 4, delete).await else {
        panic!("not a DeleteTopics response")
    };
    assert_eq!(r.responses[0].error_code, 17, "{r:?}");
    let grow = Request::CreatePartitions(create_partitions_request::CreatePartitionsRequest {
        topics: vec![create_partitions_request::CreatePartitionsTopic {
            name: "__consumer_offsets".into(),
            count: 10,
            assignments: None,
        }],
        timeout_ms: 1000,
        validate_only: false,
    });
    let Response::CreatePartitions(r) = call(&broker, 3, grow).await else {
        panic!("not a CreatePartitions response")
    };
    assert_eq!(r.results[0].error_code, 17, "{r:?}");
    assert_eq!(
        broker
            .image()
            .topic("__consumer_offsets")
            .unwrap()
            .partitions
            .len(),
        3
    );
    broker.close().unwrap();
}

#[tokio::test]
async fn deleting_a_topic_removes_its_committed_offsets_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let broker = group_broker(dir.path());
    testing::create_topic(&broker, "t", 1, &[]).await;
    find_coordinator(&broker, "g").await;
    call(&broker, 8, commit_request("g", "", -1, 7)).await;
    assert_eq!(fetch_offset(&broker, "g").await.0, 7);
    broker.delete_topic("t").await.unwrap();
    // A new topic of the same name starts without the old offsets.
    testing::create_topic(&broker, "t", 1, &[]).await;
    assert_eq!(fetch_offset(&broker, "g").await.0, -1);
    broker.close().unwrap();
    drop(broker);
    let broker = group_broker(dir.path());
    assert_eq!(fetch_offset(&broker, "g").await.0, -1);
    broker.close().unwrap();
}
