//! Time: session expiry, the KIP-394 handshake timeout, the join (rebalance) deadline with the
//! initial delay of an empty group's first rebalance, the sync deadline, offsets retention and
//! the move to `Dead` of an empty group without offsets.
//!
//! The group has one timer: after every event it works out its earliest deadline and emits
//! [`Effect::ScheduleTimer`] when that changed. Invariants: a member with a parked JoinGroup
//! or SyncGroup never expires by session (the join or sync deadline covers it); a tick
//! handles every deadline at or before `now`, so ticks may come late, early or twice.

use crate::effect::{Effect, Record};
use crate::errors;
use crate::event::TopicPartition;
use crate::group::Group;
use crate::member::Member;
use crate::offsets::CONSUMER_PROTOCOL_TYPE;
use crate::state::GroupState;

impl Group {
    pub(crate) fn on_tick(&mut self, now_ms: u64, out: &mut Vec<Effect>) {
        if self
            .scheduled_timer_ms
            .is_some_and(|deadline| deadline <= now_ms)
        {
            self.scheduled_timer_ms = None;
        }
        if self.state == GroupState::Dead {
            return;
        }
        let before = self.pending_members.len();
        self.pending_members.retain(|p| p.deadline_ms > now_ms);
        if self.pending_members.len() != before {
            self.try_complete_join(now_ms, out);
        }
        while let Some(index) = self.members.iter().position(|m| session_expired(m, now_ms)) {
            self.remove_member(index, errors::UNKNOWN_MEMBER_ID, now_ms, out);
        }
        self.on_join_deadline(now_ms, out);
        self.on_sync_deadline(now_ms, out);
        self.expire_offsets(now_ms, out);
    }

    fn on_join_deadline(&mut self, now_ms: u64, out: &mut Vec<Effect>) {
        if self.state != GroupState::PreparingRebalance
            || self
                .join_deadline_ms
                .is_none_or(|deadline| deadline > now_ms)
        {
            return;
        }
        if let Some(delay) = &mut self.initial_delay
            && delay.new_member_added
            && delay.max_deadline_ms > now_ms
        {
            // More members came during the delay: wait once more for stragglers.
            delay.new_member_added = false;
            let wait = u64::from(self.config.initial_rebalance_delay_ms);
            self.join_deadline_ms = Some((now_ms + wait).min(delay.max_deadline_ms));
            return;
        }
        self.complete_join(now_ms, out);
    }

    fn on_sync_deadline(&mut self, now_ms: u64, out: &mut Vec<Effect>) {
        if !matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) || self
            .sync_deadline_ms
            .is_none_or(|deadline| deadline > now_ms)
        {
            return;
        }
        self.sync_deadline_ms = None;
        while let Some(index) = self.members.iter().position(|m| m.sync_due) {
            self.remove_member(index, errors::UNKNOWN_MEMBER_ID, now_ms, out);
        }
    }

    /// Removes expired offsets; an empty group without offsets becomes `Dead`.
    fn expire_offsets(&mut self, now_ms: u64, out: &mut Vec<Effect>) {
        let retention = self.config.offsets_retention_ms;
        let expired: Vec<TopicPartition> = self
            .offsets
            .iter()
            .filter(|(tp, c)| {
                self.offset_base_ms(tp, c.commit_timestamp_ms)
                    .is_some_and(|base| base.saturating_add(retention) <= now_ms)
            })
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in &expired {
            self.offsets.remove(tp);
        }
        if !expired.is_empty() {
            out.push(Effect::Persist(Record::OffsetTombstones(expired.clone())));
        }
        // As in Kafka's cleanup pass, the pass that expires a group's last offsets drops it.
        if self.is_removable() && (!expired.is_empty() || self.removal_deadline_ms() <= now_ms) {
            self.transition(GroupState::Dead, now_ms);
            self.bury(out);
        }
    }

    /// An empty group without offsets is dropped `offsets_retention_check_interval_ms` after
    /// it became empty, so it stays visible (DescribeGroups, DeleteGroups) for about as long
    /// as Kafka's periodic cleanup would keep it.
    fn removal_deadline_ms(&self) -> u64 {
        self.state_since_ms
            .saturating_add(self.config.offsets_retention_check_interval_ms)
    }

    fn is_removable(&self) -> bool {
        self.state == GroupState::Empty
            && self.offsets.is_empty()
            && self.pending_members.is_empty()
    }

    /// When retention of an offset starts counting, or `None` while it is in use: for an
    /// empty group with a protocol, when it became empty; for a group only storing offsets,
    /// the commit; for a stable consumer group, the commit if no member subscribes the topic.
    fn offset_base_ms(&self, tp: &TopicPartition, commit_timestamp_ms: u64) -> Option<u64> {
        match self.state {
            GroupState::Empty if self.protocol_type.is_some() => Some(self.state_since_ms),
            GroupState::Empty => Some(commit_timestamp_ms),
            GroupState::Stable if self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE) => {
                let subscribed = self.subscribed_topics()?;
                (!subscribed.contains(&tp.topic)).then_some(commit_timestamp_ms)
            }
            _ => None,
        }
    }

    /// The earliest time something is due.
    fn next_deadline(&self) -> Option<u64> {
        if self.state == GroupState::Dead {
            return None;
        }
        if self.is_removable() {
            return Some(self.removal_deadline_ms());
        }
        let retention = self.config.offsets_retention_ms;
        let sessions = self
            .members
            .iter()
            .filter(|m| !m.is_awaiting_join() && !m.is_awaiting_sync())
            .map(|m| m.session_deadline_ms);
        let handshakes = self.pending_members.iter().map(|p| p.deadline_ms);
        let join = self
            .join_deadline_ms
            .filter(|_| self.state == GroupState::PreparingRebalance);
        let sync = self.sync_deadline_ms.filter(|_| {
            matches!(
                self.state,
                GroupState::CompletingRebalance | GroupState::Stable
            ) && self.members.iter().any(|m| m.sync_due)
        });
        let offsets = self.offsets.iter().filter_map(|(tp, c)| {
            self.offset_base_ms(tp, c.commit_timestamp_ms)
                .map(|b| b.saturating_add(retention))
        });
        sessions
            .chain(handshakes)
            .chain(join)
            .chain(sync)
            .chain(offsets)
            .min()
    }

    /// Emits [`Effect::ScheduleTimer`] when the earliest deadline changed.
    pub(crate) fn reschedule(&mut self, out: &mut Vec<Effect>) {
        let next = self.next_deadline();
        if next != self.scheduled_timer_ms {
            if let Some(deadline_ms) = next {
                out.push(Effect::ScheduleTimer { deadline_ms });
            }
            self.scheduled_timer_ms = next;
        }
    }
}

fn session_expired(member: &Member, now_ms: u64) -> bool {
    !member.is_awaiting_join() && !member.is_awaiting_sync() && member.session_deadline_ms <= now_ms
}
