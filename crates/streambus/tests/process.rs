//! The `streambus` binary as a process: what SIGKILL keeps (every acknowledged acks=all
//! record, byte for byte, at its acknowledged offset, and no record twice), what SIGTERM
//! does (exit 0, logs marked clean, everything back after a restart), and the startup
//! contract (flags, config errors, a busy port, another node's data directory, health, the
//! open-file limit).
//!
//! Crash rounds kill at a pseudo-random moment; the seed is printed and can be replayed with
//! `STREAMBUS_TEST_SEED=N`. `STREAMBUS_TEST_ECHO=1` echoes the broker's log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use support::{Launch, Rng, Server, create_topic, poll};

const PARTITIONS: i32 = 3;

/// A record as acknowledged by the broker or read back from it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    value: Vec<u8>,
}

/// The key of message `seq` of `round`: absent for every tenth, so null keys round-trip too.
fn key_of(round: u32, seq: u64) -> Option<Vec<u8>> {
    (!seq.is_multiple_of(10)).then(|| format!("key-{round}-{}", seq % 50).into_bytes())
}

/// The value of message `seq` of `round`: a readable, unique prefix, then 0 to 256 bytes
/// that cover every byte value, so that any corruption or truncation shows.
fn value_of(round: u32, seq: u64) -> Vec<u8> {
    let mut value = format!("r{round}s{seq}:").into_bytes();
    let len = (seq % 257) as usize;
    value.extend((0..len).map(|i| (seq as usize * 31 + i * 7 + round as usize) as u8));
    value
}

/// The (round, seq) a value claims to be, checked against what that message really was.
fn identify(record: &Record) -> Result<(u32, u64)> {
    let text = &record.value[..record.value.len().min(32)];
    let colon = text
        .iter()
        .position(|b| *b == b':')
        .with_context(|| format!("a record we never sent: {record:?}"))?;
    let prefix = std::str::from_utf8(&text[..colon])?;
    let (round, seq) = prefix
        .strip_prefix('r')
        .and_then(|rest| rest.split_once('s'))
        .with_context(|| format!("a record we never sent: {record:?}"))?;
    let (round, seq): (u32, u64) = (round.parse()?, seq.parse()?);
    ensure!(
        record.value == value_of(round, seq) && record.key == key_of(round, seq),
        "record at {}/{} is a corrupt copy of r{round}s{seq}: {record:?}",
        record.partition,
        record.offset
    );
    Ok((round, seq))
}

/// What the delivery reports said.
#[derive(Default)]
struct Deliveries {
    acked: Mutex<Vec<Record>>,
    failed: AtomicUsize,
    first_error: Mutex<Option<String>>,
}

struct Recorder(Arc<Deliveries>);

impl ClientContext for Recorder {}

impl ProducerContext for Recorder {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => {
                let record = Record {
                    partition: message.partition(),
                    offset: message.offset(),
                    key: message.key().map(<[u8]>::to_vec),
                    value: message.payload().unwrap_or_default().to_vec(),
                };
                self.0.acked.lock().unwrap().push(record);
            }
            Err((error, _)) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
                self.0
                    .first_error
                    .lock()
                    .unwrap()
                    .get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// Reads every partition of `topic` from the beginning up to its high watermark.
fn read_all(bootstrap: &str, topic: &str, partitions: i32) -> Result<Vec<Record>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "process-test-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create()?;
    let mut ends = BTreeMap::new();
    for partition in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .with_context(|| format!("watermarks of {topic}/{partition}"))?;
        ensure!(low == 0, "{topic}/{partition} starts at {low}, not 0");
        ends.insert(partition, high);
    }
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut next: BTreeMap<i32, i64> = (0..partitions).map(|p| (p, 0)).collect();
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while next.iter().any(|(p, n)| *n < ends[p]) {
        if Instant::now() >= deadline {
            bail!("timed out reading {topic}: reached {next:?}, high watermarks {ends:?}");
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.context("consume")?;
        let partition = message.partition();
        let expected = next[&partition];
        ensure!(
            message.offset() >= expected,
            "{topic}/{partition}: offset {} after {}",
            message.offset(),
            expected - 1
        );
        next.insert(partition, message.offset() + 1);
        if message.offset() < ends[&partition] {
            records.push(Record {
                partition,
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().unwrap_or_default().to_vec(),
            });
        }
    }
    Ok(records)
}

