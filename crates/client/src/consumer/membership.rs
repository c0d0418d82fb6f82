//! Group membership: the rebalance (JoinGroup, the leader's assignment, SyncGroup), the
//! heartbeat task, and leaving.
//!
//! What the consumer, the heartbeat task and an in-flight rebalance share is one
//! [`Membership`] behind a mutex: member id, generation, whether the member is stable (joined
//! and synced, so heartbeats go), and the events the heartbeat task raises for `poll` to act
//! on (rejoin, membership lost, a fatal error), with a [`Notify`] to wake a waiting `poll`.
//!
//! A rebalance is a future that owns what it needs, so that `poll` can drive it across calls
//! without blocking the user beyond their timeout (two members polled in turn by one task
//! must both get to rejoin). It retries within itself what Kafka says to retry:
//! MEMBER_ID_REQUIRED (KIP-394) rejoins with the id given, UNKNOWN_MEMBER_ID and
//! ILLEGAL_GENERATION rejoin as a new member (the old partitions are lost),
//! REBALANCE_IN_PROGRESS from SyncGroup rejoins, coordinator errors rediscover; it ends with
//! an error only for what retrying cannot fix (FENCED_INSTANCE_ID,
//! INCONSISTENT_GROUP_PROTOCOL, INVALID_SESSION_TIMEOUT, authorization).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::heartbeat_request::HeartbeatRequest;
use streambus_protocol::messages::join_group_request::{
    JoinGroupRequest, JoinGroupRequestProtocol,
};
use streambus_protocol::messages::join_group_response::JoinGroupResponseMember;
use streambus_protocol::messages::leave_group_request::{LeaveGroupRequest, MemberIdentity};
use streambus_protocol::messages::sync_group_request::{
    SyncGroupRequest, SyncGroupRequestAssignment,
};
use tokio::sync::Notify;

use super::assignor::{self, Member};
use super::config::AssignorKind;
use super::consumer_protocol::{Assignment, Subscription};
use super::coordinator::{GroupClient, Lane};
use crate::backoff::{Backoff, BackoffConfig};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::offsets::TopicPartition;

/// The protocol type of consumer groups.
const PROTOCOL_TYPE: &str = "consumer";

/// Membership state shared by the consumer, its heartbeat task and a rebalance.
#[derive(Debug)]
pub(crate) struct Membership {
    /// The member id, empty before the first join and after a reset.
    pub member_id: String,
    /// The generation, -1 when not a member.
    pub generation: i32,
    /// Joined and synced: heartbeats go.
    pub stable: bool,
    /// A rebalance is wanted (the coordinator said so, or the subscription changed).
    pub rejoin: bool,
    /// The membership was lost (expired, fenced by generation): the partitions must be
    /// dropped without committing.
    pub lost: bool,
    /// An error the heartbeat task met that `poll` must report.
    pub fatal: Option<Error>,
    /// When the user last called `poll`.
    pub last_poll: Instant,
    /// The consumer is closing: the heartbeat task stops.
    pub closed: bool,
}

impl Membership {
    pub(crate) fn new() -> Membership {
        Membership {
            member_id: String::new(),
            generation: -1,
            stable: false,
            rejoin: false,
            lost: false,
            fatal: None,
            last_poll: Instant::now(),
            closed: false,
        }
    }

    /// Forgets the member id and generation (keeping a static member's instance id, which
    /// is in the settings): the next join is as a new member.
    pub(crate) fn reset(&mut self) {
        self.member_id.clear();
        self.generation = -1;
        self.stable = false;
        self.lost = true;
        self.rejoin = true;
    }
}

/// The shared membership.
pub(crate) type Shared = Arc<Mutex<Membership>>;

pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, Membership> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// The group settings a rebalance and the heartbeat task need.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub instance_id: Option<String>,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub assignors: Vec<AssignorKind>,
    pub backoff: BackoffConfig,
}

