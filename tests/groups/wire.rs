//! The group APIs over raw wire requests: FindCoordinator, every supported version of each
//! group API, and the errors Kafka answers (unknown members, stale generations, unknown
//! partitions, oversized metadata, empty group ids, bad session timeouts, the KIP-394 member
//! id handshake, full groups, fenced static members, commits during a rebalance, deleting
//! groups and offsets), each followed by a request that shows the group still works; and the
//! coordinator's timers: members dropped when they neither rejoin nor sync within the
//! rebalance timeout, offsets of groups without members expiring.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use streambus_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use streambus_protocol::messages::leave_group_request::{LeaveGroupRequest, MemberIdentity};
use streambus_protocol::messages::offset_fetch_request::{
    OffsetFetchRequest, OffsetFetchRequestTopic,
};

use streambus_testkit::TestBroker;

use super::group_broker;
use super::support::groups::*;
use super::support::{self, Wire};

#[test]
fn find_coordinator_names_this_broker_for_groups() {
    let broker = group_broker();
    let node_id = broker.broker().config().node_id;
    let port = i32::from(broker.addr().port());
    find_coordinator(&broker, "some-group");
    let mut wire = Wire::connect(broker.addr());
    for version in 0..=3 {
        let response = call!(
            wire,
            version,
            FindCoordinator(FindCoordinatorRequest {
                key: "some-group".into(),
                key_type: 0,
                ..Default::default()
            })
        );
        assert_eq!(response.error_code, NONE, "v{version}: {response:?}");
        assert_eq!(response.node_id, node_id, "v{version}");
        assert_eq!(response.host, "127.0.0.1", "v{version}");
        assert_eq!(response.port, port, "v{version}");
    }
    let response = call!(
        wire,
        4,
        FindCoordinator(FindCoordinatorRequest {
            key_type: 0,
            coordinator_keys: vec!["g1".into(), "g2".into()],
            ..Default::default()
        })
    );
    let keys: Vec<&str> = response
        .coordinators
        .iter()
        .map(|c| c.key.as_str())
        .collect();
    assert_eq!(keys, ["g1", "g2"], "{response:?}");
    for coordinator in &response.coordinators {
        assert_eq!(coordinator.error_code, NONE, "{coordinator:?}");
        assert_eq!(coordinator.node_id, node_id);
        assert_eq!(coordinator.host, "127.0.0.1");
        assert_eq!(coordinator.port, port);
    }
    // Key type 2 does not exist: the request is invalid.
    let response = call!(
        wire,
        3,
        FindCoordinator(FindCoordinatorRequest {
            key: "some-group".into(),
            key_type: 2,
            ..Default::default()
        })
    );
    assert_eq!(response.error_code, INVALID_REQUEST, "{response:?}");
}

