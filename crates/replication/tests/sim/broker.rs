//! The thin runtime around the state machines: it delivers messages to replicas, applies
//! the effects to the in-memory logs, and draws the random events of a step.

use streambus_replication::state::{
    FetchedBatch, FollowerEffect, FollowerRequest, FollowerState, LeaderEffect, LeaderInit,
    LeaderState, ReplicaId,
};

use super::net::{AlterResult, Envelope, Msg, PartitionRecord};
use super::{BROKERS, CONTROLLER, PendingAck, Rec, Role, Sim, Violation};

const MAX_FETCH_RECORDS: usize = 8;

impl Sim {
    pub fn one_step(&mut self) -> Result<(), Violation> {
        let now = self.now();
        for env in self.net.due(self.step) {
            self.deliver(env)?;
        }
        for b in BROKERS {
            if self.replicas[b as usize].alive && self.net.linked(b, CONTROLLER) {
                self.ctrl.heartbeat(b, now);
            }
        }
        if self.ctrl.tick(now) || self.step.is_multiple_of(5) {
            self.broadcast();
        }
        if self.rng.chance(400) {
            self.client_append()?;
        }
        for b in BROKERS {
            if self.rng.chance(100) {
                self.resend_follower_request(b);
            }
            if self.rng.chance(50) {
                self.resend_isr_proposal(b);
            }
            let r = &mut self.replicas[b as usize];
            let effects = match &mut r.role {
                Role::Leader(l) if r.alive => l.on_tick(now),
                _ => Vec::new(),
            };
            self.apply_leader_effects(b, effects)?;
        }
        self.faults_and_repairs()
    }

    fn faults_and_repairs(&mut self) -> Result<(), Violation> {
        let b = BROKERS[self.rng.below(3) as usize];
        if self.rng.chance(6) && self.replicas[b as usize].alive {
            self.stats.crashes += 1;
            self.trace(|| format!("b{b} crashes"));
            let r = &mut self.replicas[b as usize];
            r.checkpoint_hw = r.hw();
            r.alive = false;
            r.role = Role::Idle;
        } else if self.rng.chance(40) && !self.replicas[b as usize].alive {
            self.trace(|| format!("b{b} restarts"));
            let r = &mut self.replicas[b as usize];
            r.alive = true;
            // Metadata is durable (KRaft brokers replay their metadata log), so `known` stays
            // and a stale record still in flight cannot take the broker back in time; the
            // role is rebuilt from the next record at or past it.
            r.restarted = true;
            // The epoch cache is rebuilt from the batch epochs of the log, as on open.
            r.cache.clear();
            for rec in &r.log {
                let _ = r.cache.assign(rec.epoch, rec.offset);
            }
        }
        if !self.net.is_partitioned() && self.rng.chance(8) {
            self.stats.partitions += 1;
            let victim = self.ctrl.record.leader.unwrap_or(b);
            if self.rng.chance(500) {
                self.net.isolate(victim, &BROKERS);
            } else {
                self.net.cut_from_peers(victim, &BROKERS);
            }
        } else if self.net.is_partitioned() && self.rng.chance(30) {
            self.net.heal();
        }
        Ok(())
    }

    fn broadcast(&mut self) {
        let record = self.ctrl.record.clone();
        for b in BROKERS {
            let msg = Msg::Partition(record.clone());
            self.net.send(&mut self.rng, self.step, CONTROLLER, b, msg);
        }
    }

    fn client_append(&mut self) -> Result<(), Violation> {
        // Mostly the controller's leader; sometimes a broker from stale metadata.
        let target = match self.ctrl.record.leader {
            Some(l) if self.rng.chance(850) => l,
            _ => BROKERS[self.rng.below(3) as usize],
        };
        let count = 1 + self.rng.below(3) as usize;
        let deadline = self.step + 300;
        let r = &mut self.replicas[target as usize];
        let Role::Leader(leader) = &mut r.role else {
            return Ok(());
        };
        if !r.alive || leader.check_produce_acks_all().is_err() {
            self.stats.rejected += 1;
            return Ok(());
        }
        let epoch = leader.leader_epoch();
        let mut records = Vec::new();
        for _ in 0..count {
            self.next_payload += 1;
            let offset = r.log.len() as i64;
            r.log.push(Rec {
                offset,
                epoch,
                payload: self.next_payload,
            });
            let _ = r.cache.assign(epoch, offset);
            records.push((offset, self.next_payload));
        }
        let effects = leader.on_append(r.log.len() as i64).unwrap_or_default();
        self.stats.appended += count as u64;
        self.pending.push(PendingAck {
            broker: target,
            leader_epoch: epoch,
            required: r.log.len() as i64,
            records,
            deadline,
        });
        self.apply_leader_effects(target, effects)?;
        Ok(())
    }

