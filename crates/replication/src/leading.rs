//! The leader's side of a partition: producers' appends, `acks=all`, followers' fetches and
//! the ISR changes they lead to.
//!
//! A leader counts its own log end as the offset below which its appends are committed
//! locally (fsynced under `flush=always`), so the high watermark, the smallest log end over
//! the in-sync replicas, never passes data the leader could lose in a crash. Followers are
//! served up to that same offset, never beyond, so what they hold was committed here first.
//! ISR changes are proposals: the broker commits them to the metadata, and the leader
//! applies them when the metadata comes back with the new ISR ([`Partition::make_leader`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use streambus_storage::{AppendInfo, LogRead, now_ms};

use crate::appends::Commit;
use crate::manager::ReplicationError;
use crate::partition::{Partition, Role};
use crate::state::{
    AckStatus, IsrProposal, LeaderConfig, LeaderEffect, LeaderInit, LeaderState, ReplicaId,
    StateError,
};

/// How long [`Partition::append`] waits for the in-sync replicas.
const APPEND_REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);

/// What the metadata says of a partition this broker leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderSpec {
    /// This broker's id.
    pub own_id: ReplicaId,
    /// Every replica, preferred leader first.
    pub replicas: Vec<ReplicaId>,
    /// The in-sync replicas.
    pub isr: Vec<ReplicaId>,
    /// The leader epoch.
    pub leader_epoch: i32,
    /// The partition epoch (bumped at every change).
    pub partition_epoch: i32,
    /// `replica.lag.time.max.ms` and `min.insync.replicas`.
    pub config: LeaderConfig,
}

impl Partition {
    /// Takes up leadership as `spec` says. Idempotent for the same leader epoch, when it
    /// only confirms a change of ISR or replicas (a reassignment); a new epoch (or a follower becoming leader) starts the
    /// leader's state afresh at the log end, and stops the fetcher.
    pub(crate) fn make_leader(&self, spec: &LeaderSpec) -> Result<(), ReplicationError> {
        let mut role = self.lock_role();
        if let Role::Leader(state) = &mut *role
            && state.leader_epoch() == spec.leader_epoch
        {
            let mut effects = state.on_replicas_changed(&spec.replicas, now_ms());
            effects.extend(state.on_isr_confirmed(&spec.isr, spec.partition_epoch));
            drop(role);
            self.apply_leader_effects(effects);
            return Ok(());
        }
        let log_end = self.log.log_end_offset();
        let init = LeaderInit {
            leader: spec.own_id,
            replicas: spec.replicas.clone(),
            isr: spec.isr.clone(),
            leader_epoch: spec.leader_epoch,
            partition_epoch: spec.partition_epoch,
            log_end_offset: log_end,
            high_watermark: self.high_watermark().min(log_end),
        };
        let state =
            LeaderState::new(init, spec.config, now_ms()).map_err(|e| ReplicationError::State {
                partition: self.tp.clone(),
                reason: e.to_string(),
            })?;
        let high_watermark = state.high_watermark();
        *role = Role::Leader(state);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.leader_epoch
            .store(spec.leader_epoch, Ordering::Release);
        let _ = self.lock_epochs().assign(spec.leader_epoch, log_end);
        drop(role);
        tracing::debug!(partition = %self.tp, leader_epoch = spec.leader_epoch, isr = ?spec.isr, log_end, high_watermark, "leading");
        self.set_high_watermark(high_watermark);
        self.publish_committed_end(log_end);
        Ok(())
    }

    /// Appends validated producer batches and returns once they are committed (for the
    /// coordinator's own writes: durable here and on every in-sync replica).
    pub async fn append(self: &Arc<Self>, records: Bytes) -> Result<AppendInfo, ReplicationError> {
        let (info, committed) = self
            .append_in_order(records, Some(APPEND_REPLICATION_TIMEOUT))
            .await?;
        committed.await?;
        Ok(info)
    }

    /// Appends validated producer batches, returning as soon as they have their offsets,
    /// with a future that resolves once they are committed: durable here as the log's flush
    /// policy promises and, with `acks_all`, on every in-sync replica (the high watermark has
    /// passed them) within that timeout. Appends happen in the order of the calls; only the
    /// waits overlap, so that one group-commit fsync can cover several requests' appends.
    /// [`Partition::append_all`] does the same for several partitions at once.
    pub async fn append_in_order(
        self: &Arc<Self>,
        records: Bytes,
        acks_all: Option<Duration>,
    ) -> Result<(AppendInfo, Commit), ReplicationError> {
        Partition::append_all(vec![(Arc::clone(self), records)], acks_all)
            .await
            .pop()
            .unwrap_or(Err(ReplicationError::TaskFailed))
    }

    /// The log is committed here up to `end`.
    pub(crate) fn on_local_commit(&self, end: i64) -> Result<(), ReplicationError> {
        let mut role = self.lock_role();
        let Role::Leader(state) = &mut *role else {
            return Err(self.not_leader());
        };
        let end = end.max(state.log_end_offset());
        let effects = state.on_append(end).map_err(|e| ReplicationError::State {
            partition: self.tp.clone(),
            reason: e.to_string(),
        })?;
        drop(role);
        self.publish_committed_end(end);
        self.apply_leader_effects(effects);
        Ok(())
    }

