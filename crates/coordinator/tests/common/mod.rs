//! Builders for events and expected effects shared by the test binaries.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use streambus_coordinator::*;

/// Session timeout the test members ask for.
pub const SESSION: u32 = 10_000;
/// Rebalance timeout the test members ask for.
pub const REBALANCE: u32 = 30_000;

/// Kafka's defaults except the initial delay, so a lone joiner completes at once.
pub fn no_delay() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    }
}

/// A v0 ConsumerProtocolSubscription for `topics`.
pub fn subscription(topics: &[&str]) -> Vec<u8> {
    let mut out = vec![0, 0];
    out.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for topic in topics {
        out.extend_from_slice(&(topic.len() as i16).to_be_bytes());
        out.extend_from_slice(topic.as_bytes());
    }
    out.extend_from_slice(&(-1i32).to_be_bytes());
    out
}

/// A JoinGroup from client `client` for the `range` protocol subscribed to topic `t`.
pub fn join(request_id: RequestId, member_id: &str, client: &str) -> Join {
    Join {
        request_id,
        member_id: member_id.to_string(),
        group_instance_id: None,
        client_id: client.to_string(),
        client_host: "/127.0.0.1".to_string(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        protocol_type: "consumer".to_string(),
        protocols: vec![("range".to_string(), subscription(&["t"]))],
        require_known_member_id: false,
    }
}

/// A static JoinGroup with `group.instance.id` `instance`.
pub fn static_join(request_id: RequestId, member_id: &str, client: &str, instance: &str) -> Join {
    Join {
        group_instance_id: Some(instance.to_string()),
        ..join(request_id, member_id, client)
    }
}

pub fn sync(request_id: RequestId, member_id: &str, generation: i32) -> Sync {
    Sync {
        request_id,
        member_id: member_id.to_string(),
        group_instance_id: None,
        generation,
        protocol_type: Some("consumer".to_string()),
        protocol_name: Some("range".to_string()),
        assignments: Vec::new(),
    }
}

pub fn heartbeat(request_id: RequestId, member_id: &str, generation: i32) -> Event {
    Event::Heartbeat(Heartbeat {
        request_id,
        member_id: member_id.to_string(),
        group_instance_id: None,
        generation,
    })
}

pub fn leave(request_id: RequestId, member_ids: &[&str]) -> Event {
    Event::Leave(Leave {
        request_id,
        members: member_ids
            .iter()
            .map(|id| LeavingMember {
                member_id: id.to_string(),
                group_instance_id: None,
            })
            .collect(),
    })
}

pub fn commit(request_id: RequestId, member_id: &str, generation: i32, offset: i64) -> Event {
    Event::CommitOffsets(CommitOffsets {
        request_id,
        member_id: member_id.to_string(),
        group_instance_id: None,
        generation,
        offsets: vec![OffsetToCommit {
            partition: TopicPartition::new("t", 0),
            offset,
            leader_epoch: 3,
            metadata: Some("meta".to_string()),
        }],
    })
}

pub fn respond(request_id: RequestId, response: Response) -> Effect {
    Effect::Respond {
        request_id,
        response,
    }
}

pub fn timer(deadline_ms: u64) -> Effect {
    Effect::ScheduleTimer { deadline_ms }
}

/// A successful JoinGroup response.
pub fn joined(
    request_id: RequestId,
    member_id: &str,
    generation: i32,
    leader: &str,
    members: &[&str],
) -> Effect {
    respond(
        request_id,
        Response::Join(JoinResponse {
            error_code: errors::NONE,
            generation,
            protocol_type: Some("consumer".to_string()),
            protocol_name: Some("range".to_string()),
            leader: leader.to_string(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: members
                .iter()
                .map(|id| JoinedMember {
                    member_id: id.to_string(),
                    group_instance_id: None,
                    metadata: subscription(&["t"]),
                })
                .collect(),
        }),
    )
}

pub fn join_error(request_id: RequestId, member_id: &str, error_code: i16) -> Effect {
    respond(
        request_id,
        Response::Join(JoinResponse::error(error_code, member_id)),
    )
}

pub fn synced(request_id: RequestId, assignment: &[u8]) -> Effect {
    respond(
        request_id,
        Response::Sync(SyncResponse {
            error_code: errors::NONE,
            protocol_type: Some("consumer".to_string()),
            protocol_name: Some("range".to_string()),
            assignment: assignment.to_vec(),
        }),
    )
}

pub fn sync_error(request_id: RequestId, error_code: i16) -> Effect {
    respond(request_id, Response::Sync(SyncResponse::error(error_code)))
}

pub fn heartbeat_result(request_id: RequestId, error_code: i16) -> Effect {
    respond(
        request_id,
        Response::Heartbeat(HeartbeatResponse { error_code }),
    )
}

pub fn commit_result(request_id: RequestId, error_code: i16) -> Effect {
    respond(
        request_id,
        Response::Commit(CommitResponse {
            partitions: vec![PartitionError {
                partition: TopicPartition::new("t", 0),
                error_code,
            }],
        }),
    )
}

/// Member ids as the group generates them: `client-<now hex>-<sequence>`.
pub const A: &str = "a-0-0";
pub const B: &str = "b-3e8-1";

/// Two members (A at 0 ms, B at 1000 ms; A optionally static with instance `a-instance`) go
/// through the first rebalance with the default 3 s initial delay; A leads and assigns
/// `a`/`b`. Returns the Stable group at 6200 ms, generation 1; sessions end at 16200 (A) and
/// 16100 (B).
pub fn stable_pair(a_static: bool) -> Group {
    let mut group = Group::new("g", GroupConfig::default(), 0);
    let first = if a_static {
        static_join(1, "", "a", "a-instance")
    } else {
        join(1, "", "a")
    };
    assert_eq!(group.handle(Event::Join(first), 0), vec![timer(3000)]);
    assert_eq!(group.handle(Event::Join(join(2, "", "b")), 1000), vec![]);
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    // B joined during the delay, so it is extended once more.
    assert_eq!(group.handle(Event::Tick, 3000), vec![timer(6000)]);
    let effects = group.handle(Event::Tick, 6000);
    let mut leader_join = joined(1, A, 1, A, &[A, B]);
    if a_static
        && let Effect::Respond {
            response: Response::Join(r),
            ..
        } = &mut leader_join
    {
        r.members[0].group_instance_id = Some("a-instance".to_string());
    }
    assert_eq!(
        effects,
        vec![leader_join, joined(2, B, 1, A, &[]), timer(16000)]
    );
    assert_eq!(group.state(), GroupState::CompletingRebalance);
    assert_eq!(group.handle(Event::Sync(sync(3, B, 1)), 6100), vec![]);
    let mut leader_sync = sync(4, A, 1);
    leader_sync.assignments = vec![
        (A.to_string(), b"a".to_vec()),
        (B.to_string(), b"b".to_vec()),
    ];
    if a_static {
        leader_sync.group_instance_id = Some("a-instance".to_string());
    }
    let effects = group.handle(Event::Sync(leader_sync), 6200);
    let snapshot = group.snapshot();
    assert_eq!(
        effects,
        vec![
            Effect::Persist(Record::Group(snapshot.clone())),
            synced(4, b"a"),
            synced(3, b"b"),
            timer(16100),
        ]
    );
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(snapshot.generation, 1);
    assert_eq!(snapshot.leader.as_deref(), Some(A));
    assert_eq!(snapshot.members.len(), 2);
    assert_eq!(snapshot.members[1].assignment, b"b".to_vec());
    group
}
