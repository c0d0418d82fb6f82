//! Consumer groups on a real broker with librdkafka consumers: they subscribe, split a
//! topic's partitions, hand them over when a member joins, closes or stops heartbeating, and
//! resume at their synchronous commits with every record consumed exactly once; static
//! membership (KIP-345) replaces a member without a rebalance; groups, members and offsets
//! survive a clean restart.
//!
//! The group APIs over raw wire requests, their versions and their errors are in
//! `groups/wire.rs`. Every wait polls with a deadline; no assertion depends on how long
//! anything took.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
#[path = "groups/wire.rs"]
mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use streambus_protocol::messages::heartbeat_request::HeartbeatRequest;
use streambus_protocol::messages::offset_fetch_request::{
    OffsetFetchRequest, OffsetFetchRequestTopic,
};
use streambus_testkit::TestBroker;
use support::Wire;
use support::groups::*;

/// A broker whose groups rebalance at once and accept short sessions, with a small
/// `__consumer_offsets`.
pub(crate) fn group_broker() -> TestBroker {
    TestBroker::start_with(|c| {
        c.group.initial_rebalance_delay_ms = 0;
        c.group.min_session_timeout_ms = 1000;
        c.offsets_topic_num_partitions = 3;
    })
}

// ---------------------------------------------------------------------------------------
// librdkafka consumers in groups

#[test]
fn two_consumers_split_six_partitions_and_consume_everything_exactly_once() {
    let broker = group_broker();
    let (topic, group) = ("split", "split-group");
    support::create_topic(&broker, topic, PARTITIONS, &[]);
    let mut expected = BTreeMap::new();
    produce_round(&broker, topic, PARTITIONS, "before", 5, &mut expected);

    let a = Member::join(&broker, group, "a", topic, &[]);
    let b = Member::join(&broker, group, "b", topic, &[]);
    let mut ledger = Ledger::default();
    pump(
        &[&a, &b],
        &mut ledger,
        true,
        "both consumers assigned",
        |_| split_over(&[&a, &b]),
    );
    assert_eq!(
        a.assigned().len(),
        3,
        "range gives each of two members 3 of 6"
    );
    assert_eq!(b.assigned().len(), 3);

    // DescribeGroups agrees with what the consumers were given.
    let described = describe_new(&broker, group);
    assert_eq!(described.group_state, "Stable");
    assert_eq!(described.protocol_type, "consumer");
    assert_eq!(described.protocol_data, "range");
    assert_eq!(described.members.len(), 2, "{described:?}");
    for (member, name) in [(&a, "a"), (&b, "b")] {
        let entry = described
            .members
            .iter()
            .find(|m| m.client_id == name)
            .unwrap_or_else(|| panic!("{name} is not described: {described:?}"));
        assert_eq!(entry.client_host, "/127.0.0.1", "Kafka's host format");
        assert_eq!(entry.group_instance_id, None);
        assert!(!entry.member_metadata.is_empty());
        let given = parse_assignment(&entry.member_assignment);
        assert_eq!(given.get(topic), Some(&member.assigned()), "{name}");
    }

    produce_round(&broker, topic, PARTITIONS, "after", 5, &mut expected);
    let total = expected.len();
    pump(&[&a, &b], &mut ledger, true, "every record", |l| {
        l.distinct() == total
    });
    assert_exactly_once(&ledger, &expected);
    // Each consumer read only its own partitions once the group was stable, and the
    // records produced after that were split between them.
    for (member, name) in [(&a, "a"), (&b, "b")] {
        let own = member.assigned();
        let read_late: BTreeSet<i32> = ledger
            .got
            .iter()
            .filter(|(_, d)| d[0].who == name)
            .filter(|((p, o), _)| *o >= 5 && expected.contains_key(&(*p, *o)))
            .map(|((p, _), _)| *p)
            .collect();
        assert_eq!(
            read_late, own,
            "{name} read the later records of its partitions"
        );
    }
    assert_eq!(
        committed_offsets(&broker, group, topic, PARTITIONS),
        ends(&expected, PARTITIONS),
        "the sync commits are what OffsetFetch returns"
    );

    // ListGroups shows the group as a stable consumer group.
    let (error_code, listed) = list_groups(&mut Wire::connect(broker.addr()), &[]);
    assert_eq!(error_code, NONE);
    let entry = listed
        .iter()
        .find(|g| g.group_id == group)
        .unwrap_or_else(|| panic!("{group} not listed: {listed:?}"));
    assert_eq!(entry.protocol_type, "consumer");
    assert_eq!(entry.group_state, "Stable");
}

