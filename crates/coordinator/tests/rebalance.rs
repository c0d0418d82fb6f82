//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup through whole rebalances, asserting the
//! exact effects.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use streambus_coordinator::*;

#[test]
fn two_members_join_sync_and_become_stable() {
    // All of the assertions live in the helper; it is also the setup of the other tests.
    let group = stable_pair(false);
    assert_eq!(group.generation(), 1);
    assert_eq!(group.leader(), Some(A));
    assert_eq!(group.protocol_name(), Some("range"));
}

#[test]
fn third_member_triggers_a_rebalance_with_the_next_generation() {
    let mut group = stable_pair(false);
    const C: &str = "c-1b58-2";
    assert_eq!(group.handle(Event::Join(join(10, "", "c")), 7000), vec![]);
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    assert_eq!(
        group.handle(heartbeat(11, A, 1), 7100),
        vec![heartbeat_result(11, errors::REBALANCE_IN_PROGRESS)]
    );
    assert_eq!(
        group.handle(Event::Sync(sync(12, B, 1)), 7150),
        vec![sync_error(12, errors::REBALANCE_IN_PROGRESS)]
    );
    assert_eq!(group.handle(Event::Join(join(13, A, "a")), 7200), vec![]);
    let effects = group.handle(Event::Join(join(14, B, "b")), 7300);
    assert_eq!(
        effects,
        vec![
            joined(13, A, 2, A, &[A, B, C]),
            joined(14, B, 2, A, &[]),
            joined(10, C, 2, A, &[]),
            timer(17300),
        ]
    );
    assert_eq!(group.state(), GroupState::CompletingRebalance);
    // The old generation is over.
    assert_eq!(
        group.handle(heartbeat(15, B, 1), 7400),
        vec![heartbeat_result(15, errors::ILLEGAL_GENERATION)]
    );
    assert_eq!(
        group.handle(heartbeat(16, B, 2), 7500),
        vec![heartbeat_result(16, errors::NONE)]
    );
}

#[test]
fn member_without_heartbeats_is_removed_after_its_session() {
    let mut group = stable_pair(false);
    assert_eq!(
        group.handle(heartbeat(10, A, 1), 15_000),
        vec![heartbeat_result(10, errors::NONE)]
    );
    // B's session ends at 16100; A's now at 25000.
    assert_eq!(group.handle(Event::Tick, 16_099), vec![]);
    assert_eq!(group.handle(Event::Tick, 16_100), vec![timer(25_000)]);
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    assert_eq!(group.members().len(), 1);
    assert_eq!(
        group.handle(heartbeat(11, B, 1), 16_200),
        vec![heartbeat_result(11, errors::UNKNOWN_MEMBER_ID)]
    );
    assert_eq!(
        group.handle(heartbeat(12, A, 1), 16_300),
        vec![
            heartbeat_result(12, errors::REBALANCE_IN_PROGRESS),
            timer(26_300)
        ]
    );
    assert_eq!(
        group.handle(Event::Join(join(13, A, "a")), 16_400),
        vec![joined(13, A, 2, A, &[A]), timer(26_400)]
    );
}

