//! What every workload shares: the client context that counts deliveries and notes,
//! client settings, payloads, topic preparation, sending with back-pressure, reports.

use super::*;

/// What the clients of one run share: deliveries, group assignments, and how many notes
/// (librdkafka's warnings and errors, failed deliveries) went to stderr.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) assignments: AtomicU64,
    pub(crate) first_assignment: OnceLock<Instant>,
    pub(crate) notes: AtomicU64,
}

impl Tally {
    /// Shows a note on stderr, unless [`NOTES`] were shown already.
    pub(crate) fn note(&self, text: impl FnOnce() -> String) {
        let shown = self.notes.fetch_add(1, Relaxed);
        if shown < NOTES {
            eprintln!("{}", text());
        } else if shown == NOTES {
            eprintln!("(further librdkafka messages not shown)");
        }
    }
}

/// The context of every client of a run: one [`Tally`] for them all.
#[derive(Clone, Default)]
pub(crate) struct Ctx(pub(crate) Arc<Tally>);

impl ClientContext for Ctx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if (level as i32) <= RDKafkaLogLevel::Warning as i32 {
            self.0
                .note(|| format!("librdkafka {level:?} {fac}: {message}"));
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.0
            .note(|| format!("librdkafka error: {error}: {reason}"));
    }
}

impl ProducerContext for Ctx {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.0.delivered.fetch_add(1, Relaxed);
            }
            Err((e, _)) => {
                self.0.failed.fetch_add(1, Relaxed);
                self.0.note(|| format!("delivery failed: {e}"));
            }
        }
    }
}

impl ConsumerContext for Ctx {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(_) => {
                self.0.assignments.fetch_add(1, Relaxed);
                let _ = self.0.first_assignment.set(Instant::now());
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => self.0.note(|| format!("rebalance failed: {e}")),
        }
    }
}

/// What every client is configured with.
pub(crate) fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("socket.nagle.disable", "true");
    config
}

pub(crate) fn new_producer(
    bootstrap: &str,
    acks: &str,
    linger_ms: u64,
    batch_size: u64,
    extra: &[(&str, &str)],
    ctx: &Ctx,
) -> KafkaResult<BaseProducer<Ctx>> {
    let mut config = client_config(bootstrap);
    config
        .set("acks", acks)
        .set("linger.ms", linger_ms.to_string())
        .set("batch.size", batch_size.to_string())
        .set("queue.buffering.max.messages", "1000000");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config.create_with_context(ctx.clone())
}

/// A group id no other run uses.
pub(crate) fn unique_group(workload: &str) -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("loadgen-{workload}-{}-{millis}", std::process::id())
}

/// Record values: words and digits from a fixed pseudo-random sequence (the same as
/// `streambus bench` sends), so they are neither uniform nor incompressible.
pub(crate) fn payload(size: usize) -> Vec<u8> {
    let words = [
        &b"order "[..],
        b"user-4821 ",
        b"status=ok ",
        b"amount:17.20 ",
        b"\n",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut out = Vec::with_capacity(size + 16);
    while out.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(words[(state % words.len() as u64) as usize]);
        out.push(b'0' + (state >> 40) as u8 % 10);
    }
    out.truncate(size);
    out
}