#[test]
fn join_group_refuses_bad_requests_and_the_group_still_works() {
    let broker = group_broker();
    let topic = "joins";
    support::create_topic(&broker, topic, 3, &[]);
    let group = "join-errors";
    find_coordinator(&broker, group);
    let mut wire = Wire::connect(broker.addr());

    let response = join(&mut wire, 5, join_request("", "", 10_000, topic));
    assert_eq!(
        response.error_code, INVALID_GROUP_ID,
        "empty group id: {response:?}"
    );
    assert_eq!(response.generation_id, -1);
    for session_timeout in [999, 1_800_001] {
        let response = join(
            &mut wire,
            5,
            join_request(group, "", session_timeout, topic),
        );
        assert_eq!(
            response.error_code, INVALID_SESSION_TIMEOUT,
            "session timeout {session_timeout}: {response:?}"
        );
    }

    // KIP-394 from v4: a new member is given an id and must come back with it.
    let first = join(&mut wire, 4, join_request(group, "", 10_000, topic));
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED, "{first:?}");
    assert!(!first.member_id.is_empty());
    assert_eq!(first.generation_id, -1);
    let member_id = first.member_id.clone();
    let joined = join(&mut wire, 4, join_request(group, &member_id, 10_000, topic));
    assert_eq!(joined.error_code, NONE, "{joined:?}");
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.member_id, member_id);
    assert_eq!(joined.leader, member_id);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    assert_eq!(joined.members[0].member_id, member_id);
    assert_eq!(joined.members[0].metadata, subscription(&[topic]));
    let given = assignment(topic, &[0, 1, 2]);
    let synced = sync(
        &mut wire,
        4,
        group,
        1,
        &member_id,
        vec![(member_id.clone(), given.clone())],
    );
    assert_eq!(synced.error_code, NONE, "{synced:?}");
    assert_eq!(synced.assignment, given);
    assert_eq!(heartbeat(&mut wire, group, 1, &member_id), NONE);

    // After each refusal the member's group carries on.
    let response = join(&mut wire, 5, join_request("", "", 10_000, topic));
    assert_eq!(response.error_code, INVALID_GROUP_ID);
    assert_eq!(heartbeat(&mut wire, group, 1, &member_id), NONE);
    let response = join(&mut wire, 5, join_request(group, "", 500, topic));
    assert_eq!(response.error_code, INVALID_SESSION_TIMEOUT);
    assert_eq!(heartbeat(&mut wire, group, 1, &member_id), NONE);
    // Another protocol type cannot join a consumer group that has members.
    let mut connect = join_request(group, "", 10_000, topic);
    connect.protocol_type = "connect".into();
    let response = join(&mut wire, 5, connect);
    assert_eq!(
        response.error_code, INCONSISTENT_GROUP_PROTOCOL,
        "{response:?}"
    );
    assert_eq!(heartbeat(&mut wire, group, 1, &member_id), NONE);
    // Nor a consumer whose assignors the group's members do not share.
    let mut roundrobin = join_request(group, "", 10_000, topic);
    roundrobin.protocols[0].name = "roundrobin".into();
    let response = join(&mut wire, 5, roundrobin);
    assert_eq!(
        response.error_code, INCONSISTENT_GROUP_PROTOCOL,
        "{response:?}"
    );
    assert_eq!(heartbeat(&mut wire, group, 1, &member_id), NONE);
    assert_eq!(describe(&mut wire, group).group_state, "Stable");

    // The handshake at the flexible v9, in another group.
    let first = join(&mut wire, 9, join_request("join-v9", "", 10_000, topic));
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED, "{first:?}");
    let joined = join(
        &mut wire,
        9,
        join_request("join-v9", &first.member_id, 10_000, topic),
    );
    assert_eq!(joined.error_code, NONE, "{joined:?}");
    assert_eq!(joined.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert!(!joined.skip_assignment);
    assert_eq!(joined.leader, first.member_id);
    // Before v4 there is no handshake: the first JoinGroup joins.
    let joined = join(&mut wire, 3, join_request("join-v3", "", 10_000, topic));
    assert_eq!(joined.error_code, NONE, "{joined:?}");
    assert!(!joined.member_id.is_empty());
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader, joined.member_id);
}