#[test]
fn a_third_consumer_spreads_the_load_and_a_closed_ones_partitions_resume_at_its_commits() {
    let broker = group_broker();
    let (topic, group) = ("spread", "spread-group");
    support::create_topic(&broker, topic, PARTITIONS, &[]);
    let a = Member::join(&broker, group, "a", topic, &[]);
    let b = Member::join(&broker, group, "b", topic, &[]);
    let (mut ledger, mut expected) = split_then_first_round(&broker, topic, &[&a, &b], "two");

    // A third member: the six partitions spread over three, two each.
    let c = Member::join(&broker, group, "c", topic, &[]);
    pump(
        &[&a, &b, &c],
        &mut ledger,
        true,
        "three consumers assigned",
        |_| split_over(&[&a, &b, &c]),
    );
    for member in [&a, &b, &c] {
        assert_eq!(
            member.assigned().len(),
            2,
            "{} of three members",
            member.name
        );
    }
    consume_round(
        &broker,
        topic,
        &[&a, &b, &c],
        &mut ledger,
        &mut expected,
        "three",
        "round two",
    );
    let committed_before_close = committed_offsets(&broker, group, topic, PARTITIONS);
    assert_eq!(committed_before_close, ends(&expected, PARTITIONS));

    // b closes (LeaveGroup): its partitions move to a and c, who start at b's commits.
    let moved = b.assigned();
    drop(b);
    pump(
        &[&a, &c],
        &mut ledger,
        true,
        "b's partitions moving",
        |_| split_over(&[&a, &c]),
    );
    assert_eq!(a.assigned().len() + c.assigned().len(), PARTITIONS as usize);
    let described = describe_new(&broker, group);
    assert_eq!(described.group_state, "Stable");
    let names: BTreeSet<&str> = described
        .members
        .iter()
        .map(|m| m.client_id.as_str())
        .collect();
    assert_eq!(names, BTreeSet::from(["a", "c"]));

    consume_round(
        &broker,
        topic,
        &[&a, &c],
        &mut ledger,
        &mut expected,
        "after-close",
        "round three",
    );
    assert_exactly_once(&ledger, &expected);
    for partition in &moved {
        let start = committed_before_close[partition];
        assert_eq!(
            ledger.first_at_or_after(*partition, start),
            Some(start),
            "partition {partition} resumed at b's commit"
        );
        let who = &ledger.got[&(*partition, start)][0].who;
        assert!(who == "a" || who == "c", "{partition} went to {who}");
    }
    assert_eq!(
        committed_offsets(&broker, group, topic, PARTITIONS),
        ends(&expected, PARTITIONS)
    );
}

#[test]
fn a_member_that_stops_heartbeating_is_removed_after_its_session_timeout() {
    let broker = group_broker();
    let (topic, group) = ("silent", "silent-group");
    support::create_topic(&broker, topic, PARTITIONS, &[]);
    let mut expected = BTreeMap::new();
    produce_round(&broker, topic, PARTITIONS, "before", 3, &mut expected);
    let live = Member::join(&broker, group, "live", topic, &[]);
    let mut ledger = Ledger::default();
    let total = expected.len();
    pump(
        &[&live],
        &mut ledger,
        true,
        "the live consumer alone",
        |l| live.assigned().len() == PARTITIONS as usize && l.distinct() == total,
    );

    // A raw member joins with a 2 s session. Its second JoinGroup waits for the live
    // consumer to rejoin, so it runs while the live consumer is polled.
    let mut wire = Wire::connect(broker.addr());
    let first = join(&mut wire, 5, join_request(group, "", 2000, topic));
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED, "{first:?}");
    let silent_id = first.member_id.clone();
    let request = join_request(group, &silent_id, 2000, topic);
    let (mut wire, joined) =
        while_pumping(&[&live], &mut ledger, "the raw member's join", move || {
            let joined = join(&mut wire, 5, request);
            (wire, joined)
        });
    assert_eq!(joined.error_code, NONE, "{joined:?}");
    assert_eq!(joined.member_id, silent_id);
    assert_ne!(
        joined.leader, silent_id,
        "the live consumer joined first and leads"
    );
    assert!(
        joined.members.is_empty(),
        "only the leader gets the member list"
    );
    let generation = joined.generation_id;
    let (mut wire, synced) =
        while_pumping(&[&live], &mut ledger, "the raw member's sync", move || {
            let synced = sync(&mut wire, 3, group, generation, &silent_id, Vec::new());
            (wire, synced)
        });
    assert_eq!(synced.error_code, NONE, "{synced:?}");
    let silent_partitions = parse_assignment(&synced.assignment)
        .remove(topic)
        .unwrap_or_default();
    assert_eq!(
        silent_partitions.len(),
        3,
        "range gives the raw member half"
    );

    // It never heartbeats again: once its session is over it is removed, the group
    // rebalances, and the live consumer has all six partitions.
    pump(
        &[&live],
        &mut ledger,
        true,
        "the live consumer taking all partitions",
        |_| live.assigned().len() == PARTITIONS as usize && live.assignments().len() == 3,
    );
    let all: BTreeSet<i32> = (0..PARTITIONS).collect();
    let rest: BTreeSet<i32> = all.difference(&silent_partitions).copied().collect();
    assert_eq!(
        live.assignments(),
        vec![all.clone(), rest, all],
        "alone, then sharing with the raw member, then alone again"
    );
    let silent_id = first.member_id;
    assert_eq!(
        heartbeat(&mut wire, group, generation, &silent_id),
        UNKNOWN_MEMBER_ID,
        "the removed member is unknown"
    );
    let described = describe_new(&broker, group);
    assert_eq!(described.group_state, "Stable");
    assert_eq!(described.members.len(), 1, "{described:?}");
    assert_eq!(described.members[0].client_id, "live");
    assert!(
        generation_of(&broker, group, &described.members[0].member_id) > generation,
        "removing the member started a new generation"
    );

    produce_round(&broker, topic, PARTITIONS, "after", 3, &mut expected);
    let total = expected.len();
    pump(&[&live], &mut ledger, true, "every record", |l| {
        l.distinct() == total
    });
    assert_exactly_once(&ledger, &expected);
}

