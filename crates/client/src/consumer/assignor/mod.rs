//! Partition assignors: the pure functions the group leader runs to split the partitions of
//! the subscribed topics among the members.
//!
//! Every assignor takes the members (id, static instance id, subscription) and the partition
//! count of each topic, and returns an entry for every member, possibly empty. A topic with
//! no known partition count (it does not exist yet) is assigned to no one. Members are
//! ordered as Java's `MemberInfo` orders them: static members first by instance id, then
//! dynamic members by member id, so that a group mixing our members with Java or
//! librdkafka members gets the same assignment whichever of them leads.

mod cooperative_sticky;
mod range;
mod round_robin;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::config::AssignorKind;
use super::consumer_protocol::Subscription;
use crate::offsets::TopicPartition;

/// A member as the assignor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// The member id.
    pub id: String,
    /// The static instance id, if any.
    pub instance_id: Option<String>,
    /// What it asked for.
    pub subscription: Subscription,
}

/// The partitions of each member, by member id.
pub(crate) type Assignments = BTreeMap<String, Vec<TopicPartition>>;

/// Assigns the partitions of the subscribed topics (`partitions`: topic to partition count)
/// among `members` with the `kind` assignor.
pub(crate) fn assign(
    kind: AssignorKind,
    members: &[Member],
    partitions: &BTreeMap<String, i32>,
) -> Assignments {
    let mut sorted: Vec<&Member> = members.iter().collect();
    sorted.sort_by(|a, b| member_order(a, b));
    let mut out = match kind {
        AssignorKind::Range => range::assign(&sorted, partitions),
        AssignorKind::RoundRobin => round_robin::assign(&sorted, partitions),
        AssignorKind::CooperativeSticky => cooperative_sticky::assign(&sorted, partitions),
    };
    for member in members {
        out.entry(member.id.clone()).or_default();
    }
    for assigned in out.values_mut() {
        assigned.sort();
    }
    out
}

/// Java's `MemberInfo` order: static members first, by instance id; then by member id.
fn member_order(a: &Member, b: &Member) -> Ordering {
    match (&a.instance_id, &b.instance_id) {
        (Some(x), Some(y)) => x.cmp(y).then_with(|| a.id.cmp(&b.id)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.id.cmp(&b.id),
    }
}

/// The partitions of `topic`, `0..count`, or none when its count is unknown.
fn partitions_of(partitions: &BTreeMap<String, i32>, topic: &str) -> Vec<TopicPartition> {
    let count = partitions.get(topic).copied().unwrap_or(0).max(0);
    (0..count).map(|p| (topic.to_owned(), p)).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A dynamic member subscribing to `topics`, owning `owned` from `generation`.
    pub(crate) fn member(
        id: &str,
        topics: &[&str],
        owned: &[(&str, i32)],
        generation: i32,
    ) -> Member {
        Member {
            id: id.to_owned(),
            instance_id: None,
            subscription: Subscription {
                topics: topics.iter().map(|t| (*t).to_owned()).collect(),
                owned_partitions: owned.iter().map(|(t, p)| ((*t).to_owned(), *p)).collect(),
                generation_id: generation,
                ..Default::default()
            },
        }
    }

    pub(crate) fn topics(counts: &[(&str, i32)]) -> BTreeMap<String, i32> {
        counts.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
    }

    pub(crate) fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
        list.iter().map(|(t, p)| ((*t).to_owned(), *p)).collect()
    }

    /// Every partition of a subscribed topic goes to exactly one member that subscribes to it.
    pub(crate) fn assert_valid(
        members: &[Member],
        partitions: &BTreeMap<String, i32>,
        out: &Assignments,
    ) {
        let mut seen = std::collections::BTreeSet::new();
        for member in members {
            let assigned = out.get(&member.id).expect("every member has an entry");
            for tp in assigned {
                assert!(
                    member.subscription.topics.contains(&tp.0),
                    "{} got {tp:?} without subscribing",
                    member.id
                );
                assert!(seen.insert(tp.clone()), "{tp:?} is assigned twice");
            }
        }
        for (topic, count) in partitions {
            let wanted = members
                .iter()
                .any(|m| m.subscription.topics.contains(topic));
            for p in 0..*count {
                let tp = (topic.clone(), p);
                assert_eq!(seen.contains(&tp), wanted, "{tp:?}");
            }
        }
    }

    #[test]
    fn static_members_sort_first_by_instance_id() {
        let mut a = member("a", &["t"], &[], -1);
        let mut z = member("z", &["t"], &[], -1);
        let m = member("m", &["t"], &[], -1);
        z.instance_id = Some("i1".into());
        a.instance_id = Some("i2".into());
        let mut sorted = [&m, &a, &z];
        sorted.sort_by(|x, y| member_order(x, y));
        let ids: Vec<&str> = sorted.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["z", "a", "m"]);
    }

    #[test]
    fn every_member_gets_an_entry_and_unknown_topics_go_to_no_one() {
        let members = [
            member("a", &["t", "missing"], &[], -1),
            member("b", &["u"], &[], -1),
        ];
        let partitions = topics(&[("t", 2)]);
        for kind in [
            AssignorKind::Range,
            AssignorKind::RoundRobin,
            AssignorKind::CooperativeSticky,
        ] {
            let out = assign(kind, &members, &partitions);
            assert_eq!(out["a"], tps(&[("t", 0), ("t", 1)]), "{kind:?}");
            assert_eq!(out["b"], [], "{kind:?}");
        }
    }
}
