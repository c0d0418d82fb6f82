//! Consumer group helpers for the tests: librdkafka members subscribed in a group with a
//! record of their rebalances, a ledger of what they consumed, a pump that polls them in turn
//! under a deadline (committing synchronously), and typed raw group requests (JoinGroup,
//! SyncGroup, Heartbeat, OffsetCommit, OffsetFetch, DescribeGroups, ListGroups,
//! DeleteGroups) with the consumer protocol's subscription and assignment encodings.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rdkafka::Message;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use streambus_protocol::ErrorCode;
use streambus_protocol::messages::delete_groups_request::DeleteGroupsRequest;
use streambus_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use streambus_protocol::messages::describe_groups_response::DescribedGroup;
use streambus_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use streambus_protocol::messages::heartbeat_request::HeartbeatRequest;
use streambus_protocol::messages::join_group_request::{
    JoinGroupRequest, JoinGroupRequestProtocol,
};
use streambus_protocol::messages::join_group_response::JoinGroupResponse;
use streambus_protocol::messages::list_groups_request::ListGroupsRequest;
use streambus_protocol::messages::list_groups_response::ListedGroup;
use streambus_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use streambus_protocol::messages::offset_delete_request::{
    OffsetDeleteRequest, OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use streambus_protocol::messages::offset_fetch_request::{
    OffsetFetchRequest, OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use streambus_protocol::messages::offset_fetch_response::OffsetFetchResponseGroup;
use streambus_protocol::messages::sync_group_request::{
    SyncGroupRequest, SyncGroupRequestAssignment,
};
use streambus_protocol::messages::sync_group_response::SyncGroupResponse;
use streambus_testkit::TestBroker;

use super::{TestRecord, Wire};

/// How long any wait for the group to reach a state may take.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// Partitions of the topics the librdkafka tests consume.
pub const PARTITIONS: i32 = 6;

pub const NONE: i16 = ErrorCode::None as i16;
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = ErrorCode::UnknownTopicOrPartition as i16;
pub const OFFSET_METADATA_TOO_LARGE: i16 = ErrorCode::OffsetMetadataTooLarge as i16;
pub const COORDINATOR_NOT_AVAILABLE: i16 = ErrorCode::CoordinatorNotAvailable as i16;
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = ErrorCode::CoordinatorLoadInProgress as i16;
pub const ILLEGAL_GENERATION: i16 = ErrorCode::IllegalGeneration as i16;
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = ErrorCode::InconsistentGroupProtocol as i16;
pub const INVALID_GROUP_ID: i16 = ErrorCode::InvalidGroupId as i16;
pub const UNKNOWN_MEMBER_ID: i16 = ErrorCode::UnknownMemberId as i16;
pub const INVALID_SESSION_TIMEOUT: i16 = ErrorCode::InvalidSessionTimeout as i16;
pub const REBALANCE_IN_PROGRESS: i16 = ErrorCode::RebalanceInProgress as i16;
pub const NON_EMPTY_GROUP: i16 = ErrorCode::NonEmptyGroup as i16;
pub const GROUP_ID_NOT_FOUND: i16 = ErrorCode::GroupIdNotFound as i16;
pub const MEMBER_ID_REQUIRED: i16 = ErrorCode::MemberIdRequired as i16;
pub const INVALID_REQUEST: i16 = ErrorCode::InvalidRequest as i16;
pub const GROUP_MAX_SIZE_REACHED: i16 = ErrorCode::GroupMaxSizeReached as i16;
pub const FENCED_INSTANCE_ID: i16 = ErrorCode::FencedInstanceId as i16;
pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = ErrorCode::GroupSubscribedToTopic as i16;

// ---------------------------------------------------------------------------------------
// librdkafka group members

/// What the rebalance callbacks of one consumer saw, in order.
#[derive(Default)]
pub struct Rebalances {
    /// The partitions of each assignment.
    pub assigned: Mutex<Vec<BTreeSet<i32>>>,
    /// How many times partitions were revoked.
    pub revoked: AtomicUsize,
}

#[derive(Clone, Default)]
pub struct Recording(Arc<Rebalances>);

impl ClientContext for Recording {}

impl ConsumerContext for Recording {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let partitions = tpl.elements().iter().map(|e| e.partition()).collect();
                self.0.assigned.lock().unwrap().push(partitions);
            }
            Rebalance::Revoke(_) => {
                self.0.revoked.fetch_add(1, Ordering::SeqCst);
            }
            Rebalance::Error(e) => panic!("rebalance error: {e}"),
        }
    }
}

