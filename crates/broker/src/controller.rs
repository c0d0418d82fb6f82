//! The controller: the node that leads the metadata quorum moves partition leadership and
//! shrinks ISRs when brokers' sessions expire (ARCHITECTURE.md decision 5), finishes
//! reassignments once their new replicas are in sync, and a broker shutting down hands its
//! leaderships over first (Kafka's controlled shutdown).
//!
//! It owns the decisions, not the mechanics: [`plan`] and [`handoffs`] are pure functions
//! from an image (and the live set) to `Partition` records, and the thread around them
//! only reads the image and commits. Invariants of the records they make:
//! - each names the version it was made from (`partition_epoch + 1`), so the metadata log
//!   applies it only if nothing changed the partition meanwhile; a refusal is normal, and
//!   the next plan starts from the newer image;
//! - a leader change always bumps `leader_epoch`; an ISR-only change never does;
//! - a clean election picks a live ISR member (`elect_leader`); an unclean one only when
//!   the topic sets `unclean.leader.election.enable`;
//! - the ISR is never emptied: when no member is live it stays as it was, so that only one
//!   of them (which hold everything committed) can lead cleanly again;
//! - one record per changed partition, committed as its own batch, so one refusal never
//!   holds up another partition.

use std::collections::BTreeSet;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use streambus_metadata::{CommitError, MetadataImage, MetadataRecord, PartitionImage, Uuid};
use streambus_replication::state::elect_leader;

use crate::Broker;
use crate::cluster_metadata::ClusterMetadata;
use crate::partition_moves;
use crate::replication_metrics::ElectionReason;
use crate::topic_config;

/// How often the controller looks at the live set.
const TICK: Duration = Duration::from_millis(250);

/// How long a handoff waits for a newer image after a refusal before it replans.
const HANDOFF_RETRY: Duration = Duration::from_millis(100);

/// How long one handoff commit waits for the quorum: a healthy one answers in
/// milliseconds, and a new quorum leader is elected well within it, so a longer wait means
/// that no majority is left (the last nodes of a cluster stopping), and shutdown goes on
/// without the handoffs rather than waiting the whole commit timeout.
const HANDOFF_COMMIT_TIMEOUT: Duration = Duration::from_secs(2);

/// The partition changes that the live set `live` calls for in `image`: a new leader for
/// every partition whose leader is not live (or that has none and could get one), else the
/// removal of replicas that are not live from the ISR. `unclean_allowed(topic)` says
/// whether the topic allows electing a replica outside the ISR.
pub(crate) fn plan(
    image: &MetadataImage,
    live: &BTreeSet<i32>,
    unclean_allowed: impl Fn(&str) -> bool,
) -> Vec<MetadataRecord> {
    let live_list: Vec<i32> = live.iter().copied().collect();
    let mut records = Vec::new();
    for topic in image.topics() {
        for p in &topic.partitions {
            let change = if p.leader != -1 && live.contains(&p.leader) {
                shrink_isr(p, live)
            } else {
                elect(p, &live_list, unclean_allowed(&topic.name))
            };
            records.extend(
                change.map(|(leader, leader_epoch, isr)| {
                    record(topic.id, p, leader, leader_epoch, isr)
                }),
            );
        }
    }
    records
}

/// A new leader, epoch and ISR for a partition whose leader is not live: `None` when there
/// is nothing to change (leaderless, and still no candidate).
fn elect(p: &PartitionImage, live: &[i32], unclean: bool) -> Option<(i32, i32, Vec<i32>)> {
    let next_epoch = p.leader_epoch.checked_add(1)?;
    match elect_leader(&p.replicas, &p.isr, live, unclean) {
        Some(election) => Some((election.leader, next_epoch, election.isr)),
        // No ISR member is live: the partition goes offline, its ISR unchanged.
        None if p.leader != -1 => Some((-1, next_epoch, p.isr.clone())),
        None => None,
    }
}

