//! Leader election and ISR removal: the controller's pure rules for one partition.
//!
//! It owns no state. Invariants of its answers: a clean election picks a live ISR member,
//! so the new leader holds everything committed; an unclean one (only when the topic allows
//! it) restarts the ISR at the new leader alone, since nothing else is known to match it;
//! the ISR is never emptied, so a partition whose last in-sync replica is down waits for it.

use super::ReplicaId;

/// The outcome of an election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Election {
    /// The new leader.
    pub leader: ReplicaId,
    /// The new ISR.
    pub isr: Vec<ReplicaId>,
    /// Whether the leader was out of the ISR (data may be lost).
    pub unclean: bool,
}

/// The new leader of a partition whose leader is gone (Kafka's
/// `offlinePartitionLeaderElection`): the first live replica in assignment order that is in
/// the ISR, keeping the live ISR members; else, only when `unclean_allowed`, the first live
/// replica with an ISR of itself; else `None` (the partition stays offline, ISR unchanged).
pub fn elect_leader(
    replicas: &[ReplicaId],
    isr: &[ReplicaId],
    live: &[ReplicaId],
    unclean_allowed: bool,
) -> Option<Election> {
    let is_live = |r: &ReplicaId| live.contains(r);
    if let Some(&leader) = replicas.iter().find(|r| is_live(r) && isr.contains(r)) {
        let isr = replicas
            .iter()
            .copied()
            .filter(|r| isr.contains(r) && is_live(r))
            .collect();
        return Some(Election {
            leader,
            isr,
            unclean: false,
        });
    }
    if !unclean_allowed {
        return None;
    }
    replicas
        .iter()
        .copied()
        .find(is_live)
        .map(|leader| Election {
            leader,
            isr: vec![leader],
            unclean: true,
        })
}

/// The ISR once `broker` is fenced (its session expired): without it, unless it is the last
/// member, which stays so that only it can lead cleanly again (KRaft's rule).
pub fn isr_without(isr: &[ReplicaId], broker: ReplicaId) -> Vec<ReplicaId> {
    let rest: Vec<ReplicaId> = isr.iter().copied().filter(|&r| r != broker).collect();
    if rest.is_empty() { isr.to_vec() } else { rest }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_live_isr_member_in_replica_order() {
        let e = elect_leader(&[3, 1, 2], &[2, 1], &[1, 2, 3], false);
        assert_eq!(
            e,
            Some(Election {
                leader: 1,
                isr: vec![1, 2],
                unclean: false
            })
        );
        let e = elect_leader(&[3, 1, 2], &[2, 1, 3], &[2, 3], false);
        assert_eq!(
            e,
            Some(Election {
                leader: 3,
                isr: vec![3, 2],
                unclean: false
            })
        );
    }

    #[test]
    fn out_of_isr_replica_only_when_unclean_allowed() {
        assert_eq!(elect_leader(&[1, 2, 3], &[1], &[2, 3], false), None);
        assert_eq!(
            elect_leader(&[1, 2, 3], &[1], &[3, 2], true),
            Some(Election {
                leader: 2,
                isr: vec![2],
                unclean: true
            })
        );
        assert_eq!(elect_leader(&[1, 2, 3], &[1], &[], true), None);
        // Unclean permission does not override a clean candidate.
        assert_eq!(
            elect_leader(&[1, 2, 3], &[3], &[2, 3], true).map(|e| (e.leader, e.unclean)),
            Some((3, false))
        );
    }

    #[test]
    fn isr_is_never_emptied() {
        assert_eq!(isr_without(&[1, 2], 2), vec![1]);
        assert_eq!(isr_without(&[1], 1), vec![1]);
        assert_eq!(isr_without(&[1, 2], 3), vec![1, 2]);
    }
}
