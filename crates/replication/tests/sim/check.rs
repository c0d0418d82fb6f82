//! The invariants, checked after every step:
//!
//! - (a) every acknowledged record is in every new leader's log, at its offset, with its
//!   payload (checked whenever a replica becomes leader, and at the end);
//! - (b) every replica's high watermark is at most its log end, and a replica only exposes
//!   (holds below its high watermark) records that some leader committed, unchanged;
//! - (c) every member of a leader's maximal ISR holds the committed records below that
//!   leader's high watermark;
//! - (d) no offset is ever committed with two different records.

use streambus_replication::state::ReplicaId;

use super::{BROKERS, Role, Sim, Violation};
use streambus_replication::state::AckStatus;

impl Sim {
    pub fn check(&mut self) -> Result<(), Violation> {
        // Leaders first: they extend the committed history.
        for pass_leaders in [true, false] {
            for b in BROKERS {
                let is_leader = matches!(self.replicas[b as usize].role, Role::Leader(_));
                if is_leader == pass_leaders {
                    self.check_exposed(b, is_leader)?;
                }
            }
        }
        for b in BROKERS {
            let r = &self.replicas[b as usize];
            let Role::Leader(l) = &r.role else { continue };
            let hw = l.high_watermark();
            for m in l.maximal_isr() {
                self.check_holds_committed(m, hw, "(c) in-sync replicas agree below the HW")?;
            }
        }
        Ok(())
    }

    /// (b) and (d) for the records replica `b` exposes.
    pub fn check_exposed(&mut self, b: ReplicaId, leader: bool) -> Result<(), Violation> {
        let r = &self.replicas[b as usize];
        let (hw, leo) = (r.hw(), r.leo());
        if hw > leo {
            let detail = format!("replica {b} has high watermark {hw} past its log end {leo}");
            return Err(self.violation("(b) HW <= LEO", detail));
        }
        for offset in r.verified..hw {
            let rec = r.log[usize::try_from(offset).unwrap_or(0)];
            let idx = usize::try_from(offset).unwrap_or(0);
            match self.committed.get(idx) {
                Some(&(epoch, payload)) if (epoch, payload) == (rec.epoch, rec.payload) => {}
                Some(&(epoch, payload)) => {
                    let detail = format!(
                        "replica {b} exposes offset {offset} as (epoch {}, {}) but ({epoch}, {payload}) was committed",
                        rec.epoch, rec.payload
                    );
                    let check = if leader {
                        "(d) one committed record per offset"
                    } else {
                        "(b) replicas expose only committed data"
                    };
                    return Err(self.violation(check, detail));
                }
                None if leader => self.committed.push((rec.epoch, rec.payload)),
                None => {
                    let detail = format!(
                        "follower {b} exposes offset {offset}, above every leader's high watermark {}",
                        self.committed.len()
                    );
                    return Err(self.violation("(b) no HW above the leader's", detail));
                }
            }
        }
        let r = &mut self.replicas[b as usize];
        r.verified = r.verified.max(hw);
        Ok(())
    }

    fn check_holds_committed(
        &self,
        m: ReplicaId,
        upto: i64,
        check: &'static str,
    ) -> Result<(), Violation> {
        let log = &self.replicas[m as usize].log;
        if (log.len() as i64) < upto {
            let detail = format!("replica {m} ends at {} below offset {upto}", log.len());
            return Err(self.violation(check, detail));
        }
        // Below `verified` the replica's log was already matched, and a truncation lowers it.
        let from = self.replicas[m as usize].verified.min(upto);
        for offset in from..upto {
            let idx = usize::try_from(offset).unwrap_or(0);
            let rec = log[idx];
            if self.committed.get(idx) != Some(&(rec.epoch, rec.payload)) {
                let detail = format!(
                    "replica {m} holds (epoch {}, {}) at offset {offset}, committed is {:?}",
                    rec.epoch,
                    rec.payload,
                    self.committed.get(idx)
                );
                return Err(self.violation(check, detail));
            }
        }
        Ok(())
    }

    /// (a) for a replica that just became leader: it holds every acknowledged record, and
    /// the whole committed history.
    pub fn check_new_leader(&self, b: ReplicaId) -> Result<(), Violation> {
        let log = &self.replicas[b as usize].log;
        for &(offset, payload) in &self.acked {
            let held = log
                .get(usize::try_from(offset).unwrap_or(0))
                .map(|r| r.payload);
            if held != Some(payload) {
                let detail = format!(
                    "new leader {b} has {held:?} at offset {offset}, acknowledged {payload}"
                );
                return Err(self.violation("(a) acknowledged records survive", detail));
            }
        }
        self.check_full_prefix(b, "(a) committed records survive leader changes")
    }

    fn check_full_prefix(&self, b: ReplicaId, check: &'static str) -> Result<(), Violation> {
        let log = &self.replicas[b as usize].log;
        for (idx, &(epoch, payload)) in self.committed.iter().enumerate() {
            match log.get(idx) {
                Some(rec) if (rec.epoch, rec.payload) == (epoch, payload) => {}
                other => {
                    let detail = format!(
                        "leader {b} has {other:?} at offset {idx}, committed ({epoch}, {payload})"
                    );
                    return Err(self.violation(check, detail));
                }
            }
        }
        Ok(())
    }

    /// Completes the acks=all produces whose high watermark arrived; drops those whose
    /// leader is gone or that timed out. An acknowledged record must be committed already.
    pub fn settle_acks(&mut self) -> Result<(), Violation> {
        let mut still = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            let r = &self.replicas[p.broker as usize];
            let status = match &r.role {
                Role::Leader(l) if r.alive && l.leader_epoch() == p.leader_epoch => {
                    l.check_acks_all(p.required)
                }
                _ => continue,
            };
            match status {
                AckStatus::Pending if self.step < p.deadline => still.push(p),
                AckStatus::Pending | AckStatus::NotEnoughReplicasAfterAppend => {
                    self.stats.rejected += 1;
                }
                AckStatus::Satisfied => {
                    self.trace(|| format!("b{} acknowledges up to {}", p.broker, p.required));
                    for &(offset, payload) in &p.records {
                        let idx = usize::try_from(offset).unwrap_or(0);
                        if self.committed.get(idx).map(|c| c.1) != Some(payload) {
                            let detail = format!("acknowledged offset {offset} is not committed");
                            return Err(self.violation("(a) acks follow the HW", detail));
                        }
                        self.acked.push((offset, payload));
                        self.stats.acked += 1;
                    }
                }
            }
        }
        self.pending = still;
        Ok(())
    }

    /// At the end: the controller's leader, if it leads, holds everything committed.
    pub fn final_check(&self) -> Result<(), Violation> {
        match self.ctrl.record.leader {
            Some(l) if matches!(self.replicas[l as usize].role, Role::Leader(_)) => {
                self.check_new_leader(l)
            }
            _ => Ok(()),
        }
    }
}
