//! Where new partitions' replicas go: spread over the registered brokers so that leaders
//! and copies are even, and over racks so that losing one rack loses no partition.
//!
//! The brokers are put in a rack-alternating order (one broker of each rack in turn, racks
//! by name, brokers without a rack counting as one more rack, each rack's brokers by id).
//! Partition `p` of a topic is led by the broker at `start + p` in that order, `start`
//! picked by the topic's name (so that topics do not all lead on the same broker, and a name
//! always places the same way); its followers are the next brokers in the order whose rack
//! holds no replica of it yet, then, once every rack has one, the next brokers not chosen.
//! Without racks this is plain round-robin: `replication_factor` consecutive brokers by id.
//! With as many racks as replicas or more, every replica of a partition is in its own rack.

use streambus_metadata::MetadataImage;

/// The replicas of each partition in `partitions` of topic `name`, preferred leader first.
pub(crate) fn spread_replicas(
    image: &MetadataImage,
    name: &str,
    partitions: std::ops::Range<i32>,
    replication_factor: i16,
) -> Vec<Vec<i32>> {
    let brokers: Vec<(i32, Option<&str>)> = image
        .brokers()
        .map(|b| (b.node_id, b.rack.as_deref()))
        .collect();
    place(&brokers, name, partitions, replication_factor)
}

fn place(
    brokers: &[(i32, Option<&str>)],
    name: &str,
    partitions: std::ops::Range<i32>,
    replication_factor: i16,
) -> Vec<Vec<i32>> {
    let order = rack_alternating(brokers);
    if order.is_empty() {
        return partitions.map(|_| Vec::new()).collect();
    }
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let start = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let n = order.len();
    let rf = usize::try_from(replication_factor.max(1))
        .unwrap_or(1)
        .min(n);
    partitions
        .map(|p| {
            let first = ((start % n as u64 + p as u64) % n as u64) as usize;
            let walk: Vec<&(i32, Option<&str>)> = (0..n).map(|i| &order[(first + i) % n]).collect();
            let mut chosen: Vec<&(i32, Option<&str>)> = Vec::with_capacity(rf);
            for candidate in &walk {
                if chosen.len() < rf && chosen.iter().all(|c| c.1 != candidate.1) {
                    chosen.push(candidate);
                }
            }
            for candidate in &walk {
                if chosen.len() < rf && !chosen.iter().any(|c| c.0 == candidate.0) {
                    chosen.push(candidate);
                }
            }
            chosen.iter().map(|(id, _)| *id).collect()
        })
        .collect()
}

/// `brokers` one of each rack in turn: racks by name (no rack last), brokers by id.
fn rack_alternating<'a>(brokers: &[(i32, Option<&'a str>)]) -> Vec<(i32, Option<&'a str>)> {
    let mut racks: std::collections::BTreeMap<(bool, Option<&str>), Vec<i32>> =
        std::collections::BTreeMap::new();
    for (id, rack) in brokers {
        racks.entry((rack.is_none(), *rack)).or_default().push(*id);
    }
    for ids in racks.values_mut() {
        ids.sort_unstable();
    }
    let longest = racks.values().map(Vec::len).max().unwrap_or(0);
    let mut order = Vec::with_capacity(brokers.len());
    for i in 0..longest {
        for ((_, rack), ids) in &racks {
            if let Some(id) = ids.get(i) {
                order.push((*id, *rack));
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn rack_of<'a>(brokers: &[(i32, Option<&'a str>)], id: i32) -> Option<&'a str> {
        brokers.iter().find(|b| b.0 == id).unwrap().1
    }

    #[test]
    fn without_racks_replicas_are_consecutive_brokers_by_id() {
        let brokers = [(3, None), (1, None), (2, None)];
        let placed = place(&brokers, "orders", 0..3, 2);
        // Whatever the name's start, partition p + 1 starts one broker further on.
        let leaders: Vec<i32> = placed.iter().map(|r| r[0]).collect();
        let first = leaders[0];
        assert_eq!(
            leaders,
            vec![first, first % 3 + 1, (first + 1) % 3 + 1],
            "{placed:?}"
        );
        for replicas in &placed {
            assert_eq!(replicas[1], replicas[0] % 3 + 1, "{placed:?}");
        }
        assert_eq!(
            place(&brokers, "orders", 0..3, 2),
            placed,
            "the same name, the same way"
        );
        assert_eq!(
            place(&brokers, "orders", 0..1, 9)[0].len(),
            3,
            "at most every broker"
        );
        assert_eq!(place(&[], "orders", 0..2, 1), vec![Vec::<i32>::new(); 2]);
    }

    #[test]
    fn with_racks_every_replica_of_a_partition_is_in_its_own_rack() {
        // Uneven racks: a has three brokers, b two, c one.
        let brokers = [
            (1, Some("a")),
            (2, Some("a")),
            (3, Some("a")),
            (4, Some("b")),
            (5, Some("b")),
            (6, Some("c")),
        ];
        assert_eq!(
            rack_alternating(&brokers)
                .iter()
                .map(|b| b.0)
                .collect::<Vec<_>>(),
            vec![1, 4, 6, 2, 5, 3]
        );
        for name in ["orders", "payments", "audit", "x"] {
            let placed = place(&brokers, name, 0..12, 3);
            let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
            for replicas in &placed {
                let racks: BTreeSet<Option<&str>> =
                    replicas.iter().map(|id| rack_of(&brokers, *id)).collect();
                assert_eq!(racks.len(), 3, "{name}: {replicas:?} share a rack");
                *leaders.entry(replicas[0]).or_default() += 1;
            }
            assert_eq!(
                leaders.values().copied().collect::<Vec<_>>(),
                vec![2; 6],
                "{name}"
            );
        }
        // Fewer racks than replicas: each rack first, then any broker left, no repeats.
        let two_racks = [(1, Some("a")), (2, Some("a")), (3, Some("b"))];
        for replicas in place(&two_racks, "orders", 0..6, 3) {
            let distinct: BTreeSet<i32> = replicas.iter().copied().collect();
            assert_eq!(distinct.len(), 3, "{replicas:?}");
            let racks: BTreeSet<Option<&str>> = replicas[..2]
                .iter()
                .map(|id| rack_of(&two_racks, *id))
                .collect();
            assert_eq!(
                racks.len(),
                2,
                "leader and first follower apart: {replicas:?}"
            );
        }
    }

    #[test]
    fn brokers_without_a_rack_count_as_one_more_rack() {
        let brokers = [(1, Some("a")), (2, None), (3, Some("a")), (4, None)];
        assert_eq!(
            rack_alternating(&brokers),
            vec![(1, Some("a")), (2, None), (3, Some("a")), (4, None)]
        );
        for replicas in place(&brokers, "orders", 0..8, 2) {
            let racks: BTreeSet<Option<&str>> =
                replicas.iter().map(|id| rack_of(&brokers, *id)).collect();
            assert_eq!(racks.len(), 2, "{replicas:?}");
        }
    }
}