/// The ISR without the members that are not live, for a partition whose leader is live
/// (so the ISR keeps at least the leader): `None` if every member is live.
fn shrink_isr(p: &PartitionImage, live: &BTreeSet<i32>) -> Option<(i32, i32, Vec<i32>)> {
    let isr: Vec<i32> = p.isr.iter().copied().filter(|r| live.contains(r)).collect();
    (isr.len() != p.isr.len() && !isr.is_empty()).then_some((p.leader, p.leader_epoch, isr))
}

/// The records that hand the leadership of every partition `node` leads to the first other
/// ISR member in replica order, without `node` in the ISR: what a broker commits before it
/// shuts down. Partitions where `node` is the only ISR member stay as they are.
pub(crate) fn handoffs(image: &MetadataImage, node: i32) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics() {
        for p in topic.partitions.iter().filter(|p| p.leader == node) {
            let successor = p
                .replicas
                .iter()
                .copied()
                .find(|&r| r != node && p.isr.contains(&r));
            let (Some(successor), Some(epoch)) = (successor, p.leader_epoch.checked_add(1)) else {
                continue;
            };
            let isr = p.isr.iter().copied().filter(|&r| r != node).collect();
            records.push(record(topic.id, p, successor, epoch, isr));
        }
    }
    records
}

/// The partition `p` of topic `topic_id` with a new leader, leader epoch and ISR, at the
/// next partition epoch (saturating: at the last epoch the log refuses it).
fn record(
    topic_id: Uuid,
    p: &PartitionImage,
    leader: i32,
    leader_epoch: i32,
    isr: Vec<i32>,
) -> MetadataRecord {
    PartitionImage {
        isr,
        leader,
        leader_epoch,
        partition_epoch: p.partition_epoch.saturating_add(1),
        ..p.clone()
    }
    .record(topic_id)
}

/// Starts the controller thread of a quorum node; `None` on a single node, which leads all
/// its partitions and has no one to watch. The thread ticks every 250 ms and acts only
/// while this node leads the quorum; it stops once the broker is dropped or closing.
pub(crate) fn spawn_controller(broker: &Arc<Broker>) -> Option<std::thread::JoinHandle<()>> {
    if !matches!(broker.metadata, ClusterMetadata::Quorum(_)) {
        return None;
    }
    let weak: Weak<Broker> = Arc::downgrade(broker);
    std::thread::Builder::new()
        .name("controller".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                let Some(broker) = weak.upgrade() else { return };
                if broker.is_closing() {
                    return;
                }
                tick(&broker);
            }
        })
        .map_err(|e| tracing::error!(error = %e, "cannot start the controller"))
        .ok()
}

/// One look at the live set, and the commits it calls for, if this node leads the quorum.
fn tick(broker: &Broker) {
    let Some(live) = broker
        .metadata
        .live_nodes(broker.config.broker_session_timeout)
    else {
        return;
    };
    let image = broker.metadata.image();
    let unclean = |topic: &str| {
        image
            .topic_configs(topic)
            .is_some_and(topic_config::unclean_leader_election)
    };
    let changes = plan(&image, &live, unclean)
        .into_iter()
        .map(|record| (record, ElectionReason::failover))
        .chain(
            completed_reassignments(&image, &live)
                .into_iter()
                .map(|record| (record, ElectionReason::reassignment)),
        );
    for (record, reason) in changes {
        if broker.is_closing() {
            return;
        }
        if !commit(broker, record, &image, reason, None) {
            // The quorum is in trouble (no leader, no answer): try again next tick.
            return;
        }
    }
}

/// The records that finish the reassignments whose target replicas are all in sync now
/// (see [`partition_moves::complete`]); a partition whose leader is not live is left to
/// [`plan`], which elects one first.
pub(crate) fn completed_reassignments(
    image: &MetadataImage,
    live: &BTreeSet<i32>,
) -> Vec<MetadataRecord> {
    image
        .topics()
        .flat_map(|topic| {
            topic
                .partitions
                .iter()
                .filter(|p| live.contains(&p.leader))
                .filter_map(|p| partition_moves::complete(p, Some(live)))
                .map(|done| done.record(topic.id))
        })
        .collect()
}