#[test]
fn leave_triggers_a_rebalance_and_the_last_leave_empties_the_group() {
    let mut group = stable_pair(false);
    let left = |request_id, member: &str| {
        respond(
            request_id,
            Response::Leave(LeaveResponse {
                error_code: errors::NONE,
                members: vec![MemberResponse {
                    member_id: member.to_string(),
                    group_instance_id: None,
                    error_code: errors::NONE,
                }],
            }),
        )
    };
    assert_eq!(
        group.handle(leave(10, &[B]), 7000),
        vec![left(10, B), timer(16_200)]
    );
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    assert_eq!(group.leader(), Some(A));

    let effects = group.handle(leave(11, &[A]), 7100);
    let empty = GroupMetadata {
        protocol_type: Some("consumer".to_string()),
        generation: 2,
        protocol_name: None,
        leader: None,
        current_state_timestamp_ms: 7100,
        members: Vec::new(),
    };
    assert_eq!(
        effects,
        vec![
            Effect::Persist(Record::Group(empty)),
            left(11, A),
            // No offsets: the empty group is dropped after the cleanup interval.
            timer(607_100)
        ]
    );
    assert_eq!(group.state(), GroupState::Empty);
    // No offsets to keep: the group stays Empty for the cleanup interval, then goes away.
    assert_eq!(group.handle(Event::Tick, 7100), vec![]);
    assert_eq!(group.state(), GroupState::Empty);
    assert_eq!(
        group.handle(Event::Tick, 607_100),
        vec![Effect::Persist(Record::GroupTombstone)]
    );
    assert_eq!(group.state(), GroupState::Dead);
    assert_eq!(
        group.handle(Event::Join(join(12, "", "a")), 607_200),
        vec![join_error(12, "", errors::COORDINATOR_NOT_AVAILABLE)]
    );
}

#[test]
fn leave_of_unknown_member_is_reported_per_member() {
    let mut group = stable_pair(false);
    let effects = group.handle(leave(10, &["nobody"]), 7000);
    let expected = LeaveResponse {
        error_code: errors::NONE,
        members: vec![MemberResponse {
            member_id: "nobody".to_string(),
            group_instance_id: None,
            error_code: errors::UNKNOWN_MEMBER_ID,
        }],
    };
    assert_eq!(effects, vec![respond(10, Response::Leave(expected))]);
    assert_eq!(group.state(), GroupState::Stable);
}

#[test]
fn rebalance_timeout_removes_members_that_did_not_rejoin() {
    let mut group = stable_pair(false);
    const C: &str = "c-1b58-2";
    assert_eq!(group.handle(Event::Join(join(10, "", "c")), 7000), vec![]);
    assert_eq!(group.handle(Event::Join(join(11, A, "a")), 7100), vec![]);
    // B keeps heartbeating but never rejoins.
    for (i, now) in [15_000u64, 25_000, 35_000].into_iter().enumerate() {
        let request_id = 20 + i as u64;
        let effects = group.handle(heartbeat(request_id, B, 1), now);
        assert_eq!(
            effects[0],
            heartbeat_result(request_id, errors::REBALANCE_IN_PROGRESS)
        );
    }
    // The join deadline is 7000 + the rebalance timeout.
    assert_eq!(group.handle(Event::Tick, 36_999), vec![]);
    let effects = group.handle(Event::Tick, 37_000);
    assert_eq!(
        effects,
        vec![
            joined(11, A, 2, A, &[A, C]),
            joined(10, C, 2, A, &[]),
            timer(47_000)
        ]
    );
    assert_eq!(
        group
            .members()
            .iter()
            .map(|m| m.member_id.as_str())
            .collect::<Vec<_>>(),
        [A, C]
    );
    assert_eq!(
        group.handle(heartbeat(30, B, 1), 37_100),
        vec![heartbeat_result(30, errors::UNKNOWN_MEMBER_ID)]
    );
}

#[test]
fn kip_394_new_member_must_rejoin_with_the_given_id() {
    let mut group = Group::new("g", no_delay(), 0);
    let mut first = join(1, "", "a");
    first.require_known_member_id = true;
    assert_eq!(
        group.handle(Event::Join(first.clone()), 0),
        vec![join_error(1, A, errors::MEMBER_ID_REQUIRED), timer(10_000)]
    );
    assert_eq!(group.state(), GroupState::Empty);
    assert!(group.members().is_empty());
    // A made-up id is not accepted.
    assert_eq!(
        group.handle(Event::Join(join(2, "a-made-up", "a")), 10),
        vec![join_error(2, "a-made-up", errors::UNKNOWN_MEMBER_ID)]
    );
    let rejoin = Join {
        request_id: 3,
        member_id: A.to_string(),
        ..first
    };
    assert_eq!(
        group.handle(Event::Join(rejoin), 50),
        vec![joined(3, A, 1, A, &[A]), timer(10_050)]
    );
}

