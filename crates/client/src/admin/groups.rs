//! Consumer groups: list, describe (members and what each is assigned), committed offsets
//! with lag, offset resets, delete.
//!
//! Group requests go to the group's coordinator (FindCoordinator), and are tried again when
//! the coordinator is loading or has moved. ListGroups goes to every broker, since each
//! lists only the groups it coordinates.
//!
//! Resetting offsets commits them from outside the group (generation -1, no member id),
//! which a broker accepts only while the group has no members; the reset checks that first
//! and says so, rather than leaving the user with the broker's UNKNOWN_MEMBER_ID.

use std::collections::{BTreeMap, HashMap};

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::delete_groups_request::DeleteGroupsRequest;
use streambus_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use streambus_protocol::messages::describe_groups_response::DescribedGroup;
use streambus_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use streambus_protocol::messages::list_groups_request::ListGroupsRequest;
use streambus_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use streambus_protocol::messages::offset_fetch_request::{
    OffsetFetchRequest, OffsetFetchRequestGroup,
};

use super::Admin;
use super::topics::missing;
use crate::consumer::consumer_protocol::{Assignment, Subscription};
use crate::error::{Error, Result};
use crate::offsets::{ListedOffset, OffsetSpec, TopicPartition, list_offsets};

/// The `FindCoordinator` key type of groups.
const KEY_TYPE_GROUP: i8 = 0;
/// The protocol type of groups of Kafka consumers, whose assignments can be read.
const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// One group of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// `consumer` for Kafka consumers; empty for a group that only stores offsets.
    pub protocol_type: String,
    /// Its state (`Stable`, `Empty`...), `None` from brokers before ListGroups v4.
    pub state: Option<String>,
}

/// A group's state and members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty` or `Dead`.
    pub state: String,
    /// `consumer` for Kafka consumers.
    pub protocol_type: String,
    /// The assignor the members agreed on (`range`, `cooperative-sticky`); empty unless
    /// the group is stable.
    pub protocol: String,
    /// The node id of the group's coordinator.
    pub coordinator: i32,
    /// The members.
    pub members: Vec<MemberDescription>,
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The id the coordinator gave it.
    pub member_id: String,
    /// Its static instance id, if it has one.
    pub group_instance_id: Option<String>,
    /// The client id it sent.
    pub client_id: String,
    /// The host it connected from.
    pub client_host: String,
    /// The topics it subscribed to (a consumer group's, while stable).
    pub subscription: Vec<String>,
    /// The partitions it was assigned, by topic (a consumer group's, while stable).
    pub assignment: Vec<(String, Vec<i32>)>,
}

/// A group's committed offset of one partition, and how far behind the log end it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The committed offset (the next record the group will read).
    pub committed_offset: i64,
    /// The metadata committed with it.
    pub metadata: String,
    /// The partition's log end offset, `None` if it could not be read (a deleted topic).
    pub log_end_offset: Option<i64>,
    /// `log_end_offset - committed_offset`, at least 0.
    pub lag: Option<i64>,
}

/// Where to move a group's offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTarget {
    /// The log start offset.
    Earliest,
    /// The log end offset.
    Latest,
    /// This offset, kept within the log's start and end.
    Offset(i64),
    /// The first offset at or after this timestamp (ms since the epoch), else the log end.
    Timestamp(i64),
    /// The committed offset moved by this many (negative: back), kept within the log.
    ShiftBy(i64),
}

/// The reset of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetResetPlan {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The committed offset before, `None` if there was none.
    pub current: Option<i64>,
    /// The offset to commit.
    pub new_offset: i64,
}

impl Admin {
    /// The `host:port` of the group's coordinator and its node id.
    async fn coordinator(&self, group: &str) -> Result<(String, i32)> {
        let request = FindCoordinatorRequest {
            // v0-3 ask with `key`, v4+ with `coordinator_keys`.
            key: group.to_owned(),
            key_type: KEY_TYPE_GROUP,
            coordinator_keys: vec![group.to_owned()],
        };
        let response = self.cluster.call_any(request).await?;
        let context = || format!("the coordinator of group {group}");
        let (code, message, node_id, host, port) = match response.coordinators.into_iter().next() {
            Some(c) => (c.error_code, c.error_message, c.node_id, c.host, c.port),
            None => (
                response.error_code,
                response.error_message,
                response.node_id,
                response.host,
                response.port,
            ),
        };
        Error::check_with_message(code, message.as_deref(), context)?;
        Ok((format!("{host}:{port}"), node_id))
    }