/// Commits one partition change, logs it and counts a leader change as `reason` (or as
/// unclean, if the new leader was not in sync); false if the quorum failed (as opposed to
/// refusing the change, which the next plan takes care of).
/// Commits one partition change, waiting for the quorum at most `within` if given (else
/// the log's commit timeout): whether to go on (committed, or refused as stale).
fn commit(
    broker: &Broker,
    record: MetadataRecord,
    image: &MetadataImage,
    reason: ElectionReason,
    within: Option<Duration>,
) -> bool {
    let MetadataRecord::Partition {
        topic_id,
        partition,
        ref isr,
        leader,
        leader_epoch,
        ..
    } = record
    else {
        return true;
    };
    let topic = image
        .topic_by_id(topic_id)
        .map(|t| t.name.clone())
        .unwrap_or_default();
    let before = image
        .topic_by_id(topic_id)
        .and_then(|t| t.partition(partition));
    let unclean = leader != -1 && before.is_some_and(|p| !p.isr.contains(&leader));
    let elected = leader != -1 && before.is_some_and(|p| p.leader != leader);
    let isr = format!("{isr:?}");
    let committed = match within {
        Some(timeout) => broker.metadata.commit_within(vec![record], timeout),
        None => broker.metadata.commit(vec![record]),
    };
    match committed {
        Ok(offset) => {
            if elected {
                let reason = if unclean {
                    ElectionReason::unclean
                } else {
                    reason
                };
                broker.metrics().replication.leader_elected(reason);
            }
            if unclean {
                tracing::warn!(%topic, partition, leader, leader_epoch, %isr, offset,
                    "unclean leader election: records only the old ISR had are lost");
            } else {
                tracing::info!(%topic, partition, leader, leader_epoch, %isr, offset,
                    "changed a partition's leader or isr");
            }
            true
        }
        Err(e @ CommitError::Rejected { .. }) => {
            tracing::debug!(%topic, partition, error = %e, "partition change refused; replanning");
            true
        }
        Err(e) => {
            tracing::warn!(%topic, partition, error = %e, "cannot commit a partition change");
            false
        }
    }
}

/// Controlled shutdown: hands every partition this node leads, whose ISR has another
/// member, to that member ([`handoffs`]), retrying a refused handoff on the newer image
/// until `timeout`; logs what could not move. Does nothing on a single node. A commit that
/// fails for want of a quorum ends it at once, since every other would wait as long.
pub(crate) fn move_leadership_away(broker: &Broker, timeout: Duration) {
    if !matches!(broker.metadata, ClusterMetadata::Quorum(_)) {
        return;
    }
    let node = broker.config.node_id;
    let deadline = Instant::now() + timeout;
    let image = broker.metadata.image();
    let stranded: Vec<String> = image
        .topics()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| p.leader == node && p.isr.iter().all(|r| *r == node))
                .map(move |p| format!("{}-{}", t.name, p.partition))
        })
        .collect();
    if !stranded.is_empty() {
        tracing::warn!(
            node,
            partitions = ?stranded,
            "no other in-sync replica can lead these partitions: they are offline until this node returns"
        );
    }
    loop {
        let image = broker.metadata.image();
        let moves = handoffs(&image, node);
        if moves.is_empty() {
            return;
        }
        // Out of time, or out of quorum: every further commit would wait as long.
        let give_up = moves.into_iter().any(|record| {
            let left = deadline.saturating_duration_since(Instant::now());
            left.is_zero()
                || !commit(
                    broker,
                    record,
                    &image,
                    ElectionReason::controlled_shutdown,
                    Some(left.min(HANDOFF_COMMIT_TIMEOUT)),
                )
        });
        if give_up || Instant::now() >= deadline {
            let left = handoffs(&broker.metadata.image(), node);
            if !left.is_empty() {
                let partitions: Vec<String> = left.iter().map(describe).collect();
                tracing::warn!(
                    node,
                    ?partitions,
                    "could not move leadership away before shutdown"
                );
            }
            return;
        }
        // Some were refused: wait for the image that refused them, then replan.
        let left = deadline.saturating_duration_since(Instant::now());
        broker
            .metadata
            .wait_for_offset(image.offset() + 1, left.min(HANDOFF_RETRY));
    }
}

