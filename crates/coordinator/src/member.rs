//! One member of a group: what it joined with, its assignment, its session, and the JoinGroup
//! or SyncGroup request it may have parked.
//!
//! Invariant: a member has at most one parked JoinGroup and at most one parked SyncGroup; a
//! newer request from the same member answers the older one first.

use crate::event::{Join, RequestId};

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout_ms: u32,
    /// Rebalance timeout.
    pub rebalance_timeout_ms: u32,
    /// Protocol type.
    pub protocol_type: String,
    /// Supported protocols with metadata, most preferred first.
    pub protocols: Vec<(String, Vec<u8>)>,
    /// The assignment the leader gave it for the current generation.
    pub assignment: Vec<u8>,
    /// When the session expires unless the member is heard from.
    pub session_deadline_ms: u64,
    pub(crate) pending_join: Option<RequestId>,
    pub(crate) pending_sync: Option<RequestId>,
    /// Joined since the last completed rebalance.
    pub(crate) is_new: bool,
    /// Got this generation's JoinGroup response but has not sent its SyncGroup yet.
    pub(crate) sync_due: bool,
}

impl Member {
    /// The metadata this member sent for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Option<&[u8]> {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.as_slice())
    }

    /// Whether this member supports `protocol`.
    pub fn supports(&self, protocol: &str) -> bool {
        self.metadata(protocol).is_some()
    }

    /// Whether the member has a JoinGroup parked for the running rebalance.
    pub fn is_awaiting_join(&self) -> bool {
        self.pending_join.is_some()
    }

    /// Whether the member has a SyncGroup parked until the leader's assignment arrives.
    pub fn is_awaiting_sync(&self) -> bool {
        self.pending_sync.is_some()
    }

    /// Takes what a rejoin brings: protocols, timeouts and the client's identity.
    pub(crate) fn rejoin(&mut self, join: Join) {
        self.protocols = join.protocols;
        self.session_timeout_ms = join.session_timeout_ms;
        self.rebalance_timeout_ms = join.rebalance_timeout_ms;
        self.client_id = join.client_id;
        self.client_host = join.client_host;
    }

    /// Its most preferred protocol among `candidates` (Kafka's vote).
    pub(crate) fn vote<'a>(&'a self, candidates: &[&str]) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .find(|name| candidates.contains(name))
    }
}
