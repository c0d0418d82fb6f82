//! A librdkafka load generator: the librdkafka side of StreamBus's benchmarks. It runs the
//! same workloads as `streambus bench` through the `rdkafka` crate, so that the broker can
//! be measured with the client most of the Kafka world uses, and prints one JSON object on
//! stdout when done (progress and librdkafka's warnings go to stderr). It exits with 1 if a
//! delivery failed or fewer records arrived than expected.
//!
//! ```sh
//! cargo run --release --example loadgen -- produce --bootstrap 127.0.0.1:9092 \
//!     --topic loadgen --count 1000000 --size 100 --acks 1
//! cargo run --release --example loadgen -- consume --bootstrap 127.0.0.1:9092 \
//!     --topic loadgen --count 1000000
//! cargo run --release --example loadgen -- e2e --bootstrap 127.0.0.1:9092 \
//!     --topic loadgen-e2e --rate 10000 --duration 5 --size 100
//! cargo run --release --example loadgen -- mixed --bootstrap 127.0.0.1:9092 \
//!     --topic loadgen-mixed --partitions 100 --producers 100 --consumers 100 \
//!     --count 200000 --size 100
//! ```
//!
//! - `produce`: `--count` keyless records of `--size` bytes (the same length, not all one
//!   byte) from `--producers` producers, each in its own thread, as fast as they go, each
//!   record to a random partition (`sticky.partitioning.linger.ms` 0). The topic is created
//!   with `--partitions` if missing. `records` are the deliveries the
//!   broker acknowledged; `errors` the rest.
//! - `consume`: reads `--count` records from the beginning of every partition, the
//!   partitions dealt among `--consumers` assign()ed consumers, each in its own thread.
//!   Stops at the count, or after 60 s without progress. `errors` are the errors librdkafka
//!   returned from poll.
//! - `e2e`: a consumer at the end of every partition, then one producer sending `--rate`
//!   records a second for `--duration` seconds. Each record starts with its intended send
//!   time (nanoseconds since the run began, big-endian) and record `i` is due at
//!   `i / rate`, so a producer that falls behind adds to the latencies (no coordinated
//!   omission). Latency is receipt minus intended send time; `errors` are the records sent
//!   and not received within 10 s of the last send.
//! - `mixed`: `--producers` producers and `--consumers` consumers in one new consumer
//!   group (subscribe(), from the earliest offset) at once, until every record is consumed
//!   or 120 s pass. The producers send each keyless record to a random partition
//!   (`sticky.partitioning.linger.ms` 0), so that every partition gets its share. Records
//!   are counted once each, however often rebalances redeliver them, and only those
//!   written after the run began. `consumers_with_records`, `min_per_consumer` and
//!   `max_per_consumer` show how evenly the group spread the work.
//!
//! Every loop is bounded by a count and a deadline, and only the bootstrap address given
//! is contacted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use hdrhistogram::Histogram;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::Client;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use serde_json::{Value, json};

mod common;
mod consume;
mod e2e;
mod mixed;
mod produce;

use common::*;
use consume::consume;
use e2e::e2e;
use mixed::mixed;
use produce::produce;

/// How long a consumer goes without progress, or a send waits for room in a full queue,
/// before giving up.
const STALL: Duration = Duration::from_secs(60);
/// How long a produce run waits for its last deliveries.
const FLUSH: Duration = Duration::from_secs(120);
/// How long e2e waits for the last records after the last send.
const GRACE: Duration = Duration::from_secs(10);
/// How long a mixed run may take.
const MIXED_LIMIT: Duration = Duration::from_secs(120);
/// How long the clients of a mixed run get to close (leave the group) at the end.
const CLOSE: Duration = Duration::from_secs(30);
/// How many librdkafka warnings, errors and failed deliveries are shown on stderr.
const NOTES: u64 = 30;

#[derive(Parser)]
#[command(about = "librdkafka load generator; prints one JSON object on stdout")]
struct Cli {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Subcommand)]
enum Workload {
    /// Produce records as fast as the producers go
    Produce(ProduceArgs),
    /// Consume records from the beginning of every partition
    Consume(ConsumeArgs),
    /// Latency from intended send time to receipt, at a fixed rate
    E2e(E2eArgs),
    /// Many producers and a consumer group at once
    Mixed(MixedArgs),
}

#[derive(Args)]
struct Target {
    /// The broker to bootstrap from, host:port
    #[arg(long)]
    bootstrap: String,
    /// The topic
    #[arg(long)]
    topic: String,
}

#[derive(Args)]
struct ProduceArgs {
    #[command(flatten)]
    target: Target,
    /// Records to produce, in all
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// Bytes of each record's value
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    size: u64,
    /// Partitions to create the topic with, if it is missing
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    #[command(flatten)]
    producer: ProducerFlags,
    /// Producer instances, each in its own thread, splitting the count
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    producers: u64,
}

#[derive(Args)]
struct ProducerFlags {
    /// Acknowledgements the producer asks for
    #[arg(long, default_value = "1", value_parser = ["all", "1", "0"])]
    acks: String,
    /// linger.ms of the producer
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
    /// batch.size of the producer, in bytes
    #[arg(long, default_value_t = 1_000_000)]
    batch_size: u64,
}

#[derive(Args)]
struct ConsumeArgs {
    #[command(flatten)]
    target: Target,
    /// Records to consume, in all
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// Consumers, each in its own thread, the partitions dealt among them
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    consumers: u64,
}

#[derive(Args)]
struct E2eArgs {
    #[command(flatten)]
    target: Target,
    /// Records per second
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    rate: u64,
    /// Seconds to send for
    #[arg(long)]
    duration: f64,
    /// Bytes of each record's value (at least 8, for the send time)
    #[arg(long, value_parser = clap::value_parser!(u64).range(8..=100_000_000))]
    size: u64,
    /// Partitions to create the topic with, if it is missing
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// Acknowledgements the producer asks for
    #[arg(long, default_value = "1", value_parser = ["all", "1", "0"])]
    acks: String,
    /// linger.ms of the producer
    #[arg(long, default_value_t = 0)]
    linger_ms: u64,
}

#[derive(Args)]
struct MixedArgs {
    #[command(flatten)]
    target: Target,
    /// Partitions to create the topic with, if it is missing
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// Producers, each its own client in its own thread, splitting the count
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    producers: u64,
    /// Consumers in the group, each its own client in its own thread
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    consumers: u64,
    /// Records to produce and consume, in all
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// Bytes of each record's value
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    size: u64,
    /// Acknowledgements the producers ask for
    #[arg(long, default_value = "1", value_parser = ["all", "1", "0"])]
    acks: String,
    /// linger.ms of the producers
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
}

fn main() {
    let (report, ok) = match Cli::parse().workload {
        Workload::Produce(args) => produce(&args),
        Workload::Consume(args) => consume(&args),
        Workload::E2e(args) => e2e(&args),
        Workload::Mixed(args) => mixed(&args),
    };
    println!("{report}");
    // Clients still closing in other threads are not waited for.
    std::process::exit(if ok { 0 } else { 1 });
}
