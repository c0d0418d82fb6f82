//! Heartbeat: keeps a member's session alive and tells it when to rejoin.
//!
//! Invariant: a heartbeat never changes the group's state; it only moves the member's
//! session deadline.

use crate::effect::{Effect, HeartbeatResponse, Response};
use crate::errors;
use crate::event::Heartbeat;
use crate::group::Group;
use crate::state::GroupState;

impl Group {
    pub(crate) fn on_heartbeat(
        &mut self,
        heartbeat: Heartbeat,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) {
        let error_code = self.heartbeat_error(&heartbeat, now_ms);
        let response = Response::Heartbeat(HeartbeatResponse { error_code });
        Self::respond(out, heartbeat.request_id, response);
    }

    fn heartbeat_error(&mut self, heartbeat: &Heartbeat, now_ms: u64) -> i16 {
        match self.state {
            GroupState::Dead => return errors::COORDINATOR_NOT_AVAILABLE,
            GroupState::Empty => return errors::UNKNOWN_MEMBER_ID,
            _ => {}
        }
        let instance_id = heartbeat.group_instance_id.as_deref();
        if self.is_static_member_fenced(instance_id, &heartbeat.member_id) {
            return errors::FENCED_INSTANCE_ID;
        }
        let Some(index) = self.member_index(&heartbeat.member_id) else {
            return errors::UNKNOWN_MEMBER_ID;
        };
        if heartbeat.generation != self.generation {
            return errors::ILLEGAL_GENERATION;
        }
        self.refresh_session(index, now_ms);
        if self.state == GroupState::PreparingRebalance {
            errors::REBALANCE_IN_PROGRESS
        } else {
            errors::NONE
        }
    }
}
