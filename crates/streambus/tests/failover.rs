//! Failover under load: a librdkafka producer streams acks=all records to a partition with
//! three replicas while its leader is SIGKILLed, paused with SIGSTOP, or cut off from the
//! other nodes' metadata quorum (its links black-holed by fault-injecting proxies); the controller
//! elects a new leader from the ISR and the producer carries on. Afterwards every
//! acknowledged record is readable at its acknowledged offset, byte for byte, and the three
//! replicas hold identical logs once the old leader is back. The SIGKILL is repeated with
//! the leadership first moved onto the controller's node, so that the quorum must elect a
//! new leader of its own before the partition gets one.
//!
//! Each round prints how long the cluster took to name a new leader and to acknowledge
//! records again. `STREAMBUS_FAILOVER_ROUNDS=N` runs every scenario N times (default 1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer};
use support::cluster::{
    AGREE, Acked, Cluster, Deliveries, NODES, agreed, create_replicated, lead_from, segment_bytes,
    streaming_producer, view,
};
use support::load::read_partition;
use support::poll;

/// Records the producer may send in a round, whatever happens.
const MAX_RECORDS: u64 = 150_000;
/// Records acknowledged before the leader is stopped, and after a new one serves.
const WARM_UP: usize = 500;

/// Streams records `{topic}-{seq}` to partition 0 until `stop`, at most [`MAX_RECORDS`],
/// then waits for every delivery report.
fn start_producer(
    bootstrap: String,
    topic: &str,
    deliveries: Arc<Deliveries>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Result<u64>> {
    let topic = topic.to_string();
    std::thread::spawn(move || {
        let producer = streaming_producer(&bootstrap, deliveries)?;
        let mut sent = 0;
        while !stop.load(Ordering::Relaxed) && sent < MAX_RECORDS {
            let value = format!("{topic}-{sent}");
            match producer.send(BaseRecord::<(), _>::to(&topic).partition(0).payload(&value)) {
                Ok(()) => sent += 1,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(e.into()),
            }
            if sent % 20 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        producer.flush(Duration::from_secs(40))?;
        Ok(sent)
    })
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// SIGKILL; brought back by a restart on its directory.
    Kill,
    /// SIGSTOP; brought back by SIGCONT.
    Pause,
    /// Its quorum links black-holed both ways (clients and the Kafka paths still reach
    /// it); brought back by healing them. Needs a cluster started behind proxies.
    CutOff,
}

/// Which node's fault a round injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The partition's leader, wherever the controller is.
    Leader,
    /// The partition's leader moved first onto the controller's node (the metadata
    /// quorum's leader), which then fails: a new quorum leader must be elected before it
    /// can elect a new partition leader.
    LeaderOnController,
}

/// One round: stream, stop the leader with `fault`, keep streaming, bring it back, check.
fn round(cluster: &mut Cluster, topic: &str, fault: Fault, target: Target) -> Result<()> {
    create_replicated(&cluster.node(1).bootstrap(), topic, 1, 3)?;
    let (_, views) = agreed(cluster, topic, |v| v[&0].isr.len() == NODES as usize)?;
    let mut leader = views[&0].leader;
    if target == Target::LeaderOnController {
        let controller = poll("a quorum leader", AGREE, || cluster.quorum_leader(leader))?;
        lead_from(cluster, topic, 0, controller)?;
        leader = controller;
    }

    let deliveries = Arc::new(Deliveries::default());
    let stop = Arc::new(AtomicBool::new(false));
    let producer = start_producer(
        cluster.bootstrap(),
        topic,
        Arc::clone(&deliveries),
        Arc::clone(&stop),
    );
    let acked = || deliveries.acked_count();
    poll("records acknowledged before the fault", AGREE, || {
        (acked() >= WARM_UP).then_some(())
    })?;

    let stopped_at = Instant::now();
    match fault {
        Fault::Kill => cluster.kill(leader)?,
        Fault::Pause => cluster.node(leader).pause()?,
        Fault::CutOff => cluster.isolate(leader),
    }
    let survivor = (1..=NODES).find(|id| *id != leader).unwrap();
    let new_leader = poll("a new leader", AGREE, || {
        let (_, views) = view(&cluster.node(survivor).bootstrap(), topic)?;
        Some(views[&0].leader).filter(|l| *l >= 0 && *l != leader)
    })?;
    let elected_in = stopped_at.elapsed();
    let before = acked();
    poll("records acknowledged by the new leader", AGREE, || {
        (acked() >= before + WARM_UP).then_some(())
    })?;
    let serving_in = deliveries
        .acked
        .lock()
        .unwrap()
        .iter()
        .map(|a| a.at)
        .find(|at| *at > stopped_at + elected_in)
        .map_or(Duration::ZERO, |at| at - stopped_at);
    stop.store(true, Ordering::Relaxed);
    let sent = producer.join().unwrap()?;

    match fault {
        Fault::Kill => cluster.restart(leader)?,
        Fault::Pause => cluster.node(leader).resume()?,
        Fault::CutOff => cluster.heal(leader),
    }
    agreed(cluster, topic, |v| v[&0].isr.len() == NODES as usize)?;
    let log = read_partition(&cluster.bootstrap(), topic, 0)?;
    let acked = deliveries.acked.lock().unwrap().clone();
    let failed = deliveries.failed.load(Ordering::Relaxed);
    eprintln!(
        "{fault:?} of leader {leader} ({target:?}): node {new_leader} led after {elected_in:?}, acknowledged again after {serving_in:?}; {sent} sent, {} acknowledged, {failed} failed, {} in the log",
        acked.len(),
        log.len()
    );
    for Acked { offset, value, .. } in &acked {
        ensure!(
            log.get(offset) == Some(value),
            "acknowledged {:?} at offset {offset} is not in the log (found {:?})",
            String::from_utf8_lossy(value),
            log.get(offset)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        );
    }
    for (offset, value) in &log {
        let text = String::from_utf8_lossy(value);
        let seq: Option<u64> = text
            .strip_prefix(&format!("{topic}-"))
            .and_then(|s| s.parse().ok());
        ensure!(
            seq.is_some_and(|s| s < sent),
            "offset {offset} holds {text:?}, which was never sent"
        );
    }
    ensure!(
        acked.len() + failed <= sent as usize + acked.len() / 10,
        "more reports than records"
    );
    poll("the three replicas to hold the same log", AGREE, || {
        let copies: Vec<Vec<u8>> = (1..=NODES)
            .map(|id| segment_bytes(cluster, id, topic, 0))
            .collect();
        copies.windows(2).all(|w| w[0] == w[1]).then_some(())
    })
    .with_context(|| {
        let copies: Vec<Vec<u8>> = (1..=NODES)
            .map(|id| segment_bytes(cluster, id, topic, 0))
            .collect();
        let sizes: Vec<usize> = copies.iter().map(Vec::len).collect();
        let agree = copies[0]
            .iter()
            .zip(&copies[1])
            .zip(&copies[2])
            .take_while(|((a, b), c)| a == b && b == c)
            .count();
        format!("segment sizes per node {sizes:?}, identical for the first {agree} bytes")
    })?;
    Ok(())
}

#[test]
fn acknowledged_records_survive_the_leaders_death_and_pause() -> Result<()> {
    let rounds: usize = std::env::var("STREAMBUS_FAILOVER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut cluster = Cluster::start()?;
    for round_number in 0..rounds {
        let scenarios = [
            (Fault::Kill, Target::Leader),
            (Fault::Pause, Target::Leader),
            (Fault::Kill, Target::LeaderOnController),
        ];
        for (fault, target) in scenarios {
            let topic = format!("failover-{fault:?}-{target:?}-{round_number}").to_lowercase();
            round(&mut cluster, &topic, fault, target).with_context(|| format!("round {topic}"))?;
        }
    }
    Ok(())
}

#[test]
fn acknowledged_records_survive_a_leader_cut_off_from_its_peers() -> Result<()> {
    let rounds: usize = std::env::var("STREAMBUS_FAILOVER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut cluster = Cluster::start_behind_proxies()?;
    for round_number in 0..rounds {
        let topic = format!("failover-cutoff-{round_number}");
        round(&mut cluster, &topic, Fault::CutOff, Target::Leader)
            .with_context(|| format!("round {topic}"))?;
    }
    Ok(())
}