/// What a rebalance starts from.
#[derive(Debug, Clone)]
pub(crate) struct JoinInput {
    /// The subscribed topics.
    pub topics: Vec<String>,
    /// The partitions owned now (cooperative members keep them through the rebalance).
    pub owned: Vec<TopicPartition>,
}

/// What a completed rebalance gave this member.
#[derive(Debug, Clone)]
pub(crate) struct Joined {
    pub generation: i32,
    pub member_id: String,
    pub assigned: Vec<TopicPartition>,
    /// Whether the membership was lost on the way (the owned partitions are gone).
    pub lost: bool,
    /// As leader: the partition count of every topic a member subscribes to (0 for a
    /// missing topic), to notice when they change.
    pub leader_topics: Option<BTreeMap<String, i32>>,
}

/// Joins and syncs until this member has an assignment, or an error retrying cannot fix.
pub(crate) async fn rebalance(
    group: Arc<GroupClient>,
    cluster: Arc<Cluster>,
    shared: Shared,
    settings: Settings,
    input: JoinInput,
) -> Result<Joined> {
    let mut backoff = Backoff::new(settings.backoff);
    let mut owned = input.owned;
    let mut lost = false;
    loop {
        let (member_id, generation) = {
            let m = lock(&shared);
            (m.member_id.clone(), m.generation)
        };
        if generation < 0 && !owned.is_empty() {
            // Partitions from a lost generation are not claimed.
            owned.clear();
        }
        let join = join_request(
            group.group_id(),
            &member_id,
            &settings,
            &input.topics,
            &owned,
            generation,
        );
        let joined = match group.call(Lane::Parked, join).await {
            Ok(joined) => joined,
            Err(e) if e.is_retriable() => {
                tracing::debug!(group = %group.group_id(), error = %e, "JoinGroup failed; retrying");
                backoff.wait().await;
                continue;
            }
            Err(e) => return Err(e),
        };
        match ErrorCode::from_code(joined.error_code) {
            Some(ErrorCode::None) => {}
            Some(ErrorCode::MemberIdRequired) => {
                lock(&shared).member_id = joined.member_id;
                continue;
            }
            Some(ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration) => {
                reset(&shared);
                lost = true;
                owned.clear();
                continue;
            }
            Some(code) if code == ErrorCode::RebalanceInProgress || code.is_retriable() => {
                backoff.wait().await;
                continue;
            }
            _ => {
                Error::check(joined.error_code, || {
                    format!("joining group {}", group.group_id())
                })?;
            }
        }
        {
            let mut m = lock(&shared);
            m.member_id.clone_from(&joined.member_id);
            m.generation = joined.generation_id;
        }
        let protocol_name = joined.protocol_name.clone().unwrap_or_default();
        let Some(protocol) = AssignorKind::from_name(&protocol_name) else {
            return Err(Error::Protocol {
                addr: "the group coordinator".into(),
                reason: format!(
                    "group {} chose assignor {protocol_name:?}, which this consumer did not offer",
                    group.group_id()
                ),
            });
        };
        let is_leader = joined.leader == joined.member_id;
        let (assignments, leader_topics) = if is_leader && !joined.skip_assignment {
            match lead(&cluster, protocol, &joined.members).await {
                Ok((assignments, topics)) => (assignments, Some(topics)),
                Err(e) if e.is_retriable() => {
                    tracing::debug!(group = %group.group_id(), error = %e, "cannot assign; rejoining");
                    backoff.wait().await;
                    continue;
                }
                Err(e) => return Err(e),
            }
        } else {
            (Vec::new(), None)
        };
        let sync = SyncGroupRequest {
            group_id: group.group_id().to_owned(),
            generation_id: joined.generation_id,
            member_id: joined.member_id.clone(),
            group_instance_id: settings.instance_id.clone(),
            protocol_type: Some(PROTOCOL_TYPE.to_owned()),
            protocol_name: Some(protocol_name),
            assignments,
        };
        let synced = match group.call(Lane::Parked, sync).await {
            Ok(synced) => synced,
            Err(e) if e.is_retriable() => {
                backoff.wait().await;
                continue;
            }
            Err(e) => return Err(e),
        };
        match ErrorCode::from_code(synced.error_code) {
            Some(ErrorCode::None) => {}
            Some(ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration) => {
                reset(&shared);
                lost = true;
                owned.clear();
                continue;
            }
            Some(code) if code == ErrorCode::RebalanceInProgress || code.is_retriable() => {
                continue;
            }
            _ => {
                Error::check(synced.error_code, || {
                    format!("syncing group {}", group.group_id())
                })?;
            }
        }
        let assignment = Assignment::decode(&synced.assignment).map_err(|e| Error::Protocol {
            addr: "the group coordinator".into(),
            reason: format!(
                "the assignment of group {} is malformed: {e}",
                group.group_id()
            ),
        })?;
        tracing::info!(
            group = %group.group_id(),
            member = %joined.member_id,
            generation = joined.generation_id,
            leader = is_leader,
            assignor = protocol.name(),
            partitions = assignment.partitions.len(),
            "joined the group"
        );
        return Ok(Joined {
            generation: joined.generation_id,
            member_id: joined.member_id,
            assigned: assignment.partitions,
            lost,
            leader_topics,
        });
    }
}

