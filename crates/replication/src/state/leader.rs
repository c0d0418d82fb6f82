//! `LeaderState`: one partition on its leader.
//!
//! It owns the replica set, the ISR as the controller last confirmed it, the ISR change in
//! flight (if any), each follower's progress, the leader's log end offset and the high
//! watermark. Invariants:
//!
//! - The high watermark never moves backwards and never passes the log end offset.
//! - It is the smallest log end offset over the *maximal* ISR: the confirmed ISR united with
//!   the proposed one while an AlterPartition is in flight (KIP-497's rule), so that neither
//!   a shrink nor an expansion the controller has not confirmed can commit data that a
//!   replica the controller may elect lacks.
//! - The ISR changes only on [`LeaderState::on_isr_confirmed`] with a newer partition epoch;
//!   at most one change is in flight; the leader is never removed.
//! - An out-of-ISR follower joins only once it has reached the high watermark *and* fetched
//!   past the start of this leader's epoch (it has truncated to this leader's history).

use super::error::StateError;
use super::progress::FollowerProgress;
use super::{ReplicaId, UNDEFINED_OFFSET};

/// Settings of a leader (`replica.lag.time.max.ms`, `min.insync.replicas`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderConfig {
    /// How long a follower may go without being caught up before it leaves the ISR.
    pub replica_lag_time_max_ms: i64,
    /// The smallest ISR that accepts `acks=all` produce requests.
    pub min_insync_replicas: usize,
}

impl Default for LeaderConfig {
    fn default() -> Self {
        LeaderConfig {
            replica_lag_time_max_ms: 30_000,
            min_insync_replicas: 1,
        }
    }
}

impl LeaderConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), StateError> {
        if self.replica_lag_time_max_ms <= 0 {
            return Err(StateError::InvalidConfig {
                name: "replica.lag.time.max.ms",
                reason: "must be positive",
            });
        }
        if self.min_insync_replicas == 0 {
            return Err(StateError::InvalidConfig {
                name: "min.insync.replicas",
                reason: "must be at least 1",
            });
        }
        Ok(())
    }
}

/// What the controller says about a partition when this broker becomes its leader, and what
/// its log holds at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderInit {
    /// This broker.
    pub leader: ReplicaId,
    /// The assigned replicas, in assignment order.
    pub replicas: Vec<ReplicaId>,
    /// The ISR.
    pub isr: Vec<ReplicaId>,
    /// The new leader epoch.
    pub leader_epoch: i32,
    /// The partition epoch (the version of replicas and ISR at the controller).
    pub partition_epoch: i32,
    /// The log end offset, which is where this leader epoch starts.
    pub log_end_offset: i64,
    /// The high watermark the replica had as a follower.
    pub high_watermark: i64,
}

/// An ISR change for the controller to confirm (an AlterPartition request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrProposal {
    /// The leader epoch the change is made under.
    pub leader_epoch: i32,
    /// The partition epoch it is based on.
    pub partition_epoch: i32,
    /// The proposed ISR.
    pub new_isr: Vec<ReplicaId>,
}

/// What the runtime must do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderEffect {
    /// The high watermark moved to this offset: complete waiting produces and fetches.
    HighWatermarkAdvanced(i64),
    /// Send this AlterPartition to the controller.
    ProposeIsr(IsrProposal),
}

/// Where an `acks=all` produce stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckStatus {
    /// The high watermark has not reached it yet.
    Pending,
    /// Committed: answer the producer with success.
    Satisfied,
    /// Committed, but the ISR shrank below `min.insync.replicas` meanwhile
    /// (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
    NotEnoughReplicasAfterAppend,
}

/// One partition on its leader.
#[derive(Debug, Clone)]
pub struct LeaderState {
    leader: ReplicaId,
    replicas: Vec<ReplicaId>,
    isr: Vec<ReplicaId>,
    pending: Option<IsrProposal>,
    leader_epoch: i32,
    partition_epoch: i32,
    epoch_start_offset: i64,
    log_end_offset: i64,
    high_watermark: i64,
    followers: Vec<(ReplicaId, FollowerProgress)>,
    config: LeaderConfig,
}

impl LeaderState {
    /// Becomes leader at `now_ms`. The high watermark starts at the replica's own (clamped
    /// to its log end) and moves up at once if the ISR allows it, as in Kafka's `makeLeader`.
    pub fn new(init: LeaderInit, config: LeaderConfig, now_ms: i64) -> Result<Self, StateError> {
        config.validate()?;
        if !init.replicas.contains(&init.leader) {
            return Err(StateError::UnknownReplica {
                replica: init.leader,
            });
        }
        if let Some(&replica) = init.isr.iter().find(|r| !init.replicas.contains(r)) {
            return Err(StateError::UnknownReplica { replica });
        }
        let mut isr = init.isr;
        if !isr.contains(&init.leader) {
            isr.push(init.leader);
        }
        let followers = init
            .replicas
            .iter()
            .filter(|&&r| r != init.leader)
            .map(|&r| (r, FollowerProgress::new_leader(isr.contains(&r), now_ms)))
            .collect();
        let mut state = LeaderState {
            leader: init.leader,
            replicas: init.replicas,
            isr,
            pending: None,
            leader_epoch: init.leader_epoch,
            partition_epoch: init.partition_epoch,
            epoch_start_offset: init.log_end_offset,
            log_end_offset: init.log_end_offset,
            high_watermark: init.high_watermark.clamp(0, init.log_end_offset.max(0)),
            followers,
            config,
        };
        state.maybe_advance_high_watermark();
        Ok(state)
    }

