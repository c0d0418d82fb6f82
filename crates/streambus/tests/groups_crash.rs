//! Consumer groups survive SIGKILL of the `streambus` process. Committed offsets: a
//! librdkafka consumer of a group commits offsets synchronously (twice, the second time some
//! lower, with metadata), the process is killed and restarted on the same data directory,
//! and a fresh consumer's OffsetFetch (`committed_offsets`) returns exactly the last
//! acknowledged commits; a subscribed consumer then resumes at them, reads each later record
//! once, commits, and the same holds across a second SIGKILL. Members: a consumer that stays
//! subscribed while the broker is killed goes on reading after the restart, from where it
//! was, without a rebalance.
//!
//! Every loop is bounded by a deadline and a fixed record count. `STREAMBUS_TEST_ECHO=1`
//! echoes the broker's log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use support::{Launch, Server, block_on, poll};

const TOPIC: &str = "crash-offsets";
const GROUP: &str = "crash-group";
const PARTITIONS: i32 = 4;
/// Records per partition before the first kill.
const PER_PARTITION: i64 = 25;
/// How long any wait may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// The value of record `offset` of `partition`: unique and readable, then a tail of varied
/// bytes so a corrupt copy shows.
fn value_of(partition: i32, offset: i64) -> Vec<u8> {
    let mut value = format!("p{partition}@{offset}:").into_bytes();
    value.extend((0..(offset * 11 % 200)).map(|i| (i * 7 + offset) as u8));
    value
}

/// Produces records `from..to` to every partition with acks=all; each must land at the
/// offset its value names.
fn produce(bootstrap: &str, from: i64, to: i64) -> Result<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "15000")
        .create()?;
    block_on(async {
        let mut deliveries = Vec::new();
        for partition in 0..PARTITIONS {
            for offset in from..to {
                let value = value_of(partition, offset);
                let key = format!("k{offset}");
                let record = FutureRecord::to(TOPIC)
                    .partition(partition)
                    .key(&key)
                    .payload(&value);
                let delivery = producer.send_result(record).map_err(|(e, _)| e);
                deliveries.push((partition, offset, delivery));
            }
        }
        for (partition, offset, delivery) in deliveries {
            let delivery = delivery
                .map_err(|e| anyhow::anyhow!("enqueue {partition}@{offset}: {e}"))?
                .await
                .context("the producer is alive")?
                .map_err(|(e, _)| anyhow::anyhow!("deliver {partition}@{offset}: {e}"))?;
            ensure!(
                (delivery.partition, delivery.offset) == (partition, offset),
                "record {partition}@{offset} landed at {}@{}",
                delivery.partition,
                delivery.offset
            );
        }
        Ok(())
    })
}

/// Counts the rebalance callbacks of a consumer.
#[derive(Clone, Default)]
struct Rebalances(Arc<AtomicUsize>);

impl ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, _: &Rebalance<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

type GroupConsumer = BaseConsumer<Rebalances>;

/// A consumer of the group, eager range assignment, no automatic commits.
fn consumer(bootstrap: &str, client_id: &str) -> Result<GroupConsumer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", GROUP)
        .set("client.id", client_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "range")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500")
        .set("socket.timeout.ms", "10000")
        .set("reconnect.backoff.ms", "20")
        .set("reconnect.backoff.max.ms", "200")
        .create_with_context(Rebalances::default())?)
}

/// A new consumer subscribed to the topic.
fn subscribed(bootstrap: &str, client_id: &str) -> Result<GroupConsumer> {
    let consumer = consumer(bootstrap, client_id)?;
    consumer.subscribe(&[TOPIC])?;
    Ok(consumer)
}