#[test]
fn a_static_member_that_restarts_within_its_session_gets_its_partitions_back_without_a_rebalance() {
    let broker = group_broker();
    let (topic, group) = ("static", "static-group");
    support::create_topic(&broker, topic, PARTITIONS, &[]);
    let static_config = [
        ("group.instance.id", "instance-s"),
        ("session.timeout.ms", "15000"),
    ];
    let s = Member::join(&broker, group, "s", topic, &static_config);
    let d = Member::join(&broker, group, "d", topic, &[]);
    let (mut ledger, mut expected) = split_then_first_round(&broker, topic, &[&s, &d], "first");

    let before = describe_new(&broker, group);
    assert_eq!(before.group_state, "Stable");
    let old_static_id = member_id_of(&before, "s");
    let dynamic_id = member_id_of(&before, "d");
    let static_entry = before.members.iter().find(|m| m.client_id == "s").unwrap();
    assert_eq!(
        static_entry.group_instance_id.as_deref(),
        Some("instance-s")
    );
    let generation = generation_of(&broker, group, &dynamic_id);
    let s_partitions = s.assigned();
    let d_partitions = d.assigned();
    let d_assignments = d.assignments();
    let d_revocations = d.revocations();

    // The static member closes (no LeaveGroup) and a new consumer with the same instance id
    // takes its place within the session timeout.
    drop(s);
    let s2 = Member::join(&broker, group, "s2", topic, &static_config);
    pump(
        &[&s2, &d],
        &mut ledger,
        true,
        "the replacement assigned",
        |_| !s2.assigned().is_empty(),
    );
    assert_eq!(s2.assigned(), s_partitions, "the same partitions back");
    assert_eq!(d.assigned(), d_partitions);
    assert_eq!(
        d.assignments(),
        d_assignments,
        "the other member saw no new assignment"
    );
    assert_eq!(d.revocations(), d_revocations, "nor a revocation");
    assert_eq!(
        generation_of(&broker, group, &dynamic_id),
        generation,
        "no new generation"
    );
    let after = describe_new(&broker, group);
    assert_eq!(after.group_state, "Stable");
    assert_eq!(after.members.len(), 2, "{after:?}");
    let new_static_id = member_id_of(&after, "s2");
    assert_ne!(
        new_static_id, old_static_id,
        "the replacement has a new member id"
    );
    let replacement = after.members.iter().find(|m| m.client_id == "s2").unwrap();
    assert_eq!(replacement.group_instance_id.as_deref(), Some("instance-s"));
    assert_eq!(
        parse_assignment(&replacement.member_assignment).get(topic),
        Some(&s_partitions)
    );
    // The old member id is fenced out.
    let mut wire = Wire::connect(broker.addr());
    let response = call!(
        wire,
        4,
        Heartbeat(HeartbeatRequest {
            group_id: group.into(),
            generation_id: generation,
            member_id: old_static_id,
            group_instance_id: Some("instance-s".into()),
        })
    );
    assert_eq!(response.error_code, FENCED_INSTANCE_ID);

    // The replacement resumes at the old member's commits.
    consume_round(
        &broker,
        topic,
        &[&s2, &d],
        &mut ledger,
        &mut expected,
        "second",
        "round two",
    );
    assert_exactly_once(&ledger, &expected);
    for partition in &s_partitions {
        let second_round_start = 4;
        let who = &ledger.got[&(*partition, second_round_start)][0].who;
        assert_eq!(who, "s2", "partition {partition}");
    }
}

