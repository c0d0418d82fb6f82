//! The openraft type configuration of the metadata quorum, and the two application types
//! it carries: [`Batch`], the payload of a log entry, and [`ApplyOutcome`], what applying
//! one entry produced.
//!
//! Invariant: an [`ApplyOutcome`] is computed by the state machine from the image and the
//! entry alone, so every node computes the same one for the same entry. Nothing here is
//! public outside the crate; openraft stays behind [`RaftMetadataLog`](crate::RaftMetadataLog).

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::error::{ApplyError, CommitError};
use crate::record::MetadataRecord;

openraft::declare_raft_types!(
    /// The types openraft is instantiated with.
    pub(crate) TypeConfig:
        D = Batch,
        R = ApplyOutcome,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The id of a Raft log entry.
pub(crate) type LogId = openraft::LogId<u64>;
/// A Raft log entry.
pub(crate) type Entry = openraft::Entry<TypeConfig>;
/// The membership as stored with the applied state.
pub(crate) type Membership = openraft::StoredMembership<u64, openraft::BasicNode>;
/// The metadata of a snapshot.
pub(crate) type SnapshotMeta = openraft::SnapshotMeta<u64, openraft::BasicNode>;
/// The openraft handle.
pub(crate) type Raft = openraft::Raft<TypeConfig>;
/// openraft's storage error.
pub(crate) type StorageError = openraft::StorageError<u64>;

/// One committed batch of metadata records: the application payload of a log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Batch(pub Vec<MetadataRecord>);

/// What applying one log entry produced: nothing, or the refusal of its batch.
///
/// The typed refusal is not serialized (its reasons are `&'static str`); only its text
/// travels. It never has to: openraft hands the response to the local committer, and a
/// forwarded write gets the typed refusal from its own node's state machine, which computed
/// the same one (see `write.rs`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ApplyOutcome {
    /// The refusal's text, if the batch was refused.
    pub refused: Option<String>,
    /// The refusal itself, on the node that applied the entry.
    #[serde(skip)]
    pub refusal: Option<Refusal>,
}

/// Why a batch was refused at apply time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The position of the refused record in the batch.
    pub index: usize,
    /// Its kind.
    pub kind: &'static str,
    /// The image's reason.
    pub source: ApplyError,
}

impl Refusal {
    /// The commit error the committer sees.
    pub fn into_error(self) -> CommitError {
        CommitError::Rejected {
            index: self.index,
            kind: self.kind,
            source: self.source,
        }
    }
}

impl ApplyOutcome {
    /// The result of the commit of the batch at `offset` that produced this outcome.
    pub fn into_result(self, offset: u64) -> Result<u64, CommitError> {
        match (self.refusal, self.refused) {
            (Some(refusal), _) => Err(refusal.into_error()),
            (None, Some(message)) => Err(CommitError::RejectedByLeader { offset, message }),
            (None, None) => Ok(offset),
        }
    }
}