#[test]
fn kip_394_pending_member_that_never_rejoins_expires() {
    let mut group = stable_pair(false);
    let mut newcomer = join(10, "", "c");
    newcomer.require_known_member_id = true;
    let effects = group.handle(Event::Join(newcomer), 7000);
    assert_eq!(
        effects,
        vec![join_error(10, "c-1b58-2", errors::MEMBER_ID_REQUIRED)]
    );
    // A handshake alone does not rebalance the group.
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(
        group.handle(heartbeat(11, A, 1), 16_000),
        vec![heartbeat_result(11, 0)]
    );
    assert_eq!(
        group.handle(heartbeat(12, B, 1), 16_000),
        vec![heartbeat_result(12, 0), timer(17_000)]
    );
    assert_eq!(group.handle(Event::Tick, 17_000), vec![timer(26_000)]);
    assert_eq!(
        group.handle(Event::Join(join(13, "c-1b58-2", "c")), 17_100),
        vec![join_error(13, "c-1b58-2", errors::UNKNOWN_MEMBER_ID)]
    );
}

#[test]
fn unchanged_follower_rejoin_while_stable_keeps_the_generation() {
    // Cooperative clients rejoin while Stable; with unchanged metadata that is a no-op.
    let mut group = stable_pair(false);
    assert_eq!(
        group.handle(Event::Join(join(10, B, "b")), 7000),
        vec![joined(10, B, 1, A, &[]), timer(16_200)]
    );
    assert_eq!(group.state(), GroupState::Stable);
    // With new metadata (say, fewer owned partitions) it is a rebalance.
    let mut changed = join(11, B, "b");
    changed.protocols = vec![("range".to_string(), subscription(&["t", "u"]))];
    assert_eq!(group.handle(Event::Join(changed), 7100), vec![]);
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    let effects = group.handle(Event::Join(join(12, A, "a")), 7200);
    assert_eq!(effects.len(), 3);
    assert_eq!(group.generation(), 2);
}

#[test]
fn leader_rejoin_while_stable_rebalances() {
    let mut group = stable_pair(false);
    assert_eq!(group.handle(Event::Join(join(10, A, "a")), 7000), vec![]);
    assert_eq!(group.state(), GroupState::PreparingRebalance);
}

#[test]
fn inconsistent_protocols_are_rejected() {
    let mut group = stable_pair(false);
    let mut other_type = join(10, "", "c");
    other_type.protocol_type = "connect".to_string();
    assert_eq!(
        group.handle(Event::Join(other_type), 7000),
        vec![join_error(10, "", errors::INCONSISTENT_GROUP_PROTOCOL)]
    );
    let mut other_protocol = join(11, "", "c");
    other_protocol.protocols = vec![("roundrobin".to_string(), Vec::new())];
    assert_eq!(
        group.handle(Event::Join(other_protocol), 7000),
        vec![join_error(11, "", errors::INCONSISTENT_GROUP_PROTOCOL)]
    );
    let mut none = join(12, "", "c");
    none.protocols.clear();
    let mut empty_group = Group::new("h", no_delay(), 0);
    assert_eq!(
        empty_group.handle(Event::Join(none), 0),
        // A group that is empty and holds no offsets is dropped after the cleanup interval.
        vec![
            join_error(12, "", errors::INCONSISTENT_GROUP_PROTOCOL),
            timer(600_000)
        ]
    );
    assert_eq!(group.state(), GroupState::Stable);
}