#[test]
fn committed_offsets_and_groups_survive_a_clean_restart() {
    let mut broker = group_broker();
    let (topic, group) = ("restart", "restart-group");
    let partitions = 3;
    support::create_topic(&broker, topic, partitions, &[]);
    let mut expected = BTreeMap::new();
    produce_round(&broker, topic, partitions, "old", 10, &mut expected);

    // A subscribed consumer reads everything and commits, synchronously, less than that.
    let targets: BTreeMap<i32, (i64, &str)> =
        BTreeMap::from([(0, (3, "m0")), (1, (7, "")), (2, (10, "all of p2"))]);
    {
        let reader = Member::join(&broker, group, "reader", topic, &[]);
        let mut ledger = Ledger::default();
        let total = expected.len();
        pump(&[&reader], &mut ledger, false, "the first read", |l| {
            l.distinct() == total
        });
        let mut offsets = TopicPartitionList::new();
        for (partition, (offset, metadata)) in &targets {
            offsets
                .add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .unwrap();
            offsets
                .find_partition(topic, *partition)
                .unwrap()
                .set_metadata(metadata);
        }
        reader.consumer.commit(&offsets, CommitMode::Sync).unwrap();
        let fetched = committed_in(
            &fetch(&mut Wire::connect(broker.addr()), group, None),
            topic,
        );
        let wanted: BTreeMap<i32, (i64, String)> = targets
            .iter()
            .map(|(p, (o, m))| (*p, (*o, m.to_string())))
            .collect();
        assert_eq!(fetched, wanted, "before the restart");
    }
    broker.restart();

    // Groups come back from __consumer_offsets; a client retries while they load.
    let mut wire = Wire::connect(broker.addr());
    let deadline = Instant::now() + DEADLINE;
    let listed = loop {
        let (error_code, listed) = list_groups(&mut wire, &["Empty"]);
        if error_code != COORDINATOR_LOAD_IN_PROGRESS {
            assert_eq!(error_code, NONE);
            break listed;
        }
        assert!(Instant::now() < deadline, "groups still loading");
        std::thread::sleep(Duration::from_millis(50));
    };
    let entry = listed
        .iter()
        .find(|g| g.group_id == group)
        .unwrap_or_else(|| panic!("{group} not listed after the restart: {listed:?}"));
    assert_eq!(entry.protocol_type, "consumer");
    assert_eq!(entry.group_state, "Empty");
    let (error_code, stable) = list_groups(&mut wire, &["Stable"]);
    assert_eq!(error_code, NONE);
    assert!(stable.iter().all(|g| g.group_id != group), "{stable:?}");
    let described = describe(&mut wire, group);
    assert_eq!(described.group_state, "Empty");
    assert_eq!(described.protocol_type, "consumer");
    assert!(described.members.is_empty());

    let wanted: BTreeMap<i32, (i64, String)> = targets
        .iter()
        .map(|(p, (o, m))| (*p, (*o, m.to_string())))
        .collect();
    assert_eq!(
        committed_in(&fetch(&mut wire, group, None), topic),
        wanted,
        "OffsetFetch v8 of all topics after the restart"
    );
    // The same at the oldest non-flexible version with a partition list.
    let response = call!(
        wire,
        1,
        OffsetFetch(OffsetFetchRequest {
            group_id: group.into(),
            topics: Some(vec![OffsetFetchRequestTopic {
                name: topic.into(),
                partition_indexes: vec![0, 1, 2],
            }]),
            ..Default::default()
        })
    );
    assert_eq!(response.topics.len(), 1, "{response:?}");
    let v1: BTreeMap<i32, (i64, String)> = response.topics[0]
        .partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, NONE);
            (
                p.partition_index,
                (p.committed_offset, p.metadata.clone().unwrap_or_default()),
            )
        })
        .collect();
    assert_eq!(v1, wanted, "OffsetFetch v1 after the restart");

    // A consumer of the same group resumes exactly at the commits: then one new record per
    // partition shows where each partition's reading ends.
    produce_round(&broker, topic, partitions, "new", 1, &mut expected);
    let resumed = Member::join(&broker, group, "resumed", topic, &[]);
    let mut ledger = Ledger::default();
    let wanted_positions: BTreeSet<(i32, i64)> = targets
        .iter()
        .flat_map(|(p, (o, _))| (*o..=10).map(move |offset| (*p, offset)))
        .collect();
    pump(
        &[&resumed],
        &mut ledger,
        true,
        "reading from the commits",
        |l| wanted_positions.iter().all(|pos| l.got.contains_key(pos)),
    );
    let got: BTreeSet<(i32, i64)> = ledger.got.keys().copied().collect();
    assert_eq!(
        got, wanted_positions,
        "nothing before the commits, nothing twice"
    );
    let resumed_expected: BTreeMap<(i32, i64), Vec<u8>> = expected
        .iter()
        .filter(|(pos, _)| wanted_positions.contains(pos))
        .map(|(pos, v)| (*pos, v.clone()))
        .collect();
    assert_exactly_once(&ledger, &resumed_expected);
}

