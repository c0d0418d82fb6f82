//! A producer streaming through cluster operations, and the checks of what it was told:
//! every record acknowledged is in the log at its acknowledged offset, byte for byte, and
//! the replicas' log files are identical.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::cluster::{AGREE, Acked, Cluster, Deliveries, streaming_producer};
use super::poll;

/// Records the producer may send, whatever happens.
pub const MAX_RECORDS: u64 = 60_000;

/// The value of record `seq` (sent to partition `seq % partitions`): unique and readable,
/// then a tail of varied bytes so that a corrupt copy shows.
pub fn roll_value(topic: &str, partition: i32, seq: u64) -> Vec<u8> {
    let mut value = format!("{topic}-p{partition}-{seq}:").into_bytes();
    value.extend((0..(seq * 13 % 64)).map(|i| (i * 7 + seq) as u8));
    value
}

/// Streams records round-robin over `partitions` until `stop`, at most [`MAX_RECORDS`]
/// (about 2,000 a second), then waits for every delivery report: how many were sent.
pub fn start_producer(
    bootstrap: String,
    topic: &str,
    partitions: i32,
    deliveries: Arc<Deliveries>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Result<u64>> {
    let topic = topic.to_string();
    std::thread::spawn(move || {
        let producer = streaming_producer(&bootstrap, deliveries)?;
        let mut sent = 0;
        let give_up = Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::Relaxed) && sent < MAX_RECORDS && Instant::now() < give_up {
            let partition = (sent % partitions as u64) as i32;
            let value = roll_value(&topic, partition, sent);
            match producer.send(
                BaseRecord::<(), _>::to(&topic)
                    .partition(partition)
                    .payload(&value),
            ) {
                Ok(()) => sent += 1,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(e.into()),
            }
            if sent % 10 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        producer.flush(Duration::from_secs(40))?;
        Ok(sent)
    })
}

/// Every record of `topic-partition` from the start to the high watermark: offset to value.
pub fn read_partition(
    bootstrap: &str,
    topic: &str,
    partition: i32,
) -> Result<BTreeMap<i64, Vec<u8>>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "cluster-ops-reader")
        .set("enable.auto.commit", "false")
        .create()?;
    // Right after a leadership change the client may still ask the old leader, which
    // answers NOT_LEADER_OR_FOLLOWER; librdkafka returns that rather than retrying.
    let mut last_error = None;
    let high = poll("the high watermark", AGREE, || {
        match consumer.fetch_watermarks(topic, partition, Duration::from_secs(2)) {
            Ok((_, high)) => Some(high),
            Err(e) => {
                last_error = Some(e);
                None
            }
        }
    })
    .with_context(|| format!("partition {partition}: last error {last_error:?}"))?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let mut log = BTreeMap::new();
    poll("the whole partition to be read", AGREE, || {
        while let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.ok()?;
            log.insert(
                message.offset(),
                message.payload().unwrap_or_default().to_vec(),
            );
        }
        (log.len() as i64 >= high).then_some(())
    })
    .with_context(|| format!("partition {partition}: read {} of {high}", log.len()))?;
    Ok(log)
}

/// Every `.log` file of `topic-partition` in node `id`'s data directory, by name.
pub fn log_files(
    cluster: &Cluster,
    id: i32,
    topic: &str,
    partition: i32,
) -> BTreeMap<String, Vec<u8>> {
    let dir = cluster.dirs[(id - 1) as usize]
        .path()
        .join(format!("{topic}-{partition}"));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            Some((name, std::fs::read(&p).ok()?))
        })
        .collect()
}

/// Fails unless every record in `acked` is in `logs` (partition to offset to value) at its
/// acknowledged offset, byte for byte, and no two share an offset.
pub fn check_acknowledged(
    acked: &[Acked],
    logs: &BTreeMap<i32, BTreeMap<i64, Vec<u8>>>,
) -> Result<()> {
    let mut seen = BTreeSet::new();
    for Acked {
        partition,
        offset,
        value,
        ..
    } in acked
    {
        ensure!(
            seen.insert((*partition, *offset)),
            "two records acknowledged at {partition}@{offset}"
        );
        let found = logs[partition].get(offset);
        ensure!(
            found == Some(value),
            "acknowledged {:?} at {partition}@{offset} is not in the log (found {:?})",
            String::from_utf8_lossy(value),
            found.map(|v| String::from_utf8_lossy(v).into_owned())
        );
    }
    Ok(())
}
