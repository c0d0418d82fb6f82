//! JoinGroup: new members (with the KIP-394 member id handshake), known members rejoining,
//! and static members (KIP-345) replacing their old member id.
//!
//! Invariants: a JoinGroup is either answered at once or parked on its member, never both;
//! a member whose protocol type or protocols don't fit the group's is never added; the old
//! member id of a replaced static member gets `FENCED_INSTANCE_ID` for anything it parked.

use crate::effect::{Effect, JoinResponse, Record, Response, SyncResponse};
use crate::errors;
use crate::event::Join;
use crate::group::{Group, PendingMember};
use crate::member::Member;
use crate::state::GroupState;

impl Group {
    pub(crate) fn on_join(&mut self, join: Join, now_ms: u64, out: &mut Vec<Effect>) {
        let error = if self.state == GroupState::Dead {
            Some(errors::COORDINATOR_NOT_AVAILABLE)
        } else if join.session_timeout_ms < self.config.min_session_timeout_ms
            || join.session_timeout_ms > self.config.max_session_timeout_ms
        {
            Some(errors::INVALID_SESSION_TIMEOUT)
        } else {
            None
        };
        if let Some(code) = error {
            let response = JoinResponse::error(code, &join.member_id);
            Self::respond(out, join.request_id, Response::Join(response));
        } else if join.member_id.is_empty() {
            self.join_new_member(join, now_ms, out);
        } else {
            self.join_known_member(join, now_ms, out);
        }
    }

    /// Whether a member with these protocols fits the group, ignoring the member at `except`
    /// (its own old protocols must not decide whether it may change them).
    fn supports_protocols(&self, join: &Join, except: Option<usize>) -> bool {
        if join.protocol_type.is_empty() || join.protocols.is_empty() {
            return false;
        }
        let has_others = self
            .members
            .iter()
            .enumerate()
            .any(|(i, _)| Some(i) != except);
        if !has_others {
            return true;
        }
        let candidates = self.candidate_protocols(except);
        self.protocol_type.as_deref() == Some(join.protocol_type.as_str())
            && join
                .protocols
                .iter()
                .any(|(name, _)| candidates.contains(&name.as_str()))
    }

    fn reject(join: &Join, code: i16, out: &mut Vec<Effect>) {
        let response = JoinResponse::error(code, &join.member_id);
        Self::respond(out, join.request_id, Response::Join(response));
    }

    fn join_new_member(&mut self, join: Join, now_ms: u64, out: &mut Vec<Effect>) {
        let known_static = join
            .group_instance_id
            .as_deref()
            .and_then(|id| self.static_member_index(id));
        if !self.supports_protocols(&join, known_static) {
            return Self::reject(&join, errors::INCONSISTENT_GROUP_PROTOCOL, out);
        }
        if let Some(index) = known_static {
            return self.replace_static_member(index, join, now_ms, out);
        }
        if self.members.len() + self.pending_members.len() >= self.config.group_max_size {
            return Self::reject(&join, errors::GROUP_MAX_SIZE_REACHED, out);
        }
        let member_id = self.generate_member_id(&join.client_id, now_ms);
        if join.require_known_member_id && join.group_instance_id.is_none() {
            // KIP-394: the member proves it got the id before it counts for the rebalance.
            self.pending_members.push(PendingMember {
                member_id: member_id.clone(),
                deadline_ms: now_ms + u64::from(join.session_timeout_ms),
            });
            let response = JoinResponse::error(errors::MEMBER_ID_REQUIRED, &member_id);
            Self::respond(out, join.request_id, Response::Join(response));
            return;
        }
        self.add_member_and_rebalance(member_id, join, now_ms, out);
    }