/// Checks the log against what was acknowledged: every acknowledged record at its offset,
/// byte-exact; every record one we sent, intact; none twice if `once`.
fn check_log(log: &[Record], acked: &[Record], once: bool) -> Result<()> {
    let by_position: HashMap<(i32, i64), &Record> =
        log.iter().map(|r| ((r.partition, r.offset), r)).collect();
    let mut lost = Vec::new();
    for record in acked {
        match by_position.get(&(record.partition, record.offset)) {
            Some(found) if *found == record => {}
            Some(found) => bail!("acknowledged {record:?} but the log has {found:?}"),
            None => lost.push(record),
        }
    }
    ensure!(
        lost.is_empty(),
        "{} acknowledged records are gone, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(3)]
    );
    let mut seen = HashMap::new();
    for record in log {
        let id = identify(record)?;
        if let Some(first) = seen.insert(id, record)
            && once
        {
            bail!(
                "r{}s{} is in the log twice: {first:?} and {record:?}",
                id.0,
                id.1
            );
        }
    }
    Ok(())
}

/// Produces `count` records of round 0 to `topic`'s first `partitions` partitions, in turn,
/// with acks=all, and waits for all of them.
fn produce_batch(bootstrap: &str, topic: &str, count: u64, partitions: i32) -> Result<Vec<Record>> {
    let deliveries = Arc::new(Deliveries::default());
    let producer: ThreadedProducer<Recorder> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5")
        .create_with_context(Recorder(Arc::clone(&deliveries)))?;
    for seq in 0..count {
        let key = key_of(0, seq);
        let value = value_of(0, seq);
        let mut record = BaseRecord::to(topic)
            .partition((seq % partitions as u64) as i32)
            .payload(&value);
        if let Some(key) = &key {
            record = record.key(key);
        }
        producer.send(record).map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(20))?;
    drop(producer);
    ensure!(
        deliveries.failed.load(Ordering::Relaxed) == 0,
        "deliveries failed: {:?}",
        deliveries.first_error.lock().unwrap()
    );
    let acked = deliveries.acked.lock().unwrap().clone();
    ensure!(
        acked.len() as u64 == count,
        "{} of {count} acknowledged",
        acked.len()
    );
    Ok(acked)
}

/// Raises its flag when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// One crash round: an acks=all producer (idempotent if `idempotent`) streams to `topic` from a thread while
/// the broker is killed with SIGKILL at a random moment and restarted on the same directory
/// and ports; the producer lives on across the restart (so its retries meet the recovered
/// broker), then flushes. Returns the restarted broker and the records acknowledged.
fn crash_round(
    server: Server,
    launch: &Launch,
    topic: &str,
    round: u32,
    idempotent: bool,
    rng: &mut Rng,
) -> Result<(Server, Vec<Record>)> {
    let bootstrap = server.bootstrap();
    let deliveries = Arc::new(Deliveries::default());
    let producer: Arc<ThreadedProducer<Recorder>> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("acks", "all")
            .set("enable.idempotence", idempotent.to_string())
            .set("linger.ms", "2")
            .set("message.timeout.ms", "25000")
            .set("request.timeout.ms", "5000")
            .set("retry.backoff.ms", "20")
            .set("retry.backoff.max.ms", "200")
            .set("reconnect.backoff.ms", "20")
            .set("reconnect.backoff.max.ms", "200")
            .set("queue.buffering.max.messages", "20000")
            .create_with_context(Recorder(Arc::clone(&deliveries)))?,
    );
    let stop = Arc::new(AtomicBool::new(false));
    // Stops the sender on every way out of this function, an early error included.
    let _stop_sender = StopOnDrop(Arc::clone(&stop));
    let sender = {
        let producer = Arc::clone(&producer);
        let stop = Arc::clone(&stop);
        let topic = topic.to_string();
        std::thread::spawn(move || -> Result<u64> {
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = key_of(round, seq);
                let value = value_of(round, seq);
                let mut record = BaseRecord::to(&topic)
                    .partition((seq % PARTITIONS as u64) as i32)
                    .payload(&value);
                if let Some(key) = &key {
                    record = record.key(key);
                }
                match producer.send(record) {
                    Ok(()) => seq += 1,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err((e, _)) => bail!("send r{round}s{seq}: {e}"),
                }
                // About 10,000 messages a second: enough to have many batches in flight
                // at the kill, few enough to read back quickly.
                if seq.is_multiple_of(20) {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            Ok(seq)
        })
    };

    // Kill at a random moment once the stream is flowing.
    poll("the first acknowledgement", Duration::from_secs(15), || {
        (!deliveries.acked.lock().unwrap().is_empty()).then_some(())
    })
    .with_context(|| {
        format!(
            "failed deliveries: {}, first error: {:?}",
            deliveries.failed.load(Ordering::Relaxed),
            deliveries.first_error.lock().unwrap()
        )
    })?;
    std::thread::sleep(Duration::from_millis(rng.range(0, 1200)));
    let acked_before_kill = deliveries.acked.lock().unwrap().len();
    server.sigkill()?;
    std::thread::sleep(Duration::from_millis(rng.range(0, 300)));
    let restarted = launch.start()?;
    std::thread::sleep(Duration::from_millis(rng.range(100, 400)));
    stop.store(true, Ordering::Relaxed);
    let sent = sender
        .join()
        .map_err(|_| anyhow::anyhow!("the sender panicked"))??;
    // Whatever is still queued either gets through to the restarted broker or times out;
    // either way every message ends with a delivery report before we check.
    let flushed = producer.flush(Duration::from_secs(30));
    drop(producer);
    let acked = deliveries.acked.lock().unwrap().clone();
    let failed = deliveries.failed.load(Ordering::Relaxed);
    eprintln!(
        "round {round}: sent {sent}, acknowledged {} ({acked_before_kill} before the kill), \
         failed {failed} (first error: {:?}), flush: {flushed:?}",
        acked.len(),
        deliveries.first_error.lock().unwrap()
    );
    ensure!(
        acked.len() > acked_before_kill,
        "nothing was acknowledged after the restart: {:?}",
        deliveries.first_error.lock().unwrap()
    );
    Ok((restarted, acked))
}