    /// Every group of the cluster (asked of each broker), sorted by id; only those in one
    /// of `states` when it is not empty (matched without regard to case).
    pub async fn list_groups(&self, states: &[String]) -> Result<Vec<GroupListing>> {
        let mut found: BTreeMap<String, GroupListing> = BTreeMap::new();
        for broker in self.cluster.brokers() {
            let request = ListGroupsRequest {
                states_filter: states.to_vec(),
                types_filter: Vec::new(),
            };
            let response = self.cluster.call_node(broker.node_id, request).await?;
            Error::check(response.error_code, || {
                format!("the groups of broker {}", broker.node_id)
            })?;
            for group in response.groups {
                let state = Some(group.group_state).filter(|s| !s.is_empty());
                // Brokers before v4 ignore the filter and send no state.
                let wanted = states.is_empty()
                    || state
                        .as_deref()
                        .is_none_or(|s| states.iter().any(|w| w.eq_ignore_ascii_case(s)));
                if wanted {
                    let listing = GroupListing {
                        group_id: group.group_id.clone(),
                        protocol_type: group.protocol_type,
                        state,
                    };
                    found.insert(group.group_id, listing);
                }
            }
        }
        Ok(found.into_values().collect())
    }

    /// A group's state and members; GROUP_ID_NOT_FOUND if there is no such group.
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription> {
        self.retrying(|| self.describe_once(group)).await
    }

    async fn describe_once(&self, group: &str) -> Result<GroupDescription> {
        let (addr, coordinator) = self.coordinator(group).await?;
        let request = DescribeGroupsRequest {
            groups: vec![group.to_owned()],
            include_authorized_operations: false,
        };
        let response = self.cluster.call_addr(&addr, request).await?;
        let described = response
            .groups
            .into_iter()
            .find(|g| g.group_id == group)
            .ok_or_else(|| missing("DescribeGroups", group))?;
        Error::check(described.error_code, || format!("group {group}"))?;
        // Before v6 a group that does not exist is reported Dead with no error.
        if described.group_state == "Dead" && described.members.is_empty() {
            return Err(Error::Kafka {
                code: ErrorCode::GroupIdNotFound,
                context: format!("group {group}"),
                message: None,
            });
        }
        Ok(description(described, coordinator))
    }

    /// The group's committed offsets, sorted by topic and partition, with each partition's
    /// log end offset and the lag. A group that does not exist has none.
    pub async fn group_offsets(&self, group: &str) -> Result<Vec<GroupOffset>> {
        let committed = self.retrying(|| self.fetch_offsets(group)).await?;
        let partitions: Vec<TopicPartition> = committed.keys().cloned().collect();
        let ends = self.log_ends(&partitions).await;
        Ok(committed
            .into_iter()
            .map(|((topic, partition), (committed_offset, metadata))| {
                let log_end_offset = ends.get(&(topic.clone(), partition)).copied();
                GroupOffset {
                    lag: log_end_offset.map(|end| (end - committed_offset).max(0)),
                    topic,
                    partition,
                    committed_offset,
                    metadata,
                    log_end_offset,
                }
            })
            .collect())
    }

    /// The committed offsets (and their metadata) of the group, of every partition it has
    /// committed for.
    async fn fetch_offsets(&self, group: &str) -> Result<BTreeMap<TopicPartition, (i64, String)>> {
        let (addr, _) = self.coordinator(group).await?;
        let request = OffsetFetchRequest {
            // v0-7 name one group at the top level, v8+ a list of groups; `None` topics
            // ask for every partition the group has committed.
            group_id: group.to_owned(),
            topics: None,
            groups: vec![OffsetFetchRequestGroup {
                group_id: group.to_owned(),
                member_id: None,
                member_epoch: -1,
                topics: None,
            }],
            require_stable: false,
        };
        let response = self.cluster.call_addr(&addr, request).await?;
        let mut found = BTreeMap::new();
        for c in crate::offsets::committed_offsets(response, group)? {
            if c.offset >= 0 {
                found.insert(
                    (c.topic, c.partition),
                    (c.offset, c.metadata.unwrap_or_default()),
                );
            }
        }
        Ok(found)
    }

