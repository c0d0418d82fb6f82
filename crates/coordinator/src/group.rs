//! [`Group`]: one consumer group's state and the rebalance machinery the request handlers
//! share (preparing and completing a rebalance, removing members, snapshots).
//!
//! Invariants kept here:
//! - the generation never decreases; it grows by one each time a join phase completes;
//! - `leader` is `Some` exactly when the group has members, and names one of them;
//! - parked JoinGroup requests exist only in `PreparingRebalance`, parked SyncGroup requests
//!   only in `CompletingRebalance`; every parked request is answered exactly once;
//! - in `Stable` every member has the assignment the leader gave it (possibly empty bytes).

use std::collections::BTreeMap;

use crate::config::GroupConfig;
use crate::effect::{Effect, GroupMetadata, JoinResponse, JoinedMember, MemberMetadata, Record};
use crate::effect::{Response, SyncResponse};
use crate::errors;
use crate::event::{Event, RequestId, TopicPartition};
use crate::member::Member;
use crate::offsets::CommittedOffset;
use crate::state::GroupState;

/// The first rebalance of an empty group waits `initial_rebalance_delay_ms` for more members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InitialDelay {
    /// The delay never runs past the rebalance timeout.
    pub(crate) max_deadline_ms: u64,
    /// A member joined since the delay was last (re)started.
    pub(crate) new_member_added: bool,
}

/// A dynamic member that got `MEMBER_ID_REQUIRED` and has not rejoined yet (KIP-394).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingMember {
    pub(crate) member_id: String,
    pub(crate) deadline_ms: u64,
}

/// One consumer group: a state machine that takes [`Event`]s and returns [`Effect`]s.
#[derive(Debug, Clone)]
pub struct Group {
    pub(crate) id: String,
    pub(crate) config: GroupConfig,
    pub(crate) state: GroupState,
    pub(crate) state_since_ms: u64,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: Option<String>,
    /// In join order; the order decides the leader when the old one is gone.
    pub(crate) members: Vec<Member>,
    pub(crate) pending_members: Vec<PendingMember>,
    pub(crate) offsets: BTreeMap<TopicPartition, CommittedOffset>,
    pub(crate) join_deadline_ms: Option<u64>,
    pub(crate) initial_delay: Option<InitialDelay>,
    pub(crate) sync_deadline_ms: Option<u64>,
    pub(crate) next_member_seq: u64,
    pub(crate) scheduled_timer_ms: Option<u64>,
    /// Something of this group is in the log, so its end needs a tombstone.
    pub(crate) stored: bool,
}

impl Group {
    /// A new, empty group at generation 0.
    pub fn new(id: impl Into<String>, config: GroupConfig, now_ms: u64) -> Self {
        Self {
            id: id.into(),
            config,
            state: GroupState::Empty,
            state_since_ms: now_ms,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: Vec::new(),
            pending_members: Vec::new(),
            offsets: BTreeMap::new(),
            join_deadline_ms: None,
            initial_delay: None,
            sync_deadline_ms: None,
            next_member_seq: 0,
            scheduled_timer_ms: None,
            stored: false,
        }
    }

    /// Handles one event at time `now_ms` and returns the effects, in the order the runtime
    /// must carry them out.
    pub fn handle(&mut self, event: Event, now_ms: u64) -> Vec<Effect> {
        let mut out = Vec::new();
        match event {
            Event::Join(join) => self.on_join(join, now_ms, &mut out),
            Event::Sync(sync) => self.on_sync(sync, now_ms, &mut out),
            Event::Heartbeat(heartbeat) => self.on_heartbeat(heartbeat, now_ms, &mut out),
            Event::Leave(leave) => self.on_leave(leave, now_ms, &mut out),
            Event::CommitOffsets(commit) => self.on_commit(commit, now_ms, &mut out),
            Event::FetchOffsets(fetch) => self.on_fetch(fetch, &mut out),
            Event::DeleteOffsets(delete) => self.on_delete_offsets(delete, &mut out),
            Event::DeleteGroup { request_id } => self.on_delete(request_id, now_ms, &mut out),
            Event::TopicsDeleted(topics) => self.on_topics_deleted(&topics, &mut out),
            Event::Tick => self.on_tick(now_ms, &mut out),
        }
        self.reschedule(&mut out);
        self.stored |= out.iter().any(|e| matches!(e, Effect::Persist(_)));
        out
    }

    /// The tombstone for the group's metadata when it dies, if anything of it was stored
    /// (before, or by the effects of this very event).
    pub(crate) fn bury(&self, out: &mut Vec<Effect>) {
        if self.stored || out.iter().any(|e| matches!(e, Effect::Persist(_))) {
            out.push(Effect::Persist(Record::GroupTombstone));
        }
    }