/// Polls `consumer` until every partition has been read up to `end` (exclusive; each
/// partition must have at least one record to read from its `start`), committing each record
/// synchronously if `commit`. Fails on a first offset other than the partition's `start`, a
/// gap or a record read twice, or a value that is not the one produced there. Lost
/// connections, which librdkafka reports through `poll` when the broker is killed, are not
/// failures.
fn read(
    consumer: &GroupConsumer,
    client_id: &str,
    start: &BTreeMap<i32, i64>,
    end: i64,
    commit: bool,
) -> Result<()> {
    let mut next: BTreeMap<i32, Option<i64>> = (0..PARTITIONS).map(|p| (p, None)).collect();
    let deadline = Instant::now() + DEADLINE;
    while next.values().any(|n| n.is_none_or(|n| n < end)) {
        if Instant::now() >= deadline {
            bail!("{client_id} timed out reading: reached {next:?}, want {end} everywhere");
        }
        let message = match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown,
            ))) => continue,
            Some(Err(e)) => bail!("{client_id}: consume: {e}"),
            Some(Ok(message)) => message,
        };
        let (partition, offset) = (message.partition(), message.offset());
        let wanted = next[&partition].unwrap_or(start[&partition]);
        ensure!(
            offset == wanted,
            "{client_id}: {partition}@{offset} read where {partition}@{wanted} was next \
             (reading started at {})",
            start[&partition]
        );
        ensure!(
            message.payload() == Some(value_of(partition, offset).as_slice()),
            "{client_id}: {partition}@{offset} is not the record produced there"
        );
        if commit {
            consumer.commit_message(&message, CommitMode::Sync)?;
        }
        next.insert(partition, Some(offset + 1));
    }
    Ok(())
}

/// A new subscribed consumer that [`read`]s; returns it, still in the group.
fn read_group(
    bootstrap: &str,
    client_id: &str,
    start: &BTreeMap<i32, i64>,
    end: i64,
    commit: bool,
) -> Result<GroupConsumer> {
    let consumer = subscribed(bootstrap, client_id)?;
    read(&consumer, client_id, start, end, commit)?;
    Ok(consumer)
}

/// The group's committed (offset, metadata) of every partition, as a fresh consumer's
/// OffsetFetch returns them; retried within the deadline while the broker is still loading.
fn committed(bootstrap: &str) -> Result<BTreeMap<i32, (i64, String)>> {
    let consumer = consumer(bootstrap, "committed-reader")?;
    let mut partitions = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        partitions.add_partition(TOPIC, partition);
    }
    let mut last_error = None;
    let fetched = poll("the committed offsets", DEADLINE, || {
        match consumer.committed_offsets(partitions.clone(), Duration::from_secs(5)) {
            Ok(fetched) => Some(fetched),
            Err(e) => {
                last_error = Some(e);
                None
            }
        }
    })
    .with_context(|| format!("last error: {last_error:?}"))?;
    let mut out = BTreeMap::new();
    for element in fetched.elements() {
        ensure!(
            element.topic() == TOPIC,
            "an unexpected topic: {}",
            element.topic()
        );
        let offset = match element.offset() {
            Offset::Offset(offset) => offset,
            Offset::Invalid => -1,
            other => bail!(
                "{}: unexpected committed offset {other:?}",
                element.partition()
            ),
        };
        out.insert(
            element.partition(),
            (offset, element.metadata().to_string()),
        );
    }
    Ok(out)
}

/// Commits `offsets` ((offset, metadata) by partition) synchronously with `consumer`.
fn commit(consumer: &GroupConsumer, offsets: &BTreeMap<i32, (i64, String)>) -> Result<()> {
    let mut list = TopicPartitionList::new();
    for (partition, (offset, metadata)) in offsets {
        list.add_partition_offset(TOPIC, *partition, Offset::Offset(*offset))?;
        list.find_partition(TOPIC, *partition)
            .context("the partition just added")?
            .set_metadata(metadata);
    }
    consumer.commit(&list, CommitMode::Sync)?;
    Ok(())
}

/// Kills `server` with SIGKILL and starts the binary again on the same directory and ports.
fn kill_and_restart(server: Server, launch: &Launch) -> Result<Server> {
    server.sigkill()?;
    launch.start()
}

