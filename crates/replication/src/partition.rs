//! One hosted partition: its log, its role (leader or follower), leader epochs and high
//! watermark.
//!
//! The role is the state machine of `state` ([`LeaderState`]) on a leader, and the leader
//! being followed on a follower (whose [`fetcher`](crate::fetcher) runs the
//! [`FollowerState`](crate::state::FollowerState) machine). Invariants:
//! - the log is written only under the role lock, by the role that owns it: a leader's
//!   appends check that it still leads, a follower's replicated appends and truncations
//!   check that their fetcher is still the current one; so a role change never interleaves
//!   with a write of the role before;
//! - consumers read only below the high watermark; followers read up to the log end;
//! - the high watermark is published on a watch, so waiting fetches and `acks=all` produces
//!   wake when it moves; the log end likewise, for followers' fetches waiting for data.
//!
//! The methods of each role are in `leading` and `following`.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use streambus_storage::{LogRead, PartitionLog, TopicPartition};
use tokio::sync::watch;

use crate::fetcher::FetcherHandle;
use crate::manager::ReplicationError;
use crate::state::{LeaderEpochCache, LeaderState, ReplicaId};

/// A partition this broker hosts, as leader or follower.
pub struct Partition {
    pub(crate) tp: TopicPartition,
    pub(crate) log: Arc<PartitionLog>,
    pub(crate) leader_epoch: AtomicI32,
    /// The high watermark; receivers are woken when it moves.
    pub(crate) high_watermark: watch::Sender<i64>,
    /// The log end offset after each append; followers' fetches wait on it.
    pub(crate) log_end: watch::Sender<i64>,
    pub(crate) role: Mutex<Role>,
    pub(crate) epochs: Mutex<LeaderEpochCache>,
    /// Bumped at every role change, so that a fetcher knows when it is no longer current.
    pub(crate) generation: AtomicU64,
}

/// What this broker is for the partition.
pub(crate) enum Role {
    Leader(LeaderState),
    Follower {
        leader: ReplicaId,
        /// Stops the fetcher when the role changes (dropped with it).
        fetcher: Option<FetcherHandle>,
    },
}

/// Which replica a partition's hosting broker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaRole {
    /// It leads the partition.
    Leader,
    /// It follows the given leader.
    Follower {
        /// The leader's broker id.
        leader: ReplicaId,
    },
}

impl Partition {
    pub(crate) fn new(tp: TopicPartition, log: Arc<PartitionLog>, role: Role) -> Self {
        let end = log.log_end_offset();
        let epochs = log.leader_epochs().unwrap_or_else(|e| {
            tracing::warn!(partition = %tp, error = %e, "cannot read the log's leader epochs");
            Vec::new()
        });
        let mut cache = LeaderEpochCache::new();
        for (epoch, start) in epochs {
            let _ = cache.assign(epoch, start);
        }
        Partition {
            tp,
            log,
            leader_epoch: AtomicI32::new(-1),
            high_watermark: watch::Sender::new(end),
            log_end: watch::Sender::new(end),
            role: Mutex::new(role),
            epochs: Mutex::new(cache),
            generation: AtomicU64::new(0),
        }
    }

    /// Topic and partition number.
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    /// The underlying log.
    pub fn log(&self) -> &Arc<PartitionLog> {
        &self.log
    }

    /// The current leader epoch.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// Whether this broker leads the partition or follows whom.
    pub fn role(&self) -> ReplicaRole {
        match &*self.lock_role() {
            Role::Leader(_) => ReplicaRole::Leader,
            Role::Follower { leader, .. } => ReplicaRole::Follower { leader: *leader },
        }
    }

    /// Whether this broker leads the partition.
    pub fn is_leader(&self) -> bool {
        self.role() == ReplicaRole::Leader
    }

    /// The in-sync replicas as the leader knows them (empty on a follower).
    pub fn isr(&self) -> Vec<ReplicaId> {
        match &*self.lock_role() {
            Role::Leader(state) => state.isr().to_vec(),
            Role::Follower { .. } => Vec::new(),
        }
    }

    /// Offset below which records are committed and visible to consumers.
    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    /// First offset held.
    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    /// Offset the next record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    /// Reads committed batches from `offset`, at most `max_bytes` (at least one batch).
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<LogRead, ReplicationError> {
        Ok(self
            .log
            .read(offset, max_bytes, Some(self.high_watermark()))?)
    }

    /// A waiter that resolves when the high watermark moves past what it has seen.
    pub fn waiter(&self) -> FetchWaiter {
        FetchWaiter::on(&self.high_watermark)
    }

    /// A waiter that resolves when the log end moves (an append): what a follower's fetch
    /// waits for.
    pub fn log_end_waiter(&self) -> FetchWaiter {
        FetchWaiter::on(&self.log_end)
    }

    /// The end offset of `epoch` and the epoch that holds it, for OffsetForLeaderEpoch
    /// (Kafka's answer: the start of the next larger epoch, or the log end for the latest);
    /// `None` for an epoch this partition has not reached.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        if epoch < 0 || epoch > self.leader_epoch() {
            return None;
        }
        let answer = self
            .lock_epochs()
            .end_offset_for(epoch, self.log_end_offset());
        (!answer.is_undefined()).then_some((answer.epoch, answer.end_offset))
    }

    pub(crate) fn advance_high_watermark(&self, offset: i64) {
        self.high_watermark.send_if_modified(|hwm| {
            if offset > *hwm {
                *hwm = offset;
                true
            } else {
                false
            }
        });
    }

    /// Sets the high watermark exactly: a follower's may move down after truncation.
    pub(crate) fn set_high_watermark(&self, offset: i64) {
        self.high_watermark.send_if_modified(|hwm| {
            let changed = *hwm != offset;
            *hwm = offset;
            changed
        });
    }

    pub(crate) fn publish_log_end(&self) {
        let end = self.log.log_end_offset();
        self.log_end.send_if_modified(|current| {
            let changed = *current != end;
            *current = end;
            changed
        });
    }

    pub(crate) fn lock_role(&self) -> MutexGuard<'_, Role> {
        self.role.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn lock_epochs(&self) -> MutexGuard<'_, LeaderEpochCache> {
        self.epochs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn not_leader(&self) -> ReplicationError {
        ReplicationError::NotLeader {
            partition: self.tp.clone(),
        }
    }
}

/// Resolves when a partition's high watermark (or log end) moves.
pub struct FetchWaiter {
    receiver: watch::Receiver<i64>,
}

impl FetchWaiter {
    fn on(sender: &watch::Sender<i64>) -> FetchWaiter {
        let mut receiver = sender.subscribe();
        receiver.mark_unchanged();
        FetchWaiter { receiver }
    }

    /// Waits for the next move (or the partition's removal).
    pub async fn changed(&mut self) {
        if self.receiver.changed().await.is_err() {
            // The partition is gone: never resolve, the caller's timeout ends the wait.
            std::future::pending::<()>().await;
        }
    }
}
