//! Consumer groups: our consumers splitting partitions and handing them over with commits,
//! a group shared with librdkafka, committed offsets both clients read, cooperative-sticky
//! rebalances that keep partitions, and static members that come back.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::{Offset, TopicPartitionList};
use streambus_client::consumer::{AssignorKind, Consumer};
use streambus_testkit::TestBroker;

use crate::support::*;

type Partitions = BTreeSet<(String, i32)>;

fn set(partitions: Vec<(String, i32)>) -> Partitions {
    partitions.into_iter().collect()
}

/// A member of `group` subscribed to `topic` with these assignors.
async fn member(
    broker: &TestBroker,
    group: &str,
    topic: &str,
    assignors: &[AssignorKind],
    instance: Option<&str>,
) -> Consumer {
    let mut config = config(broker, Some(group));
    config.assignors = assignors.to_vec();
    config.group_instance_id = instance.map(str::to_owned);
    config.auto_commit_interval = Duration::from_millis(300);
    let mut consumer = consumer(config).await;
    consumer.subscribe(&[topic.to_owned()]).await.unwrap();
    consumer
}

/// Polls every member in turn (one task drives them all, so a rebalance must not block a
/// poll until the others rejoin) until `done`, or fails at the deadline.
async fn pump(
    members: &mut [Consumer],
    ledger: &mut Ledger,
    what: &str,
    mut done: impl FnMut(&[Consumer], &Ledger) -> bool,
) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        for member in members.iter_mut() {
            let got = member.poll(Duration::from_millis(50)).await.unwrap();
            ledger.add(&got);
        }
        if done(members, ledger) {
            return;
        }
        let assignments: Vec<_> = members.iter().map(Consumer::assignment).collect();
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: assignments {assignments:?}, {} records",
            ledger.0.len()
        );
    }
}

#[test]
fn two_members_split_four_partitions_and_a_leaving_member_hands_its_partitions_over() {
    let broker = group_broker();
    block_on(async {
        create_topic(&broker, "split", 4).await;
        produce_round(&broker, "split", 4, 10).await;
        let range = [AssignorKind::Range];
        let mut members = vec![
            member(&broker, "split-g", "split", &range, None).await,
            member(&broker, "split-g", "split", &range, None).await,
        ];
        let mut ledger = Ledger::default();
        pump(
            &mut members,
            &mut ledger,
            "a 2/2 split and every record",
            |m, l| m.iter().all(|c| c.assignment().len() == 2) && l.covers(4, 10),
        )
        .await;
        ledger.assert_once();
        let (a, b) = (set(members[0].assignment()), set(members[1].assignment()));
        assert!(a.is_disjoint(&b), "{a:?} {b:?}");
        assert_eq!(members[0].generation(), members[1].generation());
        assert_ne!(members[0].member_id(), members[1].member_id());
        for m in &mut members {
            m.commit().await.unwrap();
        }
        let all: Vec<(String, i32)> = (0..4).map(|p| ("split".to_owned(), p)).collect();
        let committed = members[0].committed(&all).await.unwrap();
        assert!(
            committed.iter().all(|(_, offset)| *offset == Some(10)),
            "{committed:?}"
        );

        // The second member leaves; the first takes over its partitions at their commits.
        let generation = members[0].generation().unwrap();
        members.pop().unwrap().close().await.unwrap();
        produce_round(&broker, "split", 4, 5).await;
        pump(
            &mut members,
            &mut ledger,
            "all four on the one left",
            |m, l| m[0].assignment().len() == 4 && l.covers(4, 15),
        )
        .await;
        ledger.assert_once();
        assert!(members[0].generation().unwrap() > generation);
        members.pop().unwrap().close().await.unwrap();
    });
}

/// A librdkafka consumer subscribed in a group on its own thread.
struct RdMember {
    assigned: Arc<Mutex<BTreeSet<i32>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn rd_config(broker: &TestBroker, group: &str) -> rdkafka::ClientConfig {
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "range")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "200")
        .set("fetch.wait.max.ms", "100");
    config
}

