//! Errors of the replication state machines.
//!
//! Each variant names the Kafka error code a runtime answers with, so the mapping to the
//! wire stays one lookup in the broker.

use thiserror::Error;

use super::ReplicaId;

/// Why an event was refused by a replication state machine. A refused event changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StateError {
    /// An epoch entry with a negative epoch or start offset (a bug in the caller).
    #[error("invalid leader epoch entry")]
    InvalidEpochEntry {
        /// The epoch given.
        epoch: i32,
        /// The start offset given.
        start_offset: i64,
    },
    /// A replica that is not assigned to the partition (UNKNOWN_SERVER_ERROR in Kafka's
    /// fetch path: the fetcher is misconfigured).
    #[error("replica is not assigned to the partition")]
    UnknownReplica {
        /// The replica.
        replica: ReplicaId,
    },
    /// A follower fetched past the leader's log end (OFFSET_OUT_OF_RANGE).
    #[error("fetch offset is past the leader's log end offset")]
    FetchOffsetOutOfRange {
        /// The follower.
        replica: ReplicaId,
        /// The offset it fetched from.
        fetch_offset: i64,
        /// The leader's log end offset.
        log_end_offset: i64,
    },
    /// The ISR is smaller than `min.insync.replicas` (NOT_ENOUGH_REPLICAS).
    #[error("not enough in-sync replicas")]
    NotEnoughReplicas {
        /// The ISR size.
        isr: usize,
        /// The configured minimum.
        min_insync_replicas: usize,
    },
    /// A request carried an older leader epoch than the leader's (FENCED_LEADER_EPOCH).
    #[error("leader epoch of the request is older than the current one")]
    FencedLeaderEpoch {
        /// The request's epoch.
        request: i32,
        /// The leader's epoch.
        current: i32,
    },
    /// A request carried a newer leader epoch than the leader's (UNKNOWN_LEADER_EPOCH).
    #[error("leader epoch of the request is newer than the current one")]
    UnknownLeaderEpoch {
        /// The request's epoch.
        request: i32,
        /// The leader's epoch.
        current: i32,
    },
    /// The leader's log end offset was reported lower than before (a bug in the caller).
    #[error("log end offset moved backwards")]
    LogEndOffsetBackwards {
        /// The log end offset known.
        current: i64,
        /// The one reported.
        reported: i64,
    },
    /// Fetched batches that do not continue the follower's log or each other, or that carry
    /// an epoch newer than the leader's (CORRUPT_MESSAGE-like: the response is dropped).
    #[error("fetched batch does not continue the log")]
    NonContiguousBatch {
        /// The offset the batch should start at.
        expected: i64,
        /// The offset it starts at.
        base_offset: i64,
        /// Its epoch.
        epoch: i32,
    },
    /// A configuration value out of range.
    #[error("invalid replication config")]
    InvalidConfig {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: &'static str,
    },
}
