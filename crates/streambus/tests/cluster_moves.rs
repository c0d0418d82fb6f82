#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Moving a partition between brokers, and its leadership back to the preferred replica, on
//! a three-node cluster through the admin client (AlterPartitionReassignments,
//! ListPartitionReassignments, ElectLeaders).
//!
//! A replicated partition holds acknowledged records; the broker that is not one of its
//! replicas is SIGKILLed, and the partition is moved onto it. The move cannot finish while
//! the new replica is down: it is listed in progress, the old replicas keep serving, and a
//! cancel puts everything back. Moved again and the broker restarted, the new replica
//! catches up and the move completes: the replica set is the target, the replica that left
//! deletes its copy, the new replica's log is byte for byte the leader's, and every record
//! reads back. A preferred election then hands the leadership to the new first replica.
//!
//! And a move away from the leader while a librdkafka producer streams acks=all records:
//! once the new replica is in sync the leadership passes to a replica that stays, and the
//! producer sees no failed delivery; every acknowledged record is in the log at its
//! acknowledged offset, and the two remaining replicas' log files are identical.
//!
//! And a broker taken out of service with the command-line tool: `streambus cluster drain`
//! moves its leaderships away (it keeps its replicas), `streambus cluster decommission
//! --wait` moves its replicas to the other two; it then holds nothing, and once it is
//! stopped every record still reads back from the others.
//!
//! Every wait is bounded. `STREAMBUS_TEST_ECHO=1` echoes the brokers' logs.

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use streambus_client::admin::{
    Admin, ElectionType, OngoingReassignment, PartitionMove, PartitionOutcome,
};
use streambus_client::{ClientConfig, ErrorCode};
use support::cluster::{
    AGREE, Cluster, Deliveries, NODES, PartitionView, agreed, create_replicated, expected, metric,
    produce, read, segment_bytes,
};
use support::load::{check_acknowledged, log_files, read_partition, start_producer};
use support::{BIN, poll, wait_with_output};

const TOPIC: &str = "moves";
const RECORDS: u32 = 200;

/// The admin client, on a runtime that lives as long as its connections.
struct Moves {
    runtime: tokio::runtime::Runtime,
    admin: Admin,
}

impl Moves {
    fn connect(bootstrap: &str) -> Result<Moves> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let mut config = ClientConfig::new(bootstrap);
        config.request_timeout = Duration::from_secs(15);
        let admin = runtime.block_on(Admin::connect(config))?;
        Ok(Moves { runtime, admin })
    }

    fn reassign(&self, replicas: Option<Vec<i32>>) -> Result<Vec<PartitionOutcome>> {
        self.reassign_topic(TOPIC, replicas)
    }

    /// Moves partition 0 of `topic`.
    fn reassign_topic(
        &self,
        topic: &str,
        replicas: Option<Vec<i32>>,
    ) -> Result<Vec<PartitionOutcome>> {
        let change = PartitionMove {
            partition: (topic.to_owned(), 0),
            replicas,
        };
        Ok(self
            .runtime
            .block_on(self.admin.alter_partition_reassignments(&[change]))?)
    }

    fn ongoing(&self) -> Result<Vec<OngoingReassignment>> {
        Ok(self
            .runtime
            .block_on(self.admin.list_partition_reassignments(None))?)
    }

    fn elect_preferred(&self) -> Result<Vec<PartitionOutcome>> {
        let p0 = [(TOPIC.to_owned(), 0)];
        Ok(self
            .runtime
            .block_on(self.admin.elect_leaders(ElectionType::Preferred, Some(&p0)))?)
    }
}

/// The one outcome's error code, or `None` for success.
fn single_code(outcomes: &[PartitionOutcome]) -> Option<ErrorCode> {
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(
        (outcomes[0].topic.as_str(), outcomes[0].partition),
        (TOPIC, 0)
    );
    outcomes[0].result.as_ref().err().map(|e| e.code().unwrap())
}

