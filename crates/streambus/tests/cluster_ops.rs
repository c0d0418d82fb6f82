#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Operating a three-node cluster while clients use it.
//!
//! - A rolling restart under load: a librdkafka producer streams acks=all records to a
//!   replicated topic while each node in turn is stopped with SIGTERM (controlled shutdown:
//!   it hands its leaderships over first) and started again on its directory. The producer
//!   sees no failed delivery; every acknowledged record is in the log at its acknowledged
//!   offset, byte for byte; the three replicas' log files are identical.
//! - Consumer groups survive the coordinator's death: a consumer commits what it read, the
//!   group coordinator (the leader of the group's `__consumer_offsets` partition) is
//!   SIGKILLed, and a fresh consumer of the group, talking only to the survivors, resumes at
//!   the committed offsets, reads the rest exactly once and commits.
//!
//! Every wait is bounded. `STREAMBUS_TEST_ECHO=1` echoes the brokers' logs.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use streambus_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use support::cluster::{
    Cluster, Deliveries, NODES, PartitionView, agreed, create_replicated, produce, value, view,
};
use support::load::{check_acknowledged, log_files, read_partition, start_producer};
use support::{block_on, poll};

/// How long any single wait may take.
const DEADLINE: Duration = Duration::from_secs(30);
/// Records acknowledged before the first restart, and after each.
const PROGRESS: usize = 300;

// ---------------------------------------------------------------------------------------
// Rolling restart under load
// ---------------------------------------------------------------------------------------

fn full_isr(views: &BTreeMap<i32, PartitionView>) -> bool {
    views.values().all(|p| p.isr.len() == NODES as usize)
}