/// A librdkafka consumer subscribed to one topic in a group, with eager range assignment,
/// no automatic commits and a short heartbeat interval.
pub struct Member {
    pub name: String,
    pub consumer: BaseConsumer<Recording>,
    pub rebalances: Arc<Rebalances>,
    /// Whether lost connections are expected (the test restarts the broker): librdkafka
    /// reports them through `poll` and reconnects.
    pub expects_restarts: bool,
}

impl Member {
    /// `name` is also its `client.id`, which DescribeGroups reports.
    pub fn join(
        broker: &TestBroker,
        group: &str,
        name: &str,
        topic: &str,
        extra: &[(&str, &str)],
    ) -> Member {
        let mut config = super::config(broker, &[]);
        config
            .set("group.id", group)
            .set("client.id", name)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "range")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "200")
            .set("fetch.wait.max.ms", "100");
        for (key, value) in extra {
            config.set(*key, *value);
        }
        let context = Recording::default();
        let rebalances = Arc::clone(&context.0);
        let consumer: BaseConsumer<Recording> = config.create_with_context(context).unwrap();
        consumer.subscribe(&[topic]).unwrap();
        Member {
            name: name.to_string(),
            consumer,
            rebalances,
            expects_restarts: false,
        }
    }

    /// The same member, for a test that restarts the broker under it.
    pub fn expecting_restarts(mut self) -> Member {
        self.expects_restarts = true;
        self
    }

    /// The partitions assigned right now.
    pub fn assigned(&self) -> BTreeSet<i32> {
        self.consumer
            .assignment()
            .unwrap()
            .elements()
            .iter()
            .map(|e| e.partition())
            .collect()
    }

    /// Every assignment its rebalance callback received, in order.
    pub fn assignments(&self) -> Vec<BTreeSet<i32>> {
        self.rebalances.assigned.lock().unwrap().clone()
    }

    pub fn revocations(&self) -> usize {
        self.rebalances.revoked.load(Ordering::SeqCst)
    }
}

/// One delivery of a record: who consumed it, and its value.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The member's name.
    pub who: String,
    /// The record's value.
    pub value: Vec<u8>,
}

/// Every delivery the members made, by position.
#[derive(Default)]
pub struct Ledger {
    /// (partition, offset) -> who consumed it, with the value, once per delivery.
    pub got: BTreeMap<(i32, i64), Vec<Delivery>>,
}

impl Ledger {
    /// How many distinct positions were delivered.
    pub fn distinct(&self) -> usize {
        self.got.len()
    }

    /// The first offset delivered of `partition` at or after `from`.
    pub fn first_at_or_after(&self, partition: i32, from: i64) -> Option<i64> {
        self.got
            .range((partition, from)..(partition, i64::MAX))
            .next()
            .map(|((_, offset), _)| *offset)
    }
}

