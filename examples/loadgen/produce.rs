//! `produce`: keyless records as fast as the producers go.

use super::*;

pub(crate) fn produce(args: &ProduceArgs) -> (Value, bool) {
    let Target { bootstrap, topic } = &args.target;
    let failed = |e: String| {
        eprintln!("{e}");
        (throughput("produce", 0, 0, args.count, 0.0), false)
    };
    if let Err(e) = prepare_topic(bootstrap, topic, args.partitions) {
        return failed(e);
    }
    let ctx = Ctx::default();
    let value = Arc::new(payload(args.size as usize));
    let barrier = Arc::new(Barrier::new(args.producers as usize + 1));
    let mut threads = Vec::new();
    for i in 0..args.producers {
        let (bootstrap, topic, ctx) = (bootstrap.clone(), topic.clone(), ctx.clone());
        let (value, barrier) = (value.clone(), barrier.clone());
        let flags = (args.producer.acks.clone(), args.producer.linger_ms);
        let batch_size = args.producer.batch_size;
        let count = share(args.count, args.producers, i);
        threads.push(thread::spawn(move || {
            // Each keyless record to a random partition, so that every partition of a
            // many-partition topic gets its share (the default sticky partitioner would
            // fill one partition for 10 ms at a time).
            let spread = [("sticky.partitioning.linger.ms", "0")];
            let producer = new_producer(&bootstrap, &flags.0, flags.1, batch_size, &spread, &ctx);
            if let Ok(producer) = &producer {
                // Connected and with the topic's metadata before the clock starts.
                let _ = producer
                    .client()
                    .fetch_metadata(Some(&topic), Duration::from_secs(10));
            }
            barrier.wait();
            let producer = match producer {
                Ok(producer) => producer,
                Err(e) => {
                    ctx.0.note(|| format!("producer: {e}"));
                    return Instant::now();
                }
            };
            let deadline = Instant::now() + FLUSH;
            for _ in 0..count {
                if !send(&producer, &topic, &value, deadline) {
                    break;
                }
            }
            flush(
                &producer,
                deadline.max(Instant::now() + Duration::from_secs(10)),
            );
            Instant::now()
        }));
    }
    barrier.wait();
    let start = Instant::now();
    let tally = ctx.0.clone();
    watch(
        "produce",
        start + STALL + FLUSH + FLUSH,
        || threads.iter().all(|t| t.is_finished()),
        || format!("{} delivered", tally.delivered.load(Relaxed)),
    );
    let end = threads
        .into_iter()
        .filter_map(|t| t.join().ok())
        .max()
        .unwrap_or_else(Instant::now);
    let delivered = tally.delivered.load(Relaxed);
    let seconds = end.duration_since(start).as_secs_f64();
    let report = throughput(
        "produce",
        delivered,
        delivered * args.size,
        args.count,
        seconds,
    );
    (report, delivered >= args.count)
}
