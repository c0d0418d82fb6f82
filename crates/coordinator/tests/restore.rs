//! Groups rebuilt from what `__consumer_offsets` stored (`Group::restore`): they carry on at
//! their generation with their assignments, a static member that restarts keeps its
//! partitions, and members that are gone expire by session timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use streambus_coordinator::*;

/// A Stable pair's state as stored, loaded again at `now`.
fn restored(a_static: bool, now: u64) -> Group {
    let mut before = stable_pair(a_static);
    before.handle(commit(30, B, 1, 17), 6300);
    let offsets: BTreeMap<_, _> = before.offsets().clone();
    Group::restore(
        "g",
        GroupConfig::default(),
        Some(before.snapshot()),
        offsets,
        now,
    )
}

#[test]
fn a_stored_stable_group_comes_back_stable_with_its_assignments() {
    let group = restored(false, 100_000);
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(group.generation(), 1);
    assert_eq!(group.leader(), Some(A));
    assert_eq!(group.protocol_name(), Some("range"));
    let assignments: Vec<_> = group
        .members()
        .iter()
        .map(|m| (m.member_id.as_str(), m.assignment.as_slice()))
        .collect();
    assert_eq!(assignments, [(A, &b"a"[..]), (B, &b"b"[..])]);
    let committed = &group.offsets()[&TopicPartition::new("t", 0)];
    assert_eq!(
        (committed.offset, committed.metadata.as_deref()),
        (17, Some("meta"))
    );
}

#[test]
fn restored_members_heartbeat_and_dead_ones_expire() {
    let mut group = restored(false, 100_000);
    // Sessions restart at the load: 10 s from 100 000.
    assert_eq!(
        group.handle(heartbeat(1, B, 1), 105_000),
        vec![heartbeat_result(1, errors::NONE), timer(110_000)]
    );
    assert_eq!(
        group.handle(heartbeat(2, A, 0), 105_000),
        vec![heartbeat_result(2, errors::ILLEGAL_GENERATION)]
    );
    // A never heartbeats: at 110 000 it is removed and the group rebalances for B.
    group.handle(Event::Tick, 110_000);
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    assert_eq!(group.members().len(), 1);
    assert_eq!(group.members()[0].member_id, B);
}

#[test]
fn a_static_member_restarting_after_the_load_keeps_its_assignment() {
    let mut group = restored(true, 100_000);
    let effects = group.handle(Event::Join(static_join(40, "", "a", "a-instance")), 101_000);
    assert_eq!(group.state(), GroupState::Stable, "{effects:?}");
    assert_eq!(group.generation(), 1);
    let new_id = group.members()[0].member_id.clone();
    assert_ne!(new_id, A);
    let sync = sync(41, &new_id, 1);
    assert_eq!(
        group.handle(Event::Sync(sync), 101_100),
        vec![synced(41, b"a")]
    );
}

#[test]
fn a_stored_group_without_members_comes_back_empty() {
    let mut before = Group::new("g", no_delay(), 0);
    before.handle(commit(1, "", -1, 5), 10);
    let group = Group::restore("g", no_delay(), None, before.offsets().clone(), 50);
    assert_eq!(group.state(), GroupState::Empty);
    assert_eq!(group.offsets().len(), 1);
    assert!(group.members().is_empty());
}