/// Polls every member in turn, recording each message and, if `commit`, committing it
/// synchronously before the next poll, until `done` holds; fails after [`DEADLINE`].
pub fn pump(
    members: &[&Member],
    ledger: &mut Ledger,
    commit: bool,
    what: &str,
    mut done: impl FnMut(&Ledger) -> bool,
) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        for member in members {
            // At most 200 messages per turn, so that every member is served.
            for _ in 0..200 {
                let Some(result) = member.consumer.poll(Duration::from_millis(10)) else {
                    break;
                };
                let message = match result {
                    Ok(message) => message,
                    Err(KafkaError::MessageConsumption(
                        RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown,
                    )) if member.expects_restarts => continue,
                    Err(e) => panic!("{}: consume: {e}", member.name),
                };
                ledger
                    .got
                    .entry((message.partition(), message.offset()))
                    .or_default()
                    .push(Delivery {
                        who: member.name.clone(),
                        value: message.payload().unwrap_or_default().to_vec(),
                    });
                if commit {
                    member
                        .consumer
                        .commit_message(&message, CommitMode::Sync)
                        .unwrap_or_else(|e| {
                            panic!(
                                "{}: sync commit of {}/{}: {e}",
                                member.name,
                                message.partition(),
                                message.offset()
                            )
                        });
                }
            }
        }
        if done(ledger) {
            return;
        }
        let assignments: Vec<_> = members
            .iter()
            .map(|m| (m.name.as_str(), m.assigned()))
            .collect();
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {} positions delivered, assignments {assignments:?}",
            ledger.distinct()
        );
    }
}

/// Runs `work` (raw requests that wait on the group) on its own thread while the members
/// are polled, so that they can take part in the rebalance it causes; returns its result.
pub fn while_pumping<T: Send>(
    members: &[&Member],
    ledger: &mut Ledger,
    what: &str,
    work: impl FnOnce() -> T + Send,
) -> T {
    std::thread::scope(|scope| {
        let handle = scope.spawn(work);
        pump(members, ledger, true, what, |_| handle.is_finished());
        handle.join().expect("the raw client did not panic")
    })
}

/// True when the members' assignments are all non-empty, disjoint, and cover all
/// [`PARTITIONS`].
pub fn split_over(members: &[&Member]) -> bool {
    let sets: Vec<BTreeSet<i32>> = members.iter().map(|m| m.assigned()).collect();
    let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
    sets.iter().all(|s| !s.is_empty())
        && sets.iter().map(BTreeSet::len).sum::<usize>() == PARTITIONS as usize
        && union == (0..PARTITIONS).collect()
}

/// The value of record `i` of `partition` in round `tag`: readable and unique, then a
/// tail of every byte value pattern, so any corruption shows.
pub fn value_of(tag: &str, partition: i32, i: usize) -> Vec<u8> {
    let mut value = format!("{tag}/p{partition}/#{i}:").into_bytes();
    value.extend((0..(i * 37 % 300)).map(|j| (j * 13 + i) as u8));
    value
}

/// Produces `per_partition` records to each partition of `topic` and adds them to
/// `expected` by their acknowledged position.
pub fn produce_round(
    broker: &TestBroker,
    topic: &str,
    partitions: i32,
    tag: &str,
    per_partition: usize,
    expected: &mut BTreeMap<(i32, i64), Vec<u8>>,
) {
    let producer = super::producer(broker, &[("linger.ms", "5")]);
    for partition in 0..partitions {
        let values: Vec<Vec<u8>> = (0..per_partition)
            .map(|i| value_of(tag, partition, i))
            .collect();
        let records: Vec<TestRecord> = values
            .iter()
            .enumerate()
            .map(|(i, v)| TestRecord::kv(format!("{tag}-{i}"), v.clone()))
            .collect();
        let delivered = super::produce_ok(&producer, topic, Some(partition), &records);
        for (value, (p, offset)) in values.into_iter().zip(delivered) {
            assert_eq!(p, partition);
            assert!(expected.insert((p, offset), value).is_none());
        }
    }
}

/// Produces a round of four records to each partition of `topic` and polls `members`
/// (committing) until every record produced so far has been delivered.
pub fn consume_round(
    broker: &TestBroker,
    topic: &str,
    members: &[&Member],
    ledger: &mut Ledger,
    expected: &mut BTreeMap<(i32, i64), Vec<u8>>,
    tag: &str,
    what: &str,
) {
    produce_round(broker, topic, PARTITIONS, tag, 4, expected);
    let total = expected.len();
    pump(members, ledger, true, what, |l| l.distinct() == total);
}

