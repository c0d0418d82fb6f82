//! StreamBus partition replicas.
//!
//! The [`ReplicaManager`] owns every partition this broker hosts and is the one way the
//! broker's handlers reach a log (ARCHITECTURE.md, decision 5): appends go through it so
//! that the high watermark moves and waiting fetches wake; reads go through it so that
//! consumers see only data below the high watermark.
//!
//! This is the single-node form: the broker leads every partition and is its only replica,
//! so the high watermark is the offset below which appends have completed (under
//! `flush=always`, been fsynced). Followers, ISR tracking and leader-epoch truncation come
//! with the cluster; their rules live, free of I/O, in [`state`], which a runtime over the
//! logs and Fetch requests drives.

mod manager;
mod partition;
pub mod state;

pub use manager::{ReplicaManager, ReplicationError};
pub use partition::{FetchWaiter, Partition};
