//! LeaveGroup: members leaving on purpose, dynamic ones by member id and static ones by
//! `group.instance.id` (v3+ batches several).
//!
//! Invariant: each listed member gets its own result in request order; a static member is
//! only removed when the member id, if given, is the one its instance id currently maps to.

use crate::effect::{Effect, LeaveResponse, MemberResponse, Response};
use crate::errors;
use crate::event::{Leave, LeavingMember};
use crate::group::Group;
use crate::state::GroupState;

impl Group {
    pub(crate) fn on_leave(&mut self, leave: Leave, now_ms: u64, out: &mut Vec<Effect>) {
        if self.state == GroupState::Dead {
            let response = LeaveResponse {
                error_code: errors::COORDINATOR_NOT_AVAILABLE,
                members: Vec::new(),
            };
            return Self::respond(out, leave.request_id, Response::Leave(response));
        }
        let mut members = Vec::with_capacity(leave.members.len());
        for leaving in leave.members {
            let error_code = self.leave_one(&leaving, now_ms, out);
            members.push(MemberResponse {
                member_id: leaving.member_id,
                group_instance_id: leaving.group_instance_id,
                error_code,
            });
        }
        let response = LeaveResponse {
            error_code: errors::NONE,
            members,
        };
        Self::respond(out, leave.request_id, Response::Leave(response));
    }

    fn leave_one(&mut self, leaving: &LeavingMember, now_ms: u64, out: &mut Vec<Effect>) -> i16 {
        if let Some(instance_id) = leaving.group_instance_id.as_deref() {
            let Some(index) = self.static_member_index(instance_id) else {
                return errors::UNKNOWN_MEMBER_ID;
            };
            if !leaving.member_id.is_empty() && self.members[index].member_id != leaving.member_id {
                return errors::FENCED_INSTANCE_ID;
            }
            self.remove_member(index, errors::UNKNOWN_MEMBER_ID, now_ms, out);
            return errors::NONE;
        }
        if let Some(pending) = self
            .pending_members
            .iter()
            .position(|p| p.member_id == leaving.member_id)
        {
            self.pending_members.remove(pending);
            self.try_complete_join(now_ms, out);
            return errors::NONE;
        }
        match self.member_index(&leaving.member_id) {
            Some(index) => {
                self.remove_member(index, errors::UNKNOWN_MEMBER_ID, now_ms, out);
                errors::NONE
            }
            None => errors::UNKNOWN_MEMBER_ID,
        }
    }
}