    /// This broker.
    pub fn leader(&self) -> ReplicaId {
        self.leader
    }

    /// The assigned replicas.
    pub fn replicas(&self) -> &[ReplicaId] {
        &self.replicas
    }

    /// The ISR as the controller last confirmed it.
    pub fn isr(&self) -> &[ReplicaId] {
        &self.isr
    }

    /// The ISR change in flight.
    pub fn pending_isr(&self) -> Option<&IsrProposal> {
        self.pending.as_ref()
    }

    /// The confirmed ISR united with the one in flight: the replicas the high watermark
    /// waits for.
    pub fn maximal_isr(&self) -> Vec<ReplicaId> {
        let mut all = self.isr.clone();
        if let Some(p) = &self.pending {
            all.extend(p.new_isr.iter().filter(|r| !self.isr.contains(r)));
        }
        all
    }

    /// The leader epoch.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    /// The partition epoch of the confirmed ISR.
    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch
    }

    /// The first offset of this leader epoch.
    pub fn epoch_start_offset(&self) -> i64 {
        self.epoch_start_offset
    }

    /// The leader's log end offset.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// The high watermark.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// The settings.
    pub fn config(&self) -> &LeaderConfig {
        &self.config
    }

    /// What the leader knows of a follower.
    pub fn progress(&self, replica: ReplicaId) -> Option<&FollowerProgress> {
        self.followers
            .iter()
            .find(|(r, _)| *r == replica)
            .map(|(_, p)| p)
    }

    /// Checks the leader epoch a Fetch or OffsetForLeaderEpoch request carries (KIP-320).
    pub fn check_leader_epoch(&self, request: i32) -> Result<(), StateError> {
        let current = self.leader_epoch;
        match request {
            r if r < current => Err(StateError::FencedLeaderEpoch { request, current }),
            r if r > current => Err(StateError::UnknownLeaderEpoch { request, current }),
            _ => Ok(()),
        }
    }

    /// The check before appending an `acks=all` produce: the confirmed ISR must have at
    /// least `min.insync.replicas` members (NOT_ENOUGH_REPLICAS otherwise).
    pub fn check_produce_acks_all(&self) -> Result<(), StateError> {
        if self.isr.len() < self.config.min_insync_replicas {
            return Err(StateError::NotEnoughReplicas {
                isr: self.isr.len(),
                min_insync_replicas: self.config.min_insync_replicas,
            });
        }
        Ok(())
    }

    /// Where an `acks=all` produce whose last record is below `required_offset` stands.
    pub fn check_acks_all(&self, required_offset: i64) -> AckStatus {
        if self.high_watermark < required_offset {
            AckStatus::Pending
        } else if self.maximal_isr().len() < self.config.min_insync_replicas {
            AckStatus::NotEnoughReplicasAfterAppend
        } else {
            AckStatus::Satisfied
        }
    }

    /// The leader's log now ends at `log_end_offset` (after an append).
    pub fn on_append(&mut self, log_end_offset: i64) -> Result<Vec<LeaderEffect>, StateError> {
        if log_end_offset < self.log_end_offset {
            return Err(StateError::LogEndOffsetBackwards {
                current: self.log_end_offset,
                reported: log_end_offset,
            });
        }
        self.log_end_offset = log_end_offset;
        Ok(self.maybe_advance_high_watermark().into_iter().collect())
    }

    /// `replica` fetched from `fetch_offset` at `now_ms`: it holds everything below it.
    /// The runtime answers the fetch with [`high_watermark`](Self::high_watermark) after
    /// this call, so the follower learns the watermark its own fetch moved.
    pub fn on_follower_fetch(
        &mut self,
        replica: ReplicaId,
        fetch_offset: i64,
        now_ms: i64,
    ) -> Result<Vec<LeaderEffect>, StateError> {
        if fetch_offset > self.log_end_offset || fetch_offset < 0 {
            return Err(StateError::FetchOffsetOutOfRange {
                replica,
                fetch_offset,
                log_end_offset: self.log_end_offset,
            });
        }
        let leo = self.log_end_offset;
        let progress = self
            .followers
            .iter_mut()
            .find(|(r, _)| *r == replica)
            .map(|(_, p)| p)
            .ok_or(StateError::UnknownReplica { replica })?;
        progress.on_fetch(fetch_offset, leo, now_ms);
        let mut effects = Vec::new();
        if self.pending.is_none()
            && !self.isr.contains(&replica)
            && fetch_offset >= self.high_watermark
            && fetch_offset >= self.epoch_start_offset
        {
            let mut new_isr = self.isr.clone();
            new_isr.push(replica);
            effects.push(LeaderEffect::ProposeIsr(self.propose(new_isr)));
        }
        effects.extend(self.maybe_advance_high_watermark());
        Ok(effects)
    }

    /// The clock reads `now_ms`: proposes removing the followers of the ISR that have not
    /// been caught up for longer than `replica.lag.time.max.ms`, unless a change is in flight.
    pub fn on_tick(&mut self, now_ms: i64) -> Vec<LeaderEffect> {
        if self.pending.is_some() {
            return Vec::new();
        }
        let lagging: Vec<ReplicaId> = self
            .isr
            .iter()
            .copied()
            .filter(|&r| r != self.leader)
            .filter(|&r| {
                self.progress(r).is_none_or(|p| {
                    !p.is_caught_up(
                        self.log_end_offset,
                        now_ms,
                        self.config.replica_lag_time_max_ms,
                    )
                })
            })
            .collect();
        if lagging.is_empty() {
            return Vec::new();
        }
        let new_isr = self
            .isr
            .iter()
            .copied()
            .filter(|r| !lagging.contains(r))
            .collect();
        vec![LeaderEffect::ProposeIsr(self.propose(new_isr))]
    }

    /// A reassignment changed the replica set to `replicas` (which keeps this leader; a
    /// leader that is moved away gets a new leader epoch instead): followers that joined
    /// start out of sync, with no progress, and those that left are forgotten, so they
    /// hold back the high watermark no longer. An ISR change in flight is dropped: the
    /// change of replicas came with a newer partition epoch, so the metadata log refuses it.
    /// A list without this leader is ignored.
    pub fn on_replicas_changed(
        &mut self,
        replicas: &[ReplicaId],
        now_ms: i64,
    ) -> Vec<LeaderEffect> {
        if !replicas.contains(&self.leader) || replicas == self.replicas.as_slice() {
            return Vec::new();
        }
        self.followers.retain(|(r, _)| replicas.contains(r));
        for &r in replicas {
            if r != self.leader && self.progress(r).is_none() {
                self.followers
                    .push((r, FollowerProgress::new_leader(false, now_ms)));
            }
        }
        self.replicas = replicas.to_vec();
        self.isr.retain(|r| replicas.contains(r));
        self.pending = None;
        self.maybe_advance_high_watermark().into_iter().collect()
    }

    /// The controller (its AlterPartition answer, or a metadata update) says the ISR is
    /// `new_isr` at `partition_epoch`. Older or equal partition epochs are stale and ignored.
    /// Clears the change in flight, whichever it was.
    pub fn on_isr_confirmed(
        &mut self,
        new_isr: &[ReplicaId],
        partition_epoch: i32,
    ) -> Vec<LeaderEffect> {
        if partition_epoch <= self.partition_epoch {
            return Vec::new();
        }
        self.isr = new_isr
            .iter()
            .copied()
            .filter(|r| self.replicas.contains(r))
            .collect();
        if !self.isr.contains(&self.leader) {
            self.isr.push(self.leader);
        }
        self.partition_epoch = partition_epoch;
        self.pending = None;
        self.maybe_advance_high_watermark().into_iter().collect()
    }

    /// The controller answered `proposal` saying it did *not* apply it (INELIGIBLE_REPLICA,
    /// OPERATION_NOT_ATTEMPTED): forget it if it is still the change in flight, so a later
    /// event may propose again. Other refusals (FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION)
    /// do not say whether some earlier copy was applied, so, as in Kafka, the runtime keeps
    /// the change in flight until a metadata update with a newer partition epoch arrives.
    pub fn on_isr_change_rejected(&mut self, proposal: &IsrProposal) {
        if self.pending.as_ref() == Some(proposal) {
            self.pending = None;
        }
    }

    fn propose(&mut self, new_isr: Vec<ReplicaId>) -> IsrProposal {
        let proposal = IsrProposal {
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            new_isr,
        };
        self.pending = Some(proposal.clone());
        proposal
    }

    /// Moves the high watermark to the smallest log end offset over the maximal ISR, if that
    /// is higher (Kafka's `maybeIncrementLeaderHW`).
    fn maybe_advance_high_watermark(&mut self) -> Option<LeaderEffect> {
        let mut candidate = self.log_end_offset;
        for replica in self.maximal_isr() {
            if replica == self.leader {
                continue;
            }
            let leo = self
                .progress(replica)
                .map_or(UNDEFINED_OFFSET, |p| p.log_end_offset);
            candidate = candidate.min(leo);
        }
        (candidate > self.high_watermark).then(|| {
            self.high_watermark = candidate;
            LeaderEffect::HighWatermarkAdvanced(candidate)
        })
    }
}
