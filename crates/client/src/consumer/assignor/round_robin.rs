//! The round-robin assignor (Java's `RoundRobinAssignor`): every partition of every
//! subscribed topic, sorted by topic and partition, is dealt in turn around the members in
//! member order, skipping members that do not subscribe to its topic.

use std::collections::BTreeMap;

use super::{Assignments, Member, partitions_of};

pub(super) fn assign(members: &[&Member], partitions: &BTreeMap<String, i32>) -> Assignments {
    let mut out = Assignments::new();
    let mut topics: Vec<&String> = members
        .iter()
        .flat_map(|m| m.subscription.topics.iter())
        .collect();
    topics.sort();
    topics.dedup();
    let mut next = 0;
    for topic in topics {
        // Someone subscribes to every topic here, so the search ends within one turn.
        for tp in partitions_of(partitions, topic) {
            for step in 0..members.len() {
                let member = members[(next + step) % members.len()];
                if member.subscription.topics.contains(topic) {
                    out.entry(member.id.clone()).or_default().push(tp);
                    next = (next + step + 1) % members.len();
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_valid, member, topics, tps};
    use super::super::{AssignorKind, assign};

    #[test]
    fn deals_all_partitions_in_turn() {
        let members = [
            member("b", &["t", "u"], &[], -1),
            member("a", &["t", "u"], &[], -1),
        ];
        let partitions = topics(&[("t", 3), ("u", 2)]);
        let out = assign(AssignorKind::RoundRobin, &members, &partitions);
        assert_valid(&members, &partitions, &out);
        assert_eq!(out["a"], tps(&[("t", 0), ("t", 2), ("u", 1)]));
        assert_eq!(out["b"], tps(&[("t", 1), ("u", 0)]));
    }

    #[test]
    fn skips_members_that_do_not_subscribe() {
        // Java's example: C0 subscribes to t0; C1 to t0, t1; C2 to t0, t1, t2.
        let members = [
            member("c0", &["t0"], &[], -1),
            member("c1", &["t0", "t1"], &[], -1),
            member("c2", &["t0", "t1", "t2"], &[], -1),
        ];
        let partitions = topics(&[("t0", 1), ("t1", 2), ("t2", 3)]);
        let out = assign(AssignorKind::RoundRobin, &members, &partitions);
        assert_valid(&members, &partitions, &out);
        assert_eq!(out["c0"], tps(&[("t0", 0)]));
        assert_eq!(out["c1"], tps(&[("t1", 0)]));
        assert_eq!(
            out["c2"],
            tps(&[("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)])
        );
    }
}