/// Three rounds of [`crash_round`] on one data directory; after each, the log must hold
/// every record acknowledged so far. With the idempotent producer nothing may be written
/// twice; without it, a retry of a batch that was written but whose acknowledgement the kill
/// swallowed may legitimately land again, so only intact copies are asked for.
fn sigkill_rounds(idempotent: bool) -> Result<()> {
    let started = Instant::now();
    let (mut rng, seed) = Rng::from_env();
    eprintln!("seed {seed} (replay with STREAMBUS_TEST_SEED={seed})");
    let dir = tempfile::tempdir()?;
    let mut launch = Launch::new(&dir.path().join("data"));
    let mut server = launch.start()?;
    // Restarts reuse the ports bound the first time, so clients reconnect to the same place.
    launch.kafka_addr = server.kafka;
    launch.http_addr = server.http;
    let topic = "crash";
    create_topic(&server.bootstrap(), topic, PARTITIONS)?;

    let mut acked_so_far: Vec<Record> = Vec::new();
    for round in 0..3 {
        let (restarted, acked) = crash_round(server, &launch, topic, round, idempotent, &mut rng)?;
        server = restarted;
        acked_so_far.extend(acked);
        let log = read_all(&server.bootstrap(), topic, PARTITIONS)?;
        check_log(&log, &acked_so_far, idempotent)
            .with_context(|| format!("after round {round} (seed {seed})"))?;
        eprintln!(
            "round {round}: the log holds {} records, all {} acknowledged among them ({:?})",
            log.len(),
            acked_so_far.len(),
            started.elapsed()
        );
    }
    let (status, stderr) = server.terminate(Duration::from_secs(10))?;
    ensure!(status.success(), "exit {status} after SIGTERM:\n{stderr}");
    Ok(())
}

#[test]
fn sigkill_during_an_acks_all_stream_loses_no_acknowledged_record() -> Result<()> {
    sigkill_rounds(false)
}

#[test]
fn sigkill_during_an_idempotent_acks_all_stream_loses_nothing_and_writes_nothing_twice()
-> Result<()> {
    sigkill_rounds(true)
}

