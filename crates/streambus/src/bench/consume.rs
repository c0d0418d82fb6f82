//! `streambus bench consume`: consumers reading a topic from the beginning, each assigned a
//! share of its partitions, until they reach the end offsets found at the start (or the
//! record count or duration runs out).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use streambus_client::consumer::{Consumer, ConsumerConfig, Seek};
use streambus_client::{OffsetSpec, list_offsets};

use super::progress::{Counters, Goal, Progress};
use super::report::Report;
use super::workload::{Common, check_progress};

/// Flags of `bench consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Consumers reading at once; the partitions are dealt among them
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub consumers: u32,
}

/// How long a consumer may see nothing new before the run gives up on the rest.
const STALL: Duration = Duration::from_secs(30);

pub async fn run(args: ConsumeArgs) -> Result<Report> {
    let (cluster, partitions) = args.common.prepare_topic().await?;
    let topic = args.common.topic.clone();
    let asked: Vec<_> = (0..partitions)
        .map(|p| ((topic.clone(), p), OffsetSpec::Latest))
        .collect();
    let ends = list_offsets(&cluster, &asked, false).await?;
    let available: u64 = ends.values().map(|e| e.offset.max(0) as u64).sum();
    let goal = match args.common.goal(available) {
        Goal::Records(n) => Goal::Records(n.min(available)),
        duration => duration,
    };
    let counters = Arc::new(Counters::default());
    let progress = Progress::start(counters.clone(), goal);
    let started = Instant::now();
    let deadline = match goal {
        Goal::Duration(d) => started + d,
        Goal::Records(_) => started + Duration::from_secs(24 * 3600),
    };
    let limit = match goal {
        Goal::Records(n) => n,
        Goal::Duration(_) => u64::MAX,
    };
    let mut workers = Vec::new();
    for i in 0..args.consumers as i32 {
        let mine: HashMap<i32, i64> = (0..partitions)
            .filter(|p| p % args.consumers as i32 == i)
            .map(|p| (p, ends[&(topic.clone(), p)].offset))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let config = ConsumerConfig::new(args.common.client_config());
        let consumer = Consumer::new(config).await?;
        workers.push(tokio::spawn(consume(
            consumer,
            topic.clone(),
            mine,
            limit,
            deadline,
            counters.clone(),
        )));
    }
    for worker in workers {
        worker.await??;
    }
    let elapsed = started.elapsed();
    progress.finish().await;
    let records = counters.records.load(std::sync::atomic::Ordering::Relaxed);
    check_progress(records, "consumed")?;
    let bytes = counters.bytes.load(std::sync::atomic::Ordering::Relaxed);
    let settings = serde_json::json!({
        "partitions": partitions,
        "consumers": args.consumers,
    });
    Ok(Report::new(
        "consume", &topic, records, bytes, 0, elapsed, settings,
    ))
}

/// One consumer's loop over its partitions, to their end offsets.
async fn consume(
    mut consumer: Consumer,
    topic: String,
    ends: HashMap<i32, i64>,
    limit: u64,
    deadline: Instant,
    counters: Arc<Counters>,
) -> Result<()> {
    let assignment: Vec<(String, i32)> = ends.keys().map(|p| (topic.clone(), *p)).collect();
    consumer.assign(&assignment).await?;
    for (topic, partition) in &assignment {
        consumer.seek(topic, *partition, Seek::Beginning).await?;
    }
    let mut remaining: HashMap<i32, i64> = ends.into_iter().filter(|(_, end)| *end > 0).collect();
    let mut last_progress = Instant::now();
    while !remaining.is_empty() && Instant::now() < deadline {
        if counters.records.load(std::sync::atomic::Ordering::Relaxed) >= limit {
            break;
        }
        let records = consumer.poll(Duration::from_millis(200)).await?;
        if records.is_empty() {
            if last_progress.elapsed() > STALL {
                anyhow::bail!("no records for {STALL:?} before the end offsets were reached");
            }
            continue;
        }
        last_progress = Instant::now();
        // Count no more than the goal (several consumers may overshoot it by a poll each).
        let room =
            limit.saturating_sub(counters.records.load(std::sync::atomic::Ordering::Relaxed));
        let taken = &records[..records
            .len()
            .min(usize::try_from(room).unwrap_or(usize::MAX))];
        let mut bytes = 0u64;
        for record in taken {
            bytes += record.value.as_ref().map_or(0, |v| v.len() as u64)
                + record.key.as_ref().map_or(0, |k| k.len() as u64);
            if remaining
                .get(&record.partition)
                .is_some_and(|end| record.offset + 1 >= *end)
            {
                remaining.remove(&record.partition);
            }
        }
        counters.add(taken.len() as u64, bytes);
    }
    consumer.close().await?;
    Ok(())
}
