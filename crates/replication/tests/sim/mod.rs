//! A deterministic simulation of one partition with three replicas and a controller, built
//! on the `state` machines with an in-memory log per replica.
//!
//! One step is 100 ms of simulated time. Each step delivers the messages due, then draws
//! random events: client appends (acks=all) at the leader or at a stale one, fetch retries,
//! ISR-change retries, crashes and restarts (logs are durable; the high watermark is
//! checkpointed), network partitions (a broker cut from everyone, or from its peers only)
//! and heals. Then it checks the invariants (see `check.rs`).

mod broker;
mod check;
mod controller;
mod net;
mod rng;

use std::fmt;

use streambus_replication::state::{
    FollowerState, LeaderConfig, LeaderEpochCache, LeaderState, ReplicaId,
};

use controller::Controller;
use net::Net;
use rng::Rng;

pub const BROKERS: [ReplicaId; 3] = [0, 1, 2];
pub const CONTROLLER: ReplicaId = 100;
pub const STEP_MS: i64 = 100;

/// Rules to break on purpose, to show that the checks catch it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// The controller elects the first live replica, in the ISR or not.
    pub elect_out_of_isr: bool,
    /// Followers ignore `TruncateTo`.
    pub skip_truncation: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct SimConfig {
    pub steps: u64,
    pub faults: Faults,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub appended: u64,
    pub acked: u64,
    pub rejected: u64,
    pub elections: u64,
    pub truncations: u64,
    pub crashes: u64,
    pub partitions: u64,
    pub isr_proposals: u64,
    pub state_errors: u64,
    pub committed: u64,
    /// A digest of the run, to show that a seed replays exactly.
    pub digest: u64,
}

#[derive(Debug)]
pub struct Violation {
    pub step: u64,
    pub check: &'static str,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {}: {} violated: {}",
            self.step, self.check, self.detail
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    pub offset: i64,
    pub epoch: i32,
    pub payload: u64,
}

pub enum Role {
    Idle,
    Leader(LeaderState),
    Follower(FollowerState),
}

pub struct Replica {
    pub alive: bool,
    pub log: Vec<Rec>,
    pub cache: LeaderEpochCache,
    pub checkpoint_hw: i64,
    pub role: Role,
    /// (leader epoch, partition epoch) of the last partition record applied.
    pub known: (i32, i32),
    /// Offsets below this were checked against the committed history.
    pub verified: i64,
    /// Restarted and not yet given its role by a partition record.
    pub restarted: bool,
}

impl Replica {
    fn new() -> Self {
        Replica {
            alive: true,
            log: Vec::new(),
            cache: LeaderEpochCache::new(),
            checkpoint_hw: 0,
            role: Role::Idle,
            known: (-1, -1),
            verified: 0,
            restarted: false,
        }
    }

    pub fn leo(&self) -> i64 {
        self.log.len() as i64
    }

    pub fn hw(&self) -> i64 {
        match &self.role {
            Role::Leader(l) => l.high_watermark(),
            Role::Follower(f) => f.high_watermark(),
            Role::Idle => self.checkpoint_hw,
        }
    }

    pub fn truncate(&mut self, offset: i64) {
        let keep = usize::try_from(offset.max(0)).unwrap();
        self.log.truncate(keep);
        self.cache.truncate_from_end(offset);
        self.verified = self.verified.min(offset);
        self.checkpoint_hw = self.checkpoint_hw.min(offset);
    }
}

pub struct PendingAck {
    pub broker: ReplicaId,
    pub leader_epoch: i32,
    pub required: i64,
    pub records: Vec<(i64, u64)>,
    pub deadline: u64,
}

pub struct Sim {
    pub rng: Rng,
    pub cfg: SimConfig,
    pub step: u64,
    pub replicas: Vec<Replica>,
    pub ctrl: Controller,
    pub net: Net,
    pub leader_cfg: LeaderConfig,
    pub pending: Vec<PendingAck>,
    /// Acknowledged records: (offset, payload).
    pub acked: Vec<(i64, u64)>,
    /// Every record ever below a leader's high watermark: (epoch, payload) by offset.
    pub committed: Vec<(i32, u64)>,
    pub next_payload: u64,
    pub stats: Stats,
    /// Print the events (`SIM_TRACE=1`), to follow a failing seed.
    pub tracing: bool,
}

impl Sim {
    pub fn now(&self) -> i64 {
        self.step as i64 * STEP_MS
    }

    pub fn violation(&self, check: &'static str, detail: String) -> Violation {
        Violation {
            step: self.step,
            check,
            detail,
        }
    }

    pub fn trace(&self, event: impl FnOnce() -> String) {
        if self.tracing {
            eprintln!("step {}: {}", self.step, event());
        }
    }

    fn mix(&mut self, value: u64) {
        self.stats.digest = (self.stats.digest ^ value).wrapping_mul(0x0100_0000_01B3);
    }
}

/// Runs one seeded simulation; the same seed and config always give the same run.
pub fn run(seed: u64, cfg: SimConfig) -> Result<Stats, Violation> {
    let mut rng = Rng::new(seed);
    let min_insync_replicas = 1 + rng.below(2) as usize;
    let mut sim = Sim {
        rng,
        cfg,
        step: 0,
        replicas: BROKERS.iter().map(|_| Replica::new()).collect(),
        ctrl: Controller::new(BROKERS.to_vec(), cfg.faults),
        net: Net::default(),
        leader_cfg: LeaderConfig {
            replica_lag_time_max_ms: 1_500,
            min_insync_replicas,
        },
        pending: Vec::new(),
        acked: Vec::new(),
        committed: Vec::new(),
        next_payload: seed << 32,
        stats: Stats::default(),
        tracing: std::env::var_os("SIM_TRACE").is_some(),
    };
    let record = sim.ctrl.record.clone();
    for b in BROKERS {
        sim.on_partition_record(b, &record)?;
    }
    while sim.step < cfg.steps {
        sim.step += 1;
        sim.one_step()?;
        sim.check()?;
        sim.settle_acks()?;
        let leader = sim.ctrl.record.leader.map_or(u64::MAX, |l| l as u64);
        sim.mix(sim.committed.len() as u64 ^ (leader << 40) ^ (sim.acked.len() as u64) << 20);
    }
    sim.final_check()?;
    sim.stats.elections = sim.ctrl.elections;
    sim.stats.committed = sim.committed.len() as u64;
    Ok(sim.stats)
}