/// Creates `topic` with `partitions` partitions unless it exists; the partitions it has.
pub(crate) fn prepare_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<i32, String> {
    let ctx = Ctx::default();
    let admin: AdminClient<Ctx> = client_config(bootstrap)
        .create_with_context(ctx)
        .map_err(|e| format!("admin client: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
    let created = runtime.block_on(admin.create_topics(
        &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
        &options,
    ));
    match created {
        Ok(results) => {
            for result in results {
                match result {
                    Ok(_) => eprintln!("created topic {topic} with {partitions} partitions"),
                    Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((_, code)) => eprintln!("creating topic {topic}: {code}"),
                }
            }
        }
        Err(e) => eprintln!("creating topic {topic}: {e}"),
    }
    let found = partition_count(admin.inner(), topic)?;
    if found != partitions {
        eprintln!("topic {topic} has {found} partitions, not {partitions}");
    }
    Ok(found)
}

/// The partitions of `topic`, asking for up to 10 s while it has none (just created).
pub(crate) fn partition_count<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
) -> Result<i32, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = client
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .map_err(|e| e.to_string())
            .and_then(|metadata| {
                let t = metadata
                    .topics()
                    .iter()
                    .find(|t| t.name() == topic)
                    .ok_or_else(|| "not in the metadata".to_owned())?;
                if let Some(e) = t.error() {
                    return Err(RDKafkaErrorCode::from(e).to_string());
                }
                match t.partitions().len() {
                    0 => Err("no partitions".to_owned()),
                    n => Ok(i32::try_from(n).unwrap_or(i32::MAX)),
                }
            });
        match found {
            Ok(n) => return Ok(n),
            Err(e) if Instant::now() >= deadline => return Err(format!("topic {topic}: {e}")),
            Err(_) => thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// The next offset of every partition, as the broker tells it (0 where it does not).
pub(crate) fn end_offsets<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    partitions: i32,
) -> Vec<i64> {
    (0..partitions)
        .map(
            |p| match client.fetch_watermarks(topic, p, Duration::from_secs(10)) {
                Ok((_, high)) => high,
                Err(e) => {
                    eprintln!("end offset of {topic}/{p}: {e}; counting from 0");
                    0
                }
            },
        )
        .collect()
}

/// Hands one record to librdkafka, waiting while its queue is full (until `deadline`, and
/// at most [`STALL`]); false if the record was not taken.
pub(crate) fn send(
    producer: &BaseProducer<Ctx>,
    topic: &str,
    value: &[u8],
    deadline: Instant,
) -> bool {
    let mut give_up = None;
    loop {
        match producer.send(BaseRecord::<(), [u8]>::to(topic).payload(value)) {
            Ok(()) => {
                producer.poll(Duration::ZERO);
                return true;
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                let now = Instant::now();
                if now >= *give_up.get_or_insert(deadline.min(now + STALL)) {
                    producer
                        .context()
                        .0
                        .note(|| "send failed: the queue stayed full".to_owned());
                    return false;
                }
                producer.poll(Duration::from_millis(1));
            }
            Err((e, _)) => {
                producer.context().0.note(|| format!("send failed: {e}"));
                return false;
            }
        }
    }
}

/// Waits until `deadline` for the deliveries of what `producer` still holds.
pub(crate) fn flush(producer: &BaseProducer<Ctx>, deadline: Instant) {
    let wait = deadline.saturating_duration_since(Instant::now());
    if producer.flush(wait).is_err() {
        let left = producer.in_flight_count();
        eprintln!("flush timed out with {left} records undelivered");
    }
}

/// How `count` splits among `parts`: the share of part `i`.
pub(crate) fn share(count: u64, parts: u64, i: u64) -> u64 {
    count / parts + u64::from(i < count % parts)
}

/// Prints `label` and what `progress` tells every 5 s until `done` says so (or `limit`).
pub(crate) fn watch(
    label: &str,
    limit: Instant,
    done: impl Fn() -> bool,
    progress: impl Fn() -> String,
) {
    let start = Instant::now();
    let mut shown = start;
    while !done() && Instant::now() < limit {
        thread::sleep(Duration::from_millis(50));
        if shown.elapsed() >= Duration::from_secs(5) {
            shown = Instant::now();
            eprintln!(
                "{label} {:>5.1} s: {}",
                start.elapsed().as_secs_f64(),
                progress()
            );
        }
    }
}

/// Throughput fields of a report.
pub(crate) fn rates(records: u64, bytes: u64, seconds: f64) -> (f64, f64) {
    let seconds = seconds.max(1e-9);
    (records as f64 / seconds, bytes as f64 / seconds / 1e6)
}

/// The report of `produce` or `consume`: `errors` are the records short of `expected`.
pub(crate) fn throughput(
    workload: &str,
    records: u64,
    bytes: u64,
    expected: u64,
    seconds: f64,
) -> Value {
    let (rps, mbps) = rates(records, bytes, seconds);
    json!({
        "workload": workload,
        "client": "librdkafka",
        "records": records,
        "bytes": bytes,
        "errors": expected.saturating_sub(records),
        "seconds": seconds,
        "records_per_second": rps,
        "megabytes_per_second": mbps,
    })
}
