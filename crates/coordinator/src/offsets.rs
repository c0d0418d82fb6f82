//! OffsetCommit, OffsetFetch and OffsetDelete: the group's committed offsets.
//!
//! Invariants: a commit is stored only after the member, instance id and generation checks
//! pass (or it is a simple commit to a group without members) and is persisted before it is
//! acknowledged; the metadata string is kept as sent; offsets of topics a group is still
//! subscribed to are never deleted.

use std::collections::BTreeSet;

use crate::effect::{
    CommitResponse, DeleteOffsetsResponse, Effect, FetchResponse, FetchedOffset, PartitionError,
    Record, Response,
};
use crate::errors;
use crate::event::{CommitOffsets, DeleteOffsets, FetchOffsets};
use crate::group::Group;
use crate::state::GroupState;
use crate::subscription::subscribed_topics;

/// An offset as the group keeps and persists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset to consume.
    pub offset: i64,
    /// Leader epoch of the last consumed record, -1 if unknown.
    pub leader_epoch: i32,
    /// The client's metadata string.
    pub metadata: Option<String>,
    /// When it was committed; retention of groups without a protocol counts from here.
    pub commit_timestamp_ms: u64,
}

/// The protocol type of Kafka consumers, whose subscriptions the group can read.
pub(crate) const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

impl Group {
    pub(crate) fn on_commit(&mut self, commit: CommitOffsets, now_ms: u64, out: &mut Vec<Effect>) {
        let error = self.commit_error(&commit, now_ms);
        let mut stored = Vec::new();
        let mut partitions = Vec::with_capacity(commit.offsets.len());
        for entry in commit.offsets {
            let too_large = entry
                .metadata
                .as_ref()
                .is_some_and(|m| m.len() > self.config.offset_metadata_max_bytes);
            let error_code = match error {
                errors::NONE if too_large => errors::OFFSET_METADATA_TOO_LARGE,
                code => code,
            };
            if error_code == errors::NONE {
                let offset = CommittedOffset {
                    offset: entry.offset,
                    leader_epoch: entry.leader_epoch,
                    metadata: entry.metadata,
                    commit_timestamp_ms: now_ms,
                };
                stored.push((entry.partition.clone(), offset));
            }
            partitions.push(PartitionError {
                partition: entry.partition,
                error_code,
            });
        }
        if !stored.is_empty() {
            self.offsets.extend(stored.iter().cloned());
            out.push(Effect::Persist(Record::Offsets(stored)));
        }
        let response = Response::Commit(CommitResponse { partitions });
        Self::respond(out, commit.request_id, response);
    }

    /// Kafka's `validateOffsetCommit`; refreshes the committing member's session on success.
    fn commit_error(&mut self, commit: &CommitOffsets, now_ms: u64) -> i16 {
        if self.state == GroupState::Dead {
            return errors::COORDINATOR_NOT_AVAILABLE;
        }
        if commit.generation < 0 && self.state == GroupState::Empty {
            // A simple commit: the group only stores offsets.
            return errors::NONE;
        }
        let mut member = None;
        if commit.generation >= 0
            || !commit.member_id.is_empty()
            || commit.group_instance_id.is_some()
        {
            let instance_id = commit.group_instance_id.as_deref();
            if self.is_static_member_fenced(instance_id, &commit.member_id) {
                return errors::FENCED_INSTANCE_ID;
            }
            let Some(index) = self.member_index(&commit.member_id) else {
                return errors::UNKNOWN_MEMBER_ID;
            };
            if commit.generation != self.generation {
                return errors::ILLEGAL_GENERATION;
            }
            member = Some(index);
        } else if self.state != GroupState::Empty {
            return errors::UNKNOWN_MEMBER_ID;
        }
        if self.state == GroupState::CompletingRebalance {
            return errors::REBALANCE_IN_PROGRESS;
        }
        if let Some(index) = member {
            self.refresh_session(index, now_ms);
        }
        errors::NONE
    }

    pub(crate) fn on_fetch(&mut self, fetch: FetchOffsets, out: &mut Vec<Effect>) {
        let fetched = |(partition, committed): (_, Option<&CommittedOffset>)| FetchedOffset {
            partition,
            offset: committed.map_or(-1, |c| c.offset),
            leader_epoch: committed.map_or(-1, |c| c.leader_epoch),
            metadata: committed.and_then(|c| c.metadata.clone()),
            error_code: errors::NONE,
        };
        let partitions = match fetch.partitions {
            Some(list) => list
                .into_iter()
                .map(|tp| {
                    let committed = self.offsets.get(&tp);
                    fetched((tp, committed))
                })
                .collect(),
            None => self
                .offsets
                .iter()
                .map(|(tp, c)| fetched((tp.clone(), Some(c))))
                .collect(),
        };
        let response = FetchResponse {
            error_code: errors::NONE,
            partitions,
        };
        Self::respond(out, fetch.request_id, Response::Fetch(response));
    }

    pub(crate) fn on_delete_offsets(&mut self, delete: DeleteOffsets, out: &mut Vec<Effect>) {
        let top_level = match self.state {
            GroupState::Dead => Some(errors::GROUP_ID_NOT_FOUND),
            GroupState::Empty => None,
            _ if self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE) => None,
            _ => Some(errors::NON_EMPTY_GROUP),
        };
        if let Some(error_code) = top_level {
            let response = DeleteOffsetsResponse {
                error_code,
                partitions: Vec::new(),
            };
            return Self::respond(out, delete.request_id, Response::DeleteOffsets(response));
        }
        // `None`: some member's subscription is unreadable, so every topic counts as in use.
        let subscribed = match self.state {
            GroupState::Empty => Some(BTreeSet::new()),
            _ => self.subscribed_topics(),
        };
        let mut removed = Vec::new();
        let mut partitions = Vec::with_capacity(delete.partitions.len());
        for partition in delete.partitions {
            let in_use = subscribed
                .as_ref()
                .is_none_or(|topics| topics.contains(&partition.topic));
            let error_code = if in_use {
                errors::GROUP_SUBSCRIBED_TO_TOPIC
            } else {
                if self.offsets.remove(&partition).is_some() {
                    removed.push(partition.clone());
                }
                errors::NONE
            };
            partitions.push(PartitionError {
                partition,
                error_code,
            });
        }
        if !removed.is_empty() {
            out.push(Effect::Persist(Record::OffsetTombstones(removed)));
        }
        let response = DeleteOffsetsResponse {
            error_code: errors::NONE,
            partitions,
        };
        Self::respond(out, delete.request_id, Response::DeleteOffsets(response));
    }

    /// The topics the members subscribe to, read from their metadata for the selected
    /// protocol (or their first protocol before one is selected); `None` if any is unreadable.
    pub(crate) fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        let mut topics = BTreeSet::new();
        for member in &self.members {
            let metadata = match self
                .protocol_name
                .as_deref()
                .and_then(|p| member.metadata(p))
            {
                Some(metadata) => metadata,
                None => member.protocols.first().map(|(_, m)| m.as_slice())?,
            };
            topics.extend(subscribed_topics(metadata)?);
        }
        Some(topics)
    }
}
