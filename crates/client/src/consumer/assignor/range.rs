//! The range assignor (Java's `RangeAssignor`): per topic, the members that subscribe to it,
//! in member order, each take a contiguous range of its partitions; with `n` partitions and
//! `m` members each gets `n / m`, and the first `n % m` one more.

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
    for topic in topics {
        let subscribers: Vec<&Member> = members
            .iter()
            .copied()
            .filter(|m| m.subscription.topics.contains(topic))
            .collect();
        let all = partitions_of(partitions, topic);
        let per_member = all.len() / subscribers.len();
        let extra = all.len() % subscribers.len();
        for (i, member) in subscribers.iter().enumerate() {
            let start = per_member * i + i.min(extra);
            let len = per_member + usize::from(i < extra);
            out.entry(member.id.clone())
                .or_default()
                .extend_from_slice(&all[start..start + len]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_valid, member, topics, tps};
    use super::super::{AssignorKind, assign};

    #[test]
    fn splits_each_topic_in_contiguous_ranges_the_first_members_taking_the_extra() {
        let members = [
            member("c", &["t", "u"], &[], -1),
            member("a", &["t", "u"], &[], -1),
            member("b", &["t", "u"], &[], -1),
        ];
        let partitions = topics(&[("t", 7), ("u", 2)]);
        let out = assign(AssignorKind::Range, &members, &partitions);
        assert_valid(&members, &partitions, &out);
        assert_eq!(out["a"], tps(&[("t", 0), ("t", 1), ("t", 2), ("u", 0)]));
        assert_eq!(out["b"], tps(&[("t", 3), ("t", 4), ("u", 1)]));
        assert_eq!(out["c"], tps(&[("t", 5), ("t", 6)]));
    }

    #[test]
    fn four_partitions_over_two_members_is_two_each() {
        let members = [
            member("m-1", &["t"], &[], -1),
            member("m-2", &["t"], &[], -1),
        ];
        let partitions = topics(&[("t", 4)]);
        let out = assign(AssignorKind::Range, &members, &partitions);
        assert_eq!(out["m-1"], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(out["m-2"], tps(&[("t", 2), ("t", 3)]));
    }

    #[test]
    fn members_with_different_subscriptions_share_only_what_they_subscribe_to() {
        let members = [
            member("a", &["t"], &[], -1),
            member("b", &["t", "u"], &[], -1),
            member("c", &["u"], &[], -1),
        ];
        let partitions = topics(&[("t", 3), ("u", 3)]);
        let out = assign(AssignorKind::Range, &members, &partitions);
        assert_valid(&members, &partitions, &out);
        assert_eq!(out["a"], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(out["b"], tps(&[("t", 2), ("u", 0), ("u", 1)]));
        assert_eq!(out["c"], tps(&[("u", 2)]));
    }

    #[test]
    fn more_members_than_partitions_leaves_the_last_ones_empty() {
        let members = [
            member("a", &["t"], &[], -1),
            member("b", &["t"], &[], -1),
            member("c", &["t"], &[], -1),
        ];
        let partitions = topics(&[("t", 2)]);
        let out = assign(AssignorKind::Range, &members, &partitions);
        assert_eq!(out["a"], tps(&[("t", 0)]));
        assert_eq!(out["b"], tps(&[("t", 1)]));
        assert_eq!(out["c"], []);
    }
}