#[test]
fn committed_offsets_survive_sigkill() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut launch = Launch::new(&dir.path().join("data"));
    let server = launch.start()?;
    launch.kafka_addr = server.kafka;
    launch.http_addr = server.http;
    let bootstrap = server.bootstrap();
    support::create_topic(&bootstrap, TOPIC, PARTITIONS)?;
    produce(&bootstrap, 0, PER_PARTITION)?;

    // A member of the group reads everything, then commits twice; the second commit moves
    // some partitions back, which must win too.
    let first: BTreeMap<i32, (i64, String)> = (0..PARTITIONS)
        .map(|p| (p, (5 * i64::from(p + 1), format!("first {p}"))))
        .collect();
    let last: BTreeMap<i32, (i64, String)> = BTreeMap::from([
        (0, (7, "last 0".to_string())),
        (1, (PER_PARTITION, "last 1".to_string())),
        (2, (1, String::new())),
        (3, (0, "back to the start".to_string())),
    ]);
    let zero: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, 0)).collect();
    let reader = read_group(&bootstrap, "reader", &zero, PER_PARTITION, false)?;
    commit(&reader, &first)?;
    commit(&reader, &last)?;
    let before = committed(&bootstrap)?;
    ensure!(before == last, "before the kill: {before:?}, not {last:?}");
    // The member leaves while the broker is up; the kill then meets an empty group.
    drop(reader);

    let server = kill_and_restart(server, &launch)?;
    let after = committed(&bootstrap)?;
    ensure!(
        after == last,
        "after SIGKILL the group's offsets are {after:?}, but {last:?} was acknowledged"
    );

    // A subscribed consumer resumes at the commits. One more record per partition shows that
    // partition 1, committed at its end, resumes there too.
    produce(&bootstrap, PER_PARTITION, PER_PARTITION + 1)?;
    let start: BTreeMap<i32, i64> = last.iter().map(|(p, (o, _))| (*p, *o)).collect();
    let resumed = read_group(&bootstrap, "resumed", &start, PER_PARTITION + 1, true)?;
    drop(resumed);
    let end: BTreeMap<i32, (i64, String)> = (0..PARTITIONS)
        .map(|p| (p, (PER_PARTITION + 1, String::new())))
        .collect();
    let resumed_at = committed(&bootstrap)?;
    ensure!(
        resumed_at == end,
        "after resuming: {resumed_at:?}, not {end:?}"
    );

    // The resumed consumer's per-record commits survive a second SIGKILL.
    let server = kill_and_restart(server, &launch)?;
    let after = committed(&bootstrap)?;
    ensure!(
        after == end,
        "after the second SIGKILL the group's offsets are {after:?}, not {end:?}"
    );
    let ends: BTreeMap<i32, i64> = end.iter().map(|(p, (o, _))| (*p, *o)).collect();
    produce(&bootstrap, PER_PARTITION + 1, PER_PARTITION + 2)?;
    drop(read_group(
        &bootstrap,
        "last",
        &ends,
        PER_PARTITION + 2,
        false,
    )?);
    drop(server);
    Ok(())
}

#[test]
fn a_live_member_carries_on_after_sigkill_without_a_rebalance() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut launch = Launch::new(&dir.path().join("data"));
    let server = launch.start()?;
    launch.kafka_addr = server.kafka;
    launch.http_addr = server.http;
    let bootstrap = server.bootstrap();
    support::create_topic(&bootstrap, TOPIC, PARTITIONS)?;
    produce(&bootstrap, 0, 10)?;
    let zero: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, 0)).collect();
    let member = read_group(&bootstrap, "member", &zero, 10, true)?;
    let rebalances = member.context().0.load(Ordering::SeqCst);

    // The member, its generation and its commits are in __consumer_offsets: after the kill
    // the restarted broker knows it, and it goes on reading where it was.
    let server = kill_and_restart(server, &launch)?;
    produce(&bootstrap, 10, 15)?;
    let ten: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, 10)).collect();
    read(&member, "member", &ten, 15, true)?;
    let after = member.context().0.load(Ordering::SeqCst);
    ensure!(
        after == rebalances,
        "{} rebalance callbacks after the restart",
        after - rebalances
    );
    drop(member);
    let end: BTreeMap<i32, (i64, String)> =
        (0..PARTITIONS).map(|p| (p, (15, String::new()))).collect();
    let committed_at_end = committed(&bootstrap)?;
    ensure!(committed_at_end == end, "{committed_at_end:?}, not {end:?}");
    drop(server);
    Ok(())
}