/// Pumps `members` until the topic's partitions are split over all of them, then runs a
/// first round tagged `tag`: the ledger and the records expected so far, for the rounds after.
pub fn split_then_first_round(
    broker: &TestBroker,
    topic: &str,
    members: &[&Member],
    tag: &str,
) -> (Ledger, BTreeMap<(i32, i64), Vec<u8>>) {
    let mut ledger = Ledger::default();
    let what = format!("{} members assigned", members.len());
    pump(members, &mut ledger, true, &what, |_| split_over(members));
    let mut expected = BTreeMap::new();
    consume_round(
        broker,
        topic,
        members,
        &mut ledger,
        &mut expected,
        tag,
        "round one",
    );
    (ledger, expected)
}

/// Every expected record was delivered exactly once, byte-exact, and nothing else was.
pub fn assert_exactly_once(ledger: &Ledger, expected: &BTreeMap<(i32, i64), Vec<u8>>) {
    let twice: Vec<_> = ledger
        .got
        .iter()
        .filter(|(_, deliveries)| deliveries.len() != 1)
        .map(|(position, deliveries)| {
            let who: Vec<&str> = deliveries.iter().map(|d| d.who.as_str()).collect();
            (position, who)
        })
        .collect();
    assert!(
        twice.is_empty(),
        "records consumed more than once: {twice:?}"
    );
    for (position, deliveries) in &ledger.got {
        let expected_value = expected
            .get(position)
            .unwrap_or_else(|| panic!("a record never produced at {position:?}"));
        assert!(
            &deliveries[0].value == expected_value,
            "the record at {position:?} is not the one produced"
        );
    }
    let missing: Vec<_> = expected
        .keys()
        .filter(|position| !ledger.got.contains_key(position))
        .collect();
    assert!(missing.is_empty(), "records never consumed: {missing:?}");
}

/// Per partition, one past the last expected offset: what a group that consumed
/// everything has committed.
pub fn ends(expected: &BTreeMap<(i32, i64), Vec<u8>>, partitions: i32) -> BTreeMap<i32, i64> {
    (0..partitions)
        .map(|p| {
            let end = expected
                .range((p, 0)..(p, i64::MAX))
                .next_back()
                .map_or(0, |((_, o), _)| o + 1);
            (p, end)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Raw group requests

/// Calls `$wire` with `Request::$api($request)` at `$version` and unwraps the matching
/// response.
macro_rules! call {
    ($wire:expr, $version:expr, $api:ident($request:expr)) => {
        match $wire.call($version, ::streambus_protocol::Request::$api($request)) {
            ::streambus_protocol::Response::$api(response) => response,
            other => panic!("not a {} response: {other:?}", stringify!($api)),
        }
    };
}
#[allow(unused_imports)] // not every test binary sends group requests
pub(crate) use call;

/// FindCoordinator v3 for `group`, repeated while the coordinator is not available yet (the
/// first lookup creates `__consumer_offsets`) or loading, as clients do; panics unless this
/// broker is named within [`DEADLINE`]. Raw group requests must come after it, as a
/// client's do.
pub fn find_coordinator(broker: &TestBroker, group: &str) {
    let mut wire = Wire::connect(broker.addr());
    let deadline = Instant::now() + DEADLINE;
    loop {
        let response = call!(
            wire,
            3,
            FindCoordinator(FindCoordinatorRequest {
                key: group.into(),
                key_type: 0,
                ..Default::default()
            })
        );
        match response.error_code {
            NONE => {
                assert_eq!(response.node_id, broker.broker().config().node_id);
                assert_eq!(response.host, broker.addr().ip().to_string());
                assert_eq!(response.port, i32::from(broker.addr().port()));
                return;
            }
            COORDINATOR_NOT_AVAILABLE | COORDINATOR_LOAD_IN_PROGRESS => {
                assert!(
                    Instant::now() < deadline,
                    "no coordinator for {group}: {response:?}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => panic!("FindCoordinator for {group}: {response:?}"),
        }
    }
}

/// A `ConsumerProtocolSubscription` v0 for `topics`, as consumers put in JoinGroup.
pub fn subscription(topics: &[&str]) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    out.put_i32(topics.len() as i32);
    for topic in topics {
        out.put_i16(topic.len() as i16);
        out.put_slice(topic.as_bytes());
    }
    out.put_i32(-1); // no user data
    out.freeze()
}

/// A `ConsumerProtocolAssignment` v0 of `partitions` of `topic`, as leaders send in SyncGroup.
pub fn assignment(topic: &str, partitions: &[i32]) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    out.put_i32(1);
    out.put_i16(topic.len() as i16);
    out.put_slice(topic.as_bytes());
    out.put_i32(partitions.len() as i32);
    for partition in partitions {
        out.put_i32(*partition);
    }
    out.put_i32(-1);
    out.freeze()
}

/// The partitions per topic of a `ConsumerProtocolAssignment` (any version; an empty one
/// assigns nothing).
pub fn parse_assignment(bytes: &[u8]) -> BTreeMap<String, BTreeSet<i32>> {
    let mut buf = bytes;
    let mut out = BTreeMap::new();
    if buf.is_empty() {
        return out;
    }
    let _version = buf.get_i16();
    for _ in 0..buf.get_i32() {
        let len = buf.get_i16() as usize;
        let topic = String::from_utf8(buf[..len].to_vec()).unwrap();
        buf.advance(len);
        let partitions = (0..buf.get_i32()).map(|_| buf.get_i32()).collect();
        out.insert(topic, partitions);
    }
    out
}

/// A JoinGroup of a consumer (protocol "range") subscribed to `topic`.
pub fn join_request(
    group: &str,
    member_id: &str,
    session_timeout_ms: i32,
    topic: &str,
) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: group.to_string(),
        session_timeout_ms,
        rebalance_timeout_ms: session_timeout_ms,
        member_id: member_id.to_string(),
        group_instance_id: None,
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: subscription(&[topic]),
        }],
        reason: None,
    }
}