#[test]
fn a_rolling_restart_under_load_loses_no_acknowledged_record() -> Result<()> {
    let started = Instant::now();
    let mut cluster = Cluster::start()?;
    let (topic, partitions) = ("rolling", 3);
    create_replicated(&cluster.node(1).bootstrap(), topic, partitions, 3)?;
    agreed(&cluster, topic, full_isr)?;

    let deliveries = Arc::new(Deliveries::default());
    let stop = Arc::new(AtomicBool::new(false));
    let producer = start_producer(
        cluster.bootstrap(),
        topic,
        partitions,
        Arc::clone(&deliveries),
        Arc::clone(&stop),
    );
    let acked = || deliveries.acked_count();
    let progress = |what: &str| {
        let before = acked();
        poll(what, DEADLINE, || {
            (acked() >= before + PROGRESS).then_some(())
        })
    };
    let outcome = (|| -> Result<Vec<String>> {
        progress("records acknowledged before the first restart")?;
        let mut timings = Vec::new();
        for id in 1..=NODES {
            let stopping = Instant::now();
            let stderr = cluster.stop(id)?;
            let stopped_in = stopping.elapsed();
            ensure!(
                !stderr.contains("could not move leadership away"),
                "node {id} kept leaderships at shutdown:\n{stderr}"
            );
            // Controlled shutdown: the survivors name other leaders at once, well before
            // the 2 s session timeout would have the controller move them.
            let survivor = (1..=NODES).find(|n| *n != id).unwrap();
            let mut last = None;
            poll(
                "the survivors to name other leaders after the controlled shutdown",
                Duration::from_millis(1500),
                || {
                    let (_, views) = view(&cluster.node(survivor).bootstrap(), topic)?;
                    let moved = views.values().all(|p| p.leader >= 0 && p.leader != id);
                    last = Some(views);
                    moved.then_some(())
                },
            )
            .with_context(|| {
                format!(
                    "node {id} stopped in {stopped_in:?}; node {survivor}'s last view: {last:?}; \
                     node {id}'s stderr:\n{stderr}"
                )
            })?;
            let restarting = Instant::now();
            cluster.restart(id)?;
            agreed(&cluster, topic, full_isr).with_context(|| format!("node {id} back"))?;
            timings.push(format!(
                "node {id}: stopped in {stopped_in:?}, restarted and back in the ISR in {:?}",
                restarting.elapsed()
            ));
            progress(&format!("records acknowledged after node {id}'s restart"))?;
        }
        Ok(timings)
    })();
    stop.store(true, Ordering::Relaxed);
    let sent = producer.join().unwrap()?;
    let timings = outcome?;

    let (_, views) = agreed(&cluster, topic, full_isr)?;
    let acked = deliveries.acked.lock().unwrap().clone();
    let failed = deliveries.failed.load(Ordering::Relaxed);
    let errors = deliveries.errors.lock().unwrap().clone();
    let mut logs = BTreeMap::new();
    for partition in 0..partitions {
        logs.insert(
            partition,
            read_partition(&cluster.bootstrap(), topic, partition)?,
        );
    }
    let in_logs: usize = logs.values().map(BTreeMap::len).sum();
    eprintln!(
        "rolling restart: {sent} sent, {} acknowledged, {failed} failed, {in_logs} in the logs, {:?} elapsed; {}; leaders after: {:?}",
        acked.len(),
        started.elapsed(),
        timings.join("; "),
        views.values().map(|p| p.leader).collect::<Vec<_>>()
    );
    ensure!(failed == 0, "{failed} deliveries failed: {errors:?}");
    ensure!(
        acked.len() as u64 == sent,
        "{sent} sent, {} acknowledged",
        acked.len()
    );
    check_acknowledged(&acked, &logs)?;
    for partition in 0..partitions {
        poll(
            "the three replicas to hold identical log files",
            DEADLINE,
            || {
                let copies: Vec<_> = (1..=NODES)
                    .map(|id| log_files(&cluster, id, topic, partition))
                    .collect();
                (!copies[0].is_empty() && copies.windows(2).all(|w| w[0] == w[1])).then_some(())
            },
        )
        .with_context(|| {
            let sizes: Vec<Vec<(String, usize)>> = (1..=NODES)
                .map(|id| {
                    log_files(&cluster, id, topic, partition)
                        .into_iter()
                        .map(|(name, bytes)| (name, bytes.len()))
                        .collect()
                })
                .collect();
            format!("partition {partition}: files and sizes per node {sizes:?}")
        })?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Consumer groups and the coordinator's death
// ---------------------------------------------------------------------------------------

const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Kafka's `__consumer_offsets` partition of a group: `Utils.abs(groupId.hashCode()) %
/// partitions`, Java's `String.hashCode` over UTF-16 units, `abs(i32::MIN)` taken as 0 (as
/// `streambus_coordinator::runtime::partition_for` does).
fn offsets_partition(group: &str, partitions: i32) -> i32 {
    let hash = group.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

/// The node FindCoordinator names for `group`, asked through `bootstrap` with the
/// repository's own client.
fn find_coordinator(bootstrap: &str, group: &str) -> Result<i32> {
    block_on(async {
        let client =
            streambus_client::Cluster::connect(streambus_client::ClientConfig::new(bootstrap))
                .await?;
        let response = client
            .call_any(FindCoordinatorRequest {
                key: group.to_owned(),
                key_type: 0,
                coordinator_keys: vec![group.to_owned()],
            })
            .await?;
        let (code, node) = match response.coordinators.first() {
            Some(c) => (c.error_code, c.node_id),
            None => (response.error_code, response.node_id),
        };
        ensure!(code == 0, "FindCoordinator({group}) answered error {code}");
        Ok(node)
    })
}

/// A consumer context that prints librdkafka's log when `STREAMBUS_TEST_RDKAFKA_DEBUG`
/// names its debug contexts (`cgrp,protocol`, ...).
struct Logged {
    verbose: bool,
}

impl ClientContext for Logged {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        if self.verbose {
            eprintln!("[rdkafka {level:?} {fac}] {log_message}");
        }
    }
}

impl ConsumerContext for Logged {}

fn group_consumer(bootstrap: &str, group: &str) -> Result<BaseConsumer<Logged>> {
    let mut config = ClientConfig::new();
    let debug = std::env::var("STREAMBUS_TEST_RDKAFKA_DEBUG").ok();
    if let Some(debug) = &debug {
        config
            .set("debug", debug)
            .set_log_level(RDKafkaLogLevel::Debug);
    }
    Ok(config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("session.timeout.ms", "6000")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("socket.timeout.ms", "3000")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .create_with_context(Logged {
            verbose: debug.is_some(),
        })?)
}

/// What a consumer read: per partition, the offsets in order of arrival, each checked to
/// hold the value produced there; and the errors it reported along the way.
#[derive(Default, Debug)]
struct Consumed {
    offsets: BTreeMap<i32, Vec<i64>>,
    errors: Vec<String>,
}

impl Consumed {
    fn total(&self) -> usize {
        self.offsets.values().map(Vec::len).sum()
    }
}

/// Polls `consumer` until it has read `count` records at offsets below `below`, then
/// `linger` longer for any that should not come; every record must hold [`value`] of its
/// partition and offset. Records at `below` or later are passed over, uncounted.
fn consume(
    consumer: &BaseConsumer<Logged>,
    consumed: &mut Consumed,
    count: usize,
    below: i64,
    linger: Duration,
) -> Result<()> {
    let check = |consumed: &mut Consumed, message: &BorrowedMessage<'_>| -> Result<()> {
        let (partition, offset) = (message.partition(), message.offset());
        if offset >= below {
            return Ok(());
        }
        let payload = message.payload().unwrap_or_default();
        ensure!(
            payload == value(partition, offset as u32).as_slice(),
            "{partition}@{offset} holds {:?}",
            String::from_utf8_lossy(payload)
        );
        consumed.offsets.entry(partition).or_default().push(offset);
        Ok(())
    };
    let mut failure = None;
    poll("the records to be consumed", DEADLINE, || {
        while consumed.total() < count {
            match consumer.poll(Duration::from_millis(100))? {
                Ok(message) => {
                    if let Err(e) = check(consumed, &message) {
                        failure = Some(e);
                        return Some(());
                    }
                }
                Err(e) => consumed.errors.push(e.to_string()),
            }
        }
        Some(())
    })
    .with_context(|| format!("read {} of {count}: {consumed:?}", consumed.total()))?;
    if let Some(e) = failure {
        return Err(e);
    }
    let until = Instant::now() + linger;
    while Instant::now() < until {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => check(consumed, &message)?,
            Some(Err(e)) => consumed.errors.push(e.to_string()),
            None => {}
        }
    }
    Ok(())
}

