//! Taking a broker out of service with the Kafka admin APIs alone: draining its
//! leaderships (for maintenance: it keeps its replicas) and decommissioning it (every replica
//! it holds moved to other brokers, for good).
//!
//! The plans are pure functions of the cluster's placement (from Metadata), so any
//! Kafka-compatible cluster can be drained this way and the rules are tested without one:
//! - a drain reorders each partition the broker leads so that its first in-sync other
//!   replica comes first and the broker last, then holds a preferred election: the
//!   leadership moves now, and later preferred elections do not bring it back;
//! - a decommission replaces the broker in each replica list, in place (so the preferred
//!   leaders stay spread as they were), by the broker holding the fewest replicas among
//!   those not already in the list, lowest id first on ties, counting the moves planned so
//!   far. A partition with no broker left to take it, or one already being moved, fails
//!   the whole plan before anything moves.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use streambus_protocol::messages::metadata_response::MetadataResponse;

use super::Admin;
use super::reassignments::{ElectionType, PartitionMove, PartitionOutcome};
use crate::error::{Error, Result};
use crate::offsets::TopicPartition;

/// Where one partition lives, as Metadata reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The topic and partition.
    pub partition: TopicPartition,
    /// Its leader, -1 while it has none.
    pub leader: i32,
    /// Its replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// Its in-sync replicas.
    pub isr: Vec<i32>,
    /// Whether a reassignment of it is in progress (its replicas then include the ones
    /// leaving): the plans leave such a partition alone.
    pub moving: bool,
}

/// A drain of a broker's leaderships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainPlan {
    /// Reorders putting another in-sync replica first and the broker last.
    pub moves: Vec<PartitionMove>,
    /// Partitions the broker leads with no other replica in sync, or that are being
    /// moved: their leadership stays.
    pub stuck: Vec<TopicPartition>,
}

/// The reorders that move `broker`'s leaderships to other in-sync replicas.
pub fn plan_drain(placements: &[Placement], broker: i32) -> DrainPlan {
    let mut plan = DrainPlan {
        moves: Vec::new(),
        stuck: Vec::new(),
    };
    for p in placements.iter().filter(|p| p.leader == broker) {
        let successor = p
            .replicas
            .iter()
            .copied()
            .find(|r| *r != broker && p.isr.contains(r))
            .filter(|_| !p.moving);
        let Some(successor) = successor else {
            plan.stuck.push(p.partition.clone());
            continue;
        };
        let mut replicas = vec![successor];
        replicas.extend(
            p.replicas
                .iter()
                .copied()
                .filter(|r| *r != successor && *r != broker),
        );
        replicas.push(broker);
        plan.moves.push(PartitionMove {
            partition: p.partition.clone(),
            replicas: Some(replicas),
        });
    }
    plan
}

/// The moves that take every replica off `broker`, onto the other `brokers`.
pub fn plan_decommission(
    placements: &[Placement],
    brokers: &[i32],
    broker: i32,
) -> Result<Vec<PartitionMove>> {
    let mut load: BTreeMap<i32, usize> = brokers
        .iter()
        .filter(|b| **b != broker)
        .map(|b| (*b, 0))
        .collect();
    for p in placements {
        for r in &p.replicas {
            if let Some(count) = load.get_mut(r) {
                *count += 1;
            }
        }
    }
    let holding: Vec<&Placement> = placements
        .iter()
        .filter(|p| p.replicas.contains(&broker))
        .collect();
    let moving: Vec<String> = holding
        .iter()
        .filter(|p| p.moving)
        .map(|p| name(&p.partition))
        .collect();
    if !moving.is_empty() {
        return Err(Error::Invalid(format!(
            "cannot decommission broker {broker}: {} being moved; wait for the moves or cancel \
             them first; nothing was moved",
            listing(&moving)
        )));
    }
    let mut moves = Vec::new();
    let mut stuck = Vec::new();
    for p in holding {
        let replacement = load
            .iter()
            .filter(|(b, _)| !p.replicas.contains(b))
            .min_by_key(|(b, count)| (**count, **b))
            .map(|(b, _)| *b);
        let Some(replacement) = replacement else {
            stuck.push(name(&p.partition));
            continue;
        };
        *load.entry(replacement).or_default() += 1;
        let replicas = p
            .replicas
            .iter()
            .map(|r| if *r == broker { replacement } else { *r })
            .collect();
        moves.push(PartitionMove {
            partition: p.partition.clone(),
            replicas: Some(replicas),
        });
    }
    if !stuck.is_empty() {
        return Err(Error::Invalid(format!(
            "cannot decommission broker {broker}: no other broker can take a replica of {} \
             (each has as many replicas as there are other brokers); nothing was moved",
            listing(&stuck)
        )));
    }
    Ok(moves)
}

