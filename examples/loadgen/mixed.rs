//! `mixed`: many producers and a consumer group at once.

use super::*;

/// The offsets seen of every partition, from where it ended when the run began: each
/// record is counted once, however often a rebalance delivers it again.
pub(crate) struct Seen {
    pub(crate) base: Vec<i64>,
    pub(crate) bits: Vec<Mutex<Vec<u64>>>,
}

impl Seen {
    pub(crate) fn new(base: Vec<i64>) -> Seen {
        let bits = base.iter().map(|_| Mutex::new(Vec::new())).collect();
        Seen { base, bits }
    }

    /// Whether the record at `offset` of `partition` is of this run and new.
    pub(crate) fn first(&self, partition: i32, offset: i64) -> bool {
        let Ok(p) = usize::try_from(partition) else {
            return false;
        };
        let (Some(base), Some(bits)) = (self.base.get(p), self.bits.get(p)) else {
            return false;
        };
        let Ok(i) = usize::try_from(offset - base) else {
            return false;
        };
        let mut bits = bits.lock().unwrap();
        if bits.len() <= i / 64 {
            bits.resize(i / 64 + 1, 0);
        }
        let (word, bit) = (&mut bits[i / 64], 1u64 << (i % 64));
        let new = *word & bit == 0;
        *word |= bit;
        new
    }

    pub(crate) fn partitions_with_records(&self) -> usize {
        let any = |bits: &Mutex<Vec<u64>>| bits.lock().unwrap().iter().any(|w| *w != 0);
        self.bits.iter().filter(|b| any(b)).count()
    }
}