    /// The log end offsets of `partitions`, leaving out those that cannot be read.
    async fn log_ends(&self, partitions: &[TopicPartition]) -> HashMap<TopicPartition, i64> {
        let asked: Vec<(TopicPartition, OffsetSpec)> = partitions
            .iter()
            .map(|tp| (tp.clone(), OffsetSpec::Latest))
            .collect();
        if let Ok(all) = list_offsets(&self.cluster, &asked, false).await {
            return all.into_iter().map(|(tp, o)| (tp, o.offset)).collect();
        }
        // Some partition is gone (a deleted topic); read the others one by one.
        let mut ends = HashMap::new();
        for one in asked {
            if let Ok(found) = list_offsets(&self.cluster, std::slice::from_ref(&one), false).await
                && let Some(listed) = found.get(&one.0)
            {
                ends.insert(one.0, listed.offset);
            }
        }
        ends
    }

    /// Where [`Admin::reset_offsets`] would move the group's offsets of `topic` (all its
    /// partitions, or only `partitions`), without committing anything.
    pub async fn plan_offset_reset(
        &self,
        group: &str,
        topic: &str,
        partitions: Option<&[i32]>,
        target: ResetTarget,
    ) -> Result<Vec<OffsetResetPlan>> {
        let info = self.cluster.topic(topic, false).await?;
        let indexes: Vec<i32> = match partitions {
            None => info.partitions.iter().map(|p| p.id).collect(),
            Some(asked) => {
                if let Some(bad) = asked
                    .iter()
                    .find(|p| info.partitions.iter().all(|q| q.id != **p))
                {
                    return Err(Error::Kafka {
                        code: ErrorCode::UnknownTopicOrPartition,
                        context: format!(
                            "partition {bad} of {topic} (it has {})",
                            info.partitions.len()
                        ),
                        message: None,
                    });
                }
                asked.to_vec()
            }
        };
        let tps: Vec<TopicPartition> = indexes.iter().map(|p| (topic.to_owned(), *p)).collect();
        let committed = self.retrying(|| self.fetch_offsets(group)).await?;
        let earliest = self.offsets_of(&tps, OffsetSpec::Earliest).await?;
        let latest = self.offsets_of(&tps, OffsetSpec::Latest).await?;
        let by_time = match target {
            ResetTarget::Timestamp(ms) => {
                Some(self.offsets_of(&tps, OffsetSpec::Timestamp(ms)).await?)
            }
            _ => None,
        };
        let mut plan = Vec::with_capacity(tps.len());
        for tp in tps {
            let current = committed.get(&tp).map(|(offset, _)| *offset);
            let start = earliest.get(&tp).map_or(0, |o| o.offset);
            let end = latest.get(&tp).map_or(0, |o| o.offset);
            let within = |offset: i64| offset.clamp(start, end.max(start));
            let new_offset = match target {
                ResetTarget::Earliest => start,
                ResetTarget::Latest => end,
                ResetTarget::Offset(offset) => within(offset),
                ResetTarget::Timestamp(_) => by_time
                    .as_ref()
                    .and_then(|found| found.get(&tp))
                    .map(|o| o.offset)
                    .filter(|offset| *offset >= 0)
                    .unwrap_or(end),
                ResetTarget::ShiftBy(shift) => {
                    let Some(current) = current else {
                        return Err(Error::Invalid(format!(
                            "cannot shift the offset of {}-{} in group {group}: it has no committed offset",
                            tp.0, tp.1
                        )));
                    };
                    within(current.saturating_add(shift))
                }
            };
            plan.push(OffsetResetPlan {
                topic: tp.0,
                partition: tp.1,
                current,
                new_offset,
            });
        }
        Ok(plan)
    }

    async fn offsets_of(
        &self,
        tps: &[TopicPartition],
        spec: OffsetSpec,
    ) -> Result<HashMap<TopicPartition, ListedOffset>> {
        let asked: Vec<(TopicPartition, OffsetSpec)> =
            tps.iter().map(|tp| (tp.clone(), spec)).collect();
        list_offsets(&self.cluster, &asked, false).await
    }

    /// Moves the group's offsets of `topic` (all partitions, or only `partitions`) to
    /// `target` and returns what was committed. The group must have no members:
    /// NON_EMPTY_GROUP otherwise.
    pub async fn reset_offsets(
        &self,
        group: &str,
        topic: &str,
        partitions: Option<&[i32]>,
        target: ResetTarget,
    ) -> Result<Vec<OffsetResetPlan>> {
        let plan = self
            .plan_offset_reset(group, topic, partitions, target)
            .await?;
        self.commit_offsets(group, &plan).await?;
        Ok(plan)
    }

