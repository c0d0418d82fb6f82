//! `streambus bench produce`: producers writing fixed-size records as fast as the broker
//! acknowledges them, dealt to the topic's partitions in turn so that each gets an equal
//! share; latency is enqueue to acknowledgement.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use streambus_client::producer::{Producer, ProducerRecord};

use super::progress::{Counters, Goal, Progress};
use super::report::{Latencies, Report};
use super::workload::{Common, ProducerArgs, check_progress, payload};

/// Records enqueued and not yet acknowledged, per producer: enough to fill many batches,
/// bounded so that memory is too.
const WINDOW: usize = 50_000;

/// Flags of `bench produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub producer: ProducerArgs,
    /// Producers writing at once, each with its own connections
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub producers: u32,
}

pub async fn run(args: ProduceArgs) -> Result<Report> {
    let (_, partitions) = args.common.prepare_topic().await?;
    let goal = args.common.goal(1_000_000);
    let counters = Arc::new(Counters::default());
    let value = payload(args.common.message_size as usize);
    let mut producers = Vec::new();
    for _ in 0..args.producers {
        let config = args.producer.config(args.common.client_config());
        producers.push(Producer::new(config).await?);
    }
    let progress = Progress::start(counters.clone(), goal);
    let started = Instant::now();
    let deadline = match goal {
        Goal::Duration(d) => Some(started + d),
        Goal::Records(_) => None,
    };
    let workers: Vec<_> = producers
        .into_iter()
        .enumerate()
        .map(|(i, producer)| {
            let share = match goal {
                Goal::Records(total) => share_of(total, args.producers, i as u32),
                Goal::Duration(_) => u64::MAX,
            };
            let topic = args.common.topic.clone();
            tokio::spawn(produce(
                producer,
                topic,
                partitions,
                value.clone(),
                share,
                deadline,
                counters.clone(),
            ))
        })
        .collect();
    let mut latencies = Latencies::new();
    for worker in workers {
        latencies.add(&worker.await??);
    }
    let elapsed = started.elapsed();
    progress.finish().await;
    let records = latencies.len();
    check_progress(records, "acknowledged")?;
    let settings = serde_json::json!({
        "partitions": partitions,
        "message_size": args.common.message_size,
        "producers": args.producers,
        "producer": args.producer.settings(),
    });
    let bytes = records * u64::from(args.common.message_size);
    let errors = counters.errors.load(std::sync::atomic::Ordering::Relaxed);
    Ok(Report::new(
        "produce",
        &args.common.topic,
        records,
        bytes,
        errors,
        elapsed,
        settings,
    )
    .with_latency("enqueue to acknowledgement", &latencies))
}

/// Producer `i`'s part of `total` records among `n`.
fn share_of(total: u64, n: u32, i: u32) -> u64 {
    let n = u64::from(n);
    total / n + u64::from(u64::from(i) < total % n)
}

/// One producer's loop: enqueues records while at most [`WINDOW`] are unacknowledged; a
/// second task waits for the acknowledgements in order and records each latency (records
/// of a partition are acknowledged in order, so waiting in order measures them as they
/// come, at the cost of one channel message per record rather than a set of futures).
async fn produce(
    producer: Producer,
    topic: String,
    partitions: i32,
    value: bytes::Bytes,
    count: u64,
    deadline: Option<Instant>,
    counters: Arc<Counters>,
) -> Result<Latencies> {
    let (pending, mut acknowledgements) =
        tokio::sync::mpsc::channel::<(Instant, streambus_client::producer::Delivery)>(WINDOW);
    let size = value.len() as u64;
    let acker = tokio::spawn(async move {
        let mut latencies = Latencies::new();
        while let Some((enqueued, delivery)) = acknowledgements.recv().await {
            match delivery.await {
                Ok(_) => {
                    latencies.record(enqueued.elapsed());
                    counters.add(1, size);
                }
                Err(_) => counters.error(),
            }
        }
        latencies
    });
    let mut sent = 0u64;
    while sent < count && deadline.is_none_or(|d| Instant::now() < d) {
        let partition = (sent % partitions.max(1) as u64) as i32;
        let record = ProducerRecord::new(topic.clone())
            .value(value.clone())
            .partition(partition);
        let enqueued = Instant::now();
        let delivery = producer.enqueue(record).await?;
        if pending.send((enqueued, delivery)).await.is_err() {
            break;
        }
        sent += 1;
    }
    drop(pending);
    let latencies = tokio::time::timeout(Duration::from_secs(120), acker)
        .await
        .map_err(|_| anyhow::anyhow!("records were still unacknowledged after 120 s"))??;
    producer.close().await?;
    Ok(latencies)
}

#[cfg(test)]
mod tests {
    use super::share_of;

    #[test]
    fn shares_add_up_to_the_total() {
        for (total, n) in [(10, 3), (1_000_000, 7), (2, 5), (0, 1)] {
            let shares: Vec<u64> = (0..n).map(|i| share_of(total, n, i)).collect();
            assert_eq!(shares.iter().sum::<u64>(), total);
            assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1);
        }
    }
}