/// Names in a message: all of them up to five, else the first five and how many more.
fn listing(names: &[String]) -> String {
    const SHOWN: usize = 5;
    if names.len() <= SHOWN {
        return names.join(", ");
    }
    format!(
        "{} and {} more",
        names[..SHOWN].join(", "),
        names.len() - SHOWN
    )
}

fn name((topic, partition): &TopicPartition) -> String {
    format!("{topic}-{partition}")
}

/// The placement of every partition and the registered brokers, from a Metadata response
/// and the moves in progress.
fn placements(
    metadata: &MetadataResponse,
    moving: &BTreeSet<TopicPartition>,
) -> (Vec<Placement>, Vec<i32>) {
    let mut placements: Vec<Placement> = metadata
        .topics
        .iter()
        .filter(|t| t.error_code == 0)
        .filter_map(|t| Some((t.name.clone()?, t)))
        .flat_map(|(name, t)| {
            t.partitions.iter().map(move |p| {
                let partition = (name.clone(), p.partition_index);
                Placement {
                    moving: moving.contains(&partition),
                    partition,
                    leader: p.leader_id,
                    replicas: p.replica_nodes.clone(),
                    isr: p.isr_nodes.clone(),
                }
            })
        })
        .collect();
    placements.sort_by(|a, b| a.partition.cmp(&b.partition));
    let mut brokers: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id).collect();
    brokers.sort_unstable();
    (placements, brokers)
}

/// One partition a drain or decommission changed: its replicas before and after (after a
/// drain, the first is the new leader), and whether the broker accepted it.
#[derive(Debug)]
pub struct BrokerMove {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Its replicas before.
    pub from: Vec<i32>,
    /// Its replicas asked for.
    pub to: Vec<i32>,
    /// `Ok`, or the broker's error for this partition.
    pub result: Result<()>,
}

impl Admin {
    /// Every partition's placement, sorted, and the brokers, from fresh metadata; an error
    /// if `broker` is not one of them.
    async fn placements_around(&self, broker: i32) -> Result<(Vec<Placement>, Vec<i32>)> {
        let moving: BTreeSet<TopicPartition> = self
            .list_partition_reassignments(None)
            .await?
            .into_iter()
            .map(|m| (m.topic, m.partition))
            .collect();
        let metadata = self.cluster.refresh(None, false).await?;
        let (placements, brokers) = placements(&metadata, &moving);
        if !brokers.contains(&broker) {
            return Err(Error::Invalid(format!(
                "broker {broker} is not in the cluster (brokers: {brokers:?})"
            )));
        }
        Ok((placements, brokers))
    }

    /// Moves every leadership of `broker` to another in-sync replica (a reorder, then a
    /// preferred election): the partitions changed, and those whose leadership stays.
    pub async fn drain_leaderships(
        &self,
        broker: i32,
    ) -> Result<(Vec<BrokerMove>, Vec<TopicPartition>)> {
        let (placements, _) = self.placements_around(broker).await?;
        let plan = plan_drain(&placements, broker);
        let mut moves = Vec::new();
        if !plan.moves.is_empty() {
            let reordered = self.alter_partition_reassignments(&plan.moves).await?;
            let ready: Vec<TopicPartition> = reordered
                .iter()
                .filter(|o| o.result.is_ok())
                .map(|o| (o.topic.clone(), o.partition))
                .collect();
            let elected = if ready.is_empty() {
                Vec::new()
            } else {
                self.elect_leaders(ElectionType::Preferred, Some(&ready))
                    .await?
            };
            let outcomes = reordered
                .into_iter()
                .filter(|o| o.result.is_err())
                .chain(elected);
            moves = broker_moves(&placements, &plan.moves, outcomes);
        }
        Ok((moves, plan.stuck))
    }

    /// Starts moving every replica off `broker` (nothing moves if one cannot): the
    /// partitions and each one's outcome.
    pub async fn decommission(&self, broker: i32) -> Result<Vec<BrokerMove>> {
        let (placements, brokers) = self.placements_around(broker).await?;
        let planned = plan_decommission(&placements, &brokers, broker)?;
        if planned.is_empty() {
            return Ok(Vec::new());
        }
        let outcomes = self.alter_partition_reassignments(&planned).await?;
        Ok(broker_moves(&placements, &planned, outcomes))
    }
}