/// The partition directories of `topic` under `data_dir`.
fn partition_dirs(data_dir: &Path, topic: &str) -> Result<Vec<std::path::PathBuf>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(data_dir)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if let Some(n) = name.strip_prefix(&format!("{topic}-"))
            && n.parse::<i32>().is_ok()
            && path.is_dir()
        {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

#[test]
fn sigterm_stops_cleanly_and_keeps_everything() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let mut launch = Launch::new(&data_dir);
    let server = launch.start()?;
    launch.kafka_addr = server.kafka;
    launch.http_addr = server.http;
    let topic = "graceful";
    create_topic(&server.bootstrap(), topic, PARTITIONS)?;
    let acked = produce_batch(&server.bootstrap(), topic, 600, PARTITIONS)?;

    let (status, stderr) = server.terminate(Duration::from_secs(10))?;
    ensure!(
        status.code() == Some(0),
        "exit {status} after SIGTERM:\n{stderr}"
    );
    ensure!(
        stderr.contains("received SIGTERM") && stderr.contains("stopped cleanly"),
        "no clean stop in the log:\n{stderr}"
    );
    let dirs = partition_dirs(&data_dir, topic)?;
    ensure!(
        dirs.len() == PARTITIONS as usize,
        "partition directories: {dirs:?}"
    );
    for dir in &dirs {
        ensure!(
            dir.join(".clean-shutdown").is_file(),
            "no .clean-shutdown in {}",
            dir.display()
        );
    }

    let server = launch.start()?;
    let log = read_all(&server.bootstrap(), topic, PARTITIONS)?;
    ensure!(
        log.len() == acked.len(),
        "{} of {} back",
        log.len(),
        acked.len()
    );
    check_log(&log, &acked, true)?;
    let (status, stderr) = server.terminate(Duration::from_secs(10))?;
    ensure!(status.success(), "exit {status} after SIGTERM:\n{stderr}");
    Ok(())
}

#[test]
fn serve_help_lists_the_flags() -> Result<()> {
    let output = Command::new(support::BIN)
        .args(["serve", "--help"])
        .output()?;
    ensure!(output.status.success(), "serve --help: {}", output.status);
    let help = String::from_utf8(output.stdout)?;
    for flag in [
        "--node-id",
        "--data-dir",
        "--kafka-addr",
        "--http-addr",
        "--advertised-kafka-addr",
        "--auto-create-topics",
        "--config",
    ] {
        ensure!(
            help.contains(flag),
            "serve --help does not list {flag}:\n{help}"
        );
    }
    Ok(())
}

#[test]
fn a_bad_config_file_is_refused_with_the_reason() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cases = [
        ("unknown key", "kafka_adr = \"127.0.0.1:1\"\n", "kafka_adr"),
        ("wrong type", "node_id = \"one\"\n", "node_id"),
        ("bad address", "http_addr = \"nowhere\"\n", "http_addr"),
        (
            "bad topic default",
            "[log]\n\"retention.ms\" = \"soon\"\n",
            "retention.ms",
        ),
        (
            "unknown topic config",
            "[log]\n\"retention.mss\" = 1\n",
            "retention.mss",
        ),
        ("invalid node id", "node_id = -1\n", "node id"),
    ];
    for (case, text, named) in cases {
        let path = dir.path().join("streambus.toml");
        std::fs::write(&path, text)?;
        let mut launch = Launch::new(&dir.path().join("data"));
        // No --node-id flag, so that the file's node_id is the one that counts.
        launch.node_id = None;
        launch.extra.push("--config".into());
        launch.extra.push(path.display().to_string());
        let (status, stderr) = launch
            .run_to_exit(Duration::from_secs(10))
            .with_context(|| format!("{case}: started anyway"))?;
        ensure!(!status.success(), "{case}: exit {status}:\n{stderr}");
        ensure!(
            stderr.contains(named),
            "{case}: the error does not name {named:?}:\n{stderr}"
        );
    }
    Ok(())
}

#[test]
fn a_busy_kafka_port_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let taken = TcpListener::bind("127.0.0.1:0")?;
    let mut launch = Launch::new(&dir.path().join("data"));
    launch.kafka_addr = taken.local_addr()?;
    let (status, stderr) = launch.run_to_exit(Duration::from_secs(10))?;
    ensure!(!status.success(), "started on a busy port:\n{stderr}");
    let expected = format!("cannot listen for Kafka clients on {}", launch.kafka_addr);
    ensure!(stderr.contains(&expected), "no {expected:?} in:\n{stderr}");
    Ok(())
}

