//! Rebuilding a group from what `__consumer_offsets` holds for it, when a coordinator loads
//! the partition (at start, or when it becomes the partition's leader).
//!
//! A group stored with members comes back `Stable` at its generation with every member's
//! subscription and assignment, and each member's session starting at the load, as Kafka
//! does: live members carry on with heartbeats, and a static member that restarts gets its
//! assignment back; members that died meanwhile expire after their session timeout. A group
//! stored without members comes back `Empty`, its retention counting from when it emptied.

use std::collections::BTreeMap;

use crate::config::GroupConfig;
use crate::effect::GroupMetadata;
use crate::event::TopicPartition;
use crate::group::Group;
use crate::member::Member;
use crate::offsets::CommittedOffset;
use crate::state::GroupState;

impl Group {
    /// The group as stored: its last metadata record (if any) and its committed offsets.
    pub fn restore(
        id: impl Into<String>,
        config: GroupConfig,
        metadata: Option<GroupMetadata>,
        offsets: BTreeMap<TopicPartition, CommittedOffset>,
        now_ms: u64,
    ) -> Self {
        let mut group = Group::new(id, config, now_ms);
        group.stored = metadata.is_some() || !offsets.is_empty();
        group.offsets = offsets;
        let Some(metadata) = metadata else {
            return group;
        };
        group.generation = metadata.generation;
        group.protocol_type = metadata.protocol_type;
        group.state_since_ms = metadata.current_state_timestamp_ms.min(now_ms);
        if metadata.members.is_empty() {
            return group;
        }
        let protocol = metadata.protocol_name.clone().unwrap_or_default();
        group.members = metadata
            .members
            .into_iter()
            .map(|m| Member {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocol_type: group.protocol_type.clone().unwrap_or_default(),
                protocols: vec![(protocol.clone(), m.subscription)],
                assignment: m.assignment,
                session_deadline_ms: now_ms + u64::from(m.session_timeout_ms),
                pending_join: None,
                pending_sync: None,
                is_new: false,
                sync_due: false,
            })
            .collect();
        group.protocol_name = metadata.protocol_name;
        group.leader = metadata
            .leader
            .filter(|leader| group.member_index(leader).is_some())
            .or_else(|| group.members.first().map(|m| m.member_id.clone()));
        group.state = GroupState::Stable;
        group.state_since_ms = now_ms;
        group
    }
}