/// The sum over the live nodes of the counter sample named exactly `sample`.
fn counter(cluster: &Cluster, sample: &str) -> u64 {
    cluster
        .live()
        .filter_map(|(id, _)| metric(cluster, id, sample))
        .map(|v| v as u64)
        .sum()
}

fn partition_dir_exists(cluster: &Cluster, id: i32, topic: &str) -> bool {
    cluster.dirs[(id - 1) as usize]
        .path()
        .join(format!("{topic}-0"))
        .exists()
}

#[test]
fn a_partition_moves_to_a_restarted_broker_only_once_it_has_caught_up() -> Result<()> {
    let mut cluster = Cluster::start()?;
    create_replicated(&cluster.node(1).bootstrap(), TOPIC, 1, 2)?;
    let (_, views) = agreed(&cluster, TOPIC, |v| v[&0].isr.len() == 2)?;
    let before = views[&0].clone();
    let leader = before.leader;
    let follower = *before.replicas.iter().find(|r| **r != leader).unwrap();
    let newcomer = (1..=NODES).find(|n| !before.replicas.contains(n)).unwrap();
    produce(&cluster.bootstrap(), TOPIC, 1, RECORDS)?;

    cluster.kill(newcomer)?;
    // The admin client sends to the controller: wait for one among the survivors.
    poll("a quorum leader among the survivors", AGREE, || {
        cluster.quorum_leader(leader).filter(|id| *id != newcomer)
    })?;
    let admin = Moves::connect(&cluster.bootstrap())?;
    let target = vec![newcomer, leader];

    // Started while the new replica is down: listed in progress, old replicas serving.
    assert_eq!(single_code(&admin.reassign(Some(target.clone()))?), None);
    let in_progress = vec![OngoingReassignment {
        topic: TOPIC.to_owned(),
        partition: 0,
        replicas: vec![newcomer, leader, follower],
        adding: vec![newcomer],
        removing: vec![follower],
    }];
    assert_eq!(admin.ongoing()?, in_progress);
    let mut isr = vec![leader, follower];
    isr.sort_unstable();
    let (_, views) = agreed(&cluster, TOPIC, |v| v[&0].replicas.len() == 3)?;
    assert_eq!(
        views[&0],
        PartitionView {
            leader,
            replicas: vec![newcomer, leader, follower],
            isr: isr.clone(),
        }
    );
    assert_eq!(
        read(&cluster.bootstrap(), TOPIC, 1, RECORDS)?,
        expected(1, RECORDS)
    );

    // Cancelled: back to the replicas before it, and nothing left to cancel.
    assert_eq!(single_code(&admin.reassign(None)?), None);
    assert_eq!(admin.ongoing()?, Vec::new());
    let (_, views) = agreed(&cluster, TOPIC, |v| v[&0].replicas.len() == 2)?;
    assert_eq!(views[&0], before);
    assert_eq!(
        single_code(&admin.reassign(None)?),
        Some(ErrorCode::NoReassignmentInProgress)
    );

    // Started again, and the new replica restarted: it catches up, then the move completes.
    assert_eq!(single_code(&admin.reassign(Some(target.clone()))?), None);
    assert_eq!(admin.ongoing()?, in_progress);
    cluster.restart(newcomer)?;
    let mut isr = target.clone();
    isr.sort_unstable();
    let moved = PartitionView {
        leader,
        replicas: target.clone(),
        isr,
    };
    agreed(&cluster, TOPIC, |v| v[&0] == moved)?;
    poll("no move to be listed", AGREE, || {
        admin.ongoing().ok()?.is_empty().then_some(())
    })?;
    poll("the replica that left to delete its copy", AGREE, || {
        (!partition_dir_exists(&cluster, follower, TOPIC)).then_some(())
    })?;
    let leader_log = segment_bytes(&cluster, leader, TOPIC, 0);
    ensure!(!leader_log.is_empty(), "the leader's log is empty");
    poll("the new replica's log to be the leader's", AGREE, || {
        (segment_bytes(&cluster, newcomer, TOPIC, 0) == leader_log).then_some(())
    })?;
    assert_eq!(
        read(&cluster.bootstrap(), TOPIC, 1, RECORDS)?,
        expected(1, RECORDS)
    );

    // The preferred replica (the new one, first in the list) takes the leadership.
    let preferred_sample = "streambus_leader_elections_total{reason=\"preferred\"}";
    let elected_before = counter(&cluster, preferred_sample);
    let outcomes = admin.elect_preferred()?;
    assert_eq!(single_code(&outcomes), None);
    let led = PartitionView {
        leader: newcomer,
        ..moved
    };
    agreed(&cluster, TOPIC, |v| v[&0] == led)?;
    let outcomes = admin.elect_preferred()?;
    assert_eq!(single_code(&outcomes), Some(ErrorCode::ElectionNotNeeded));
    assert_eq!(
        counter(&cluster, preferred_sample),
        elected_before + 1,
        "one preferred election counted"
    );
    // The new leader takes writes and serves the whole log.
    produce(&cluster.bootstrap(), TOPIC, 1, RECORDS).context("producing to the new leader")?;
    let mut twice = expected(1, RECORDS);
    twice
        .get_mut(&0)
        .unwrap()
        .extend(expected(1, RECORDS)[&0].clone());
    assert_eq!(read(&cluster.bootstrap(), TOPIC, 1, 2 * RECORDS)?, twice);
    Ok(())
}