    /// The group id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The current state.
    pub fn state(&self) -> GroupState {
        self.state
    }

    /// The current generation.
    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// The leader's member id.
    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    /// The group's protocol type, set by its first member.
    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }

    /// The protocol selected for the current generation.
    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }

    /// The members, in join order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The committed offsets.
    pub fn offsets(&self) -> &BTreeMap<TopicPartition, CommittedOffset> {
        &self.offsets
    }

    /// When the group entered its current state.
    pub fn state_since_ms(&self) -> u64 {
        self.state_since_ms
    }

    pub(crate) fn respond(out: &mut Vec<Effect>, request_id: RequestId, response: Response) {
        out.push(Effect::Respond {
            request_id,
            response,
        });
    }

    pub(crate) fn member_index(&self, member_id: &str) -> Option<usize> {
        self.members.iter().position(|m| m.member_id == member_id)
    }

    pub(crate) fn static_member_index(&self, instance_id: &str) -> Option<usize> {
        self.members
            .iter()
            .position(|m| m.group_instance_id.as_deref() == Some(instance_id))
    }

    /// KIP-345: the instance id belongs to a member with another member id.
    pub(crate) fn is_static_member_fenced(
        &self,
        instance_id: Option<&str>,
        member_id: &str,
    ) -> bool {
        instance_id
            .and_then(|instance| self.static_member_index(instance))
            .is_some_and(|index| self.members[index].member_id != member_id)
    }

    pub(crate) fn transition(&mut self, next: GroupState, now_ms: u64) {
        debug_assert!(
            self.state.can_transition_to(next),
            "{:?} -> {next:?}",
            self.state
        );
        self.state = next;
        self.state_since_ms = now_ms;
    }

    /// Protocols every member supports, ignoring the member at `except`.
    pub(crate) fn candidate_protocols(&self, except: Option<usize>) -> Vec<&str> {
        let mut others = self
            .members
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != except);
        let Some((_, first)) = others.next() else {
            return Vec::new();
        };
        let mut candidates: Vec<&str> = first.protocols.iter().map(|(n, _)| n.as_str()).collect();
        for (_, member) in others {
            candidates.retain(|name| member.supports(name));
        }
        candidates
    }

    /// Kafka's vote: each member votes for its most preferred protocol among those everyone
    /// supports; most votes wins, ties go to the protocol the earliest member prefers.
    pub(crate) fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols(None);
        let mut votes: Vec<(&str, usize)> = candidates.iter().map(|c| (*c, 0)).collect();
        for member in &self.members {
            if let Some(choice) = member.vote(&candidates)
                && let Some(entry) = votes.iter_mut().find(|(name, _)| *name == choice)
            {
                entry.1 += 1;
            }
        }
        let best = votes.iter().map(|(_, n)| *n).max()?;
        votes
            .iter()
            .find(|(_, n)| *n == best)
            .map(|(name, _)| name.to_string())
    }

    pub(crate) fn max_rebalance_timeout_ms(&self) -> u64 {
        self.members
            .iter()
            .map(|m| u64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    pub(crate) fn refresh_session(&mut self, index: usize, now_ms: u64) {
        let member = &mut self.members[index];
        member.session_deadline_ms = now_ms + u64::from(member.session_timeout_ms);
    }

    /// A fresh member id: `client_id-<now in hex>-<sequence>`, unique within the group.
    pub(crate) fn generate_member_id(&mut self, client_id: &str, now_ms: u64) -> String {
        loop {
            let id = format!("{client_id}-{now_ms:x}-{}", self.next_member_seq);
            self.next_member_seq += 1;
            let taken = self.member_index(&id).is_some()
                || self.pending_members.iter().any(|p| p.member_id == id);
            if !taken {
                return id;
            }
        }
    }

    /// Starts a rebalance from `Empty`, `CompletingRebalance` or `Stable`; does nothing in
    /// other states. Parked SyncGroups are answered with `REBALANCE_IN_PROGRESS`.
    pub(crate) fn prepare_rebalance(&mut self, now_ms: u64, out: &mut Vec<Effect>) {
        if !self.state.can_transition_to(GroupState::PreparingRebalance) {
            return;
        }
        if self.state == GroupState::CompletingRebalance {
            self.reset_assignments(errors::REBALANCE_IN_PROGRESS, out);
        }
        let rebalance_timeout = self.max_rebalance_timeout_ms();
        let delay = u64::from(self.config.initial_rebalance_delay_ms);
        if self.state == GroupState::Empty && delay > 0 {
            self.join_deadline_ms = Some(now_ms + delay.min(rebalance_timeout));
            self.initial_delay = Some(InitialDelay {
                max_deadline_ms: now_ms + rebalance_timeout,
                new_member_added: false,
            });
        } else {
            self.join_deadline_ms = Some(now_ms + rebalance_timeout);
            self.initial_delay = None;
        }
        self.sync_deadline_ms = None;
        self.transition(GroupState::PreparingRebalance, now_ms);
        self.try_complete_join(now_ms, out);
    }

    /// Answers parked SyncGroups with `error` and forgets the assignments.
    fn reset_assignments(&mut self, error: i16, out: &mut Vec<Effect>) {
        for member in &mut self.members {
            member.assignment.clear();
            if let Some(request_id) = member.pending_sync.take() {
                let response = SyncResponse {
                    error_code: error,
                    protocol_type: None,
                    protocol_name: None,
                    assignment: Vec::new(),
                };
                Self::respond(out, request_id, Response::Sync(response));
            }
        }
    }

    /// Completes the join phase if every member has rejoined, nobody is mid-handshake and no
    /// initial delay is running.
    pub(crate) fn try_complete_join(&mut self, now_ms: u64, out: &mut Vec<Effect>) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay.is_none()
            && self.pending_members.is_empty()
            && self.members.iter().all(Member::is_awaiting_join)
        {
            self.complete_join(now_ms, out);
        }
    }

    /// Ends the join phase: drops members that did not rejoin, starts the next generation
    /// and answers every parked JoinGroup (the leader gets the member list).
    pub(crate) fn complete_join(&mut self, now_ms: u64, out: &mut Vec<Effect>) {
        self.join_deadline_ms = None;
        self.initial_delay = None;
        self.members.retain(Member::is_awaiting_join);
        if self
            .leader
            .as_ref()
            .is_none_or(|leader| self.member_index(leader).is_none())
        {
            self.leader = self.members.first().map(|m| m.member_id.clone());
        }
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition(GroupState::Empty, now_ms);
            out.push(Effect::Persist(Record::Group(self.snapshot())));
            return;
        }
        self.protocol_name = self.select_protocol();
        self.transition(GroupState::CompletingRebalance, now_ms);
        self.sync_deadline_ms = Some(now_ms + self.max_rebalance_timeout_ms());
        let all = self.joined_members();
        for index in 0..self.members.len() {
            self.refresh_session(index, now_ms);
            let member = &mut self.members[index];
            member.is_new = false;
            member.sync_due = true;
            let Some(request_id) = member.pending_join.take() else {
                continue;
            };
            let is_leader = self.leader.as_deref() == Some(member.member_id.as_str());
            let response = JoinResponse {
                error_code: errors::NONE,
                generation: self.generation,
                protocol_type: self.protocol_type.clone(),
                protocol_name: self.protocol_name.clone(),
                leader: self.leader.clone().unwrap_or_default(),
                skip_assignment: false,
                member_id: member.member_id.clone(),
                members: if is_leader { all.clone() } else { Vec::new() },
            };
            Self::respond(out, request_id, Response::Join(response));
        }
    }

    /// Every member with its metadata for the selected protocol, as the leader gets them.
    pub(crate) fn joined_members(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .iter()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata(protocol).unwrap_or_default().to_vec(),
            })
            .collect()
    }

    /// Removes the member at `index`, answering its parked requests with `error`, and
    /// rebalances the rest.
    pub(crate) fn remove_member(
        &mut self,
        index: usize,
        error: i16,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) {
        let member = self.members.remove(index);
        if let Some(request_id) = member.pending_join {
            Self::respond(
                out,
                request_id,
                Response::Join(JoinResponse::error(error, "")),
            );
        }
        if let Some(request_id) = member.pending_sync {
            Self::respond(out, request_id, Response::Sync(SyncResponse::error(error)));
        }
        if self.leader.as_deref() == Some(member.member_id.as_str()) {
            self.leader = self.members.first().map(|m| m.member_id.clone());
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now_ms, out)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now_ms, out),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// The group's metadata record.
    pub fn snapshot(&self) -> GroupMetadata {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        GroupMetadata {
            protocol_type: self.protocol_type.clone(),
            generation: self.generation,
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone(),
            current_state_timestamp_ms: self.state_since_ms,
            members: self
                .members
                .iter()
                .map(|m| MemberMetadata {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(protocol).unwrap_or_default().to_vec(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }
}

impl JoinResponse {
    /// A JoinGroup error response for `member_id`.
    pub fn error(error_code: i16, member_id: &str) -> Self {
        Self {
            error_code,
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

impl SyncResponse {
    /// A SyncGroup error response.
    pub fn error(error_code: i16) -> Self {
        Self {
            error_code,
            protocol_type: None,
            protocol_name: None,
            assignment: Vec::new(),
        }
    }
}
