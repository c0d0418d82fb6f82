//! The messages of the quorum's own RPC protocol: one [`Request`] frame answered by one
//! [`Response`] frame on a TCP connection (frames from the `codec` module, JSON payloads).
//!
//! Invariant: a connection carries one request at a time, so responses need no ids.

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use super::types::TypeConfig;
use crate::record::MetadataRecord;

/// A request from one quorum node to another.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    Vote(VoteRequest<u64>),
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A batch a follower forwards to the node it believes is the leader.
    Forward(Vec<MetadataRecord>),
    /// A node telling the node it believes is the leader that it is alive.
    Heartbeat {
        node_id: u64,
    },
    /// An observer asking to be added to the quorum as a learner, reached at `addr`.
    Join {
        node_id: u64,
        addr: String,
    },
}

/// The answer to a [`Request`] of the same kind.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Response {
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    Forward(ForwardReply),
    Heartbeat,
    Join(JoinReply),
}

/// The answer to an observer's [`Request::Join`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum JoinReply {
    /// The observer is a learner of the membership (it may have been already).
    Added,
    /// The node is not the leader; nothing was changed.
    NotLeader { leader: Option<u64> },
    /// The request cannot be granted (a voter's id, or a membership change failed).
    Refused { reason: String },
}

/// The leader's answer to a forwarded batch.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ForwardReply {
    /// The batch was committed and applied at `index`; `refused` if it was a refused no-op.
    Committed { index: u64, refused: Option<String> },
    /// The node is not the leader; nothing was proposed.
    NotLeader { leader: Option<u64> },
    /// The write failed after it may have been proposed.
    Failed { reason: String },
}