pub fn join(wire: &mut Wire, version: i16, request: JoinGroupRequest) -> JoinGroupResponse {
    call!(wire, version, JoinGroup(request))
}

pub fn sync(
    wire: &mut Wire,
    version: i16,
    group: &str,
    generation_id: i32,
    member_id: &str,
    assignments: Vec<(String, Bytes)>,
) -> SyncGroupResponse {
    call!(
        wire,
        version,
        SyncGroup(SyncGroupRequest {
            group_id: group.into(),
            generation_id,
            member_id: member_id.into(),
            group_instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: assignments
                .into_iter()
                .map(|(member_id, assignment)| SyncGroupRequestAssignment {
                    member_id,
                    assignment,
                })
                .collect(),
        })
    )
}

/// Heartbeat v4 of a dynamic member: its error code.
pub fn heartbeat(wire: &mut Wire, group: &str, generation_id: i32, member_id: &str) -> i16 {
    heartbeat_at(wire, 4, group, generation_id, member_id)
}

/// Heartbeat at `version` of a dynamic member: its error code.
pub fn heartbeat_at(
    wire: &mut Wire,
    version: i16,
    group: &str,
    generation_id: i32,
    member_id: &str,
) -> i16 {
    let response = call!(
        wire,
        version,
        Heartbeat(HeartbeatRequest {
            group_id: group.into(),
            generation_id,
            member_id: member_id.into(),
            group_instance_id: None,
        })
    );
    response.error_code
}

/// A member that joined through the raw protocol and is the leader of its own assignment.
pub struct RawMember {
    pub group: String,
    pub member_id: String,
    pub generation: i32,
}

/// Joins `group` alone as a new member with the KIP-394 handshake at JoinGroup v5, and
/// syncs an assignment of every partition of `topic` in `0..partitions` to itself.
pub fn raw_sole_member(wire: &mut Wire, group: &str, topic: &str, partitions: i32) -> RawMember {
    let first = join(wire, 5, join_request(group, "", 10_000, topic));
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED, "{first:?}");
    assert!(!first.member_id.is_empty());
    let joined = join(
        wire,
        5,
        join_request(group, &first.member_id, 10_000, topic),
    );
    assert_eq!(joined.error_code, NONE, "{joined:?}");
    assert_eq!(joined.member_id, first.member_id);
    assert_eq!(joined.leader, first.member_id);
    let all: Vec<i32> = (0..partitions).collect();
    let synced = sync(
        wire,
        3,
        group,
        joined.generation_id,
        &joined.member_id,
        vec![(joined.member_id.clone(), assignment(topic, &all))],
    );
    assert_eq!(synced.error_code, NONE, "{synced:?}");
    RawMember {
        group: group.into(),
        member_id: joined.member_id,
        generation: joined.generation_id,
    }
}