fn describe(record: &MetadataRecord) -> String {
    match record {
        MetadataRecord::Partition {
            topic_id,
            partition,
            ..
        } => format!("{topic_id}/{partition}"),
        other => other.kind().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEADER_EPOCH: i32 = 5;
    const PARTITION_EPOCH: i32 = 7;

    /// One partition: topic name, replicas, isr, leader.
    type Part<'a> = (&'a str, &'a [i32], &'a [i32], i32);

    fn id(topic: &str) -> Uuid {
        Uuid::from_u128(u128::from(topic.as_bytes()[0]))
    }

    /// An image of `parts`, each partition at the epochs above, numbered within its topic.
    fn image(parts: &[Part<'_>]) -> MetadataImage {
        let mut image = MetadataImage::new();
        for &(topic, replicas, isr, leader) in parts {
            if image.topic(topic).is_none() {
                let create = MetadataRecord::Topic {
                    name: topic.into(),
                    topic_id: id(topic),
                };
                image.apply(&create).unwrap();
            }
            let partition = i32::try_from(image.topic(topic).unwrap().partitions.len()).unwrap();
            image
                .apply(&MetadataRecord::Partition {
                    topic_id: id(topic),
                    partition,
                    replicas: replicas.to_vec(),
                    isr: isr.to_vec(),
                    leader,
                    leader_epoch: LEADER_EPOCH,
                    partition_epoch: PARTITION_EPOCH,
                    adding_replicas: Vec::new(),
                    removing_replicas: Vec::new(),
                })
                .unwrap();
        }
        image
    }

    /// The record for `topic`'s partition `partition` with `replicas`, `isr` and `leader`,
    /// at leader epoch `LEADER_EPOCH + bump` and the next partition epoch.
    fn change(
        topic: &str,
        partition: i32,
        replicas: &[i32],
        isr: &[i32],
        leader: i32,
        bump: i32,
    ) -> MetadataRecord {
        MetadataRecord::Partition {
            topic_id: id(topic),
            partition,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader,
            leader_epoch: LEADER_EPOCH + bump,
            partition_epoch: PARTITION_EPOCH + 1,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }
    }

    fn live(nodes: &[i32]) -> BTreeSet<i32> {
        nodes.iter().copied().collect()
    }

    fn clean(_: &str) -> bool {
        false
    }

    /// Applies every record, each as its own batch as the controller commits them.
    fn applied(image: &MetadataImage, records: &[MetadataRecord]) -> MetadataImage {
        let mut next = image.clone();
        for record in records {
            next = next
                .apply_batch(next.offset() + 1, std::slice::from_ref(record))
                .unwrap();
        }
        next
    }

    #[test]
    fn nothing_changes_while_every_replica_is_live() {
        let image = image(&[("a", &[1, 2, 3], &[1, 2, 3], 1), ("a", &[2, 3], &[3], 3)]);
        assert_eq!(plan(&image, &live(&[1, 2, 3]), clean), []);
        // A replica out of the ISR going down changes nothing either.
        let image2 = super::tests::image(&[("a", &[1, 2, 3], &[1, 2], 1)]);
        assert_eq!(plan(&image2, &live(&[1, 2]), clean), []);
    }

    #[test]
    fn a_dead_leader_is_replaced_by_the_first_live_isr_member_in_replica_order() {
        let image = image(&[("a", &[1, 3, 2], &[2, 1, 3], 1)]);
        assert_eq!(
            plan(&image, &live(&[2, 3]), clean),
            [change("a", 0, &[1, 3, 2], &[3, 2], 3, 1)]
        );
        // Dead ISR members other than the leader leave the ISR in the same change.
        assert_eq!(
            plan(&image, &live(&[2]), clean),
            [change("a", 0, &[1, 3, 2], &[2], 2, 1)]
        );
    }

    #[test]
    fn without_a_live_isr_member_the_partition_goes_offline_keeping_its_isr() {
        let image = image(&[("a", &[1, 2, 3], &[1, 2], 1)]);
        let offline = change("a", 0, &[1, 2, 3], &[1, 2], -1, 1);
        assert_eq!(
            plan(&image, &live(&[3]), clean),
            std::slice::from_ref(&offline)
        );
        // Once offline, nothing more happens until an ISR member is back...
        let offline_image = applied(&image, &[offline]);
        assert_eq!(plan(&offline_image, &live(&[3]), clean), []);
        // ...and then it leads again, at the next leader epoch.
        let back = plan(&offline_image, &live(&[2, 3]), clean);
        assert_eq!(
            back,
            [MetadataRecord::Partition {
                topic_id: id("a"),
                partition: 0,
                replicas: vec![1, 2, 3],
                isr: vec![2],
                leader: 2,
                leader_epoch: LEADER_EPOCH + 2,
                partition_epoch: PARTITION_EPOCH + 2,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
            }]
        );
        applied(&offline_image, &back);
    }

    #[test]
    fn unclean_election_only_where_the_topic_allows_it() {
        let image = image(&[("a", &[1, 2, 3], &[1], 1), ("u", &[1, 3, 2], &[1], 1)]);
        let unclean = |topic: &str| topic == "u";
        assert_eq!(
            plan(&image, &live(&[2, 3]), unclean),
            [
                change("a", 0, &[1, 2, 3], &[1], -1, 1),
                change("u", 0, &[1, 3, 2], &[3], 3, 1),
            ]
        );
        // A leaderless partition is elected uncleanly too once allowed.
        let leaderless = super::tests::image(&[("u", &[1, 2], &[1], -1)]);
        assert_eq!(plan(&leaderless, &live(&[2]), clean), []);
        assert_eq!(
            plan(&leaderless, &live(&[2]), unclean),
            [change("u", 0, &[1, 2], &[2], 2, 1)]
        );
    }

    #[test]
    fn a_live_leader_loses_dead_isr_members_at_the_same_leader_epoch() {
        let image = image(&[("a", &[1, 2, 3], &[3, 1, 2], 1)]);
        assert_eq!(
            plan(&image, &live(&[1]), clean),
            [change("a", 0, &[1, 2, 3], &[1], 1, 0)]
        );
        assert_eq!(
            plan(&image, &live(&[1, 2]), clean),
            [change("a", 0, &[1, 2, 3], &[1, 2], 1, 0)]
        );
    }

    #[test]
    fn one_record_per_changed_partition_each_applying_on_its_own() {
        let image = image(&[
            ("b", &[1, 2], &[1, 2], 1),
            ("b", &[2, 3], &[2, 3], 2),
            ("b", &[3, 1], &[3, 1], 3),
            ("a", &[2], &[2], 2),
        ]);
        let records = plan(&image, &live(&[1, 3]), clean);
        assert_eq!(
            records,
            [
                change("a", 0, &[2], &[2], -1, 1),
                change("b", 0, &[1, 2], &[1], 1, 0),
                change("b", 1, &[2, 3], &[3], 3, 1),
            ]
        );
        // Applied, the plan is done: nothing more to change for the same live set.
        let next = applied(&image, &records);
        assert_eq!(plan(&next, &live(&[1, 3]), clean), []);
        // A plan made from the old image is refused by the new one: compare-and-set.
        assert!(next.apply_batch(99, &records[1..2]).is_err());
    }

    #[test]
    fn a_shutting_down_leader_hands_over_to_the_first_other_isr_member() {
        let image = image(&[
            ("a", &[1, 3, 2], &[2, 1, 3], 1),
            ("a", &[1, 2], &[1], 1),
            ("a", &[2, 1], &[2, 1], 2),
            ("b", &[3, 1], &[1, 3], 1),
        ]);
        let records = handoffs(&image, 1);
        assert_eq!(
            records,
            [
                change("a", 0, &[1, 3, 2], &[2, 3], 3, 1),
                change("b", 0, &[3, 1], &[3], 3, 1),
            ]
        );
        let next = applied(&image, &records);
        assert_eq!(handoffs(&next, 1), []);
        assert_eq!(next.partition("a", 1).unwrap().leader, 1);
        assert_eq!(
            next.partition("a", 2).unwrap(),
            image.partition("a", 2).unwrap()
        );
    }
}
