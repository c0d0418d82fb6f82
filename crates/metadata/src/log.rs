//! The interface the rest of the broker sees the metadata log through.
//!
//! [`MetadataLog`] is what ARCHITECTURE.md decision 4 calls the replicated log of metadata
//! records. Today its one implementation is [`LocalMetadataLog`](crate::LocalMetadataLog),
//! a durable log on one node's disk. The cluster issue puts Raft (openraft) under this same
//! trait: `commit` proposes the batch to the controller quorum and returns once it is
//! committed and applied, offsets become Raft log indexes, and the records and the image stay
//! exactly as they are. Callers therefore must not assume that a commit is local or fast,
//! only that it is durable and ordered when it returns.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{CommitError, MetadataError};
use crate::image::MetadataImage;
use crate::record::MetadataRecord;

/// An ordered, durable log of metadata record batches, and the image they build.
///
/// Offsets name committed batches: the first batch is offset 1, and offset 0 is the empty
/// log. Every batch is applied whole or not at all.
pub trait MetadataLog: Send + Sync {
    /// Validates `records` against the current image as one batch, persists the batch
    /// durably, publishes the new image and returns the batch's offset. If any record is
    /// refused, nothing is written, the image is unchanged and the refusal is returned.
    fn commit(&self, records: Vec<MetadataRecord>) -> Result<u64, CommitError>;

    /// The latest published image. Cheap: a clone of an `Arc`.
    fn image(&self) -> Arc<MetadataImage>;

    /// The offset of the last committed batch (0 if none).
    fn last_offset(&self) -> u64;

    /// Waits until the image includes the batch at `offset` and returns that image, or
    /// returns `None` once `timeout` has passed without it.
    fn wait_for_offset(&self, offset: u64, timeout: Duration) -> Option<Arc<MetadataImage>>;

    /// Stops accepting commits and leaves the log in its clean state (a local log takes a
    /// snapshot). Later commits fail with [`MetadataError::Closed`].
    fn close(&self) -> Result<(), MetadataError>;
}