/// The planned moves with where each partition was and what became of it, sorted.
fn broker_moves(
    placements: &[Placement],
    planned: &[PartitionMove],
    outcomes: impl IntoIterator<Item = PartitionOutcome>,
) -> Vec<BrokerMove> {
    let mut results: BTreeMap<TopicPartition, Result<()>> = outcomes
        .into_iter()
        .map(|o| ((o.topic, o.partition), o.result))
        .collect();
    let replicas: HashMap<&TopicPartition, &Vec<i32>> = placements
        .iter()
        .map(|p| (&p.partition, &p.replicas))
        .collect();
    planned
        .iter()
        .map(|m| {
            let from = replicas
                .get(&m.partition)
                .map_or_else(Vec::new, |r| r.to_vec());
            let result = results.remove(&m.partition).unwrap_or_else(|| {
                Err(Error::Protocol {
                    addr: "the broker".into(),
                    reason: format!("the response does not mention {}", name(&m.partition)),
                })
            });
            BrokerMove {
                topic: m.partition.0.clone(),
                partition: m.partition.1,
                from,
                to: m.replicas.clone().unwrap_or_default(),
                result,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(topic: &str, partition: i32, leader: i32, replicas: &[i32], isr: &[i32]) -> Placement {
        Placement {
            partition: (topic.to_owned(), partition),
            leader,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            moving: false,
        }
    }

    fn to(topic: &str, partition: i32, replicas: &[i32]) -> PartitionMove {
        PartitionMove {
            partition: (topic.to_owned(), partition),
            replicas: Some(replicas.to_vec()),
        }
    }

    #[test]
    fn a_drain_puts_the_first_other_in_sync_replica_first_and_the_broker_last() {
        let placements = [
            at("t", 0, 1, &[1, 2, 3], &[1, 2, 3]),
            at("t", 1, 1, &[2, 1, 3], &[1, 3]),
            at("t", 2, 2, &[2, 1, 3], &[1, 2, 3]),
            at("t", 3, 1, &[1, 2], &[1]),
            at("u", 0, 1, &[1], &[1]),
        ];
        let plan = plan_drain(&placements, 1);
        assert_eq!(
            plan.moves,
            vec![to("t", 0, &[2, 3, 1]), to("t", 1, &[3, 2, 1])]
        );
        assert_eq!(plan.stuck, vec![("t".to_owned(), 3), ("u".to_owned(), 0)]);
        assert_eq!(
            plan_drain(&placements, 3),
            DrainPlan {
                moves: vec![],
                stuck: vec![]
            }
        );
    }

    #[test]
    fn a_decommission_replaces_the_broker_in_place_by_the_least_loaded_others() {
        // Replicas held outside broker 1: 2 -> 2, 3 -> 2, 4 -> 1.
        let placements = [
            at("t", 0, 1, &[1, 2], &[1, 2]),
            at("t", 1, 1, &[1, 3], &[1, 3]),
            at("t", 2, 4, &[1, 4], &[1, 4]),
            at("t", 3, 2, &[2, 3], &[2, 3]),
        ];
        let moves = plan_decommission(&placements, &[1, 2, 3, 4], 1).unwrap();
        // t-0: 4 holds fewest. t-1: 2 and 4 hold two each, the lower id wins. t-2: 3 holds
        // two, 2 three by then.
        assert_eq!(
            moves,
            vec![
                to("t", 0, &[4, 2]),
                to("t", 1, &[2, 3]),
                to("t", 2, &[3, 4])
            ]
        );
        assert_eq!(
            plan_decommission(&placements, &[1, 2, 3, 4], 5).unwrap(),
            vec![]
        );
    }

    #[test]
    fn a_decommission_without_room_moves_nothing_and_names_the_partitions() {
        let placements = [
            at("t", 0, 1, &[1, 2, 3], &[1, 2, 3]),
            at("t", 1, 2, &[2, 3], &[2, 3]),
            at("u", 0, 1, &[1, 2], &[1, 2]),
        ];
        let error = plan_decommission(&placements, &[1, 2, 3], 1).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot decommission broker 1: no other broker can take a replica of t-0 (each \
             has as many replicas as there are other brokers); nothing was moved"
        );
        assert_eq!(
            plan_decommission(&placements[1..], &[1, 2, 3], 2).unwrap(),
            vec![to("t", 1, &[1, 3]), to("u", 0, &[1, 3])]
        );
        let many: Vec<Placement> = (0..7).map(|i| at("w", i, 1, &[1], &[1])).collect();
        assert_eq!(
            plan_decommission(&many, &[1], 1).unwrap_err().to_string(),
            "cannot decommission broker 1: no other broker can take a replica of w-0, w-1, \
             w-2, w-3, w-4 and 2 more (each has as many replicas as there are other brokers); \
             nothing was moved"
        );
        let mut moving = placements[1..].to_vec();
        moving[1].moving = true;
        assert_eq!(
            plan_decommission(&moving, &[1, 2, 3], 2)
                .unwrap_err()
                .to_string(),
            "cannot decommission broker 2: u-0 being moved; wait for the moves or cancel them \
             first; nothing was moved"
        );
    }
}
