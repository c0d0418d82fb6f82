//! The simulated network: lossy, delaying, reordering links that a partition can cut.

use streambus_replication::state::{EpochEndOffset, IsrProposal, ReplicaId};

use super::rng::Rng;
use super::{CONTROLLER, Rec};

/// What the controller says about the partition (a metadata record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRecord {
    pub leader: Option<ReplicaId>,
    pub leader_epoch: i32,
    pub isr: Vec<ReplicaId>,
    pub partition_epoch: i32,
}

/// The controller's answer to an AlterPartition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterResult {
    Applied {
        isr: Vec<ReplicaId>,
        partition_epoch: i32,
    },
    /// INELIGIBLE_REPLICA: explicitly not applied.
    NotApplied,
    /// FENCED_LEADER_EPOCH / INVALID_UPDATE_VERSION: says nothing about earlier copies.
    Stale,
}

#[derive(Debug, Clone)]
pub enum Msg {
    OfleReq {
        current_leader_epoch: i32,
        epoch: i32,
    },
    OfleResp {
        leader_epoch: i32,
        requested: i32,
        answer: EpochEndOffset,
    },
    FetchReq {
        current_leader_epoch: i32,
        fetch_offset: i64,
    },
    FetchResp {
        leader_epoch: i32,
        fetch_offset: i64,
        records: Vec<Rec>,
        hw: i64,
    },
    AlterPartition(IsrProposal),
    AlterPartitionResp {
        proposal: IsrProposal,
        result: AlterResult,
    },
    Partition(PartitionRecord),
}

pub struct Envelope {
    pub at: u64,
    pub seq: u64,
    pub from: ReplicaId,
    pub to: ReplicaId,
    pub msg: Msg,
}

#[derive(Default)]
pub struct Net {
    queue: Vec<Envelope>,
    seq: u64,
    cuts: Vec<(ReplicaId, ReplicaId)>,
}

impl Net {
    pub fn linked(&self, a: ReplicaId, b: ReplicaId) -> bool {
        !self.cuts.contains(&(a, b)) && !self.cuts.contains(&(b, a))
    }

    /// Sends with a 3% loss and 1-3 steps of delay (so messages reorder).
    pub fn send(&mut self, rng: &mut Rng, step: u64, from: ReplicaId, to: ReplicaId, msg: Msg) {
        if rng.chance(30) {
            return;
        }
        let at = step + 1 + rng.below(3);
        self.seq += 1;
        self.queue.push(Envelope {
            at,
            seq: self.seq,
            from,
            to,
            msg,
        });
    }

    /// The messages due at `step` whose link is up, in order; those on a cut link are lost.
    pub fn due(&mut self, step: u64) -> Vec<Envelope> {
        let (mut due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|e| e.at <= step);
        self.queue = rest;
        due.retain(|e| self.linked(e.from, e.to));
        due.sort_by_key(|e| (e.at, e.seq));
        due
    }

    /// Cuts `broker` off from every other broker and the controller.
    pub fn isolate(&mut self, broker: ReplicaId, brokers: &[ReplicaId]) {
        for &other in brokers.iter().chain(&[CONTROLLER]) {
            if other != broker {
                self.cuts.push((broker, other));
            }
        }
    }

    /// Cuts `broker` off from the other brokers only.
    pub fn cut_from_peers(&mut self, broker: ReplicaId, brokers: &[ReplicaId]) {
        for &other in brokers {
            if other != broker {
                self.cuts.push((broker, other));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cuts.clear();
    }

    pub fn is_partitioned(&self) -> bool {
        !self.cuts.is_empty()
    }
}