pub(crate) fn mixed(args: &MixedArgs) -> (Value, bool) {
    let Target { bootstrap, topic } = &args.target;
    let report = |consumed: u64, sent: u64, seconds: f64, per_consumer: &[u64]| {
        let (rps, _) = rates(consumed, 0, seconds);
        json!({
            "workload": "mixed",
            "client": "librdkafka",
            "records": consumed,
            "sent": sent,
            "errors": sent.saturating_sub(consumed),
            "seconds": seconds,
            "records_per_second": rps,
            "consumers_with_records": per_consumer.iter().filter(|n| **n > 0).count(),
            "min_per_consumer": per_consumer.iter().min().copied().unwrap_or(0),
            "max_per_consumer": per_consumer.iter().max().copied().unwrap_or(0),
        })
    };
    let partitions = match prepare_topic(bootstrap, topic, args.partitions) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{e}");
            return (report(0, 0, 0.0, &[]), false);
        }
    };
    let ctx = Ctx::default();
    let probe: KafkaResult<BaseConsumer<Ctx>> =
        client_config(bootstrap).create_with_context(ctx.clone());
    let base = match &probe {
        Ok(probe) => end_offsets(probe.client(), topic, partitions),
        Err(_) => vec![0; partitions as usize],
    };
    drop(probe);
    let seen = Arc::new(Seen::new(base));
    let group = unique_group("mixed");
    let value = Arc::new(payload(args.size as usize));
    let consumed = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let all_consumed: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let first_consumed: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let all_produced: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let clients = (args.producers + args.consumers) as usize;
    // Every client is connected, with the topic's metadata, before the clock starts: when
    // the barrier opens, as every thread passes it.
    let barrier = Arc::new(Barrier::new(clients + 1));
    let started: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    // Per consumer: the records it counted, and the partitions it was assigned last.
    let (results, per_consumer) = mpsc::channel::<(u64, usize)>();
    let mut threads = Vec::new();

    for i in 0..args.consumers {
        let (topic, ctx, barrier, seen) =
            (topic.clone(), ctx.clone(), barrier.clone(), seen.clone());
        let (consumed, all_consumed, started) =
            (consumed.clone(), all_consumed.clone(), started.clone());
        let first_consumed = first_consumed.clone();
        let results = results.clone();
        let count = args.count;
        let mut config = client_config(bootstrap);
        config
            .set("group.id", &group)
            .set("client.id", format!("loadgen-consumer-{i}"))
            .set("auto.offset.reset", "earliest")
            .set("queued.max.messages.kbytes", "16384");
        threads.push(thread::spawn(move || {
            let consumer = config.create_with_context::<_, BaseConsumer<Ctx>>(ctx.clone());
            if let Ok(consumer) = &consumer {
                let _ = consumer
                    .client()
                    .fetch_metadata(Some(&topic), Duration::from_secs(10));
            }
            barrier.wait();
            let start = *started.get_or_init(Instant::now);
            let consumer = match consumer.and_then(|c| c.subscribe(&[&topic]).map(|()| c)) {
                Ok(consumer) => consumer,
                Err(e) => {
                    ctx.0.note(|| format!("consumer: {e}"));
                    let _ = results.send((0, 0));
                    return;
                }
            };
            let limit = start + MIXED_LIMIT;
            let mut mine = 0u64;
            while consumed.load(Relaxed) < count && Instant::now() < limit {
                match consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(message)) => {
                        if !seen.first(message.partition(), message.offset()) {
                            continue;
                        }
                        mine += 1;
                        let _ = first_consumed.set(Instant::now());
                        if consumed.fetch_add(1, Relaxed) + 1 == count {
                            let _ = all_consumed.set(Instant::now());
                        }
                    }
                    Some(Err(e)) => ctx.0.note(|| format!("poll: {e}")),
                    None => {}
                }
            }
            let assigned = consumer.assignment().map_or(0, |a| a.count());
            let _ = results.send((mine, assigned));
            // Dropping the consumer leaves the group: after the result is in.
        }));
    }
    for i in 0..args.producers {
        let (bootstrap, topic, ctx, barrier) = (
            bootstrap.clone(),
            topic.clone(),
            ctx.clone(),
            barrier.clone(),
        );
        let (value, sent, started) = (value.clone(), sent.clone(), started.clone());
        let all_produced = all_produced.clone();
        let (acks, linger_ms) = (args.acks.clone(), args.linger_ms);
        let count = share(args.count, args.producers, i);
        threads.push(thread::spawn(move || {
            let client_id = format!("loadgen-producer-{i}");
            let extra = [
                ("client.id", client_id.as_str()),
                ("queue.buffering.max.kbytes", "16384"),
                // Each keyless record to a random partition, not a few partitions per
                // producer for 10 ms each: a short run then leaves no partition empty, and
                // the consumers' shares show the group's assignment.
                ("sticky.partitioning.linger.ms", "0"),
            ];
            let producer = new_producer(&bootstrap, &acks, linger_ms, 1_000_000, &extra, &ctx);
            if let Ok(producer) = &producer {
                let _ = producer
                    .client()
                    .fetch_metadata(Some(&topic), Duration::from_secs(10));
            }
            barrier.wait();
            let start = *started.get_or_init(Instant::now);
            let producer = match producer {
                Ok(producer) => producer,
                Err(e) => {
                    ctx.0.note(|| format!("producer: {e}"));
                    return;
                }
            };
            let deadline = start + MIXED_LIMIT;
            for _ in 0..count {
                if Instant::now() >= deadline || !send(&producer, &topic, &value, deadline) {
                    break;
                }
                sent.fetch_add(1, Relaxed);
            }
            flush(&producer, deadline);
            let mut all_produced = all_produced.lock().unwrap();
            *all_produced = (*all_produced).max(Some(Instant::now()));
        }));
    }
    drop(results);
    barrier.wait();
    let start = *started.get_or_init(Instant::now);
    let tally = ctx.0.clone();
    let mut counts = Vec::new();
    let mut unassigned = 0;
    {
        let (consumed, sent) = (consumed.clone(), sent.clone());
        let progress = || {
            format!(
                "{} sent, {} delivered, {} consumed, {} group assignments",
                sent.load(Relaxed),
                tally.delivered.load(Relaxed),
                consumed.load(Relaxed),
                tally.assignments.load(Relaxed),
            )
        };
        let mut shown = Instant::now();
        let limit = start + MIXED_LIMIT + Duration::from_secs(5);
        while counts.len() < args.consumers as usize {
            let wait = limit.saturating_duration_since(Instant::now());
            match per_consumer.recv_timeout(wait.min(Duration::from_secs(1))) {
                Ok((n, assigned)) => {
                    counts.push(n);
                    unassigned += usize::from(assigned == 0);
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < limit => {}
                Err(_) => break,
            }
            if shown.elapsed() >= Duration::from_secs(1) {
                shown = Instant::now();
                eprintln!(
                    "mixed {:>5.1} s: {}",
                    start.elapsed().as_secs_f64(),
                    progress()
                );
            }
        }
        eprintln!(
            "mixed {:>5.1} s: {}",
            start.elapsed().as_secs_f64(),
            progress()
        );
    }
    let ended = all_consumed.get().copied().unwrap_or_else(Instant::now);
    let seconds = ended.duration_since(start).as_secs_f64();
    watch(
        "closing",
        Instant::now() + CLOSE,
        || threads.iter().all(|t| t.is_finished()),
        || {
            let open = threads.iter().filter(|t| !t.is_finished()).count();
            format!("{open} clients still closing")
        },
    );
    let open = threads.iter().filter(|t| !t.is_finished()).count();
    if open > 0 {
        eprintln!("{open} clients did not close within {} s", CLOSE.as_secs());
    }
    counts.resize(args.consumers as usize, 0);
    let (consumed, sent) = (consumed.load(Relaxed), sent.load(Relaxed));
    let failures = tally.failed.load(Relaxed);
    let at = |t: Option<Instant>| {
        t.map_or("never".to_owned(), |t| {
            format!("at {:.2} s", t.duration_since(start).as_secs_f64())
        })
    };
    eprintln!(
        "first group assignment {}, first record consumed {}, all produced {}, all consumed {}",
        at(tally.first_assignment.get().copied()),
        at(first_consumed.get().copied()),
        at(*all_produced.lock().unwrap()),
        at(all_consumed.get().copied()),
    );
    eprintln!(
        "{} group assignments, {unassigned} consumers assigned no partitions at the end, \
         {} of {partitions} partitions with records; {failures} failed deliveries",
        tally.assignments.load(Relaxed),
        seen.partitions_with_records(),
    );
    let ok = failures == 0 && sent >= args.count && consumed >= args.count;
    (report(consumed, sent, seconds, &counts), ok)
}
