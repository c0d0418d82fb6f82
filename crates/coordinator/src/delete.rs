//! DeleteGroups: an empty group and all its offsets go, leaving tombstones; and the offsets
//! of deleted topics go from every group.
//!
//! Invariant: only a group without members is deleted; a deleted group is `Dead`, so the
//! runtime drops it and the next request for the id starts a fresh group.

use crate::effect::{Effect, Record, Response};
use crate::errors;
use crate::event::TopicPartition;
use crate::group::Group;
use crate::state::GroupState;

impl Group {
    pub(crate) fn on_delete(&mut self, request_id: u64, now_ms: u64, out: &mut Vec<Effect>) {
        let error_code = match self.state {
            GroupState::Dead => errors::GROUP_ID_NOT_FOUND,
            GroupState::Empty => {
                let offsets: Vec<TopicPartition> =
                    std::mem::take(&mut self.offsets).into_keys().collect();
                if !offsets.is_empty() {
                    out.push(Effect::Persist(Record::OffsetTombstones(offsets)));
                }
                self.pending_members.clear();
                self.transition(GroupState::Dead, now_ms);
                self.bury(out);
                errors::NONE
            }
            _ => errors::NON_EMPTY_GROUP,
        };
        Self::respond(out, request_id, Response::Delete(error_code));
    }
}

impl Group {
    pub(crate) fn on_topics_deleted(&mut self, topics: &[String], out: &mut Vec<Effect>) {
        let gone: Vec<TopicPartition> = self
            .offsets
            .keys()
            .filter(|tp| topics.contains(&tp.topic))
            .cloned()
            .collect();
        for tp in &gone {
            self.offsets.remove(tp);
        }
        if !gone.is_empty() {
            out.push(Effect::Persist(Record::OffsetTombstones(gone)));
        }
    }
}