/// A partition's commit: (partition, offset, metadata).
pub type PartitionCommit = (i32, i64, Option<String>);

/// OffsetCommit v8 of topics' partitions: (partition, offset, metadata); returns
/// (topic, partition, error code) as answered, sorted (the order is not part of the API).
pub fn commit(
    wire: &mut Wire,
    group: &str,
    generation: i32,
    member_id: &str,
    topics: &[(&str, Vec<PartitionCommit>)],
) -> Vec<(String, i32, i16)> {
    commit_at(wire, 8, group, generation, member_id, topics)
}

/// [`commit`] at `version`.
pub fn commit_at(
    wire: &mut Wire,
    version: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    topics: &[(&str, Vec<PartitionCommit>)],
) -> Vec<(String, i32, i16)> {
    let response = call!(
        wire,
        version,
        OffsetCommit(OffsetCommitRequest {
            group_id: group.into(),
            generation_id_or_member_epoch: generation,
            member_id: member_id.into(),
            group_instance_id: None,
            retention_time_ms: -1,
            topics: topics
                .iter()
                .map(|(name, partitions)| OffsetCommitRequestTopic {
                    name: name.to_string(),
                    partitions: partitions
                        .iter()
                        .map(
                            |(partition, offset, metadata)| OffsetCommitRequestPartition {
                                partition_index: *partition,
                                committed_offset: *offset,
                                committed_leader_epoch: -1,
                                commit_timestamp: -1,
                                committed_metadata: metadata.clone(),
                            }
                        )
                        .collect(),
                })
                .collect(),
        })
    );
    let mut answered: Vec<(String, i32, i16)> = response
        .topics
        .into_iter()
        .flat_map(|t| {
            let name = t.name;
            t.partitions
                .into_iter()
                .map(move |p| (name.clone(), p.partition_index, p.error_code))
        })
        .collect();
    answered.sort();
    answered
}

/// OffsetFetch v8 of one group: the given partitions of `topic`, or everything if `None`.
pub fn fetch(
    wire: &mut Wire,
    group: &str,
    topic: Option<(&str, &[i32])>,
) -> OffsetFetchResponseGroup {
    let response = call!(
        wire,
        8,
        OffsetFetch(OffsetFetchRequest {
            groups: vec![OffsetFetchRequestGroup {
                group_id: group.into(),
                member_id: None,
                member_epoch: -1,
                topics: topic.map(|(name, partitions)| {
                    vec![OffsetFetchRequestTopics {
                        name: name.into(),
                        partition_indexes: partitions.to_vec(),
                    }]
                }),
            }],
            require_stable: false,
            ..Default::default()
        })
    );
    assert_eq!(response.groups.len(), 1, "{response:?}");
    let group_response = response.groups.into_iter().next().unwrap();
    assert_eq!(group_response.group_id, group);
    group_response
}

/// The committed (offset, metadata) of each partition of `topic` in an OffsetFetch v8
/// answer; panics on any error code.
pub fn committed_in(group: &OffsetFetchResponseGroup, topic: &str) -> BTreeMap<i32, (i64, String)> {
    assert_eq!(group.error_code, NONE, "{group:?}");
    let mut out = BTreeMap::new();
    for t in group.topics.iter().filter(|t| t.name == topic) {
        for p in &t.partitions {
            assert_eq!(p.error_code, NONE, "{topic}/{}: {p:?}", p.partition_index);
            // Kafka answers "" for a partition without metadata; a null is read the same.
            let metadata = p.metadata.clone().unwrap_or_default();
            out.insert(p.partition_index, (p.committed_offset, metadata));
        }
    }
    out
}