impl RdMember {
    fn join(broker: &TestBroker, group: &str, topic: &str) -> RdMember {
        let consumer: BaseConsumer = rd_config(broker, group).create().unwrap();
        consumer.subscribe(&[topic]).unwrap();
        let assigned = Arc::new(Mutex::new(BTreeSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (assigned, stop) = (assigned.clone(), stop.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = consumer.poll(Duration::from_millis(50));
                    if let Ok(list) = consumer.assignment() {
                        *assigned.lock().unwrap() =
                            list.elements().iter().map(|e| e.partition()).collect();
                    }
                }
            }
        });
        RdMember {
            assigned,
            stop,
            thread: Some(thread),
        }
    }

    fn assigned(&self) -> BTreeSet<i32> {
        self.assigned.lock().unwrap().clone()
    }
}

impl Drop for RdMember {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether our member and librdkafka's split the four partitions 2/2.
fn split_with(ours: &Consumer, rd: &RdMember) -> bool {
    let ours: BTreeSet<i32> = ours.assignment().into_iter().map(|(_, p)| p).collect();
    let theirs = rd.assigned();
    ours.len() == 2 && theirs.len() == 2 && ours.is_disjoint(&theirs)
}

#[test]
fn a_group_shared_with_librdkafka_splits_the_partitions_whichever_leads() {
    let broker = group_broker();
    block_on(async {
        create_topic(&broker, "mixed", 4).await;
        produce_round(&broker, "mixed", 4, 5).await;
        let range = [AssignorKind::Range];

        // Ours joins first and leads: librdkafka reads the assignment it computes.
        let mut members = vec![member(&broker, "mixed-g", "mixed", &range, None).await];
        let mut ledger = Ledger::default();
        pump(&mut members, &mut ledger, "all four on ours", |m, _| {
            m[0].assignment().len() == 4
        })
        .await;
        let rd = RdMember::join(&broker, "mixed-g", "mixed");
        pump(
            &mut members,
            &mut ledger,
            "a 2/2 split led by ours",
            |m, l| {
                let mine: Vec<i32> = m[0].assignment().into_iter().map(|(_, p)| p).collect();
                split_with(&m[0], &rd)
                    && mine
                        .iter()
                        .all(|p| (0..5).all(|o| l.0.contains_key(&(*p, o))))
            },
        )
        .await;

        // Ours leaves, librdkafka takes everything and leads; a new one of ours joins.
        members.pop().unwrap().close().await.unwrap();
        let deadline = Instant::now() + DEADLINE;
        while rd.assigned().len() != 4 {
            assert!(Instant::now() < deadline, "librdkafka never got all four");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        members.push(member(&broker, "mixed-g", "mixed", &range, None).await);
        pump(
            &mut members,
            &mut ledger,
            "a 2/2 split led by librdkafka",
            |m, _| split_with(&m[0], &rd),
        )
        .await;
        drop(rd);
        members.pop().unwrap().close().await.unwrap();
    });
}

#[test]
fn committed_offsets_are_read_the_same_by_librdkafka() {
    let broker = group_broker();
    block_on(async {
        create_topic(&broker, "offsets", 2).await;
        produce_round(&broker, "offsets", 2, 5).await;
        let tps = [("offsets".to_owned(), 0), ("offsets".to_owned(), 1)];
        let mut config = config(&broker, Some("offsets-g"));
        config.enable_auto_commit = false;
        let mut ours = consumer(config.clone()).await;
        ours.assign(&tps).await.unwrap();
        ours.commit_offsets(&[(tps[0].clone(), 2), (tps[1].clone(), 4)])
            .await
            .unwrap();
        assert_eq!(
            ours.committed(&tps).await.unwrap(),
            [(tps[0].clone(), Some(2)), (tps[1].clone(), Some(4))]
        );

        let rd: BaseConsumer = rd_config(&broker, "offsets-g").create().unwrap();
        let mut list = TopicPartitionList::new();
        list.add_partition("offsets", 0);
        list.add_partition("offsets", 1);
        let theirs = rd.committed_offsets(list, Duration::from_secs(10)).unwrap();
        assert_eq!(
            theirs.find_partition("offsets", 0).unwrap().offset(),
            Offset::Offset(2)
        );
        assert_eq!(
            theirs.find_partition("offsets", 1).unwrap().offset(),
            Offset::Offset(4)
        );
        let mut commit = TopicPartitionList::new();
        commit
            .add_partition_offset("offsets", 0, Offset::Offset(3))
            .unwrap();
        rd.commit(&commit, CommitMode::Sync).unwrap();
        assert_eq!(ours.committed(&tps[..1]).await.unwrap()[0].1, Some(3));
        let none = ours.committed(&[("offsets".to_owned(), 7)]).await.unwrap();
        assert_eq!(none[0].1, None);

        // A consumer assigned by hand starts at the group's committed offsets.
        let mut again = consumer(config).await;
        again.assign(&tps).await.unwrap();
        assert_eq!(again.position("offsets", 0), Some(3));
        assert_eq!(again.position("offsets", 1), Some(4));
        let got = poll_until(&mut again, "records from the commits", |_, got| {
            got.len() >= 3
        })
        .await;
        let mut seen: Vec<(i32, i64)> = got.iter().map(|r| (r.partition, r.offset)).collect();
        seen.sort();
        assert_eq!(seen, [(0, 3), (0, 4), (1, 4)]);
    });
}

#[test]
fn cooperative_sticky_members_keep_their_partitions_when_a_third_joins() {
    let broker = group_broker();
    block_on(async {
        create_topic(&broker, "coop", 6).await;
        let sticky = [AssignorKind::CooperativeSticky];
        let mut members = vec![member(&broker, "coop-g", "coop", &sticky, None).await];
        let mut ledger = Ledger::default();
        pump(&mut members, &mut ledger, "all six on the first", |m, _| {
            m[0].assignment().len() == 6
        })
        .await;
        members.push(member(&broker, "coop-g", "coop", &sticky, None).await);
        pump(&mut members, &mut ledger, "a 3/3 split", |m, _| {
            assert!(!m[0].assignment().is_empty(), "the first keeps partitions");
            m.iter().all(|c| c.assignment().len() == 3)
        })
        .await;
        let before: Vec<Partitions> = members.iter().map(|m| set(m.assignment())).collect();

        members.push(member(&broker, "coop-g", "coop", &sticky, None).await);
        pump(&mut members, &mut ledger, "a 2/2/2 split", |m, _| {
            for (i, owned) in before.iter().enumerate() {
                let now = set(m[i].assignment());
                assert!(
                    now.is_subset(owned),
                    "member {i} only gives up: {now:?} of {owned:?}"
                );
                assert!(
                    !now.is_empty(),
                    "member {i} keeps partitions through the rebalance"
                );
            }
            m.iter().all(|c| c.assignment().len() == 2)
                && m.iter().all(|c| c.generation() == m[0].generation())
        })
        .await;
        let all: Partitions = members.iter().flat_map(|m| m.assignment()).collect();
        assert_eq!(all.len(), 6);
        for m in members {
            m.close().await.unwrap();
        }
    });
}

#[test]
fn a_static_member_that_restarts_gets_its_partitions_back_without_a_rebalance() {
    let broker = group_broker();
    block_on(async {
        create_topic(&broker, "static", 2).await;
        let range = [AssignorKind::Range];
        let mut members = vec![
            member(&broker, "static-g", "static", &range, Some("a")).await,
            member(&broker, "static-g", "static", &range, Some("b")).await,
        ];
        let mut ledger = Ledger::default();
        pump(&mut members, &mut ledger, "one partition each", |m, _| {
            m.iter().all(|c| c.assignment().len() == 1) && m[0].generation() == m[1].generation()
        })
        .await;
        // The second to join restarts. (Restarting the leader, which rejoined once with
        // its generation in the subscription, rebalances: this broker compares the whole
        // subscription where Kafka compares only the selected protocol.)
        let generation = members[0].generation();
        let owned = members[1].assignment();
        let old = members.pop().unwrap();
        let old_id = old.member_id();
        old.close().await.unwrap(); // a static member does not leave

        members.push(member(&broker, "static-g", "static", &range, Some("b")).await);
        pump(
            &mut members,
            &mut ledger,
            "the restarted member's partition",
            |m, _| m[1].assignment() == owned,
        )
        .await;
        assert_eq!(members[1].generation(), generation, "no rebalance");
        assert_eq!(members[0].generation(), generation);
        assert_eq!(members[0].assignment().len(), 1);
        assert_ne!(members[1].member_id(), old_id);
        for m in members {
            m.close().await.unwrap();
        }
    });
}
