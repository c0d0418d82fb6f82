//! The cooperative-sticky assignor (Java's `CooperativeStickyAssignor`, KIP-429): a balanced
//! assignment that keeps every member's owned partitions where balance allows, from which
//! the partitions changing owner are then held back for one round.
//!
//! 1. **Ownership.** A member's claim on a partition counts if the partition exists, the
//!    member subscribes to its topic, the claim is from the highest generation any member
//!    reports, and no other member of that generation claims the same partition.
//! 2. **Fill.** Each unowned partition goes to the subscribing member with the fewest
//!    partitions, the partitions with the fewest candidates first.
//! 3. **Balance.** While some member has two partitions more than another that could take one
//!    of them, one moves (a partition the donor did not own before, if it has one). Every
//!    move lowers the sum of squared counts, so this ends; it ends balanced in Java's sense:
//!    no partition can move to a member with two fewer. With equal subscriptions that is
//!    every member at `floor` or `ceil` of the average.
//! 4. **Cooperation.** A partition assigned to a member that did not own it, while another
//!    member owns it and is losing it, is left out this round: its owner revokes it first,
//!    rejoins, and the next rebalance hands it over (Java's `adjustAssignment`).
//!
//! Correct and balanced, not necessarily the fewest moves Java's assignor finds.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Assignments, Member, partitions_of};
use crate::offsets::TopicPartition;

pub(super) fn assign(members: &[&Member], partitions: &BTreeMap<String, i32>) -> Assignments {
    let subscribed: Vec<BTreeSet<&str>> = members
        .iter()
        .map(|m| m.subscription.topics.iter().map(String::as_str).collect())
        .collect();
    let mut all: Vec<TopicPartition> = Vec::new();
    let mut topics: BTreeSet<&str> = BTreeSet::new();
    for topics_of_member in &subscribed {
        topics.extend(topics_of_member.iter().copied());
    }
    for topic in &topics {
        all.extend(partitions_of(partitions, topic));
    }
    let exists: BTreeSet<&TopicPartition> = all.iter().collect();

    // 1. Ownership: valid, uncontested claims from the highest generation.
    let generation = members.iter().map(|m| generation_of(m)).max().unwrap_or(-1);
    let mut claimants: HashMap<&TopicPartition, Vec<usize>> = HashMap::new();
    for (i, member) in members.iter().enumerate() {
        if generation_of(member) != generation {
            continue;
        }
        let mut claimed: Vec<&TopicPartition> =
            member.subscription.owned_partitions.iter().collect();
        claimed.sort();
        claimed.dedup();
        for tp in claimed {
            if exists.contains(tp) && subscribed[i].contains(tp.0.as_str()) {
                claimants.entry(tp).or_default().push(i);
            }
        }
    }
    let mut owner: HashMap<&TopicPartition, usize> = HashMap::new();
    let mut assigned: Vec<BTreeSet<&TopicPartition>> = vec![BTreeSet::new(); members.len()];
    for (tp, claim) in &claimants {
        if let [only] = claim.as_slice() {
            owner.insert(tp, *only);
            assigned[*only].insert(tp);
        }
    }

    // 2. Fill: unowned partitions, fewest candidates first, to the least loaded candidate.
    let candidates = |tp: &TopicPartition| -> Vec<usize> {
        (0..members.len())
            .filter(|i| subscribed[*i].contains(tp.0.as_str()))
            .collect()
    };
    let mut unowned: Vec<(usize, &TopicPartition)> = all
        .iter()
        .filter(|tp| !owner.contains_key(tp))
        .map(|tp| (candidates(tp).len(), tp))
        .collect();
    unowned.sort();
    for (_, tp) in unowned {
        let least = candidates(tp)
            .into_iter()
            .min_by_key(|i| (assigned[*i].len(), *i));
        if let Some(i) = least {
            assigned[i].insert(tp);
        }
    }

    // 3. Balance: move from the most loaded to a candidate with two fewer, until none can.
    loop {
        let mut donors: Vec<usize> = (0..members.len()).collect();
        donors.sort_by_key(|i| (std::cmp::Reverse(assigned[*i].len()), *i));
        let mut moved = None;
        'search: for donor in donors {
            let load = assigned[donor].len();
            if load < 2 {
                break;
            }
            // Partitions the donor did not own go first: moving them costs no stickiness.
            let mut movable: Vec<&TopicPartition> = assigned[donor].iter().copied().collect();
            movable.sort_by_key(|tp| (owner.get(tp) == Some(&donor), *tp));
            for tp in movable {
                let receiver = candidates(tp)
                    .into_iter()
                    .filter(|i| assigned[*i].len() + 2 <= load)
                    .min_by_key(|i| (assigned[*i].len(), *i));
                if let Some(receiver) = receiver {
                    moved = Some((tp, donor, receiver));
                    break 'search;
                }
            }
        }
        let Some((tp, donor, receiver)) = moved else {
            break;
        };
        assigned[donor].remove(tp);
        assigned[receiver].insert(tp);
    }

    // 4. Cooperation: hold back partitions that another member still owns and must revoke.
    let mut added: HashMap<&TopicPartition, usize> = HashMap::new();
    let mut revoked: BTreeSet<&TopicPartition> = BTreeSet::new();
    for (i, member) in members.iter().enumerate() {
        let owned: BTreeSet<&TopicPartition> =
            member.subscription.owned_partitions.iter().collect();
        for tp in &assigned[i] {
            if !owned.contains(tp) {
                added.insert(tp, i);
            }
        }
        for tp in owned {
            if !assigned[i].contains(tp) {
                revoked.insert(tp);
            }
        }
    }
    for (tp, i) in added {
        if revoked.contains(tp) {
            assigned[i].remove(tp);
        }
    }

    members
        .iter()
        .zip(assigned)
        .map(|(m, tps)| (m.id.clone(), tps.into_iter().cloned().collect()))
        .collect()
}