/// Closes `consumer` (it leaves its group), waiting at most [`DEADLINE`]. One that does not
/// close in time is leaked rather than dropped, since dropping it would wait without end.
fn close(consumer: BaseConsumer<Logged>) -> Result<()> {
    consumer.close_queue()?;
    let closed = poll("the consumer to close", DEADLINE, || {
        let _ = consumer.poll(Duration::from_millis(100));
        consumer.closed().then_some(())
    });
    if closed.is_err() {
        std::mem::forget(consumer);
    }
    closed
}

/// Commits `offsets` synchronously and reads them back (OffsetFetch). The partition lists
/// live only here: librdkafka's entries hold references that keep a consumer from closing.
fn commit_and_check(
    consumer: &BaseConsumer<Logged>,
    topic: &str,
    offsets: &BTreeMap<i32, i64>,
) -> Result<()> {
    let mut commit = TopicPartitionList::new();
    for (partition, offset) in offsets {
        commit.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
    }
    consumer.commit(&commit, CommitMode::Sync)?;
    let fetched = consumer.committed(Duration::from_secs(10))?;
    for (partition, offset) in offsets {
        let got = fetched
            .find_partition(topic, *partition)
            .map(|e| e.offset());
        ensure!(
            got == Some(Offset::Offset(*offset)),
            "partition {partition}: committed {offset}, fetched {got:?}"
        );
    }
    Ok(())
}