/// Records acknowledged before the move starts, and after it completes.
const PROGRESS: usize = 300;

#[test]
fn moving_a_partition_off_its_leader_under_load_loses_no_acknowledged_record() -> Result<()> {
    let topic = "moving";
    let cluster = Cluster::start()?;
    create_replicated(&cluster.node(1).bootstrap(), topic, 1, 2)?;
    let (_, views) = agreed(&cluster, topic, |v| v[&0].isr.len() == 2)?;
    let leader = views[&0].leader;
    let staying = *views[&0].replicas.iter().find(|r| **r != leader).unwrap();
    let newcomer = (1..=NODES)
        .find(|n| !views[&0].replicas.contains(n))
        .unwrap();

    let deliveries = Arc::new(Deliveries::default());
    let stop = Arc::new(AtomicBool::new(false));
    let producer = start_producer(
        cluster.bootstrap(),
        topic,
        1,
        Arc::clone(&deliveries),
        Arc::clone(&stop),
    );
    let progress = |what: &str| {
        let before = deliveries.acked_count();
        poll(what, AGREE, || {
            (deliveries.acked_count() >= before + PROGRESS).then_some(())
        })
    };
    let target = vec![newcomer, staying];
    let outcome = (|| -> Result<()> {
        progress("records acknowledged before the move")?;
        let admin = Moves::connect(&cluster.bootstrap())?;
        let outcomes = admin.reassign_topic(topic, Some(target.clone()))?;
        ensure!(outcomes[0].result.is_ok(), "{outcomes:?}");
        let mut isr = target.clone();
        isr.sort_unstable();
        agreed(&cluster, topic, |v| {
            v[&0].replicas == target && v[&0].isr == isr && target.contains(&v[&0].leader)
        })?;
        progress("records acknowledged after the move")
    })();
    stop.store(true, Ordering::Relaxed);
    let sent = producer.join().unwrap()?;
    outcome?;

    let acked = deliveries.acked.lock().unwrap().clone();
    let failed = deliveries.failed.load(Ordering::Relaxed);
    let errors = deliveries.errors.lock().unwrap().clone();
    eprintln!(
        "move under load: replicas {leader},{staying} -> {newcomer},{staying}; {sent} sent, {} acknowledged, {failed} failed",
        acked.len()
    );
    ensure!(failed == 0, "{failed} deliveries failed: {errors:?}");
    ensure!(
        acked.len() as u64 == sent,
        "{sent} sent, {} acknowledged",
        acked.len()
    );
    let logs = [(0, read_partition(&cluster.bootstrap(), topic, 0)?)].into();
    check_acknowledged(&acked, &logs)?;
    poll("the old leader to delete its copy", AGREE, || {
        (!partition_dir_exists(&cluster, leader, topic)).then_some(())
    })?;
    poll(
        "the two replicas to hold identical log files",
        AGREE,
        || {
            let copies = [
                log_files(&cluster, newcomer, topic, 0),
                log_files(&cluster, staying, topic, 0),
            ];
            (!copies[0].is_empty() && copies[0] == copies[1]).then_some(())
        },
    )?;
    Ok(())
}

