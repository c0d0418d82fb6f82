//! The sans-I/O core of partition replication (ARCHITECTURE.md, decision 5).
//!
//! Each type here is a state machine over one partition that takes events (an append, a
//! follower's fetch, a clock tick, a controller's answer) and returns effects (the high
//! watermark moved, propose this ISR, truncate to that offset, send this request). None of
//! them touches a log, a socket or a clock: the runtime around them reads the log, sends the
//! requests, applies the effects and feeds the answers back. That keeps every rule of the
//! protocol testable by asserting effects, and lets `tests/simulation.rs` drive three replicas
//! and a controller deterministically.
//!
//! - [`LeaderEpochCache`]: which leader epoch started at which offset (KIP-101, KIP-279), and
//!   the OffsetForLeaderEpoch answer a leader gives.
//! - [`LeaderState`]: one partition on its leader: follower progress, ISR changes proposed
//!   and confirmed (AlterPartition), the high watermark, `acks=all` and `min.insync.replicas`.
//! - [`FollowerState`]: one partition on a follower: truncation after a leader change, then
//!   fetching from the log end and following the leader's high watermark.
//! - [`elect_leader`]: the controller's choice of a new leader and ISR.
//!
//! Offsets are `i64` and epochs `i32`, as on the wire; [`UNDEFINED_EPOCH`] and
//! [`UNDEFINED_OFFSET`] are Kafka's `-1` sentinels.

mod election;
mod epoch_cache;
mod error;
mod follower;
mod leader;
mod progress;

pub use election::{Election, elect_leader, isr_without};
pub use epoch_cache::{EpochEndOffset, EpochEntry, LeaderEpochCache};
pub use error::StateError;
pub use follower::{FetchedBatch, FollowerEffect, FollowerPhase, FollowerRequest, FollowerState};
pub use leader::{AckStatus, IsrProposal, LeaderConfig, LeaderEffect, LeaderInit, LeaderState};
pub use progress::FollowerProgress;

/// A broker id, as the replica of a partition it hosts.
pub type ReplicaId = i32;

/// Kafka's "no epoch" (`UNDEFINED_EPOCH`).
pub const UNDEFINED_EPOCH: i32 = -1;

/// Kafka's "no offset" (`UNDEFINED_EPOCH_OFFSET`, `UnknownOffset`).
pub const UNDEFINED_OFFSET: i64 = -1;

#[cfg(test)]
mod follower_tests;
#[cfg(test)]
mod leader_tests;
