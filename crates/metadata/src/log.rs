//! The interface the rest of the broker sees the metadata log through.
//!
//! [`MetadataLog`] is what ARCHITECTURE.md decision 4 calls the replicated log of metadata
//! records. It has two implementations: [`LocalMetadataLog`](crate::LocalMetadataLog), a
//! durable log on one node's disk, and [`RaftMetadataLog`](crate::RaftMetadataLog), the same
//! log agreed by an openraft quorum of controller voters, where `commit` proposes the batch
//! (forwarding it to the leader from any other voter) and returns once it is committed and
//! applied on the committing node. The records and the image are the same in both. Callers
//! therefore must not assume that a commit is local or fast, only that it is durable and
//! ordered when it returns.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{CommitError, MetadataError};
use crate::image::MetadataImage;
use crate::record::MetadataRecord;

/// An ordered, durable log of metadata record batches, and the image they build.
///
/// Offsets name committed batches and only increase; offset 0 is the empty log. Every batch
/// is applied whole or not at all, and a refused batch changes nothing in the image.
///
/// What an offset counts depends on the log: in [`LocalMetadataLog`](crate::LocalMetadataLog)
/// offsets are dense (the first batch is 1, a refused batch uses none up). In
/// [`RaftMetadataLog`](crate::RaftMetadataLog) an offset is the Raft log index of the batch's
/// entry, so there are gaps: Raft's own entries (a new leader's no-op, membership) and
/// refused batches (validated at apply time on every node, so committed as no-ops) take
/// indexes too, and the image's offset is the index of the last entry applied, of any kind.
/// Code must therefore compare offsets, never count them.
pub trait MetadataLog: Send + Sync {
    /// Validates `records` against the current image as one batch, persists the batch
    /// durably, publishes the new image and returns the batch's offset. If any record is
    /// refused, the image is unchanged and the refusal is returned (the local log writes
    /// nothing; the Raft log keeps the batch as an entry that every node applies as a no-op).
    fn commit(&self, records: Vec<MetadataRecord>) -> Result<u64, CommitError>;

    /// [`commit`](MetadataLog::commit), giving up on finding a leader or an answer after
    /// `timeout` when that is shorter than the log's own commit timeout: for best-effort
    /// commits that must not hold things up (a controlled shutdown's handoffs). A local log
    /// commits at once and ignores it.
    fn commit_within(
        &self,
        records: Vec<MetadataRecord>,
        timeout: Duration,
    ) -> Result<u64, CommitError> {
        let _ = timeout;
        self.commit(records)
    }

    /// The latest published image. Cheap: a clone of an `Arc`.
    fn image(&self) -> Arc<MetadataImage>;

    /// The offset of the last committed batch (0 if none): the offset of the latest image.
    fn last_offset(&self) -> u64;

    /// Waits until the image includes the batch at `offset` and returns that image, or
    /// returns `None` once `timeout` has passed without it.
    fn wait_for_offset(&self, offset: u64, timeout: Duration) -> Option<Arc<MetadataImage>>;

    /// Stops accepting commits and leaves the log in its clean state (a local log takes a
    /// snapshot; a Raft log stops its node and its runtime). Later commits fail with
    /// [`MetadataError::Closed`].
    fn close(&self) -> Result<(), MetadataError>;
}
