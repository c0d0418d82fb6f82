//! `FollowerState`: one partition on a follower of leader `L` at leader epoch `E`.
//!
//! It owns the phase (truncating, then fetching), the request the follower owes its leader
//! and the follower's high watermark. The log and its [`LeaderEpochCache`] belong to the
//! runtime, which passes them in and applies the effects: a [`FollowerEffect::TruncateTo`]
//! truncates the log and calls [`LeaderEpochCache::truncate_from_end`]; an
//! [`FollowerEffect::AppendFetched`] appends the response's batches and assigns each batch's
//! epoch at its base offset. Invariants:
//!
//! - Nothing is fetched before truncation is complete (KIP-101 and KIP-279): the follower
//!   asks the leader where its latest epoch ends, truncates to `min(answer, own end of that
//!   epoch)`, and asks again about an older epoch when the leader answered with an epoch it
//!   does not have.
//! - A response counts only if it answers the request now owed (same leader epoch, same
//!   requested epoch or fetch offset); late and duplicated responses change nothing.
//! - Fetched batches continue the log exactly, and carry epochs no newer than `E`.
//! - The high watermark is `min(leader's high watermark, own log end)` and never above the
//!   log end, even right after a truncation.

use super::ReplicaId;
use super::epoch_cache::{EpochEndOffset, LeaderEpochCache};
use super::error::StateError;

/// Where a follower stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowerPhase {
    /// Waiting for the leader's OffsetForLeaderEpoch answer about `epoch`.
    Truncating {
        /// The epoch asked about.
        epoch: i32,
    },
    /// Fetching from the log end.
    Fetching,
}

/// A request for the runtime to send to the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowerRequest {
    /// OffsetForLeaderEpoch for one partition.
    OffsetForLeaderEpoch {
        /// The leader.
        leader: ReplicaId,
        /// The follower's idea of the current leader epoch (fencing, KIP-320).
        current_leader_epoch: i32,
        /// The epoch whose end offset is asked for.
        epoch: i32,
    },
    /// Fetch with this follower's replica id.
    Fetch {
        /// The leader.
        leader: ReplicaId,
        /// The follower's idea of the current leader epoch (fencing, KIP-320).
        current_leader_epoch: i32,
        /// The follower's log end offset.
        fetch_offset: i64,
    },
}

/// A batch in a fetch response, as far as replication cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchedBatch {
    /// Offset of its first record.
    pub base_offset: i64,
    /// Offset of its last record.
    pub last_offset: i64,
    /// The leader epoch it was written in.
    pub epoch: i32,
}

/// What the runtime must do after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowerEffect {
    /// Remove every record at or past this offset, and the epochs starting there.
    TruncateTo(i64),
    /// Append the batches of the response just handled, `[base_offset, end_offset)`, keeping
    /// their offsets and epochs.
    AppendFetched {
        /// First offset appended.
        base_offset: i64,
        /// The log end after the append.
        end_offset: i64,
    },
    /// The follower's high watermark is now this offset.
    HighWatermark(i64),
    /// Send this request.
    Send(FollowerRequest),
}

/// One partition on a follower.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerState {
    leader: ReplicaId,
    leader_epoch: i32,
    phase: FollowerPhase,
    high_watermark: i64,
}

impl FollowerState {
    /// Becomes follower of `leader` at `leader_epoch`, with the high watermark the replica
    /// had (checkpointed, or kept from a previous role). Returns the first effects: the
    /// OffsetForLeaderEpoch request for the latest epoch of the log, or, for a log without
    /// epochs, a truncation to the high watermark and the first fetch (as Kafka does).
    pub fn become_follower(
        leader: ReplicaId,
        leader_epoch: i32,
        high_watermark: i64,
        cache: &LeaderEpochCache,
        log_end_offset: i64,
    ) -> (Self, Vec<FollowerEffect>) {
        let mut state = FollowerState {
            leader,
            leader_epoch,
            phase: FollowerPhase::Fetching,
            high_watermark: high_watermark.clamp(0, log_end_offset.max(0)),
        };
        let mut effects = Vec::new();
        let end = match cache.latest_epoch() {
            Some(epoch) => {
                state.phase = FollowerPhase::Truncating { epoch };
                log_end_offset
            }
            None => {
                let hw = state.high_watermark;
                state.truncate(hw, log_end_offset, &mut effects);
                hw.min(log_end_offset)
            }
        };
        effects.push(FollowerEffect::Send(state.request(end)));
        (state, effects)
    }

    /// The leader.
    pub fn leader(&self) -> ReplicaId {
        self.leader
    }

