//! Operator-driven partition changes: preferred and unclean leader elections (ElectLeaders)
//! and reassignments to a new replica set (AlterPartitionReassignments, KIP-455).
//!
//! Pure functions from a partition's state to its next state, as the controller's
//! [`plan`](crate::controller::plan) is; the handlers and the controller commit what they
//! return as compare-and-set records. The rules:
//! - a reassignment first widens the replica set to target + original (the new replicas
//!   fetch and catch up as followers; nothing is taken away yet), and completes only once
//!   every target replica is in the ISR: then the replicas become the target, the ISR keeps
//!   its target members, and a leader outside the target hands over to an in-sync target
//!   replica. So the data is on the new replicas before the old ones are dropped;
//! - a leader change always bumps the leader epoch; a change of replicas with the same
//!   leader does not (the leader adopts the new set, see `LeaderState::on_replicas_changed`);
//! - `live` is the set of brokers whose session is live, known only on the node leading
//!   the quorum; elsewhere (`None`) the ISR stands for it, as the controller keeps brokers
//!   whose session ended out of ISRs.

use std::collections::BTreeSet;

use streambus_metadata::PartitionImage;
use streambus_protocol::ErrorCode;
use streambus_replication::state::elect_leader;

use crate::errors::KafkaError;

/// The partition led by its preferred replica (the first), if that one is in sync and
/// live: ELECTION_NOT_NEEDED if it already leads, PREFERRED_LEADER_NOT_AVAILABLE if not.
pub(crate) fn elect_preferred(
    p: &PartitionImage,
    live: Option<&BTreeSet<i32>>,
) -> Result<PartitionImage, KafkaError> {
    let preferred = p.replicas.first().copied().unwrap_or(-1);
    if p.leader == preferred {
        return Err(KafkaError::new(
            ErrorCode::ElectionNotNeeded,
            "the preferred replica already leads",
        ));
    }
    if !p.isr.contains(&preferred) || live.is_some_and(|live| !live.contains(&preferred)) {
        return Err(KafkaError::new(
            ErrorCode::PreferredLeaderNotAvailable,
            format!("the preferred replica {preferred} is not in sync and live"),
        ));
    }
    with_leader(p, preferred, p.isr.clone())
}

/// A leader for a partition that has none, from outside the ISR if no ISR member is live
/// (records only the old ISR had are lost): ELECTION_NOT_NEEDED if it has a leader,
/// ELIGIBLE_LEADERS_NOT_AVAILABLE if no replica is live.
pub(crate) fn elect_unclean(
    p: &PartitionImage,
    live: &BTreeSet<i32>,
) -> Result<PartitionImage, KafkaError> {
    if p.leader != -1 {
        return Err(KafkaError::new(
            ErrorCode::ElectionNotNeeded,
            "the partition has a leader",
        ));
    }
    let live: Vec<i32> = live.iter().copied().collect();
    let election = elect_leader(&p.replicas, &p.isr, &live, true).ok_or_else(|| {
        KafkaError::new(
            ErrorCode::EligibleLeadersNotAvailable,
            "no replica of the partition is live",
        )
    })?;
    with_leader(p, election.leader, election.isr)
}

