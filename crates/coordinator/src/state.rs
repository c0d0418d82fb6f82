//! The states of a classic group and which transitions are legal.
//!
//! ```text
//! Empty ──join──▶ PreparingRebalance ──all joined / deadline──▶ CompletingRebalance
//!   ▲                 ▲        │ no members left                     │ leader's SyncGroup
//!   │                 │        ▼                                     ▼
//!   └─────────────────┼──── Empty                                  Stable
//!                     └──── member joins, leaves, expires ───────────┘
//! Empty ──offsets expired / none left──▶ Dead (terminal: the runtime drops the group)
//! ```

/// The state of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members; the group may still hold offsets.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Everyone joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Members have their assignments.
    Stable,
    /// Gone: no members, no offsets. Requests get `COORDINATOR_NOT_AVAILABLE` and the runtime
    /// removes the group, so a later request starts a fresh one.
    Dead,
}

impl GroupState {
    /// Whether the group may move from `self` to `next`.
    pub fn can_transition_to(self, next: GroupState) -> bool {
        use GroupState::*;
        match next {
            Empty => matches!(self, PreparingRebalance),
            PreparingRebalance => matches!(self, Empty | CompletingRebalance | Stable),
            CompletingRebalance => matches!(self, PreparingRebalance),
            Stable => matches!(self, CompletingRebalance),
            Dead => self != Dead,
        }
    }

    /// The name Kafka's DescribeGroups and ListGroups use.
    pub fn kafka_name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}
