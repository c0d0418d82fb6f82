//! `streambus produce TOPIC`: one record per line of stdin or a file.
//!
//! Lines are enqueued as they are read, so that the producer batches and pipelines them;
//! at most [`IN_FLIGHT`] deliveries are awaited at once, so memory stays bounded however long
//! the input. A line fails the command (after what was enqueued before it is delivered)
//! when `--key-separator` is given and the line has none, as Kafka's console producer does.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use streambus_client::producer::{Acks, Delivery, Producer, ProducerConfig, ProducerRecord};

use super::output::{Table, or_dash, plural};
use super::{ClientArgs, key_value};

/// Deliveries awaited at once.
const IN_FLIGHT: usize = 10_000;

/// `streambus produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The topic to write to
    topic: String,
    /// Read lines from this file instead of stdin
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// Split each line at the first SEP into key and value (otherwise no key)
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,
    /// A header for every record, KEY=VALUE; repeat for more
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = key_value)]
    headers: Vec<(String, String)>,
    /// Write every record to this partition (otherwise by key, or spread when keyless)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(0..))]
    partition: Option<i32>,
    /// Acknowledgement to wait for: all in-sync replicas, the leader (1), or none (0)
    #[arg(long, value_enum, default_value_t = AcksArg::All)]
    acks: AcksArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AcksArg {
    /// Every in-sync replica
    All,
    /// The leader only
    #[value(name = "1")]
    Leader,
    /// No acknowledgement; offsets are not known
    #[value(name = "0")]
    None,
}

/// What was written to one partition.
#[derive(Debug, Default)]
struct Written {
    count: u64,
    first: Option<i64>,
    last: Option<i64>,
}

pub async fn run(args: ProduceArgs) -> Result<()> {
    let printer = args.client.printer();
    let mut config = ProducerConfig::new(args.client.client_config());
    config.acks = match args.acks {
        AcksArg::All => Acks::All,
        AcksArg::Leader => Acks::Leader,
        AcksArg::None => Acks::None,
    };
    // Idempotence needs acks=all; a tool that writes each line once does not need it.
    config.idempotence = args.acks == AcksArg::All;
    config.delivery_timeout = Duration::from_secs(30);
    let producer = Producer::new(config).await?;
    // Fail early and by name on a topic that does not exist.
    producer.cluster().topic(&args.topic, false).await?;

    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let mut written: BTreeMap<i32, Written> = BTreeMap::new();
    let mut pending: VecDeque<Delivery> = VecDeque::new();
    let mut failure = None;
    for (number, line) in input.lines().enumerate() {
        let line = line.context("cannot read the input")?;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        let record = match record(&args, line) {
            Some(record) => record,
            None => {
                failure = Some(format!(
                    "line {} has no key separator {:?}",
                    number + 1,
                    args.key_separator.as_deref().unwrap_or_default()
                ));
                break;
            }
        };
        pending.push_back(producer.enqueue(record).await?);
        if pending.len() >= IN_FLIGHT
            && let Some(delivery) = pending.pop_front()
        {
            note(&mut written, delivery.await?);
        }
    }
    while let Some(delivery) = pending.pop_front() {
        note(&mut written, delivery.await?);
    }
    producer.close().await?;
    let count: u64 = written.values().map(|w| w.count).sum();
    if let Some(failure) = failure {
        bail!("{failure} (records written before it: {count})");
    }
    let partitions: Vec<Value> = written
        .iter()
        .map(|(partition, w)| {
            json!({
                "partition": partition,
                "count": w.count,
                "first_offset": w.first,
                "last_offset": w.last,
            })
        })
        .collect();
    let value = json!({"topic": args.topic, "count": count, "partitions": partitions});
    printer.print(&value, || {
        let mut out = format!("produced {} to {}\n", plural(count, "record"), args.topic);
        if !written.is_empty() {
            let mut table = Table::new(&["PARTITION", "RECORDS", "FIRST-OFFSET", "LAST-OFFSET"]);
            for (partition, w) in &written {
                table.row(vec![
                    partition.to_string(),
                    w.count.to_string(),
                    or_dash(w.first),
                    or_dash(w.last),
                ]);
            }
            out.push('\n');
            out.push_str(&table.render());
        }
        out
    })
}

/// The record of one line, or `None` if a key separator is expected and missing.
fn record(args: &ProduceArgs, line: &str) -> Option<ProducerRecord> {
    let mut record = ProducerRecord::new(&args.topic);
    match &args.key_separator {
        Some(separator) => {
            let (key, value) = line.split_once(separator.as_str())?;
            record = record.key(key.to_owned()).value(value.to_owned());
        }
        None => record = record.value(line.to_owned()),
    }
    for (key, value) in &args.headers {
        record = record.header(key.clone(), value.clone());
    }
    if let Some(partition) = args.partition {
        record = record.partition(partition);
    }
    Some(record)
}

fn note(
    written: &mut BTreeMap<i32, Written>,
    delivered: streambus_client::producer::RecordMetadata,
) {
    let entry = written.entry(delivered.partition).or_default();
    entry.count += 1;
    // With acks=0 the broker says nothing, and offsets are unknown (-1).
    if delivered.offset >= 0 {
        entry.first = Some(
            entry
                .first
                .map_or(delivered.offset, |f| f.min(delivered.offset)),
        );
        entry.last = Some(
            entry
                .last
                .map_or(delivered.offset, |l| l.max(delivered.offset)),
        );
    }
}