    fn resend_follower_request(&mut self, b: ReplicaId) {
        let r = &self.replicas[b as usize];
        if let (true, Role::Follower(f)) = (r.alive, &r.role) {
            let request = f.request(r.leo());
            self.send_request(b, request);
        }
    }

    fn resend_isr_proposal(&mut self, b: ReplicaId) {
        let r = &self.replicas[b as usize];
        if let (true, Role::Leader(l)) = (r.alive, &r.role)
            && let Some(p) = l.pending_isr()
        {
            let msg = Msg::AlterPartition(p.clone());
            self.net.send(&mut self.rng, self.step, b, CONTROLLER, msg);
        }
    }

    fn send_request(&mut self, b: ReplicaId, request: FollowerRequest) {
        let (to, msg) = match request {
            FollowerRequest::OffsetForLeaderEpoch {
                leader,
                current_leader_epoch,
                epoch,
            } => (
                leader,
                Msg::OfleReq {
                    current_leader_epoch,
                    epoch,
                },
            ),
            FollowerRequest::Fetch {
                leader,
                current_leader_epoch,
                fetch_offset,
            } => (
                leader,
                Msg::FetchReq {
                    current_leader_epoch,
                    fetch_offset,
                },
            ),
        };
        self.net.send(&mut self.rng, self.step, b, to, msg);
    }