#[test]
fn protocol_is_chosen_by_vote_among_common_protocols() {
    let with = |request_id, client: &str, names: &[&str]| {
        let mut j = join(request_id, "", client);
        j.protocols = names.iter().map(|n| (n.to_string(), Vec::new())).collect();
        Event::Join(j)
    };
    let config = GroupConfig {
        initial_rebalance_delay_ms: 100,
        ..GroupConfig::default()
    };
    // Two vote for roundrobin, one for range.
    let mut group = Group::new("g", config.clone(), 0);
    group.handle(with(1, "a", &["range", "roundrobin", "sticky"]), 0);
    group.handle(with(2, "b", &["roundrobin", "range"]), 0);
    group.handle(with(3, "c", &["roundrobin", "range"]), 0);
    group.handle(Event::Tick, 100);
    group.handle(Event::Tick, 200);
    assert_eq!(group.state(), GroupState::CompletingRebalance);
    assert_eq!(group.protocol_name(), Some("roundrobin"));
    // A tie goes to the earliest member's preference; `sticky` is not common.
    let mut group = Group::new("g", config, 0);
    group.handle(with(1, "a", &["sticky", "range", "roundrobin"]), 0);
    group.handle(with(2, "b", &["roundrobin", "range"]), 0);
    group.handle(Event::Tick, 100);
    group.handle(Event::Tick, 200);
    assert_eq!(group.protocol_name(), Some("range"));
}

#[test]
fn session_timeout_bounds_are_enforced() {
    let mut group = Group::new("g", no_delay(), 0);
    for (request_id, timeout) in [(1, 5_999), (2, 1_800_001)] {
        let mut j = join(request_id, "", "a");
        j.session_timeout_ms = timeout;
        assert_eq!(
            group.handle(Event::Join(j), 0)[0],
            join_error(request_id, "", errors::INVALID_SESSION_TIMEOUT)
        );
    }
    assert!(group.members().is_empty());
}

#[test]
fn group_max_size_is_enforced() {
    let config = GroupConfig {
        group_max_size: 1,
        ..no_delay()
    };
    let mut group = Group::new("g", config, 0);
    group.handle(Event::Join(join(1, "", "a")), 0);
    assert_eq!(
        group.handle(Event::Join(join(2, "", "b")), 10),
        vec![join_error(2, "", errors::GROUP_MAX_SIZE_REACHED)]
    );
}

#[test]
fn member_that_never_syncs_is_removed_after_the_rebalance_timeout() {
    let mut group = Group::new("g", no_delay(), 0);
    group.handle(Event::Join(join(1, "", "a")), 0);
    assert_eq!(group.state(), GroupState::CompletingRebalance);
    // A heartbeats (session kept alive) but never sends SyncGroup.
    for now in [9_000u64, 18_000, 27_000] {
        group.handle(heartbeat(2, A, 1), now);
    }
    let effects = group.handle(Event::Tick, 30_000);
    let empty = GroupMetadata {
        protocol_type: Some("consumer".to_string()),
        generation: 2,
        protocol_name: None,
        leader: None,
        current_state_timestamp_ms: 30_000,
        members: Vec::new(),
    };
    // Removed, the group is empty; without offsets it is dropped after the cleanup interval.
    assert_eq!(
        effects,
        vec![Effect::Persist(Record::Group(empty)), timer(630_000)]
    );
    assert_eq!(group.state(), GroupState::Empty);
    assert_eq!(group.generation(), 2);
    assert_eq!(
        group.handle(Event::Tick, 630_000),
        vec![Effect::Persist(Record::GroupTombstone)]
    );
    assert_eq!(group.state(), GroupState::Dead);
}

#[test]
fn a_group_that_never_stored_anything_dies_without_a_tombstone() {
    let mut group = Group::new("g", no_delay(), 0);
    let mut bad = join(1, "", "a");
    bad.session_timeout_ms = 1;
    let effects = group.handle(Event::Join(bad), 0);
    assert_eq!(
        effects,
        vec![
            join_error(1, "", errors::INVALID_SESSION_TIMEOUT),
            timer(600_000)
        ]
    );
    assert_eq!(group.handle(Event::Tick, 599_999), vec![]);
    assert_eq!(group.state(), GroupState::Empty);
    assert_eq!(group.handle(Event::Tick, 600_000), vec![]);
    assert_eq!(group.state(), GroupState::Dead);
}
