//! `e2e`: a fixed-rate producer and a consumer; latency from the intended send time.

use super::*;

/// Latencies in microseconds, 1 µs to 10 minutes, 3 significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

pub(crate) fn e2e(args: &E2eArgs) -> (Value, bool) {
    let Target { bootstrap, topic } = &args.target;
    let total = (args.rate as f64 * args.duration).ceil().max(0.0) as u64;
    let report = |received: u64, sent: u64, seconds: f64, latencies: &Histogram<u64>| {
        let ms = |micros: u64| micros as f64 / 1000.0;
        let latency = if latencies.is_empty() {
            Value::Null
        } else {
            json!({
                "p50_ms": ms(latencies.value_at_quantile(0.50)),
                "p90_ms": ms(latencies.value_at_quantile(0.90)),
                "p99_ms": ms(latencies.value_at_quantile(0.99)),
                "p999_ms": ms(latencies.value_at_quantile(0.999)),
                "max_ms": ms(latencies.max()),
                "mean_ms": latencies.mean() / 1000.0,
            })
        };
        json!({
            "workload": "e2e",
            "client": "librdkafka",
            "records": received,
            "sent": sent,
            "errors": sent.saturating_sub(received),
            "seconds": seconds,
            "latency": latency,
        })
    };
    let failed = |e: String| {
        eprintln!("{e}");
        (report(0, 0, 0.0, &histogram()), false)
    };
    if !(args.duration > 0.0 && args.duration <= 86_400.0) {
        return failed("--duration must be more than 0 and at most 86400 seconds".to_owned());
    }
    let partitions = match prepare_topic(bootstrap, topic, args.partitions) {
        Ok(n) => n,
        Err(e) => return failed(e),
    };
    let ctx = Ctx::default();

    // The consumer starts at the end of every partition, before anything is sent.
    let consumer: BaseConsumer<Ctx> = match client_config(bootstrap)
        .set("group.id", unique_group("e2e"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create_with_context(ctx.clone())
    {
        Ok(consumer) => consumer,
        Err(e) => return failed(format!("consumer: {e}")),
    };
    let mut assignment = TopicPartitionList::new();
    for (p, end) in (0..).zip(end_offsets(consumer.client(), topic, partitions)) {
        assignment
            .add_partition_offset(topic, p, Offset::Offset(end))
            .unwrap();
    }
    if let Err(e) = consumer.assign(&assignment) {
        return failed(format!("assign: {e}"));
    }
    let producer = match new_producer(bootstrap, &args.acks, args.linger_ms, 1_000_000, &[], &ctx) {
        Ok(producer) => producer,
        Err(e) => return failed(format!("producer: {e}")),
    };
    let _ = producer
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10));

    let schedule = Duration::from_secs_f64(args.duration);
    let base = Instant::now();
    // Nanoseconds from `base` to the end of sending; u64::MAX while sending.
    let sending_ended = Arc::new(AtomicU64::new(u64::MAX));
    let receiver = {
        let sending_ended = sending_ended.clone();
        let limit = base + schedule + STALL + GRACE + GRACE;
        thread::spawn(move || receive(&consumer, total, base, &sending_ended, limit))
    };

    let mut value = payload(args.size as usize);
    let deadline = base + schedule + STALL;
    let mut sent = 0u64;
    let mut shown = base;
    for i in 0..total {
        let due_ns = u64::try_from(u128::from(i) * 1_000_000_000 / u128::from(args.rate))
            .unwrap_or(u64::MAX);
        let due = base + Duration::from_nanos(due_ns);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        value[..8].copy_from_slice(&due_ns.to_be_bytes());
        if !send(&producer, topic, &value, deadline) {
            break;
        }
        sent += 1;
        if shown.elapsed() >= Duration::from_secs(1) {
            shown = Instant::now();
            eprintln!(
                "e2e {:>5.1} s: {sent} sent, {} delivered",
                base.elapsed().as_secs_f64(),
                ctx.0.delivered.load(Relaxed)
            );
        }
    }
    let sent_by = base.elapsed();
    sending_ended.store(sent_by.as_nanos() as u64, Relaxed);
    eprintln!(
        "e2e {:>5.1} s: {sent} sent, {} delivered so far",
        sent_by.as_secs_f64(),
        ctx.0.delivered.load(Relaxed)
    );
    flush(&producer, Instant::now() + GRACE);
    let failures = ctx.0.failed.load(Relaxed);
    let (latencies, received, last) = receiver.join().unwrap_or_else(|_| (histogram(), 0, None));
    let end = last.map_or(sent_by, |last| last.duration_since(base).max(sent_by));
    if failures > 0 {
        eprintln!("{failures} deliveries failed");
    }
    if received < total {
        eprintln!("{received} of {total} records arrived ({sent} sent)");
    }
    let ok = failures == 0 && received >= total;
    (report(received, sent, end.as_secs_f64(), &latencies), ok)
}

/// Polls `consumer` for `total` records, each one's latency from the send time in its
/// value, until [`GRACE`] after the sending ended (or `limit`); the latencies, how many
/// arrived and when the last did.
pub(crate) fn receive(
    consumer: &BaseConsumer<Ctx>,
    total: u64,
    base: Instant,
    sending_ended: &AtomicU64,
    limit: Instant,
) -> (Histogram<u64>, u64, Option<Instant>) {
    let mut latencies = histogram();
    let mut received = 0;
    let mut last = None;
    while received < total && Instant::now() < limit {
        let ended = sending_ended.load(Relaxed);
        if ended != u64::MAX && base.elapsed() >= Duration::from_nanos(ended) + GRACE {
            break;
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let now = base.elapsed();
                let Some(due) = message
                    .payload()
                    .and_then(|v| v.first_chunk::<8>())
                    .map(|b| u64::from_be_bytes(*b))
                else {
                    continue;
                };
                let latency = now.saturating_sub(Duration::from_nanos(due));
                let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                latencies.saturating_record(micros.max(1));
                received += 1;
                last = Some(Instant::now());
            }
            Some(Err(e)) => consumer.context().0.note(|| format!("poll: {e}")),
            None => {}
        }
    }
    (latencies, received, last)
}