#[test]
fn a_consumer_group_resumes_at_its_commits_after_the_coordinators_death() -> Result<()> {
    let started = Instant::now();
    let mut cluster = Cluster::start()?;
    let (topic, group, partitions, per_partition) = ("group-failover", "failover-group", 2, 100);
    create_replicated(&cluster.node(1).bootstrap(), topic, partitions, 3)?;
    agreed(&cluster, topic, full_isr)?;
    produce(&cluster.bootstrap(), topic, partitions, per_partition)?;
    let total = (partitions as usize) * per_partition as usize;

    // The first consumer reads half of the records, then commits where it is.
    let first = group_consumer(&cluster.bootstrap(), group)?;
    first.subscribe(&[topic])?;
    let mut read_first = Consumed::default();
    let half = i64::from(per_partition / 2);
    consume(&first, &mut read_first, total / 2, half, Duration::ZERO)?;
    ensure!(read_first.total() == total / 2, "{read_first:?}");
    let mut committed = BTreeMap::new();
    for partition in 0..partitions {
        let offsets = read_first
            .offsets
            .get(&partition)
            .cloned()
            .unwrap_or_default();
        let expected: Vec<i64> = (0..half).collect();
        ensure!(
            offsets == expected,
            "partition {partition}: the first consumer read {offsets:?}"
        );
        committed.insert(partition, half);
    }

    // The group's `__consumer_offsets` partition is fully replicated before the commit, so
    // that acks=all puts the commit on every replica.
    let (_, offsets_views) = agreed(&cluster, OFFSETS_TOPIC, |v| {
        let k = offsets_partition(group, v.len() as i32);
        v.get(&k).is_some_and(|p| p.isr.len() == NODES as usize)
    })?;
    let offsets_partitions = offsets_views.len() as i32;
    let k = offsets_partition(group, offsets_partitions);
    let coordinator = offsets_views[&k].leader;
    let found = find_coordinator(&cluster.bootstrap(), group)?;
    ensure!(
        found == coordinator,
        "FindCoordinator names {found}, the leader of {OFFSETS_TOPIC}-{k} is {coordinator}"
    );

    commit_and_check(&first, topic, &committed).context("the first consumer's commit")?;
    // It leaves the group cleanly, so that the next consumer gets every partition.
    close(first)?;

    // The coordinator dies.
    let killed_at = Instant::now();
    cluster.kill(coordinator)?;
    let survivors = cluster.bootstrap();

    // A fresh consumer of the group, knowing only the survivors, resumes at the commits.
    let second = group_consumer(&survivors, group)?;
    second.subscribe(&[topic])?;
    let mut read_second = Consumed::default();
    consume(
        &second,
        &mut read_second,
        total - total / 2,
        i64::MAX,
        Duration::from_secs(1),
    )?;
    let resumed_in = killed_at.elapsed();
    for partition in 0..partitions {
        let offsets = read_second
            .offsets
            .get(&partition)
            .cloned()
            .unwrap_or_default();
        let expected: Vec<i64> = (committed[&partition]..i64::from(per_partition)).collect();
        ensure!(
            offsets == expected,
            "partition {partition}: committed {}, the second consumer read {offsets:?}",
            committed[&partition]
        );
    }
    ensure!(read_second.total() == total - total / 2, "{read_second:?}");

    let done: BTreeMap<i32, i64> = (0..partitions)
        .map(|p| (p, i64::from(per_partition)))
        .collect();
    commit_and_check(&second, topic, &done).context("the second consumer's commit")?;
    let new_coordinator = find_coordinator(&survivors, group)?;
    ensure!(
        new_coordinator != coordinator,
        "FindCoordinator still names the dead node {coordinator}"
    );
    eprintln!(
        "coordinator {coordinator} ({OFFSETS_TOPIC}-{k} of {offsets_partitions}) killed; node {new_coordinator} coordinates; committed {committed:?}; the second consumer read {} records, all within {resumed_in:?} of the kill (errors seen: {:?}); {:?} elapsed",
        read_second.total(),
        read_second.errors,
        started.elapsed()
    );
    close(second)?;
    Ok(())
}
