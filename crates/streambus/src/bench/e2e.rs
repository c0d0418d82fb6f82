//! `streambus bench e2e`: one producer at a fixed rate and one consumer reading as the
//! records arrive. Each record's value starts with its intended send time (nanoseconds
//! since the run started, big-endian); latency is receipt minus that time, so a producer
//! that falls behind its schedule adds to the latencies (no coordinated omission).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bytes::{BufMut, Bytes, BytesMut};
use clap::Args;
use streambus_client::consumer::{Consumer, ConsumerConfig, Seek};
use streambus_client::producer::{Producer, ProducerRecord};

use super::progress::{Counters, Goal, Progress};
use super::report::{Latencies, Report};
use super::workload::{Common, ProducerArgs, check_progress, payload};

/// Flags of `bench e2e`.
#[derive(Debug, Args)]
pub struct E2eArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub producer: ProducerArgs,
    /// Records per second the producer sends
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub rate: u64,
}

/// How long the consumer waits for the last records after the producer is done.
const GRACE: Duration = Duration::from_secs(10);

pub async fn run(args: E2eArgs) -> Result<Report> {
    if args.common.message_size < 8 {
        bail!("e2e needs --message-size of at least 8 bytes, for the send time");
    }
    let (_, partitions) = args.common.prepare_topic().await?;
    let topic = args.common.topic.clone();
    let goal = match args.common.goal(0) {
        Goal::Records(0) => Goal::Duration(Duration::from_secs(10)),
        goal => goal,
    };
    let total = match goal {
        Goal::Records(n) => n,
        Goal::Duration(d) => (d.as_secs_f64() * args.rate as f64).ceil() as u64,
    };

    // The consumer starts at the end, before anything is sent.
    let mut consumer = Consumer::new(ConsumerConfig::new(args.common.client_config())).await?;
    let assignment: Vec<(String, i32)> = (0..partitions).map(|p| (topic.clone(), p)).collect();
    consumer.assign(&assignment).await?;
    for (t, p) in &assignment {
        consumer.seek(t, *p, Seek::End).await?;
    }
    let producer = Producer::new(args.producer.config(args.common.client_config())).await?;

    let counters = Arc::new(Counters::default());
    let progress = Progress::start(counters.clone(), Goal::Records(total));
    let base = Instant::now();
    let filler = payload(args.common.message_size as usize);
    let sending = tokio::spawn(send_at_rate(
        producer,
        topic.clone(),
        filler,
        args.rate,
        total,
        base,
    ));
    let received = receive(&mut consumer, total, base, &counters).await;
    let sent = sending.await??;
    let elapsed = base.elapsed();
    progress.finish().await;
    consumer.close().await?;
    let latencies = received?;
    check_progress(latencies.len(), "received")?;
    let records = latencies.len();
    let settings = serde_json::json!({
        "partitions": partitions,
        "message_size": args.common.message_size,
        "rate": args.rate,
        "sent": sent,
        "producer": args.producer.settings(),
    });
    let bytes = records * u64::from(args.common.message_size);
    let lost = sent.saturating_sub(records);
    Ok(
        Report::new("e2e", &topic, records, bytes, lost, elapsed, settings)
            .with_latency("intended send time to receipt", &latencies),
    )
}

/// Sends `total` records, record `i` at `base + i / rate`; the number acknowledged.
async fn send_at_rate(
    producer: Producer,
    topic: String,
    filler: Bytes,
    rate: u64,
    total: u64,
    base: Instant,
) -> Result<u64> {
    let (pending, mut deliveries) = tokio::sync::mpsc::unbounded_channel();
    let acker = tokio::spawn(async move {
        let mut acknowledged = 0u64;
        while let Some(delivery) = deliveries.recv().await {
            let delivery: streambus_client::producer::Delivery = delivery;
            acknowledged += u64::from(delivery.await.is_ok());
        }
        acknowledged
    });
    for i in 0..total {
        let intended = base + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(tokio::time::Instant::from_std(intended)).await;
        let mut value = BytesMut::with_capacity(filler.len());
        value.put_u64(intended.duration_since(base).as_nanos() as u64);
        value.extend_from_slice(&filler[8..]);
        let record = ProducerRecord::new(topic.clone()).value(value.freeze());
        let _ = pending.send(producer.enqueue(record).await?);
    }
    drop(pending);
    let acknowledged = acker.await?;
    producer.close().await?;
    Ok(acknowledged)
}

/// Reads until `total` records arrived (or [`GRACE`] passes with none), recording each
/// one's latency from the send time in its value.
async fn receive(
    consumer: &mut Consumer,
    total: u64,
    base: Instant,
    counters: &Counters,
) -> Result<Latencies> {
    let mut latencies = Latencies::new();
    let mut last = Instant::now();
    while latencies.len() < total && last.elapsed() < GRACE {
        for record in consumer.poll(Duration::from_millis(100)).await? {
            let now = base.elapsed();
            let Some(sent) = record
                .value
                .as_ref()
                .and_then(|v| v.get(..8))
                .map(|b| u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            else {
                continue;
            };
            latencies.record(now.saturating_sub(Duration::from_nanos(sent)));
            counters.add(1, record.value.as_ref().map_or(0, |v| v.len() as u64));
            last = Instant::now();
        }
    }
    Ok(latencies)
}