/// The committed offsets of all partitions of `topic`, by OffsetFetch v8 on a new connection.
pub fn committed_offsets(
    broker: &TestBroker,
    group: &str,
    topic: &str,
    partitions: i32,
) -> BTreeMap<i32, i64> {
    let mut wire = Wire::connect(broker.addr());
    let all: Vec<i32> = (0..partitions).collect();
    committed_in(&fetch(&mut wire, group, Some((topic, &all))), topic)
        .into_iter()
        .map(|(p, (offset, _))| (p, offset))
        .collect()
}

/// DescribeGroups v5 of one group.
pub fn describe(wire: &mut Wire, group: &str) -> DescribedGroup {
    describe_at(wire, 5, group)
}

/// DescribeGroups at `version` of one group.
pub fn describe_at(wire: &mut Wire, version: i16, group: &str) -> DescribedGroup {
    let response = call!(
        wire,
        version,
        DescribeGroups(DescribeGroupsRequest {
            groups: vec![group.into()],
            include_authorized_operations: false,
        })
    );
    assert_eq!(response.groups.len(), 1, "{response:?}");
    let described = response.groups.into_iter().next().unwrap();
    assert_eq!(described.error_code, NONE, "{described:?}");
    assert_eq!(described.group_id, group);
    described
}

/// DescribeGroups of `group` on a new connection.
pub fn describe_new(broker: &TestBroker, group: &str) -> DescribedGroup {
    describe(&mut Wire::connect(broker.addr()), group)
}

/// ListGroups v4 with a states filter.
pub fn list_groups(wire: &mut Wire, states: &[&str]) -> (i16, Vec<ListedGroup>) {
    list_groups_at(wire, 4, states)
}