/// Runs `streambus ARGS --bootstrap BOOTSTRAP --output json`, which must succeed: its output.
fn cli_json(bootstrap: &str, args: &[&str]) -> Result<serde_json::Value> {
    let child = Command::new(BIN)
        .args(args)
        .args(["--bootstrap", bootstrap, "--output", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (status, stdout, stderr) = wait_with_output(child, "", Duration::from_secs(90))?;
    ensure!(status.success(), "{args:?}: {status}: {stderr}");
    serde_json::from_str(&stdout).with_context(|| format!("{args:?}: {stdout}"))
}

#[test]
fn a_broker_is_drained_then_decommissioned_with_the_cli() -> Result<()> {
    let (topic, partitions, retired) = ("retired", 3, 1);
    let mut cluster = Cluster::start()?;
    create_replicated(&cluster.node(1).bootstrap(), topic, partitions, 2)?;
    let (_, before) = agreed(&cluster, topic, |v| v.values().all(|p| p.isr.len() == 2))?;
    produce(&cluster.bootstrap(), topic, partitions, RECORDS)?;
    let bootstrap = cluster.bootstrap();
    let led: Vec<i32> = before
        .iter()
        .filter(|(_, p)| p.leader == retired)
        .map(|(id, _)| *id)
        .collect();
    ensure!(
        !led.is_empty(),
        "broker {retired} leads nothing: {before:?}"
    );

    // Drained: the leaderships move to the other in-sync replica; the replicas stay.
    let drained = cli_json(&bootstrap, &["cluster", "drain", &retired.to_string()])?;
    assert_eq!(drained["stuck"], serde_json::json!([]), "{drained}");
    let moved: Vec<i64> = drained["moved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["error"], serde_json::Value::Null, "{m}");
            assert_ne!(m["leader"], retired, "{m}");
            m["partition"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(moved, led.iter().map(|p| i64::from(*p)).collect::<Vec<_>>());
    let (_, drained_views) = agreed(&cluster, topic, |v| {
        v.values().all(|p| p.leader != retired && p.isr.len() == 2)
    })?;
    for (id, p) in &drained_views {
        let mut was = before[id].replicas.clone();
        let mut now = p.replicas.clone();
        was.sort_unstable();
        now.sort_unstable();
        assert_eq!(now, was, "partition {id} kept its replicas");
    }

    // Decommissioned: every replica it held is on another broker, in sync.
    let done = cli_json(
        &bootstrap,
        &[
            "cluster",
            "decommission",
            &retired.to_string(),
            "--wait",
            "--timeout",
            "60",
        ],
    )?;
    assert_eq!(done["completed"], true, "{done}");
    let holding = before
        .values()
        .filter(|p| p.replicas.contains(&retired))
        .count();
    assert_eq!(done["moves"].as_array().unwrap().len(), holding, "{done}");
    agreed(&cluster, topic, |v| {
        v.values()
            .all(|p| !p.replicas.contains(&retired) && p.replicas.len() == 2 && p.isr.len() == 2)
    })?;
    poll("the retired broker to delete its copies", AGREE, || {
        (0..partitions)
            .all(|p| {
                !cluster.dirs[(retired - 1) as usize]
                    .path()
                    .join(format!("{topic}-{p}"))
                    .exists()
            })
            .then_some(())
    })?;
    assert_eq!(
        cli_json(&bootstrap, &["cluster", "reassignments"])?,
        serde_json::json!([])
    );

    // Stopped for good: the others serve every record.
    cluster.stop(retired)?;
    assert_eq!(
        read(&cluster.bootstrap(), topic, partitions, RECORDS)?,
        expected(partitions, RECORDS)
    );
    Ok(())
}
