//! The simulated controller: broker sessions, elections with `elect_leader`, and the
//! AlterPartition checks of KRaft's `ReplicationControlManager`.

use streambus_replication::state::{IsrProposal, ReplicaId, elect_leader, isr_without};

use super::Faults;
use super::net::{AlterResult, PartitionRecord};

pub const SESSION_TIMEOUT_MS: i64 = 2_000;

pub struct Controller {
    pub replicas: Vec<ReplicaId>,
    pub record: PartitionRecord,
    last_heartbeat: Vec<i64>,
    live: Vec<bool>,
    faults: Faults,
    pub elections: u64,
}

impl Controller {
    pub fn new(replicas: Vec<ReplicaId>, faults: Faults) -> Self {
        let n = replicas.len();
        Controller {
            record: PartitionRecord {
                leader: replicas.first().copied(),
                leader_epoch: 0,
                isr: replicas.clone(),
                partition_epoch: 0,
            },
            replicas,
            last_heartbeat: vec![0; n],
            live: vec![true; n],
            faults,
            elections: 0,
        }
    }

    pub fn heartbeat(&mut self, broker: ReplicaId, now_ms: i64) {
        self.last_heartbeat[broker as usize] = now_ms;
    }

    fn live_brokers(&self) -> Vec<ReplicaId> {
        self.replicas
            .iter()
            .copied()
            .filter(|&b| self.live[b as usize])
            .collect()
    }

    /// Expires and revives sessions; returns whether the partition record changed.
    pub fn tick(&mut self, now_ms: i64) -> bool {
        let mut changed = false;
        for b in self.replicas.clone() {
            let alive = now_ms - self.last_heartbeat[b as usize] <= SESSION_TIMEOUT_MS;
            if self.live[b as usize] && !alive {
                self.live[b as usize] = false;
                changed |= self.fence(b);
            } else if !self.live[b as usize] && alive {
                self.live[b as usize] = true;
                if self.record.leader.is_none() {
                    changed |= self.elect();
                }
            }
        }
        changed
    }

    fn fence(&mut self, broker: ReplicaId) -> bool {
        if self.record.leader == Some(broker) {
            return self.elect();
        }
        let isr = isr_without(&self.record.isr, broker);
        if isr == self.record.isr {
            return false;
        }
        self.record.isr = isr;
        self.record.partition_epoch += 1;
        true
    }

    /// Elects from the ISR (or, with the deliberate fault, from any live replica), bumping
    /// the leader epoch; without a candidate the partition goes leaderless, ISR kept.
    fn elect(&mut self) -> bool {
        let live = self.live_brokers();
        let candidates = if self.faults.elect_out_of_isr {
            self.replicas.clone()
        } else {
            self.record.isr.clone()
        };
        let election = elect_leader(&self.replicas, &candidates, &live, false);
        let before = self.record.clone();
        match election {
            Some(e) => {
                self.record.leader = Some(e.leader);
                self.record.isr = if self.faults.elect_out_of_isr {
                    vec![e.leader]
                } else {
                    e.isr
                };
                self.elections += 1;
            }
            None => self.record.leader = None,
        }
        if self.record == before {
            return false;
        }
        self.record.leader_epoch += 1;
        self.record.partition_epoch += 1;
        true
    }

    pub fn alter_partition(&mut self, from: ReplicaId, proposal: &IsrProposal) -> AlterResult {
        if self.record.leader != Some(from)
            || proposal.leader_epoch != self.record.leader_epoch
            || proposal.partition_epoch != self.record.partition_epoch
        {
            return AlterResult::Stale;
        }
        let added_fenced = proposal
            .new_isr
            .iter()
            .any(|r| !self.record.isr.contains(r) && !self.live[*r as usize]);
        if added_fenced || !proposal.new_isr.contains(&from) {
            return AlterResult::NotApplied;
        }
        self.record.isr = proposal.new_isr.clone();
        self.record.partition_epoch += 1;
        AlterResult::Applied {
            isr: self.record.isr.clone(),
            partition_epoch: self.record.partition_epoch,
        }
    }
}