/// ListGroups at `version` (a states filter needs v4).
pub fn list_groups_at(wire: &mut Wire, version: i16, states: &[&str]) -> (i16, Vec<ListedGroup>) {
    let response = call!(
        wire,
        version,
        ListGroups(ListGroupsRequest {
            states_filter: states.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
    );
    (response.error_code, response.groups)
}

/// DeleteGroups v2: the error code of each group.
pub fn delete_groups(wire: &mut Wire, groups: &[&str]) -> BTreeMap<String, i16> {
    delete_groups_at(wire, 2, groups)
}

/// DeleteGroups at `version`: the error code of each group.
pub fn delete_groups_at(wire: &mut Wire, version: i16, groups: &[&str]) -> BTreeMap<String, i16> {
    let response = call!(
        wire,
        version,
        DeleteGroups(DeleteGroupsRequest {
            groups_names: groups.iter().map(|g| g.to_string()).collect(),
        })
    );
    response
        .results
        .into_iter()
        .map(|r| (r.group_id, r.error_code))
        .collect()
}

/// The generation `member_id` is in, found by heartbeating at each generation from 0 until
/// one is not ILLEGAL_GENERATION (Kafka checks the member before the generation).
pub fn generation_of(broker: &TestBroker, group: &str, member_id: &str) -> i32 {
    let mut wire = Wire::connect(broker.addr());
    for generation in 0..100 {
        match heartbeat(&mut wire, group, generation, member_id) {
            ILLEGAL_GENERATION => continue,
            NONE | REBALANCE_IN_PROGRESS => return generation,
            other => panic!("heartbeat of {member_id} in {group}: error {other}"),
        }
    }
    panic!("no generation below 100 accepted for {member_id} in {group}");
}

/// The member id DescribeGroups shows for the member with `client_id`.
pub fn member_id_of(described: &DescribedGroup, client_id: &str) -> String {
    let found: Vec<_> = described
        .members
        .iter()
        .filter(|m| m.client_id == client_id)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "members with client id {client_id}: {described:?}"
    );
    found[0].member_id.clone()
}

/// A JoinGroup v5 like [`join_request`] with its own rebalance timeout.
pub fn join_with_rebalance_timeout(
    group: &str,
    member_id: &str,
    topic: &str,
    rebalance_timeout_ms: i32,
) -> JoinGroupRequest {
    let mut request = join_request(group, member_id, 10_000, topic);
    request.rebalance_timeout_ms = rebalance_timeout_ms;
    request
}

/// Polls Heartbeat of `member_id` at `generation` until it answers `code`; panics on any
/// other answer but NONE, or after [`DEADLINE`].
pub fn heartbeat_until(wire: &mut Wire, group: &str, generation: i32, member_id: &str, code: i16) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match heartbeat(wire, group, generation, member_id) {
            answer if answer == code => return,
            NONE => {}
            other => panic!("heartbeat of {member_id}: {other} while waiting for {code}"),
        }
        assert!(Instant::now() < deadline, "heartbeat never answered {code}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `work` on its own thread while the calling thread does `meanwhile`, then waits (with
/// a deadline) for `work` and returns both results.
pub fn alongside<T: Send, U>(
    work: impl FnOnce() -> T + Send,
    meanwhile: impl FnOnce() -> U,
) -> (T, U) {
    std::thread::scope(|scope| {
        let handle = scope.spawn(work);
        let done_here = meanwhile();
        let deadline = Instant::now() + DEADLINE;
        while !handle.is_finished() {
            assert!(
                Instant::now() < deadline,
                "the raw client's request never finished"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        (
            handle.join().expect("the raw client did not panic"),
            done_here,
        )
    })
}

/// With A alone in `group` at generation 1, a member B joins: its JoinGroup waits until A,
/// told by its heartbeat, rejoins too (both with a 1.5 s rebalance timeout), and both get
/// generation 2 with A leading. Returns B's connection and member id; nobody has synced.
pub fn second_member_joins(
    broker: &TestBroker,
    group: &str,
    topic: &str,
    a_wire: &mut Wire,
    a_id: &str,
) -> (Wire, String) {
    let rebalance_timeout = 1500;
    let mut b_wire = Wire::connect(broker.addr());
    let first = join(
        &mut b_wire,
        5,
        join_with_rebalance_timeout(group, "", topic, rebalance_timeout),
    );
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED, "{first:?}");
    let b_id = first.member_id.clone();
    let b_request = join_with_rebalance_timeout(group, &b_id, topic, rebalance_timeout);
    let ((b_wire, b_joined), a_joined): ((Wire, JoinGroupResponse), JoinGroupResponse) = alongside(
        move || {
            let joined = join(&mut b_wire, 5, b_request);
            (b_wire, joined)
        },
        || {
            heartbeat_until(a_wire, group, 1, a_id, REBALANCE_IN_PROGRESS);
            let request = join_with_rebalance_timeout(group, a_id, topic, rebalance_timeout);
            join(a_wire, 5, request)
        },
    );
    assert_eq!(a_joined.error_code, NONE, "{a_joined:?}");
    assert_eq!(b_joined.error_code, NONE, "{b_joined:?}");
    assert_eq!((a_joined.generation_id, b_joined.generation_id), (2, 2));
    assert_eq!(a_joined.leader, a_id);
    assert_eq!(b_joined.leader, a_id);
    assert_eq!(a_joined.members.len(), 2, "the leader gets both members");
    assert!(b_joined.members.is_empty());
    (b_wire, b_id)
}

/// OffsetDelete v0: the top-level error code and (topic, partition, error code), sorted.
pub fn offset_delete(
    wire: &mut Wire,
    group: &str,
    topics: &[(&str, &[i32])],
) -> (i16, Vec<(String, i32, i16)>) {
    let response = call!(
        wire,
        0,
        OffsetDelete(OffsetDeleteRequest {
            group_id: group.into(),
            topics: topics
                .iter()
                .map(|(name, partitions)| OffsetDeleteRequestTopic {
                    name: name.to_string(),
                    partitions: partitions
                        .iter()
                        .map(|p| OffsetDeleteRequestPartition {
                            partition_index: *p
                        })
                        .collect(),
                })
                .collect(),
        })
    );
    let mut partitions: Vec<(String, i32, i16)> = response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.clone(), p.partition_index, p.error_code))
        })
        .collect();
    partitions.sort();
    (response.error_code, partitions)
}