/// The partition once a reassignment to `target` has begun (replacing one in progress):
/// `Ok(None)` when `target` is the replica set already and no move runs. Every target
/// replica must be a registered broker, once.
pub(crate) fn reassign(
    p: &PartitionImage,
    target: &[i32],
    registered: impl Fn(i32) -> bool,
    live: Option<&BTreeSet<i32>>,
) -> Result<Option<PartitionImage>, KafkaError> {
    let invalid = |reason: String| KafkaError::new(ErrorCode::InvalidReplicaAssignment, reason);
    if target.is_empty() {
        return Err(invalid("the replica list is empty".into()));
    }
    // A set, not a scan per entry: a request may carry a list of any length.
    let mut seen = BTreeSet::new();
    if let Some((i, r)) = target
        .iter()
        .copied()
        .enumerate()
        .find(|(_, r)| !seen.insert(*r))
    {
        return Err(invalid(format!("broker {r} is named twice (at {i})")));
    }
    if let Some(r) = target.iter().copied().find(|&r| !registered(r)) {
        return Err(invalid(format!("broker {r} is not registered")));
    }
    let original = p.original_replicas();
    if target == original.as_slice() {
        return if p.is_reassigning() {
            cancel(p).map(Some)
        } else {
            Ok(None)
        };
    }
    let mut replicas = target.to_vec();
    replicas.extend(original.iter().copied().filter(|r| !target.contains(r)));
    let started = PartitionImage {
        isr: p
            .isr
            .iter()
            .copied()
            .filter(|r| replicas.contains(r))
            .collect(),
        adding_replicas: target
            .iter()
            .copied()
            .filter(|r| !original.contains(r))
            .collect(),
        removing_replicas: original
            .iter()
            .copied()
            .filter(|r| !target.contains(r))
            .collect(),
        replicas,
        partition_epoch: next(p.partition_epoch)?,
        ..p.clone()
    };
    if started.isr.is_empty() || !started.isr.contains(&started.leader) {
        // Only when a move in progress is replaced and its added replicas lead or hold
        // the ISR: not a case this takes on.
        return Err(KafkaError::new(
            ErrorCode::ReassignmentInProgress,
            "the move in progress cannot be replaced while its new replicas lead; cancel it first",
        ));
    }
    // A reorder, or a move to replicas all in sync already, completes at once: one record,
    // one partition epoch further.
    Ok(Some(match complete(&started, live) {
        Some(done) => PartitionImage {
            partition_epoch: started.partition_epoch,
            ..done
        },
        None => started,
    }))
}

/// The partition with its reassignment in progress undone: the original replicas, the ISR
/// without the added ones, and, if an added replica led, an original one leading.
/// NO_REASSIGNMENT_IN_PROGRESS if none runs.
pub(crate) fn cancel(p: &PartitionImage) -> Result<PartitionImage, KafkaError> {
    if !p.is_reassigning() {
        return Err(KafkaError::new(
            ErrorCode::NoReassignmentInProgress,
            "no reassignment of the partition is in progress",
        ));
    }
    let original = p.original_replicas();
    let isr: Vec<i32> = p
        .isr
        .iter()
        .copied()
        .filter(|r| original.contains(r))
        .collect();
    let leader = if original.contains(&p.leader) {
        p.leader
    } else {
        original
            .iter()
            .copied()
            .find(|r| isr.contains(r))
            .ok_or_else(|| {
                KafkaError::new(
                    ErrorCode::ReassignmentInProgress,
                    "no original replica is in sync: the move cannot be cancelled",
                )
            })?
    };
    let mut reverted = with_leader(p, leader, isr)?;
    reverted.replicas = original;
    reverted.adding_replicas.clear();
    reverted.removing_replicas.clear();
    Ok(reverted)
}

/// The partition with its reassignment finished, if every target replica is in sync and
/// one of them (the current leader, or else a live one) can lead; `None` while it waits.
pub(crate) fn complete(p: &PartitionImage, live: Option<&BTreeSet<i32>>) -> Option<PartitionImage> {
    if !p.is_reassigning() {
        return None;
    }
    let target = p.target_replicas();
    if !target.iter().all(|r| p.isr.contains(r)) {
        return None;
    }
    let isr: Vec<i32> = p
        .isr
        .iter()
        .copied()
        .filter(|r| target.contains(r))
        .collect();
    let leader = if target.contains(&p.leader) {
        p.leader
    } else {
        target
            .iter()
            .copied()
            .find(|r| isr.contains(r) && live.is_none_or(|live| live.contains(r)))?
    };
    let mut done = with_leader(p, leader, isr).ok()?;
    done.replicas = target;
    done.adding_replicas.clear();
    done.removing_replicas.clear();
    Some(done)
}

/// `p` led by `leader` with `isr`, at the next partition epoch, and at the next leader
/// epoch if the leader changes.
fn with_leader(
    p: &PartitionImage,
    leader: i32,
    isr: Vec<i32>,
) -> Result<PartitionImage, KafkaError> {
    let leader_epoch = if leader == p.leader {
        p.leader_epoch
    } else {
        next(p.leader_epoch)?
    };
    Ok(PartitionImage {
        leader,
        isr,
        leader_epoch,
        partition_epoch: next(p.partition_epoch)?,
        ..p.clone()
    })
}

fn next(epoch: i32) -> Result<i32, KafkaError> {
    epoch.checked_add(1).ok_or_else(|| {
        KafkaError::new(
            ErrorCode::UnknownServerError,
            "the partition's epochs are exhausted",
        )
    })
}

#[cfg(test)]
#[path = "partition_moves_tests.rs"]
mod tests;