    /// Commits the offsets of `plan` for the group, from outside it. The group must have no
    /// members: NON_EMPTY_GROUP otherwise.
    pub async fn commit_offsets(&self, group: &str, plan: &[OffsetResetPlan]) -> Result<()> {
        match self.describe_group(group).await {
            Ok(described) if !described.members.is_empty() || described.state != "Empty" => {
                return Err(Error::Kafka {
                    code: ErrorCode::NonEmptyGroup,
                    context: format!("cannot reset the offsets of group {group}"),
                    message: Some(format!(
                        "the group is {} with {} member(s); stop its consumers first",
                        described.state,
                        described.members.len()
                    )),
                });
            }
            Ok(_) => {}
            Err(e) if e.code() == Some(ErrorCode::GroupIdNotFound) => {}
            Err(e) => return Err(e),
        }
        let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for entry in plan {
            topics
                .entry(&entry.topic)
                .or_default()
                .push(OffsetCommitRequestPartition {
                    partition_index: entry.partition,
                    committed_offset: entry.new_offset,
                    committed_leader_epoch: -1,
                    commit_timestamp: -1,
                    committed_metadata: Some(String::new()),
                });
        }
        let request = OffsetCommitRequest {
            group_id: group.to_owned(),
            generation_id_or_member_epoch: -1,
            member_id: String::new(),
            group_instance_id: None,
            retention_time_ms: -1,
            topics: topics
                .into_iter()
                .map(|(name, partitions)| OffsetCommitRequestTopic {
                    name: name.to_owned(),
                    partitions,
                })
                .collect(),
        };
        let response = self
            .retrying(|| async {
                let (addr, _) = self.coordinator(group).await?;
                let response = self.cluster.call_addr(&addr, request.clone()).await?;
                // A coordinator that moved answers per partition; retry those as a whole.
                for topic in &response.topics {
                    for p in &topic.partitions {
                        if coordinator_code(p.error_code) {
                            Error::check(p.error_code, || format!("group {group}"))?;
                        }
                    }
                }
                Ok(response)
            })
            .await?;
        for topic in response.topics {
            for p in topic.partitions {
                Error::check(p.error_code, || {
                    format!(
                        "cannot commit the offset of {}-{} for group {group}",
                        topic.name, p.partition_index
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Deletes a group and its committed offsets. The group must have no members:
    /// NON_EMPTY_GROUP otherwise; GROUP_ID_NOT_FOUND if there is no such group.
    pub async fn delete_group(&self, group: &str) -> Result<()> {
        self.retrying(|| async {
            let (addr, _) = self.coordinator(group).await?;
            let request = DeleteGroupsRequest {
                groups_names: vec![group.to_owned()],
            };
            let response = self.cluster.call_addr(&addr, request).await?;
            let result = response
                .results
                .into_iter()
                .find(|r| r.group_id == group)
                .ok_or_else(|| missing("DeleteGroups", group))?;
            Error::check(result.error_code, || format!("cannot delete group {group}"))
        })
        .await
    }
}

fn coordinator_code(code: i16) -> bool {
    [
        ErrorCode::CoordinatorLoadInProgress,
        ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotCoordinator,
    ]
    .iter()
    .any(|c| c.code() == code)
}

/// Partitions grouped by topic, topics in the order they first appear.
fn by_topic(partitions: Vec<(String, i32)>) -> Vec<(String, Vec<i32>)> {
    let mut grouped: Vec<(String, Vec<i32>)> = Vec::new();
    for (topic, partition) in partitions {
        match grouped.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, list)) => list.push(partition),
            None => grouped.push((topic, vec![partition])),
        }
    }
    grouped
}

fn description(group: DescribedGroup, coordinator: i32) -> GroupDescription {
    let consumer = group.protocol_type == CONSUMER_PROTOCOL_TYPE;
    GroupDescription {
        members: group
            .members
            .into_iter()
            .map(|m| MemberDescription {
                subscription: consumer
                    .then(|| Subscription::decode(&m.member_metadata).ok())
                    .flatten()
                    .map(|s| s.topics)
                    .unwrap_or_default(),
                assignment: consumer
                    .then(|| Assignment::decode(&m.member_assignment).ok())
                    .flatten()
                    .map(|a| by_topic(a.partitions))
                    .unwrap_or_default(),
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
            })
            .collect(),
        group_id: group.group_id,
        state: group.group_state,
        protocol_type: group.protocol_type,
        protocol: group.protocol_data,
        coordinator,
    }
}