    /// The leader epoch followed.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    /// The phase.
    pub fn phase(&self) -> FollowerPhase {
        self.phase
    }

    /// The follower's high watermark.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// The request owed to the leader now, for a log ending at `log_end_offset`: what a
    /// runtime sends again after a timeout or a lost response.
    pub fn request(&self, log_end_offset: i64) -> FollowerRequest {
        match self.phase {
            FollowerPhase::Truncating { epoch } => FollowerRequest::OffsetForLeaderEpoch {
                leader: self.leader,
                current_leader_epoch: self.leader_epoch,
                epoch,
            },
            FollowerPhase::Fetching => FollowerRequest::Fetch {
                leader: self.leader,
                current_leader_epoch: self.leader_epoch,
                fetch_offset: log_end_offset,
            },
        }
    }

    /// The leader answered OffsetForLeaderEpoch about `requested` (at leader epoch
    /// `response_leader_epoch`) with `answer`. Computes the truncation point as Kafka's
    /// `AbstractFetcherThread.getOffsetTruncationState` does.
    pub fn on_epoch_end_offset(
        &mut self,
        response_leader_epoch: i32,
        requested: i32,
        answer: EpochEndOffset,
        cache: &LeaderEpochCache,
        log_end_offset: i64,
    ) -> Vec<FollowerEffect> {
        if response_leader_epoch != self.leader_epoch
            || self.phase != (FollowerPhase::Truncating { epoch: requested })
        {
            return Vec::new();
        }
        let mut effects = Vec::new();
        let (offset, next_epoch) = if answer.is_undefined() {
            // The leader knows no epoch at or below ours: keep only what was committed.
            (self.high_watermark, None)
        } else {
            let own = cache.end_offset_for(answer.epoch, log_end_offset);
            if own.is_undefined() {
                (answer.end_offset.min(log_end_offset), None)
            } else if own.epoch != answer.epoch {
                // We lack the leader's epoch: cut back to the end of our largest epoch below
                // it and ask about that one.
                (own.end_offset.min(log_end_offset), Some(own.epoch))
            } else {
                (
                    own.end_offset.min(answer.end_offset).min(log_end_offset),
                    None,
                )
            }
        };
        self.truncate(offset, log_end_offset, &mut effects);
        let end = offset.min(log_end_offset);
        self.phase = match next_epoch {
            Some(epoch) => FollowerPhase::Truncating { epoch },
            None => FollowerPhase::Fetching,
        };
        effects.push(FollowerEffect::Send(self.request(end)));
        effects
    }

    /// The leader answered a Fetch from `fetch_offset` (at leader epoch
    /// `response_leader_epoch`) with `batches` and its high watermark.
    pub fn on_fetch_response(
        &mut self,
        response_leader_epoch: i32,
        fetch_offset: i64,
        batches: &[FetchedBatch],
        leader_high_watermark: i64,
        log_end_offset: i64,
    ) -> Result<Vec<FollowerEffect>, StateError> {
        if response_leader_epoch != self.leader_epoch
            || self.phase != FollowerPhase::Fetching
            || fetch_offset != log_end_offset
        {
            return Ok(Vec::new());
        }
        let mut end = log_end_offset;
        for batch in batches {
            if batch.base_offset != end
                || batch.last_offset < batch.base_offset
                || batch.epoch > self.leader_epoch
                || batch.epoch < 0
            {
                return Err(StateError::NonContiguousBatch {
                    expected: end,
                    base_offset: batch.base_offset,
                    epoch: batch.epoch,
                });
            }
            end = batch.last_offset + 1;
        }
        let mut effects = Vec::new();
        if end > log_end_offset {
            effects.push(FollowerEffect::AppendFetched {
                base_offset: log_end_offset,
                end_offset: end,
            });
        }
        let high_watermark = leader_high_watermark.min(end).max(0);
        if high_watermark != self.high_watermark {
            self.high_watermark = high_watermark;
            effects.push(FollowerEffect::HighWatermark(high_watermark));
        }
        effects.push(FollowerEffect::Send(self.request(end)));
        Ok(effects)
    }

    fn truncate(&mut self, offset: i64, log_end_offset: i64, effects: &mut Vec<FollowerEffect>) {
        if offset < log_end_offset {
            effects.push(FollowerEffect::TruncateTo(offset));
        }
        if self.high_watermark > offset {
            self.high_watermark = offset.max(0);
            effects.push(FollowerEffect::HighWatermark(self.high_watermark));
        }
    }
}