fn reset(shared: &Shared) {
    let mut m = lock(shared);
    m.reset();
    // The rebalance in flight is that rejoin.
    m.rejoin = false;
    m.lost = false;
}

fn join_request(
    group_id: &str,
    member_id: &str,
    settings: &Settings,
    topics: &[String],
    owned: &[TopicPartition],
    generation: i32,
) -> JoinGroupRequest {
    let protocols = settings
        .assignors
        .iter()
        .map(|kind| {
            let subscription = Subscription {
                topics: topics.to_vec(),
                user_data: kind.is_cooperative().then(|| {
                    // What Java's cooperative-sticky assignor sends: its generation.
                    bytes::Bytes::copy_from_slice(&generation.to_be_bytes())
                }),
                owned_partitions: owned.to_vec(),
                generation_id: generation,
                rack_id: None,
            };
            JoinGroupRequestProtocol {
                name: kind.name().to_owned(),
                metadata: subscription.encode(),
            }
        })
        .collect();
    JoinGroupRequest {
        group_id: group_id.to_owned(),
        session_timeout_ms: millis(settings.session_timeout),
        rebalance_timeout_ms: millis(settings.rebalance_timeout),
        member_id: member_id.to_owned(),
        group_instance_id: settings.instance_id.clone(),
        protocol_type: PROTOCOL_TYPE.to_owned(),
        protocols,
        reason: None,
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// The leader's part: every member's assignment with `kind`, over fresh metadata of every
/// subscribed topic.
async fn lead(
    cluster: &Cluster,
    kind: AssignorKind,
    joined: &[JoinGroupResponseMember],
) -> Result<(Vec<SyncGroupRequestAssignment>, BTreeMap<String, i32>)> {
    let members: Vec<Member> = joined
        .iter()
        .map(|m| {
            let subscription = Subscription::decode(&m.metadata).unwrap_or_else(|e| {
                tracing::warn!(member = %m.member_id, error = %e, "cannot read a member's subscription; it gets nothing");
                Subscription::default()
            });
            Member {
                id: m.member_id.clone(),
                instance_id: m.group_instance_id.clone(),
                subscription,
            }
        })
        .collect();
    let mut topics: Vec<String> = members
        .iter()
        .flat_map(|m| m.subscription.topics.iter().cloned())
        .collect();
    topics.sort();
    topics.dedup();
    let mut counts: BTreeMap<String, i32> = topics.iter().map(|t| (t.clone(), 0)).collect();
    if !topics.is_empty() {
        let metadata = cluster.refresh(Some(&topics), false).await?;
        for topic in metadata.topics {
            if let Some(name) = topic.name
                && topic.error_code == 0
            {
                let count = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
                counts.insert(name, count);
            }
        }
    }
    let assignments = assignor::assign(kind, &members, &counts);
    let wire = assignments
        .into_iter()
        .map(|(member_id, partitions)| SyncGroupRequestAssignment {
            member_id,
            assignment: Assignment {
                partitions,
                user_data: None,
            }
            .encode(),
        })
        .collect();
    Ok((wire, counts))
}

/// Heartbeats while the member is stable, and raises what the coordinator answers for
/// `poll` to act on. Also leaves the group when `poll` was not called within the rebalance
/// timeout (`max.poll.interval.ms`), as the Java consumer does, so the group moves on.
pub(crate) async fn heartbeat_loop(
    group: Arc<GroupClient>,
    shared: Shared,
    wake: Arc<Notify>,
    settings: Settings,
) {
    loop {
        tokio::time::sleep(settings.heartbeat_interval).await;
        let (member_id, generation, expired) = {
            let mut m = lock(&shared);
            if m.closed {
                return;
            }
            if !m.stable {
                continue;
            }
            let expired = m.last_poll.elapsed() > settings.rebalance_timeout;
            let identity = (m.member_id.clone(), m.generation, expired);
            if expired {
                m.reset();
            }
            identity
        };
        if expired {
            tracing::warn!(
                group = %group.group_id(),
                "poll was not called within the rebalance timeout; leaving the group"
            );
            if settings.instance_id.is_none() {
                let _ = leave(&group, &member_id, None).await;
            }
            wake.notify_one();
            continue;
        }
        let request = HeartbeatRequest {
            group_id: group.group_id().to_owned(),
            generation_id: generation,
            member_id: member_id.clone(),
            group_instance_id: settings.instance_id.clone(),
        };
        let result = group.call(Lane::Prompt, request).await;
        let mut m = lock(&shared);
        if m.generation != generation || m.member_id != member_id || !m.stable {
            continue; // a rebalance moved on meanwhile
        }
        let code = match result {
            Ok(response) => response.error_code,
            Err(e) => {
                tracing::debug!(group = %group.group_id(), error = %e, "heartbeat failed");
                continue;
            }
        };
        match ErrorCode::from_code(code) {
            Some(ErrorCode::None) => continue,
            Some(ErrorCode::RebalanceInProgress) => m.rejoin = true,
            Some(ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration) => {
                tracing::info!(group = %group.group_id(), code, "membership lost; rejoining");
                m.reset();
            }
            Some(c) if c.is_retriable() => continue,
            _ => {
                m.fatal =
                    Error::check(code, || format!("heartbeat of group {}", group.group_id())).err();
                m.stable = false;
            }
        }
        drop(m);
        wake.notify_one();
    }
}

/// Leaves the group (LeaveGroup); a member the coordinator no longer knows has left already.
pub(crate) async fn leave(
    group: &GroupClient,
    member_id: &str,
    instance_id: Option<&str>,
) -> Result<()> {
    let request = LeaveGroupRequest {
        group_id: group.group_id().to_owned(),
        member_id: member_id.to_owned(),
        members: vec![MemberIdentity {
            member_id: member_id.to_owned(),
            group_instance_id: instance_id.map(str::to_owned),
            reason: Some("the consumer is closing".into()),
        }],
    };
    let response = group.call(Lane::Prompt, request).await?;
    let unknown = ErrorCode::UnknownMemberId as i16;
    let context = || format!("leaving group {}", group.group_id());
    if response.error_code != unknown {
        Error::check(response.error_code, context)?;
    }
    for member in &response.members {
        if member.error_code != unknown {
            Error::check(member.error_code, context)?;
        }
    }
    Ok(())
}
