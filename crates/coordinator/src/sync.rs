//! SyncGroup: members wait here for the leader's assignment, which moves the group to
//! `Stable`.
//!
//! Invariants: the leader's assignment is persisted (a [`Record::Group`] effect) before any
//! member is told its assignment; members the leader left out get empty assignments.

use crate::effect::{Effect, Record, Response, SyncResponse};
use crate::errors;
use crate::event::Sync;
use crate::group::Group;
use crate::state::GroupState;

impl Group {
    pub(crate) fn on_sync(&mut self, sync: Sync, now_ms: u64, out: &mut Vec<Effect>) {
        let reject = |code: i16, out: &mut Vec<Effect>| {
            Self::respond(
                out,
                sync.request_id,
                Response::Sync(SyncResponse::error(code)),
            );
        };
        if self.state == GroupState::Dead {
            return reject(errors::COORDINATOR_NOT_AVAILABLE, out);
        }
        if self.is_static_member_fenced(sync.group_instance_id.as_deref(), &sync.member_id) {
            return reject(errors::FENCED_INSTANCE_ID, out);
        }
        let Some(index) = self.member_index(&sync.member_id) else {
            return reject(errors::UNKNOWN_MEMBER_ID, out);
        };
        if sync.generation != self.generation {
            return reject(errors::ILLEGAL_GENERATION, out);
        }
        let mismatch = |asked: &Option<String>, ours: &Option<String>| {
            asked
                .as_ref()
                .is_some_and(|asked| Some(asked) != ours.as_ref())
        };
        if mismatch(&sync.protocol_type, &self.protocol_type)
            || mismatch(&sync.protocol_name, &self.protocol_name)
        {
            return reject(errors::INCONSISTENT_GROUP_PROTOCOL, out);
        }
        match self.state {
            GroupState::PreparingRebalance => reject(errors::REBALANCE_IN_PROGRESS, out),
            GroupState::Stable => {
                self.refresh_session(index, now_ms);
                self.members[index].sync_due = false;
                let assignment = self.members[index].assignment.clone();
                let response = self.sync_response(assignment);
                Self::respond(out, sync.request_id, Response::Sync(response));
            }
            GroupState::CompletingRebalance => {
                self.refresh_session(index, now_ms);
                let member = &mut self.members[index];
                member.sync_due = false;
                if let Some(older) = member.pending_sync.replace(sync.request_id) {
                    let response = SyncResponse::error(errors::REBALANCE_IN_PROGRESS);
                    Self::respond(out, older, Response::Sync(response));
                }
                if self.leader.as_deref() == Some(sync.member_id.as_str()) {
                    self.apply_assignment(sync.assignments, now_ms, out);
                }
            }
            GroupState::Empty | GroupState::Dead => reject(errors::UNKNOWN_MEMBER_ID, out),
        }
    }

    fn sync_response(&self, assignment: Vec<u8>) -> SyncResponse {
        SyncResponse {
            error_code: errors::NONE,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment,
        }
    }

    /// The leader's assignment: store it, persist the group, go `Stable`, answer everyone
    /// waiting.
    fn apply_assignment(
        &mut self,
        mut assignments: Vec<(String, Vec<u8>)>,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) {
        for member in &mut self.members {
            member.assignment = assignments
                .iter()
                .position(|(id, _)| *id == member.member_id)
                .map(|i| assignments.swap_remove(i).1)
                .unwrap_or_default();
        }
        self.transition(GroupState::Stable, now_ms);
        out.push(Effect::Persist(Record::Group(self.snapshot())));
        for index in 0..self.members.len() {
            if let Some(request_id) = self.members[index].pending_sync.take() {
                let response = self.sync_response(self.members[index].assignment.clone());
                Self::respond(out, request_id, Response::Sync(response));
            }
        }
    }
}
