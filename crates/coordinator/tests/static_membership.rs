//! KIP-345 static membership: restarts without rebalances, fencing of the old member id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use streambus_coordinator::*;

const INSTANCE: &str = "a-instance";
/// The id A gets when it restarts at 7000 ms.
const A2: &str = "a-1b58-2";

fn with_instance(mut event: Event) -> Event {
    match &mut event {
        Event::Heartbeat(h) => h.group_instance_id = Some(INSTANCE.to_string()),
        Event::CommitOffsets(c) => c.group_instance_id = Some(INSTANCE.to_string()),
        _ => unreachable!(),
    }
    event
}

#[test]
fn static_member_restart_keeps_its_assignment_without_a_rebalance() {
    let mut group = stable_pair(true);
    let effects = group.handle(Event::Join(static_join(20, "", "a", INSTANCE)), 7000);
    let snapshot = group.snapshot();
    let expected = JoinResponse {
        error_code: errors::NONE,
        generation: 1,
        protocol_type: Some("consumer".to_string()),
        protocol_name: Some("range".to_string()),
        leader: A2.to_string(),
        skip_assignment: true,
        member_id: A2.to_string(),
        members: vec![
            JoinedMember {
                member_id: A2.to_string(),
                group_instance_id: Some(INSTANCE.to_string()),
                metadata: subscription(&["t"]),
            },
            JoinedMember {
                member_id: B.to_string(),
                group_instance_id: None,
                metadata: subscription(&["t"]),
            },
        ],
    };
    assert_eq!(
        effects,
        vec![
            Effect::Persist(Record::Group(snapshot.clone())),
            respond(20, Response::Join(expected))
        ]
    );
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(group.generation(), 1);
    assert_eq!(snapshot.leader.as_deref(), Some(A2));
    assert_eq!(snapshot.members[0].member_id, A2);
    assert_eq!(snapshot.members[0].assignment, b"a".to_vec());

    let mut resync = sync(21, A2, 1);
    resync.group_instance_id = Some(INSTANCE.to_string());
    assert_eq!(
        group.handle(Event::Sync(resync), 7100),
        vec![synced(21, b"a")]
    );

    // The old member id is fenced wherever it shows up with the instance id.
    assert_eq!(
        group.handle(with_instance(heartbeat(22, A, 1)), 7200),
        vec![heartbeat_result(22, errors::FENCED_INSTANCE_ID)]
    );
    assert_eq!(
        group.handle(Event::Join(static_join(23, A, "a", INSTANCE)), 7300),
        vec![join_error(23, A, errors::FENCED_INSTANCE_ID)]
    );
    assert_eq!(
        group.handle(with_instance(commit(24, A, 1, 5)), 7400),
        vec![commit_result(24, errors::FENCED_INSTANCE_ID)]
    );
    // Without the instance id it is simply unknown.
    assert_eq!(
        group.handle(heartbeat(25, A, 1), 7500),
        vec![heartbeat_result(25, errors::UNKNOWN_MEMBER_ID)]
    );
    assert_eq!(
        group.handle(with_instance(heartbeat(26, A2, 1)), 7600),
        vec![heartbeat_result(26, errors::NONE)]
    );
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(group.generation(), 1);
}

#[test]
fn static_member_restart_with_new_metadata_rebalances() {
    let mut group = stable_pair(true);
    let mut restart = static_join(20, "", "a", INSTANCE);
    restart.protocols = vec![("range".to_string(), subscription(&["t", "u"]))];
    assert_eq!(group.handle(Event::Join(restart), 7000), vec![]);
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    assert_eq!(group.leader(), Some(A2));
    let effects = group.handle(Event::Join(join(21, B, "b")), 7100);
    assert_eq!(effects.len(), 3);
    assert_eq!(group.generation(), 2);
}

#[test]
fn static_member_restart_with_other_owned_partitions_but_the_same_topics_does_not_rebalance() {
    let mut group = stable_pair(true);
    let mut restart = static_join(20, "", "a", INSTANCE);
    // A v2 subscription of the same topic with owned partitions and a generation: what a
    // cooperative or Java consumer sends, and what changes across its restarts.
    let mut metadata = subscription(&["t"]); // topics and a null user_data
    metadata[1] = 2; // version 2
    metadata.extend_from_slice(&1i32.to_be_bytes()); // owned_partitions: one topic
    metadata.extend_from_slice(&1i16.to_be_bytes());
    metadata.push(b't');
    metadata.extend_from_slice(&1i32.to_be_bytes());
    metadata.extend_from_slice(&0i32.to_be_bytes());
    metadata.extend_from_slice(&7i32.to_be_bytes()); // generation_id
    restart.protocols = vec![("range".to_string(), metadata)];
    let effects = group.handle(Event::Join(restart), 7000);
    assert_eq!(
        effects.len(),
        2,
        "persisted and answered at once: {effects:?}"
    );
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(group.generation(), 1);
}

#[test]
fn restart_during_a_rebalance_fences_the_parked_join() {
    let mut group = stable_pair(true);
    assert_eq!(
        group.handle(Event::Join(static_join(20, A, "a", INSTANCE)), 7000),
        vec![]
    );
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    // The client restarts before the rebalance finishes: the old parked join is fenced, the
    // new one takes its place.
    let effects = group.handle(Event::Join(static_join(21, "", "a", INSTANCE)), 7100);
    assert_eq!(effects, vec![join_error(20, A, errors::FENCED_INSTANCE_ID)]);
    let effects = group.handle(Event::Join(join(22, B, "b")), 7200);
    assert_eq!(effects[1], joined(22, B, 2, "a-1bbc-2", &[]));
}

#[test]
fn static_member_leaves_by_instance_id() {
    let mut group = stable_pair(true);
    let leave = |request_id, member_id: &str| {
        Event::Leave(Leave {
            request_id,
            members: vec![LeavingMember {
                member_id: member_id.to_string(),
                group_instance_id: Some(INSTANCE.to_string()),
            }],
        })
    };
    let result = |request_id, member_id: &str, error_code| {
        respond(
            request_id,
            Response::Leave(LeaveResponse {
                error_code: errors::NONE,
                members: vec![MemberResponse {
                    member_id: member_id.to_string(),
                    group_instance_id: Some(INSTANCE.to_string()),
                    error_code,
                }],
            }),
        )
    };
    assert_eq!(
        group.handle(leave(20, "someone-else"), 7000),
        vec![result(20, "someone-else", errors::FENCED_INSTANCE_ID)]
    );
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(
        group.handle(leave(21, ""), 7100),
        vec![result(21, "", errors::NONE)]
    );
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    assert_eq!(group.leader(), Some(B));
}