    /// Waits until the high watermark passes `end` (every in-sync replica has the data).
    pub(crate) async fn wait_replicated(
        &self,
        end: i64,
        timeout: Duration,
    ) -> Result<(), ReplicationError> {
        let mut moved = self.high_watermark.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = match &*self.lock_role() {
                Role::Leader(state) => state.check_acks_all(end),
                Role::Follower { .. } => return Err(self.not_leader()),
            };
            match status {
                AckStatus::Satisfied => return Ok(()),
                AckStatus::NotEnoughReplicasAfterAppend => {
                    return Err(ReplicationError::NotEnoughReplicasAfterAppend {
                        partition: self.tp.clone(),
                    });
                }
                AckStatus::Pending => {}
            }
            match tokio::time::timeout_at(deadline, moved.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(self.not_leader()),
                Err(_) => {
                    return Err(ReplicationError::ReplicationTimeout {
                        partition: self.tp.clone(),
                        timeout,
                    });
                }
            }
        }
    }

    /// A follower `replica` fetched from `fetch_offset`: it holds everything below it. May
    /// move the high watermark, and may propose adding it to the ISR.
    pub fn on_follower_fetch(
        &self,
        replica: ReplicaId,
        fetch_offset: i64,
    ) -> Result<Option<IsrProposal>, ReplicationError> {
        let mut role = self.lock_role();
        let Role::Leader(state) = &mut *role else {
            return Err(self.not_leader());
        };
        let effects = state
            .on_follower_fetch(replica, fetch_offset, now_ms())
            .map_err(|e| match e {
                StateError::FetchOffsetOutOfRange { log_end_offset, .. } => {
                    ReplicationError::OffsetOutOfRange {
                        offset: fetch_offset,
                        log_start: self.log.log_start_offset(),
                        high_watermark: log_end_offset,
                    }
                }
                e => ReplicationError::FollowerFetch {
                    partition: self.tp.clone(),
                    reason: e.to_string(),
                },
            })?;
        drop(role);
        Ok(self.apply_leader_effects(effects))
    }

    /// Reads batches for a follower from `offset`: up to what is committed here, not only
    /// below the high watermark.
    pub fn read_for_follower(
        &self,
        offset: i64,
        max_bytes: usize,
    ) -> Result<LogRead, ReplicationError> {
        let committed = *self.log_end.borrow();
        Ok(self.log.read(offset, max_bytes, Some(committed))?)
    }

    /// Removes records below `offset` (DeleteRecords; -1 means the high watermark); returns
    /// the new log start offset. Followers follow the new start when they next fetch.
    pub async fn delete_records_before(
        self: &Arc<Self>,
        offset: i64,
    ) -> Result<i64, ReplicationError> {
        let hwm = self.high_watermark();
        let offset = if offset == -1 { hwm } else { offset };
        if offset > hwm || offset < 0 {
            return Err(ReplicationError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset(),
                high_watermark: hwm,
            });
        }
        let partition = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let role = partition.lock_role();
            if !matches!(&*role, Role::Leader(_)) {
                return Err(partition.not_leader());
            }
            let start = partition.log.delete_records_before(offset)?;
            partition.lock_epochs().truncate_from_start(start);
            Ok(start)
        })
        .await
        .map_err(|_| ReplicationError::TaskFailed)?
    }

    /// On a leader, how many records each follower is behind the leader's committed log end,
    /// as of its last fetch (a follower not heard from yet counts as wholly behind); empty on
    /// a follower.
    pub fn follower_lags(&self) -> Vec<(ReplicaId, i64)> {
        let role = self.lock_role();
        let Role::Leader(state) = &*role else {
            return Vec::new();
        };
        state
            .replicas()
            .iter()
            .copied()
            .filter(|r| *r != state.leader())
            .map(|r| {
                let fetched = state.progress(r).map_or(0, |p| p.log_end_offset.max(0));
                (r, (state.log_end_offset() - fetched).max(0))
            })
            .collect()
    }

    /// The clock moved: proposes removing followers that have lagged too long.
    pub fn tick(&self) -> Option<IsrProposal> {
        let mut role = self.lock_role();
        let Role::Leader(state) = &mut *role else {
            return None;
        };
        let effects = state.on_tick(now_ms());
        drop(role);
        self.apply_leader_effects(effects)
    }

    /// The metadata did not take `proposal` (the commit failed): forget it, so that a later
    /// event may propose again. A stale proposal is instead superseded when the metadata
    /// with the newer partition epoch arrives.
    pub fn isr_change_failed(&self, proposal: &IsrProposal) {
        if let Role::Leader(state) = &mut *self.lock_role() {
            state.on_isr_change_rejected(proposal);
        }
    }

    /// Publishes the high watermark moves; returns an ISR proposal to commit, if any.
    fn apply_leader_effects(&self, effects: Vec<LeaderEffect>) -> Option<IsrProposal> {
        let mut proposal = None;
        for effect in effects {
            match effect {
                LeaderEffect::HighWatermarkAdvanced(offset) => self.advance_high_watermark(offset),
                LeaderEffect::ProposeIsr(p) => proposal = Some(p),
            }
        }
        proposal
    }

    fn publish_committed_end(&self, end: i64) {
        self.log_end.send_if_modified(|current| {
            let changed = *current != end;
            *current = end;
            changed
        });
    }
}
