//! StreamBus partition replicas (ARCHITECTURE.md, decision 5).
//!
//! The [`ReplicaManager`] owns every partition this broker hosts and is the one way the
//! broker's handlers reach a log: appends go through it so that the high watermark moves and
//! waiting fetches wake; reads go through it so that consumers see only data below the high
//! watermark.
//!
//! A hosted [`Partition`] is led or followed, as the metadata says. Its leader tracks the
//! followers' progress from their fetches, keeps the high watermark at the smallest log end
//! over the in-sync replicas, answers `acks=all` once the high watermark passes the append,
//! and proposes ISR changes for the broker to commit. A follower runs a fetcher against the
//! leader: it truncates where its log diverges (OffsetForLeaderEpoch), then fetches with its
//! replica id and appends what arrives, keeping the leader's offsets and epochs; the
//! partitions followed on one leader fetch together, one request for all of them. The rules
//! themselves live, free of I/O, in [`state`]; the modules here are the runtime around them.
//! With a single replica the leader's own log end is the high watermark, so a single node
//! answers as soon as its append is durable.

mod appends;
mod fetcher;
mod following;
mod leader_link;
mod leading;
mod manager;
mod partition;
pub mod state;

pub use appends::Commit;
pub use following::FollowerSpec;
pub use leading::LeaderSpec;
pub use manager::{ReplicaManager, ReplicationError};
pub use partition::{FetchWaiter, Partition, ReplicaRole};