    fn join_known_member(&mut self, join: Join, now_ms: u64, out: &mut Vec<Effect>) {
        if let Some(pending) = self
            .pending_members
            .iter()
            .position(|p| p.member_id == join.member_id)
        {
            if join.group_instance_id.is_some() {
                // Static members skip the handshake, so this member id was handed out to a
                // dynamic member; Kafka treats the mix as an internal error.
                return Self::reject(&join, errors::UNKNOWN_SERVER_ERROR, out);
            }
            if !self.supports_protocols(&join, None) {
                return Self::reject(&join, errors::INCONSISTENT_GROUP_PROTOCOL, out);
            }
            self.pending_members.remove(pending);
            let member_id = join.member_id.clone();
            return self.add_member_and_rebalance(member_id, join, now_ms, out);
        }
        if self.is_static_member_fenced(join.group_instance_id.as_deref(), &join.member_id) {
            return Self::reject(&join, errors::FENCED_INSTANCE_ID, out);
        }
        let Some(index) = self.member_index(&join.member_id) else {
            return Self::reject(&join, errors::UNKNOWN_MEMBER_ID, out);
        };
        if !self.supports_protocols(&join, Some(index)) {
            return Self::reject(&join, errors::INCONSISTENT_GROUP_PROTOCOL, out);
        }
        let unchanged = self.members[index].protocols == join.protocols;
        let is_leader = self.leader.as_deref() == Some(join.member_id.as_str());
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member(index, join, now_ms, out);
                self.try_complete_join(now_ms, out);
            }
            GroupState::CompletingRebalance | GroupState::Stable
                if unchanged && !(is_leader && self.state == GroupState::Stable) =>
            {
                // Nothing changed: hand back the current generation (the leader, while the
                // assignment is pending, gets the member list again).
                self.refresh_session(index, now_ms);
                let response = self.current_generation_response(&join.member_id, is_leader);
                Self::respond(out, join.request_id, Response::Join(response));
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member(index, join, now_ms, out);
                self.prepare_rebalance(now_ms, out);
            }
            GroupState::Empty | GroupState::Dead => {
                Self::reject(&join, errors::UNKNOWN_MEMBER_ID, out);
            }
        }
    }

    fn current_generation_response(&self, member_id: &str, with_members: bool) -> JoinResponse {
        JoinResponse {
            error_code: errors::NONE,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: if with_members {
                self.joined_members()
            } else {
                Vec::new()
            },
        }
    }

    /// Takes the member's new protocols and timeouts and parks its JoinGroup.
    fn update_member(&mut self, index: usize, join: Join, now_ms: u64, out: &mut Vec<Effect>) {
        let member = &mut self.members[index];
        if let Some(older) = member.pending_join.replace(join.request_id) {
            let response = JoinResponse::error(errors::REBALANCE_IN_PROGRESS, &member.member_id);
            Self::respond(out, older, Response::Join(response));
        }
        member.rejoin(join);
        self.refresh_session(index, now_ms);
    }

    fn add_member_and_rebalance(
        &mut self,
        member_id: String,
        join: Join,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) {
        if self.members.is_empty() {
            self.protocol_type = Some(join.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member_id.clone());
        }
        self.members.push(Member {
            member_id,
            group_instance_id: join.group_instance_id,
            client_id: join.client_id,
            client_host: join.client_host,
            session_timeout_ms: join.session_timeout_ms,
            rebalance_timeout_ms: join.rebalance_timeout_ms,
            protocol_type: join.protocol_type,
            protocols: join.protocols,
            assignment: Vec::new(),
            session_deadline_ms: now_ms + u64::from(join.session_timeout_ms),
            pending_join: Some(join.request_id),
            pending_sync: None,
            is_new: true,
            sync_due: false,
        });
        if let Some(delay) = &mut self.initial_delay {
            delay.new_member_added = true;
        }
        if self.state == GroupState::PreparingRebalance {
            self.try_complete_join(now_ms, out);
        } else {
            self.prepare_rebalance(now_ms, out);
        }
    }

    /// KIP-345: a static member rejoined without a member id. It takes a new id and keeps
    /// its place (and assignment); the old id is fenced. In a stable group, when the member
    /// subscribes as before (so the selected protocol stays too), there is no rebalance.
    /// Kafka only compares the selected protocol; comparing the subscriptions as well also
    /// rebalances when a restarted follower changed its topics. Subscriptions are compared
    /// by their topics, not their bytes: a restarted consumer's metadata differs in the
    /// owned partitions and generation it carries (v1+), which must not force a rebalance.
    fn replace_static_member(
        &mut self,
        index: usize,
        join: Join,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) {
        let new_id = self.generate_member_id(&join.client_id, now_ms);
        let member = &mut self.members[index];
        let old_id = std::mem::replace(&mut member.member_id, new_id.clone());
        if let Some(request_id) = member.pending_join.take() {
            let response = JoinResponse::error(errors::FENCED_INSTANCE_ID, &old_id);
            Self::respond(out, request_id, Response::Join(response));
        }
        if let Some(request_id) = member.pending_sync.take() {
            let response = SyncResponse::error(errors::FENCED_INSTANCE_ID);
            Self::respond(out, request_id, Response::Sync(response));
        }
        if self.leader.as_deref() == Some(old_id.as_str()) {
            self.leader = Some(new_id.clone());
        }
        let request_id = join.request_id;
        let member = &mut self.members[index];
        let unchanged = same_subscriptions(&member.protocols, &join.protocols);
        member.rejoin(join);
        self.refresh_session(index, now_ms);
        match self.state {
            GroupState::Stable if unchanged && self.select_protocol() == self.protocol_name => {
                out.push(Effect::Persist(Record::Group(self.snapshot())));
                let is_leader = self.leader.as_deref() == Some(new_id.as_str());
                let mut response = self.current_generation_response(&new_id, is_leader);
                response.skip_assignment = is_leader;
                Self::respond(out, request_id, Response::Join(response));
            }
            GroupState::PreparingRebalance => {
                self.members[index].pending_join = Some(request_id);
                self.try_complete_join(now_ms, out);
            }
            _ => {
                // In CompletingRebalance the leader may already be assigning to the old id,
                // so a fresh rebalance is the only safe answer.
                self.members[index].pending_join = Some(request_id);
                self.prepare_rebalance(now_ms, out);
            }
        }
    }
}

/// Whether two members' protocol lists name the same protocols in the same order and, for
/// each, subscribe to the same topics (the metadata bytes themselves where they are not a
/// consumer protocol subscription).
fn same_subscriptions(old: &[(String, Vec<u8>)], new: &[(String, Vec<u8>)]) -> bool {
    let topics = |metadata: &[u8]| {
        crate::subscription::subscribed_topics(metadata).map(|mut topics| {
            topics.sort_unstable();
            topics
        })
    };
    old.len() == new.len()
        && old
            .iter()
            .zip(new)
            .all(|((old_name, old_meta), (new_name, new_meta))| {
                old_name == new_name
                    && match (topics(old_meta), topics(new_meta)) {
                        (Some(old_topics), Some(new_topics)) => old_topics == new_topics,
                        _ => old_meta == new_meta,
                    }
            })
}