/// The generation a member's owned partitions are from: the subscription's (v2+), else the
/// one the cooperative-sticky assignor of older clients puts in its user data.
fn generation_of(member: &Member) -> i32 {
    let subscription = &member.subscription;
    if subscription.generation_id >= 0 {
        return subscription.generation_id;
    }
    match subscription.user_data.as_deref() {
        Some([a, b, c, d, ..]) => i32::from_be_bytes([*a, *b, *c, *d]),
        _ => -1,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::super::tests::{assert_valid, member, topics, tps};
    use super::super::{Assignments, AssignorKind, Member, assign};
    use crate::offsets::TopicPartition;

    fn sticky(members: &[Member], partitions: &BTreeMap<String, i32>) -> Assignments {
        assign(AssignorKind::CooperativeSticky, members, partitions)
    }

    /// Runs rebalances as the group would, each member owning what it was given, until an
    /// assignment gives everyone what they own (no partition held back); returns it and
    /// the number of rounds.
    fn converge(
        mut members: Vec<Member>,
        partitions: &BTreeMap<String, i32>,
        mut generation: i32,
    ) -> (Assignments, usize) {
        for round in 1..=5 {
            let out = sticky(&members, partitions);
            assert_no_partition_moves_directly(&members, &out);
            let settled = members.iter().all(|m| {
                let owned: BTreeSet<_> = m.subscription.owned_partitions.iter().collect();
                let now: BTreeSet<_> = out[&m.id].iter().collect();
                owned == now
            });
            if settled {
                return (out, round);
            }
            generation += 1;
            for m in &mut members {
                m.subscription.owned_partitions = out[&m.id].clone();
                m.subscription.generation_id = generation;
            }
        }
        panic!("no stable assignment after 5 rounds");
    }

    /// KIP-429: no partition is given to one member while another still owns it.
    fn assert_no_partition_moves_directly(members: &[Member], out: &Assignments) {
        for m in members {
            for tp in &out[&m.id] {
                if m.subscription.owned_partitions.contains(tp) {
                    continue; // it owns it itself (another's claim on it is stale)
                }
                for other in members.iter().filter(|o| o.id != m.id) {
                    assert!(
                        !other.subscription.owned_partitions.contains(tp),
                        "{tp:?} goes to {} while {} owns it",
                        m.id,
                        other.id
                    );
                }
            }
        }
    }

    /// Java's balance: no member has a partition that a subscriber with two fewer could take.
    fn assert_balanced(members: &[Member], out: &Assignments) {
        for m in members {
            for tp in &out[&m.id] {
                for other in members {
                    if other.subscription.topics.contains(&tp.0) {
                        assert!(
                            out[&other.id].len() + 2 > out[&m.id].len(),
                            "{tp:?} of {} ({}) could go to {} ({})",
                            m.id,
                            out[&m.id].len(),
                            other.id,
                            out[&other.id].len()
                        );
                    }
                }
            }
        }
    }

    fn counts(out: &Assignments) -> Vec<usize> {
        out.values().map(Vec::len).collect()
    }

    #[test]
    fn a_new_group_is_balanced() {
        let members: Vec<Member> = ["a", "b", "c"]
            .iter()
            .map(|id| member(id, &["t", "u"], &[], -1))
            .collect();
        let partitions = topics(&[("t", 4), ("u", 3)]);
        let out = sticky(&members, &partitions);
        assert_valid(&members, &partitions, &out);
        assert_balanced(&members, &out);
        let mut sizes = counts(&out);
        sizes.sort();
        assert_eq!(sizes, [2, 2, 3]);
    }

    #[test]
    fn an_unchanged_group_keeps_every_partition_where_it_is() {
        let owned_a = [("t", 0), ("t", 3), ("t", 5)];
        let owned_b = [("t", 1), ("t", 2), ("t", 4)];
        let members = vec![
            member("a", &["t"], &owned_a, 4),
            member("b", &["t"], &owned_b, 4),
        ];
        let partitions = topics(&[("t", 6)]);
        let out = sticky(&members, &partitions);
        assert_eq!(out["a"], tps(&owned_a));
        assert_eq!(out["b"], tps(&owned_b));
    }

    #[test]
    fn a_joining_member_takes_partitions_in_two_rounds_and_the_rest_stay() {
        let owned_a = [("t", 0), ("t", 1), ("t", 2)];
        let owned_b = [("t", 3), ("t", 4), ("t", 5)];
        let members = vec![
            member("a", &["t"], &owned_a, 1),
            member("b", &["t"], &owned_b, 1),
            member("c", &["t"], &[], -1),
        ];
        let partitions = topics(&[("t", 6)]);

        // First round: c gets nothing yet; a and b each give up one partition.
        let first = sticky(&members, &partitions);
        assert_valid_but_held_back(&members, &partitions, &first);
        assert_eq!(first["c"], []);
        assert_eq!(first["a"].len(), 2);
        assert_eq!(first["b"].len(), 2);
        for (id, owned) in [("a", &owned_a), ("b", &owned_b)] {
            for tp in &first[id] {
                assert!(tps(owned).contains(tp), "{id} keeps only what it owned");
            }
        }

        let (last, rounds) = converge(members.clone(), &partitions, 1);
        assert_eq!(rounds, 3, "hold back, hand over, settle");
        assert_valid(&members, &partitions, &last);
        assert_balanced(&members, &last);
        assert_eq!(counts(&last), [2, 2, 2]);
        assert_eq!(last["c"].len(), 2);
    }

    /// A round with held-back partitions assigns each partition at most once.
    fn assert_valid_but_held_back(
        members: &[Member],
        _partitions: &BTreeMap<String, i32>,
        out: &Assignments,
    ) {
        let mut seen = BTreeSet::new();
        for m in members {
            for tp in &out[&m.id] {
                assert!(m.subscription.topics.contains(&tp.0));
                assert!(seen.insert(tp.clone()), "{tp:?} twice");
            }
        }
    }

    #[test]
    fn a_leaving_members_partitions_go_to_the_others_at_once() {
        // b left: its partitions are owned by no one, so no round is needed.
        let owned_a = [("t", 0), ("t", 1)];
        let owned_c = [("t", 4), ("t", 5)];
        let members = vec![
            member("a", &["t"], &owned_a, 3),
            member("c", &["t"], &owned_c, 3),
        ];
        let partitions = topics(&[("t", 6)]);
        let out = sticky(&members, &partitions);
        assert_valid(&members, &partitions, &out);
        assert_eq!(counts(&out), [3, 3]);
        for tp in tps(&owned_a) {
            assert!(out["a"].contains(&tp));
        }
        for tp in tps(&owned_c) {
            assert!(out["c"].contains(&tp));
        }
    }

    #[test]
    fn members_with_different_subscriptions_are_balanced_where_they_can_be() {
        let members = vec![
            member("a", &["t"], &[], -1),
            member("b", &["t", "u"], &[], -1),
            member("c", &["u", "v"], &[], -1),
            member("d", &["v"], &[], -1),
        ];
        let partitions = topics(&[("t", 5), ("u", 3), ("v", 1)]);
        let out = sticky(&members, &partitions);
        assert_valid(&members, &partitions, &out);
        assert_balanced(&members, &out);
        assert_eq!(out["d"], tps(&[("v", 0)]), "only d and c want v; c has u");
    }

    #[test]
    fn claims_from_an_older_generation_or_contested_claims_do_not_count() {
        let members = vec![
            // a and b both claim t-0 at generation 5: neither keeps it for sure.
            member("a", &["t"], &[("t", 0), ("t", 1)], 5),
            member("b", &["t"], &[("t", 0), ("t", 2)], 5),
            // c's claim is from generation 2: stale.
            member("c", &["t"], &[("t", 3), ("t", 1)], 2),
        ];
        let partitions = topics(&[("t", 6)]);
        let out = sticky(&members, &partitions);
        assert!(out["a"].contains(&("t".into(), 1)), "a's valid claim stays");
        assert!(out["b"].contains(&("t".into(), 2)), "b's valid claim stays");
        let everyone: Vec<&TopicPartition> = out.values().flatten().collect();
        let unique: BTreeSet<&&TopicPartition> = everyone.iter().collect();
        assert_eq!(everyone.len(), unique.len());
        let (last, _) = converge(members, &partitions, 5);
        assert_eq!(counts(&last), [2, 2, 2]);
    }

    #[test]
    fn claims_on_unsubscribed_or_missing_partitions_are_dropped() {
        let members = vec![
            member("a", &["t"], &[("u", 0), ("t", 9)], 1),
            member("b", &["t", "u"], &[], 1),
        ];
        let partitions = topics(&[("t", 2), ("u", 1)]);
        let (last, _) = converge(members.clone(), &partitions, 1);
        assert_valid(&members, &partitions, &last);
        assert_eq!(last["a"], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(last["b"], tps(&[("u", 0)]));
    }

    #[test]
    fn the_generation_is_read_from_old_clients_user_data() {
        // a's claims are from generation 3 (in its user data, as Java's cooperative-sticky
        // assignor of subscription v0-v1 sends), so they beat b's from generation 2.
        let mut old = member("a", &["t"], &[("t", 0), ("t", 1)], -1);
        old.subscription.user_data = Some(bytes::Bytes::from_static(&[0, 0, 0, 3]));
        let stale = member("b", &["t"], &[("t", 1)], 2);
        let out = sticky(&[old.clone(), stale.clone()], &topics(&[("t", 2)]));
        assert_eq!(out["a"], tps(&[("t", 1)]), "a keeps one and gives up one");
        assert_eq!(out["b"], [], "what a gives up moves in the next round");

        // Without the user data a's claims would be stale and b's would count.
        old.subscription.user_data = None;
        let out = sticky(&[old, stale], &topics(&[("t", 2)]));
        assert_eq!(out["a"], tps(&[("t", 0)]));
        assert_eq!(out["b"], tps(&[("t", 1)]));
    }

    #[test]
    fn large_groups_stay_balanced_through_joins_and_leaves() {
        let partitions = topics(&[("t", 17), ("u", 9)]);
        let mut members: Vec<Member> = (0..4)
            .map(|i| member(&format!("m{i}"), &["t", "u"], &[], -1))
            .collect();
        let mut generation = 0;
        for step in 0..6 {
            let (out, _) = converge(members.clone(), &partitions, generation);
            assert_valid(&members, &partitions, &out);
            assert_balanced(&members, &out);
            generation += 5;
            for m in &mut members {
                m.subscription.owned_partitions = out[&m.id].clone();
                m.subscription.generation_id = generation;
            }
            let before: BTreeMap<String, Vec<TopicPartition>> = out.clone();
            if step % 2 == 0 {
                members.push(member(&format!("n{step}"), &["t", "u"], &[], -1));
            } else {
                members.remove(0);
            }
            // Stickiness: each staying member keeps at least its fair share of what it had.
            let (next, _) = converge(members.clone(), &partitions, generation);
            let fair = 26 / members.len();
            for m in &members {
                if let Some(had) = before.get(&m.id) {
                    let kept = had.iter().filter(|tp| next[&m.id].contains(tp)).count();
                    assert!(
                        kept >= had.len().min(fair),
                        "{} kept {kept} of {}",
                        m.id,
                        had.len()
                    );
                }
            }
        }
    }
}