    fn deliver(&mut self, env: Envelope) -> Result<(), Violation> {
        let Envelope { from, to, msg, .. } = env;
        if to == CONTROLLER {
            if let Msg::AlterPartition(proposal) = msg {
                let result = self.ctrl.alter_partition(from, &proposal);
                if matches!(result, AlterResult::Applied { .. }) {
                    self.stats.isr_proposals += 1;
                    self.broadcast();
                }
                let msg = Msg::AlterPartitionResp { proposal, result };
                self.net
                    .send(&mut self.rng, self.step, CONTROLLER, from, msg);
            }
            return Ok(());
        }
        if !self.replicas[to as usize].alive {
            return Ok(());
        }
        let now = self.now();
        let r = &mut self.replicas[to as usize];
        let leo = r.leo();
        match (msg, &mut r.role) {
            (Msg::Partition(record), _) => return self.on_partition_record(to, &record),
            (Msg::AlterPartitionResp { proposal, result }, Role::Leader(l)) => {
                let effects = match result {
                    AlterResult::Applied {
                        isr,
                        partition_epoch,
                    } => l.on_isr_confirmed(&isr, partition_epoch),
                    AlterResult::NotApplied => {
                        l.on_isr_change_rejected(&proposal);
                        Vec::new()
                    }
                    AlterResult::Stale => Vec::new(),
                };
                self.apply_leader_effects(to, effects)?;
            }
            (
                Msg::OfleReq {
                    current_leader_epoch,
                    epoch,
                },
                Role::Leader(l),
            ) if l.check_leader_epoch(current_leader_epoch).is_ok() => {
                let answer = r.cache.end_offset_for(epoch, leo);
                let leader_epoch = l.leader_epoch();
                let msg = Msg::OfleResp {
                    leader_epoch,
                    requested: epoch,
                    answer,
                };
                self.net.send(&mut self.rng, self.step, to, from, msg);
            }
            (
                Msg::FetchReq {
                    current_leader_epoch,
                    fetch_offset,
                },
                Role::Leader(l),
            ) => {
                if l.check_leader_epoch(current_leader_epoch).is_err() {
                    return Ok(());
                }
                let effects = match l.on_follower_fetch(from, fetch_offset, now) {
                    Ok(effects) => effects,
                    Err(_) => {
                        self.stats.state_errors += 1;
                        return Ok(());
                    }
                };
                let start = usize::try_from(fetch_offset).unwrap();
                let end = r.log.len().min(start + MAX_FETCH_RECORDS);
                let msg = Msg::FetchResp {
                    leader_epoch: l.leader_epoch(),
                    fetch_offset,
                    records: r.log[start..end].to_vec(),
                    hw: l.high_watermark(),
                };
                self.net.send(&mut self.rng, self.step, to, from, msg);
                self.apply_leader_effects(to, effects)?;
            }
            (
                Msg::OfleResp {
                    leader_epoch,
                    requested,
                    answer,
                },
                Role::Follower(f),
            ) => {
                let effects = f.on_epoch_end_offset(leader_epoch, requested, answer, &r.cache, leo);
                self.apply_follower_effects(to, effects, &[]);
            }
            (
                Msg::FetchResp {
                    leader_epoch,
                    fetch_offset,
                    records,
                    hw,
                },
                Role::Follower(f),
            ) => {
                let batches: Vec<FetchedBatch> = records
                    .iter()
                    .map(|rec| FetchedBatch {
                        base_offset: rec.offset,
                        last_offset: rec.offset,
                        epoch: rec.epoch,
                    })
                    .collect();
                match f.on_fetch_response(leader_epoch, fetch_offset, &batches, hw, leo) {
                    Ok(effects) => self.apply_follower_effects(to, effects, &records),
                    Err(_) => self.stats.state_errors += 1,
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub fn on_partition_record(
        &mut self,
        b: ReplicaId,
        record: &PartitionRecord,
    ) -> Result<(), Violation> {
        let now = self.now();
        let r = &mut self.replicas[b as usize];
        let version = (record.leader_epoch, record.partition_epoch);
        if !r.alive || version < r.known || (version == r.known && !r.restarted) {
            return Ok(());
        }
        let new_epoch = record.leader_epoch > r.known.0 || r.restarted;
        r.known = version;
        r.restarted = false;
        let (leo, hw) = (r.leo(), r.hw());
        self.trace(|| format!("b{b} applies {record:?} with log end {leo}, hw {hw}"));
        let r = &mut self.replicas[b as usize];
        if !new_epoch {
            if let Role::Leader(l) = &mut r.role {
                let effects = l.on_isr_confirmed(&record.isr, record.partition_epoch);
                self.apply_leader_effects(b, effects)?;
            }
            return Ok(());
        }
        let hw = r.hw();
        r.checkpoint_hw = hw;
        self.pending.retain(|p| p.broker != b);
        match record.leader {
            Some(leader) if leader == b => {
                let init = LeaderInit {
                    leader: b,
                    replicas: BROKERS.to_vec(),
                    isr: record.isr.clone(),
                    leader_epoch: record.leader_epoch,
                    partition_epoch: record.partition_epoch,
                    log_end_offset: r.leo(),
                    high_watermark: hw,
                };
                let _ = r.cache.assign(record.leader_epoch, r.leo());
                match LeaderState::new(init, self.leader_cfg, now) {
                    Ok(state) => r.role = Role::Leader(state),
                    Err(_) => self.stats.state_errors += 1,
                }
                // (a) is about the leaders the controller elects; a record that arrives
                // late can make a stale leader, which the other checks watch.
                if record.leader_epoch == self.ctrl.record.leader_epoch {
                    self.check_new_leader(b)?;
                }
                self.check_exposed(b, true)?;
            }
            Some(leader) => {
                let (state, effects) = FollowerState::become_follower(
                    leader,
                    record.leader_epoch,
                    hw,
                    &r.cache,
                    r.leo(),
                );
                r.role = Role::Follower(state);
                self.apply_follower_effects(b, effects, &[]);
            }
            None => r.role = Role::Idle,
        }
        Ok(())
    }

    fn apply_leader_effects(
        &mut self,
        b: ReplicaId,
        effects: Vec<LeaderEffect>,
    ) -> Result<(), Violation> {
        for effect in effects {
            match effect {
                LeaderEffect::ProposeIsr(p) => {
                    let msg = Msg::AlterPartition(p);
                    self.net.send(&mut self.rng, self.step, b, CONTROLLER, msg);
                }
                // Committed from now on, whatever happens to this leader later in the step.
                LeaderEffect::HighWatermarkAdvanced(_) => self.check_exposed(b, true)?,
            }
        }
        Ok(())
    }

    fn apply_follower_effects(
        &mut self,
        b: ReplicaId,
        effects: Vec<FollowerEffect>,
        records: &[Rec],
    ) {
        for effect in effects {
            match effect {
                FollowerEffect::TruncateTo(offset) => {
                    self.stats.truncations += 1;
                    self.trace(|| format!("b{b} truncates to {offset}"));
                    if !self.cfg.faults.skip_truncation {
                        self.replicas[b as usize].truncate(offset);
                    }
                }
                FollowerEffect::AppendFetched { base_offset, .. } => {
                    let r = &mut self.replicas[b as usize];
                    for rec in records.iter().filter(|rec| rec.offset >= base_offset) {
                        // With truncation skipped the offsets no longer line up: keep
                        // the leader's offsets in the record, append at the log end.
                        r.log.push(*rec);
                        let _ = r.cache.assign(rec.epoch, rec.offset);
                    }
                }
                FollowerEffect::HighWatermark(_) => {}
                FollowerEffect::Send(request) => {
                    let r = &self.replicas[b as usize];
                    // The fetch offset is the real log end (differs only under the fault).
                    let request = match (request, &r.role) {
                        (FollowerRequest::Fetch { .. }, Role::Follower(f)) => f.request(r.leo()),
                        _ => request,
                    };
                    self.send_request(b, request);
                }
            }
        }
    }
}