#[test]
fn live_members_keep_their_generation_and_partitions_across_a_clean_restart() {
    let mut broker = group_broker();
    let (topic, group) = ("steady", "steady-group");
    support::create_topic(&broker, topic, PARTITIONS, &[]);
    let a = Member::join(&broker, group, "a", topic, &[]).expecting_restarts();
    let b = Member::join(&broker, group, "b", topic, &[]).expecting_restarts();
    let (mut ledger, mut expected) = split_then_first_round(&broker, topic, &[&a, &b], "before");
    let a_id = member_id_of(&describe_new(&broker, group), "a");
    let generation = generation_of(&broker, group, &a_id);
    let history = (
        a.assignments(),
        b.assignments(),
        a.revocations(),
        b.revocations(),
    );

    // The group, with its members and generation, is reloaded from __consumer_offsets; the
    // members' heartbeats are accepted again and nobody rejoins.
    broker.restart();
    consume_round(
        &broker,
        topic,
        &[&a, &b],
        &mut ledger,
        &mut expected,
        "after",
        "round two",
    );
    assert_exactly_once(&ledger, &expected);
    assert_eq!(
        (
            a.assignments(),
            b.assignments(),
            a.revocations(),
            b.revocations()
        ),
        history,
        "no rebalance"
    );
    let described = describe_new(&broker, group);
    assert_eq!(described.group_state, "Stable");
    assert_eq!(member_id_of(&described, "a"), a_id);
    assert_eq!(generation_of(&broker, group, &a_id), generation);
    assert_eq!(
        committed_offsets(&broker, group, topic, PARTITIONS),
        ends(&expected, PARTITIONS)
    );
}

/// KIP-429, the cooperative protocol that clients drive over the classic group protocol:
/// with `cooperative-sticky`, a third member takes partitions without the others giving up
/// the ones they keep, and every record is still consumed exactly once.
#[test]
fn cooperative_sticky_members_keep_their_partitions_when_a_third_joins() {
    let broker = group_broker();
    let (topic, group) = ("cooperative", "cooperative-group");
    support::create_topic(&broker, topic, PARTITIONS, &[]);
    let cooperative = [("partition.assignment.strategy", "cooperative-sticky")];
    let a = Member::join(&broker, group, "a", topic, &cooperative);
    let b = Member::join(&broker, group, "b", topic, &cooperative);
    let (mut ledger, mut expected) = split_then_first_round(&broker, topic, &[&a, &b], "first");
    let (a_before, b_before) = (a.assigned(), b.assigned());

    let c = Member::join(&broker, group, "c", topic, &cooperative);
    pump(
        &[&a, &b, &c],
        &mut ledger,
        true,
        "three cooperative members",
        |_| split_over(&[&a, &b, &c]) && [&a, &b, &c].iter().all(|m| m.assigned().len() == 2),
    );
    // Sticky and incremental: a and b only gave up what c took.
    assert!(
        a.assigned().is_subset(&a_before),
        "{:?} ⊄ {a_before:?}",
        a.assigned()
    );
    assert!(
        b.assigned().is_subset(&b_before),
        "{:?} ⊄ {b_before:?}",
        b.assigned()
    );
    let described = describe_new(&broker, group);
    assert_eq!(described.group_state, "Stable");
    assert_eq!(described.protocol_data, "cooperative-sticky");
    assert_eq!(described.members.len(), 3);

    consume_round(
        &broker,
        topic,
        &[&a, &b, &c],
        &mut ledger,
        &mut expected,
        "second",
        "round two",
    );
    assert_exactly_once(&ledger, &expected);
    assert_eq!(
        committed_offsets(&broker, group, topic, PARTITIONS),
        ends(&expected, PARTITIONS)
    );
}
