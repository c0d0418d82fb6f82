//! `consume`: reading a topic from the beginning with assign()ed consumers.

use super::*;

/// What one consumer thread of `consume` got.
#[derive(Default)]
pub(crate) struct Received {
    pub(crate) records: u64,
    pub(crate) bytes: u64,
    pub(crate) errors: u64,
    pub(crate) last: Option<Instant>,
}

pub(crate) fn consume(args: &ConsumeArgs) -> (Value, bool) {
    let Target { bootstrap, topic } = &args.target;
    let ctx = Ctx::default();
    let failed = |e: String| {
        eprintln!("{e}");
        let mut report = throughput("consume", 0, 0, 0, 0.0);
        report["errors"] = json!(1);
        (report, false)
    };
    // Without a group id this client only looks, and a consumer does not create topics.
    let probe: BaseConsumer<Ctx> = match client_config(bootstrap).create_with_context(ctx.clone()) {
        Ok(probe) => probe,
        Err(e) => return failed(format!("consumer: {e}")),
    };
    let partitions = match partition_count(probe.client(), topic) {
        Ok(n) => n,
        Err(e) => return failed(e),
    };
    drop(probe);
    let consumers = args.consumers.min(partitions as u64);
    if consumers < args.consumers {
        eprintln!(
            "{partitions} partitions: {consumers} consumers, not {}",
            args.consumers
        );
    }
    let group = unique_group("consume");
    let total = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(consumers as usize + 1));
    let mut threads = Vec::new();
    for i in 0..consumers {
        let (topic, ctx, total, barrier) =
            (topic.clone(), ctx.clone(), total.clone(), barrier.clone());
        let mut config = client_config(bootstrap);
        config
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("fetch.max.bytes", "52428800")
            .set("max.partition.fetch.bytes", "10485760")
            .set("queued.min.messages", "1000000")
            .set("queued.max.messages.kbytes", "262144");
        let count = args.count;
        threads.push(thread::spawn(move || {
            let consumer = config.create_with_context::<_, BaseConsumer<Ctx>>(ctx.clone());
            if let Ok(consumer) = &consumer {
                // Connected and with the topic's metadata before the clock starts.
                let _ = consumer
                    .client()
                    .fetch_metadata(Some(&topic), Duration::from_secs(10));
            }
            barrier.wait();
            let consumer = match consumer {
                Ok(consumer) => consumer,
                Err(e) => {
                    ctx.0.note(|| format!("consumer: {e}"));
                    return Received::default();
                }
            };
            let mut assignment = TopicPartitionList::new();
            for p in (0..partitions).filter(|p| *p as u64 % consumers == i) {
                assignment
                    .add_partition_offset(&topic, p, Offset::Beginning)
                    .unwrap();
            }
            if let Err(e) = consumer.assign(&assignment) {
                ctx.0.note(|| format!("assign: {e}"));
                return Received::default();
            }
            read(&consumer, count, &total)
        }));
    }
    barrier.wait();
    let start = Instant::now();
    let progress = total.clone();
    watch(
        "consume",
        Instant::now() + STALL * 100,
        || threads.iter().all(|t| t.is_finished()),
        || format!("{} received", progress.load(Relaxed).min(args.count)),
    );
    let mut all = Received::default();
    for got in threads.into_iter().filter_map(|t| t.join().ok()) {
        all.records += got.records;
        all.bytes += got.bytes;
        all.errors += got.errors;
        all.last = all.last.max(got.last);
    }
    let seconds = all
        .last
        .map_or(0.0, |end| end.duration_since(start).as_secs_f64());
    let mut report = throughput("consume", all.records, all.bytes, 0, seconds);
    report["errors"] = json!(all.errors);
    if all.records < args.count {
        eprintln!("{} of {} records arrived", all.records, args.count);
    }
    (report, all.records >= args.count)
}

/// Polls `consumer` until `total` (shared with the other consumers) reaches `count`, or
/// [`STALL`] passes without it growing.
pub(crate) fn read(consumer: &BaseConsumer<Ctx>, count: u64, total: &AtomicU64) -> Received {
    let mut got = Received::default();
    let mut seen = 0;
    let mut since = Instant::now();
    while total.load(Relaxed) < count {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                if total.fetch_add(1, Relaxed) >= count {
                    break;
                }
                got.records += 1;
                got.bytes += message.payload_len() as u64;
                got.last = Some(Instant::now());
                continue;
            }
            Some(Err(e)) => {
                got.errors += 1;
                consumer.context().0.note(|| format!("poll: {e}"));
            }
            None => {}
        }
        let now = total.load(Relaxed);
        if now != seen {
            (seen, since) = (now, Instant::now());
        } else if since.elapsed() >= STALL {
            consumer
                .context()
                .0
                .note(|| format!("no progress for {} s", STALL.as_secs()));
            break;
        }
    }
    got
}