#[test]
fn heartbeat_and_sync_refuse_unknown_members_and_stale_generations() {
    let broker = group_broker();
    let (topic, group) = ("beats", "beat-errors");
    support::create_topic(&broker, topic, 3, &[]);
    find_coordinator(&broker, group);
    let mut wire = Wire::connect(broker.addr());
    let member = raw_sole_member(&mut wire, group, topic, 3);
    assert_eq!(member.generation, 1);
    let id = member.member_id.as_str();

    assert_eq!(
        heartbeat(&mut wire, group, 1, "no-such-member"),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(heartbeat(&mut wire, group, 1, id), NONE);
    assert_eq!(
        heartbeat(&mut wire, "no-such-group", 1, id),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(heartbeat(&mut wire, "", 1, id), INVALID_GROUP_ID);
    assert_eq!(heartbeat(&mut wire, group, 1, id), NONE);

    // The leader rejoins: a new generation, and the old one is stale.
    let rejoined = join(&mut wire, 5, join_request(group, id, 10_000, topic));
    assert_eq!(rejoined.error_code, NONE, "{rejoined:?}");
    assert_eq!(rejoined.generation_id, 2);
    assert_eq!(
        sync(&mut wire, 5, group, 1, id, Vec::new()).error_code,
        ILLEGAL_GENERATION,
        "SyncGroup of the old generation"
    );
    assert_eq!(
        sync(&mut wire, 5, group, 2, "no-such-member", Vec::new()).error_code,
        UNKNOWN_MEMBER_ID
    );
    let given = assignment(topic, &[0, 1, 2]);
    let synced = sync(
        &mut wire,
        5,
        group,
        2,
        id,
        vec![(id.to_string(), given.clone())],
    );
    assert_eq!(synced.error_code, NONE, "{synced:?}");
    assert_eq!(synced.assignment, given);
    assert_eq!(synced.protocol_name.as_deref(), Some("range"));
    assert_eq!(
        heartbeat(&mut wire, group, 1, id),
        ILLEGAL_GENERATION,
        "stale generation"
    );
    assert_eq!(
        heartbeat(&mut wire, group, 3, id),
        ILLEGAL_GENERATION,
        "future generation"
    );
    assert_eq!(
        heartbeat(&mut wire, group, 2, id),
        NONE,
        "the current generation"
    );

    // LeaveGroup of an unknown member is refused for that member only.
    let response = call!(
        wire,
        4,
        LeaveGroup(LeaveGroupRequest {
            group_id: group.into(),
            members: vec![MemberIdentity {
                member_id: "no-such-member".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
    );
    assert_eq!(response.error_code, NONE, "{response:?}");
    assert_eq!(response.members.len(), 1);
    assert_eq!(response.members[0].error_code, UNKNOWN_MEMBER_ID);
    assert_eq!(heartbeat(&mut wire, group, 2, id), NONE);
}

#[test]
fn offset_commit_errors_are_per_partition_and_the_group_still_commits() {
    let broker = group_broker();
    let (topic, group) = ("commits", "commit-errors");
    support::create_topic(&broker, topic, 3, &[]);
    find_coordinator(&broker, group);
    let mut wire = Wire::connect(broker.addr());
    let member = raw_sole_member(&mut wire, group, topic, 3);
    let (generation, id) = (member.generation, member.member_id.as_str());

    let limit = "x".repeat(4096);
    let over = "y".repeat(4097);
    let answered = commit(
        &mut wire,
        group,
        generation,
        id,
        &[
            (
                topic,
                vec![
                    (0, 5, Some("ok".into())),
                    (1, 6, Some(over.clone())),
                    (2, 7, Some(limit.clone())),
                    (3, 1, None),
                ],
            ),
            ("no-such-topic", vec![(0, 1, None)]),
        ],
    );
    assert_eq!(
        answered,
        vec![
            (topic.to_string(), 0, NONE),
            (topic.to_string(), 1, OFFSET_METADATA_TOO_LARGE),
            (topic.to_string(), 2, NONE),
            (topic.to_string(), 3, UNKNOWN_TOPIC_OR_PARTITION),
            ("no-such-topic".to_string(), 0, UNKNOWN_TOPIC_OR_PARTITION),
        ]
    );
    let fetched = committed_in(&fetch(&mut wire, group, Some((topic, &[0, 1, 2]))), topic);
    assert_eq!(
        fetched,
        BTreeMap::from([
            (0, (5, "ok".to_string())),
            (1, (-1, String::new())),
            (2, (7, limit.clone())),
        ])
    );

    // The member checks cover every partition of the request.
    let answered = commit(
        &mut wire,
        group,
        generation,
        "no-such-member",
        &[(topic, vec![(0, 9, None), (1, 9, None)])],
    );
    assert_eq!(
        answered,
        vec![
            (topic.to_string(), 0, UNKNOWN_MEMBER_ID),
            (topic.to_string(), 1, UNKNOWN_MEMBER_ID)
        ]
    );
    let answered = commit(
        &mut wire,
        group,
        generation + 1,
        id,
        &[(topic, vec![(0, 9, None)])],
    );
    assert_eq!(answered, vec![(topic.to_string(), 0, ILLEGAL_GENERATION)]);
    // A commit without a member (an admin's) is refused while the group has members.
    let answered = commit(&mut wire, group, -1, "", &[(topic, vec![(0, 9, None)])]);
    assert_eq!(answered, vec![(topic.to_string(), 0, UNKNOWN_MEMBER_ID)]);

    // None of those changed anything, and a valid commit still works.
    let fetched = committed_in(&fetch(&mut wire, group, Some((topic, &[0]))), topic);
    assert_eq!(fetched, BTreeMap::from([(0, (5, "ok".to_string()))]));
    let answered = commit(
        &mut wire,
        group,
        generation,
        id,
        &[(topic, vec![(0, 8, Some("again".into())), (1, 2, None)])],
    );
    assert_eq!(
        answered,
        vec![(topic.to_string(), 0, NONE), (topic.to_string(), 1, NONE)]
    );
    let fetched = committed_in(&fetch(&mut wire, group, Some((topic, &[0, 1, 2]))), topic);
    assert_eq!(
        fetched,
        BTreeMap::from([
            (0, (8, "again".to_string())),
            (1, (2, String::new())),
            (2, (7, limit)),
        ])
    );
    assert_eq!(heartbeat(&mut wire, group, generation, id), NONE);
}

#[test]
fn delete_groups_refuses_groups_with_members_and_unknown_groups() {
    let broker = group_broker();
    let topic = "deletes";
    support::create_topic(&broker, topic, 3, &[]);
    find_coordinator(&broker, "busy");
    let mut wire = Wire::connect(broker.addr());
    let busy = raw_sole_member(&mut wire, "busy", topic, 3);
    // The busy group commits, so that it keeps its offsets (and stays Empty, not Dead) once
    // its member has left: an empty group without offsets may be removed at any moment.
    let answered = commit(
        &mut wire,
        "busy",
        busy.generation,
        &busy.member_id,
        &[(topic, vec![(1, 4, None)])],
    );
    assert_eq!(answered, vec![(topic.to_string(), 1, NONE)]);
    // A group that only has offsets, committed without a member.
    let answered = commit(&mut wire, "idle", -1, "", &[(topic, vec![(0, 3, None)])]);
    assert_eq!(answered, vec![(topic.to_string(), 0, NONE)]);
    assert_eq!(
        committed_in(&fetch(&mut wire, "idle", Some((topic, &[0]))), topic)[&0].0,
        3
    );

    let results = delete_groups(&mut wire, &["busy", "never-existed", "idle"]);
    assert_eq!(
        results,
        BTreeMap::from([
            ("busy".to_string(), NON_EMPTY_GROUP),
            ("never-existed".to_string(), GROUP_ID_NOT_FOUND),
            ("idle".to_string(), NONE),
        ])
    );
    // The deleted group is dead and its offsets are gone; the busy one carries on.
    let idle = describe(&mut wire, "idle");
    assert_eq!(idle.group_state, "Dead");
    assert!(idle.members.is_empty());
    assert_eq!(
        committed_in(&fetch(&mut wire, "idle", Some((topic, &[0]))), topic)[&0].0,
        -1
    );
    assert_eq!(
        heartbeat(&mut wire, "busy", busy.generation, &busy.member_id),
        NONE
    );
    assert_eq!(describe(&mut wire, "busy").group_state, "Stable");

    // Once its member has left, the busy group can be deleted too, once.
    let response = call!(
        wire,
        3,
        LeaveGroup(LeaveGroupRequest {
            group_id: busy.group.clone(),
            members: vec![MemberIdentity {
                member_id: busy.member_id.clone(),
                ..Default::default()
            }],
            ..Default::default()
        })
    );
    assert_eq!(response.error_code, NONE, "{response:?}");
    assert_eq!(response.members.len(), 1);
    assert_eq!(response.members[0].member_id, busy.member_id);
    assert_eq!(response.members[0].error_code, NONE);
    assert_eq!(describe(&mut wire, "busy").group_state, "Empty");
    assert_eq!(
        delete_groups(&mut wire, &["busy"]),
        BTreeMap::from([("busy".to_string(), NONE)])
    );
    assert_eq!(
        delete_groups(&mut wire, &["busy"]),
        BTreeMap::from([("busy".to_string(), GROUP_ID_NOT_FOUND)])
    );
    assert_eq!(
        committed_in(&fetch(&mut wire, "busy", Some((topic, &[1]))), topic)[&1].0,
        -1,
        "the deleted group's offsets are gone"
    );
    let (error_code, listed) = list_groups(&mut wire, &[]);
    assert_eq!(error_code, NONE);
    assert!(
        listed
            .iter()
            .all(|g| g.group_id != "busy" && g.group_id != "idle"),
        "{listed:?}"
    );
    // A group of the same name starts afresh.
    let again = raw_sole_member(&mut wire, "busy", topic, 3);
    assert_eq!(again.generation, 1);
}

#[test]
fn every_supported_version_of_the_group_apis_is_served() {
    let broker = group_broker();
    let topic = "versions";
    support::create_topic(&broker, topic, 3, &[]);
    find_coordinator(&broker, "versions");
    let mut wire = Wire::connect(broker.addr());
    let given = assignment(topic, &[0, 1, 2]);

    // A group per JoinGroup version, each member syncing, heartbeating and described at the
    // highest version of those APIs that is not above it.
    let mut members = Vec::new();
    for version in 0..=9i16 {
        let group = format!("versions-v{version}");
        let mut member_id = String::new();
        if version >= 4 {
            let first = join(&mut wire, version, join_request(&group, "", 10_000, topic));
            assert_eq!(
                first.error_code, MEMBER_ID_REQUIRED,
                "JoinGroup v{version}: {first:?}"
            );
            member_id = first.member_id;
        }
        let joined = join(
            &mut wire,
            version,
            join_request(&group, &member_id, 10_000, topic),
        );
        assert_eq!(joined.error_code, NONE, "JoinGroup v{version}: {joined:?}");
        assert_eq!(joined.generation_id, 1, "JoinGroup v{version}");
        assert_eq!(joined.leader, joined.member_id, "JoinGroup v{version}");
        assert_eq!(
            joined.protocol_name.as_deref(),
            Some("range"),
            "JoinGroup v{version}"
        );
        assert_eq!(joined.members.len(), 1, "JoinGroup v{version}");
        let id = joined.member_id;
        let (sync_version, heartbeat_version) = (version.min(5), version.min(4));
        let synced = sync(
            &mut wire,
            sync_version,
            &group,
            1,
            &id,
            vec![(id.clone(), given.clone())],
        );
        assert_eq!(
            synced.error_code, NONE,
            "SyncGroup v{sync_version}: {synced:?}"
        );
        assert_eq!(synced.assignment, given, "SyncGroup v{sync_version}");
        let beat = heartbeat_at(&mut wire, heartbeat_version, &group, 1, &id);
        assert_eq!(beat, NONE, "Heartbeat v{heartbeat_version}");
        let described = describe_at(&mut wire, sync_version, &group);
        assert_eq!(
            described.group_state, "Stable",
            "DescribeGroups v{sync_version}"
        );
        assert_eq!(
            described.protocol_data, "range",
            "DescribeGroups v{sync_version}"
        );
        assert_eq!(described.members.len(), 1, "DescribeGroups v{sync_version}");
        assert_eq!(described.members[0].member_id, id);
        assert_eq!(described.members[0].member_assignment, given);
        members.push((group, id, sync_version));
    }
    for version in 0..=5 {
        let (error_code, listed) = list_groups_at(&mut wire, version, &[]);
        assert_eq!(error_code, NONE, "ListGroups v{version}");
        for (group, _, _) in &members {
            let entry = listed.iter().find(|g| &g.group_id == group);
            let entry = entry.unwrap_or_else(|| panic!("ListGroups v{version}: no {group}"));
            assert_eq!(entry.protocol_type, "consumer", "ListGroups v{version}");
        }
    }
    for (group, member_id, version) in &members {
        let request = if *version < 3 {
            LeaveGroupRequest {
                group_id: group.clone(),
                member_id: member_id.clone(),
                ..Default::default()
            }
        } else {
            LeaveGroupRequest {
                group_id: group.clone(),
                members: vec![MemberIdentity {
                    member_id: member_id.clone(),
                    ..Default::default()
                }],
                ..Default::default()
            }
        };
        let response = call!(wire, *version, LeaveGroup(request));
        assert_eq!(
            response.error_code, NONE,
            "LeaveGroup v{version}: {response:?}"
        );
        if *version >= 3 {
            assert_eq!(response.members.len(), 1, "LeaveGroup v{version}");
            assert_eq!(
                response.members[0].error_code, NONE,
                "LeaveGroup v{version}"
            );
        }
    }

    // Commits without a member at every OffsetCommit version, each read back at every
    // OffsetFetch version.
    let group = "versions-offsets";
    for version in 0..=8i16 {
        let offset = 100 + i64::from(version);
        let metadata = format!("committed at v{version}");
        let partitions = vec![(0, offset, Some(metadata.clone()))];
        let answered = commit_at(&mut wire, version, group, -1, "", &[(topic, partitions)]);
        assert_eq!(
            answered,
            vec![(topic.to_string(), 0, NONE)],
            "OffsetCommit v{version}"
        );
        for fetch_version in 0..=7i16 {
            let response = call!(
                wire,
                fetch_version,
                OffsetFetch(OffsetFetchRequest {
                    group_id: group.into(),
                    topics: Some(vec![OffsetFetchRequestTopic {
                        name: topic.into(),
                        partition_indexes: vec![0],
                    }]),
                    ..Default::default()
                })
            );
            let what = format!("OffsetFetch v{fetch_version} after OffsetCommit v{version}");
            assert_eq!(response.error_code, NONE, "{what}");
            assert_eq!(response.topics.len(), 1, "{what}: {response:?}");
            let p = &response.topics[0].partitions;
            assert_eq!(p.len(), 1, "{what}: {response:?}");
            assert_eq!(p[0].error_code, NONE, "{what}");
            assert_eq!(p[0].committed_offset, offset, "{what}");
            assert_eq!(p[0].metadata.as_deref(), Some(metadata.as_str()), "{what}");
        }
        let fetched = committed_in(&fetch(&mut wire, group, Some((topic, &[0]))), topic);
        assert_eq!(
            fetched[&0],
            (offset, metadata),
            "OffsetFetch v8 after v{version}"
        );
    }

    // DeleteGroups at each version.
    for version in 0..=2i16 {
        let group = format!("versions-delete-v{version}");
        let answered = commit(&mut wire, &group, -1, "", &[(topic, vec![(0, 1, None)])]);
        assert_eq!(answered, vec![(topic.to_string(), 0, NONE)]);
        let results = delete_groups_at(&mut wire, version, &[group.as_str()]);
        assert_eq!(
            results,
            BTreeMap::from([(group, NONE)]),
            "DeleteGroups v{version}"
        );
    }
}

#[test]
fn a_rebalance_refuses_commits_until_synced_and_drops_members_that_do_not_rejoin() {
    let broker = group_broker();
    let (topic, group) = ("rebalances", "rebalance-group");
    support::create_topic(&broker, topic, 2, &[]);
    find_coordinator(&broker, group);
    let mut a_wire = Wire::connect(broker.addr());
    let a = raw_sole_member(&mut a_wire, group, topic, 2);
    let a_id = a.member_id.clone();

    let (mut b_wire, b_id) = second_member_joins(&broker, group, topic, &mut a_wire, &a_id);

    // Until the leader has synced, commits of the new generation are refused, heartbeats not.
    let answered = commit(&mut b_wire, group, 2, &b_id, &[(topic, vec![(1, 3, None)])]);
    assert_eq!(
        answered,
        vec![(topic.to_string(), 1, REBALANCE_IN_PROGRESS)]
    );
    assert_eq!(heartbeat(&mut b_wire, group, 2, &b_id), NONE);
    assert_eq!(
        describe(&mut b_wire, group).group_state,
        "CompletingRebalance"
    );
    let assignments = vec![
        (a_id.clone(), assignment(topic, &[0])),
        (b_id.clone(), assignment(topic, &[1])),
    ];
    let synced = sync(&mut a_wire, 5, group, 2, &a_id, assignments);
    assert_eq!(synced.error_code, NONE, "{synced:?}");
    assert_eq!(synced.assignment, assignment(topic, &[0]));
    let synced = sync(&mut b_wire, 5, group, 2, &b_id, Vec::new());
    assert_eq!(synced.error_code, NONE, "{synced:?}");
    assert_eq!(synced.assignment, assignment(topic, &[1]));
    let answered = commit(&mut b_wire, group, 2, &b_id, &[(topic, vec![(1, 3, None)])]);
    assert_eq!(answered, vec![(topic.to_string(), 1, NONE)]);

    // The leader rejoins and B does not: B keeps heartbeating (and is told to rejoin), and
    // may still commit while the group prepares the rebalance, but once the rebalance
    // timeout is over the rebalance completes without it.
    let a_request = join_with_rebalance_timeout(group, &a_id, topic, 1500);
    let ((_, a_joined), answered) = alongside(
        move || {
            let joined = join(&mut a_wire, 5, a_request);
            (a_wire, joined)
        },
        || {
            heartbeat_until(&mut b_wire, group, 2, &b_id, REBALANCE_IN_PROGRESS);
            commit(&mut b_wire, group, 2, &b_id, &[(topic, vec![(1, 4, None)])])
        },
    );
    assert_eq!(
        answered,
        vec![(topic.to_string(), 1, NONE)],
        "a commit of the current generation while preparing a rebalance"
    );
    assert_eq!(a_joined.error_code, NONE, "{a_joined:?}");
    assert_eq!(a_joined.generation_id, 3);
    let ids: Vec<&str> = a_joined
        .members
        .iter()
        .map(|m| m.member_id.as_str())
        .collect();
    assert_eq!(ids, [a_id.as_str()], "B was dropped");
    assert_eq!(heartbeat(&mut b_wire, group, 2, &b_id), UNKNOWN_MEMBER_ID);
    // Its last commit stays.
    let fetched = committed_in(&fetch(&mut b_wire, group, Some((topic, &[1]))), topic);
    assert_eq!(fetched[&1].0, 4);
}

#[test]
fn a_full_group_refuses_another_member() {
    let broker = TestBroker::start_with(|c| {
        c.group.initial_rebalance_delay_ms = 0;
        c.group.group_max_size = 1;
        c.offsets_topic_num_partitions = 1;
    });
    let (topic, group) = ("full", "full-group");
    support::create_topic(&broker, topic, 1, &[]);
    find_coordinator(&broker, group);
    let mut wire = Wire::connect(broker.addr());
    let member = raw_sole_member(&mut wire, group, topic, 1);
    let response = join(&mut wire, 5, join_request(group, "", 10_000, topic));
    assert_eq!(response.error_code, GROUP_MAX_SIZE_REACHED, "{response:?}");
    assert_eq!(
        heartbeat(&mut wire, group, member.generation, &member.member_id),
        NONE
    );
    assert_eq!(describe(&mut wire, group).members.len(), 1);
}

#[test]
fn static_members_leave_by_instance_id() {
    let broker = group_broker();
    let (topic, group) = ("statics", "static-leave");
    support::create_topic(&broker, topic, 1, &[]);
    find_coordinator(&broker, group);
    let mut wire = Wire::connect(broker.addr());
    // A static member joins without the KIP-394 handshake.
    let mut request = join_request(group, "", 10_000, topic);
    request.group_instance_id = Some("instance-1".into());
    let joined = join(&mut wire, 5, request);
    assert_eq!(joined.error_code, NONE, "{joined:?}");
    let id = joined.member_id.clone();
    let synced = sync(
        &mut wire,
        5,
        group,
        1,
        &id,
        vec![(id.clone(), assignment(topic, &[0]))],
    );
    assert_eq!(synced.error_code, NONE, "{synced:?}");
    let answered = commit(&mut wire, group, 1, &id, &[(topic, vec![(0, 2, None)])]);
    assert_eq!(answered, vec![(topic.to_string(), 0, NONE)]);

    let leave = |member_id: &str, instance: &str| LeaveGroupRequest {
        group_id: group.into(),
        members: vec![MemberIdentity {
            member_id: member_id.into(),
            group_instance_id: Some(instance.into()),
            reason: None,
        }],
        ..Default::default()
    };
    // The instance id with another member id is fenced; an unknown instance id is unknown.
    let response = call!(wire, 4, LeaveGroup(leave("someone-else", "instance-1")));
    assert_eq!(response.error_code, NONE, "{response:?}");
    assert_eq!(response.members[0].error_code, FENCED_INSTANCE_ID);
    let response = call!(wire, 4, LeaveGroup(leave("", "instance-2")));
    assert_eq!(
        response.members[0].error_code, UNKNOWN_MEMBER_ID,
        "{response:?}"
    );
    assert_eq!(describe(&mut wire, group).members.len(), 1);
    // By instance id alone, as an admin removes it.
    let response = call!(wire, 4, LeaveGroup(leave("", "instance-1")));
    assert_eq!(response.error_code, NONE, "{response:?}");
    assert_eq!(response.members.len(), 1);
    assert_eq!(response.members[0].member_id, "");
    assert_eq!(
        response.members[0].group_instance_id.as_deref(),
        Some("instance-1")
    );
    assert_eq!(response.members[0].error_code, NONE);
    let described = describe(&mut wire, group);
    assert_eq!(described.group_state, "Empty");
    assert!(described.members.is_empty());
    assert_eq!(heartbeat(&mut wire, group, 1, &id), UNKNOWN_MEMBER_ID);
}

#[test]
fn offset_delete_keeps_the_offsets_of_subscribed_topics() {
    let broker = group_broker();
    let group = "offset-delete";
    support::create_topic(&broker, "used", 2, &[]);
    support::create_topic(&broker, "unused", 1, &[]);
    find_coordinator(&broker, group);
    let mut wire = Wire::connect(broker.addr());
    // The member subscribes to "used" only, and commits to both topics.
    let member = raw_sole_member(&mut wire, group, "used", 2);
    let (generation, id) = (member.generation, member.member_id.as_str());
    let commits = [
        ("used", vec![(0, 4, None), (1, 5, None)]),
        ("unused", vec![(0, 6, None)]),
    ];
    let answered = commit(&mut wire, group, generation, id, &commits);
    assert!(
        answered.iter().all(|(_, _, code)| *code == NONE),
        "{answered:?}"
    );

    let (error_code, partitions) = offset_delete(
        &mut wire,
        group,
        &[("used", &[0]), ("unused", &[0]), ("no-such-topic", &[0])],
    );
    assert_eq!(error_code, NONE);
    assert_eq!(
        partitions,
        vec![
            ("no-such-topic".to_string(), 0, UNKNOWN_TOPIC_OR_PARTITION),
            ("unused".to_string(), 0, NONE),
            ("used".to_string(), 0, GROUP_SUBSCRIBED_TO_TOPIC),
        ]
    );
    let used = committed_in(&fetch(&mut wire, group, Some(("used", &[0, 1]))), "used");
    assert_eq!(
        (used[&0].0, used[&1].0),
        (4, 5),
        "the subscribed topic keeps its offsets"
    );
    let unused = committed_in(&fetch(&mut wire, group, Some(("unused", &[0]))), "unused");
    assert_eq!(unused[&0].0, -1, "the other topic's offset is gone");
    let (error_code, _) = offset_delete(&mut wire, "no-such-group", &[("used", &[0])]);
    assert_eq!(error_code, GROUP_ID_NOT_FOUND);
    assert_eq!(heartbeat(&mut wire, group, generation, id), NONE);

    // Once the group is empty, any offset may go.
    let response = call!(
        wire,
        3,
        LeaveGroup(LeaveGroupRequest {
            group_id: group.into(),
            members: vec![MemberIdentity {
                member_id: id.into(),
                ..Default::default()
            }],
            ..Default::default()
        })
    );
    assert_eq!(response.error_code, NONE, "{response:?}");
    let (error_code, partitions) = offset_delete(&mut wire, group, &[("used", &[0])]);
    assert_eq!(error_code, NONE);
    assert_eq!(partitions, vec![("used".to_string(), 0, NONE)]);
    let used = committed_in(&fetch(&mut wire, group, Some(("used", &[0, 1]))), "used");
    assert_eq!((used[&0].0, used[&1].0), (-1, 5));
}

#[test]
fn a_member_that_never_syncs_is_removed_after_the_rebalance_timeout() {
    let broker = group_broker();
    let (topic, group) = ("syncs", "sync-timeout");
    support::create_topic(&broker, topic, 2, &[]);
    find_coordinator(&broker, group);
    let mut a_wire = Wire::connect(broker.addr());
    let a = raw_sole_member(&mut a_wire, group, topic, 2);
    let a_id = a.member_id.clone();
    let (mut b_wire, b_id) = second_member_joins(&broker, group, topic, &mut a_wire, &a_id);
    let assignments = vec![
        (a_id.clone(), assignment(topic, &[0])),
        (b_id.clone(), assignment(topic, &[1])),
    ];
    let synced = sync(&mut a_wire, 5, group, 2, &a_id, assignments);
    assert_eq!(synced.error_code, NONE, "{synced:?}");

    // B heartbeats, so its session never ends, but never sends SyncGroup: once the
    // rebalance timeout is over it is removed and the group rebalances.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let b_answer = heartbeat(&mut b_wire, group, 2, &b_id);
        assert!(
            matches!(b_answer, NONE | UNKNOWN_MEMBER_ID),
            "B's heartbeat: {b_answer}"
        );
        match heartbeat(&mut a_wire, group, 2, &a_id) {
            REBALANCE_IN_PROGRESS => break,
            NONE => {}
            other => panic!("A's heartbeat: {other}"),
        }
        assert!(Instant::now() < deadline, "B was never removed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(heartbeat(&mut b_wire, group, 2, &b_id), UNKNOWN_MEMBER_ID);
    let rejoined = join(&mut a_wire, 5, join_request(group, &a_id, 10_000, topic));
    assert_eq!(rejoined.error_code, NONE, "{rejoined:?}");
    assert_eq!(rejoined.generation_id, 3);
    let ids: Vec<&str> = rejoined
        .members
        .iter()
        .map(|m| m.member_id.as_str())
        .collect();
    assert_eq!(ids, [a_id.as_str()]);
}

#[test]
fn offsets_of_a_group_without_members_expire_and_a_subscribed_groups_stay() {
    let broker = TestBroker::start_with(|c| {
        c.group.initial_rebalance_delay_ms = 0;
        c.group.offsets_retention_ms = 1000;
        c.offsets_topic_num_partitions = 1;
    });
    let topic = "retained";
    support::create_topic(&broker, topic, 1, &[]);
    find_coordinator(&broker, "kept");
    let mut wire = Wire::connect(broker.addr());
    // "kept" has a member subscribed to the topic; "ephemeral" only stores an offset.
    let member = raw_sole_member(&mut wire, "kept", topic, 1);
    let (generation, id) = (member.generation, member.member_id.as_str());
    let answered = commit(
        &mut wire,
        "kept",
        generation,
        id,
        &[(topic, vec![(0, 2, None)])],
    );
    assert_eq!(answered, vec![(topic.to_string(), 0, NONE)]);
    let answered = commit(
        &mut wire,
        "ephemeral",
        -1,
        "",
        &[(topic, vec![(0, 3, None)])],
    );
    assert_eq!(answered, vec![(topic.to_string(), 0, NONE)]);

    // Wait, heartbeating the member, for the unused offset to expire.
    let deadline = Instant::now() + DEADLINE;
    loop {
        assert_eq!(heartbeat(&mut wire, "kept", generation, id), NONE);
        let fetched = committed_in(&fetch(&mut wire, "ephemeral", Some((topic, &[0]))), topic);
        if fetched[&0].0 == -1 {
            break;
        }
        assert_eq!(fetched[&0].0, 3);
        assert!(Instant::now() < deadline, "the offset never expired");
        std::thread::sleep(Duration::from_millis(50));
    }
    let kept = committed_in(&fetch(&mut wire, "kept", Some((topic, &[0]))), topic);
    assert_eq!(kept[&0].0, 2, "the offset of a subscribed topic is kept");
    let (error_code, listed) = list_groups(&mut wire, &[]);
    assert_eq!(error_code, NONE);
    let names: Vec<&str> = listed.iter().map(|g| g.group_id.as_str()).collect();
    assert_eq!(
        names,
        ["kept"],
        "the group without offsets or members is gone"
    );
}