#[test]
fn another_nodes_data_directory_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut launch = Launch::new(&dir.path().join("data"));
    launch.node_id = Some(1);
    let (status, stderr) = launch.start()?.terminate(Duration::from_secs(10))?;
    ensure!(status.success(), "exit {status}:\n{stderr}");
    launch.node_id = Some(2);
    let (status, stderr) = launch.run_to_exit(Duration::from_secs(10))?;
    ensure!(
        !status.success(),
        "node 2 opened node 1's directory:\n{stderr}"
    );
    ensure!(
        stderr.contains("node 1") && stderr.contains("node 2"),
        "the error does not name both node ids:\n{stderr}"
    );
    Ok(())
}

/// The soft and hard `Max open files` limits of process `pid`.
fn open_file_limits(pid: u32) -> Result<(u64, u64)> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .context("no open-files line")?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    Ok((fields[3].parse()?, fields[4].parse()?))
}

/// Started with a soft open-file limit of 128, the broker raises it to the hard limit, and
/// a topic of 150 partitions (three files each, plus the clients' sockets) opens and serves.
#[test]
fn serve_raises_its_open_file_limit_so_that_many_partitions_open() -> Result<()> {
    const PARTITIONS: i32 = 150;
    let dir = tempfile::tempdir()?;
    let mut launch = Launch::new(&dir.path().join("data"));
    launch.open_files_soft_limit = Some(128);
    let server = launch.start()?;
    let (soft, hard) = open_file_limits(server.pid())?;
    ensure!(
        hard >= 1024,
        "this machine's hard limit ({hard}) is too low for the test"
    );
    ensure!(soft == hard, "soft limit {soft}, hard {hard}");
    ensure!(
        server.stderr().contains("raised the open-file limit"),
        "{}",
        server.stderr()
    );
    create_topic(&server.bootstrap(), "many", PARTITIONS)?;
    let acked = produce_batch(
        &server.bootstrap(),
        "many",
        2 * PARTITIONS as u64,
        PARTITIONS,
    )?;
    let log = read_all(&server.bootstrap(), "many", PARTITIONS)?;
    ensure!(
        log.len() == acked.len(),
        "{} records read of {}",
        log.len(),
        acked.len()
    );
    check_log(&log, &acked, true)?;
    let (status, stderr) = server.terminate(Duration::from_secs(10))?;
    ensure!(status.success(), "exit {status}:\n{stderr}");
    Ok(())
}

/// Health, readiness and metrics of the real binary once it serves.
#[test]
fn health_endpoints_answer_once_serving() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Launch::new(&dir.path().join("data")).start()?;
    for path in ["/health/live", "/health/ready"] {
        let (status, body) = server.http_get(path)?;
        ensure!(status == 200, "GET {path}: {status} {body}");
    }
    let (status, body) = server.http_get("/health")?;
    ensure!(status == 200, "GET /health: {status} {body}");
    ensure!(
        body.starts_with(r#"{"status":"healthy","components":["#),
        "{body}"
    );
    for component in ["listeners", "storage", "metadata", "groups", "replication"] {
        ensure!(
            body.contains(&format!(r#""name":"{component}""#)),
            "no {component}: {body}"
        );
    }
    let (status, body) = server.http_get("/metrics")?;
    ensure!(status == 200, "GET /metrics: {status}");
    ensure!(
        body.contains("process_resident_memory_bytes") && body.ends_with("# EOF\n"),
        "{body}"
    );
    let (status, body) = server.http_get("/debug/pprof/profile?seconds=1")?;
    ensure!(
        status == 404 && body.contains("profiling is off"),
        "profiling is on by default: {status} {body}"
    );
    let (status, _) = server.http_get("/no/such/path")?;
    ensure!(status == 404, "GET /no/such/path: {status}");
    let (status, stderr) = server.terminate(Duration::from_secs(10))?;
    ensure!(status.success(), "exit {status}:\n{stderr}");
    Ok(())
}

/// Logs to a pipe (a file, journald, a test harness) must be plain text, without ANSI
/// color codes, so that they can be searched and parsed.
#[test]
fn the_log_is_plain_text_when_stderr_is_not_a_terminal() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Launch::new(&dir.path().join("data")).start()?;
    let raw = server.raw_stderr();
    let (status, _) = server.terminate(Duration::from_secs(10))?;
    ensure!(status.success(), "exit {status}");
    ensure!(
        !raw.contains('\u{1b}'),
        "the log on a pipe has ANSI escape codes: {raw:?}"
    );
    Ok(())
}
