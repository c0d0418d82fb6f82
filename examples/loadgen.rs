//! A librdkafka load generator: produces N messages of a given size to one topic as fast as
//! the producer allows, then consumes them back, and prints the rates.
//!
//! ```sh
//! cargo run --release --example loadgen -- 127.0.0.1:9092 loadgen 1000000 100 all
//! ```
//! Arguments: bootstrap address, topic (created with one partition if missing), message
//! count, message size in bytes, acks (0, 1 or all). Every send is bounded by the count; the
//! consume phase stops at the count or after 60 s without progress.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts failed deliveries, so that a run with errors is reported as such.
#[derive(Default)]
struct Deliveries {
    failed: AtomicUsize,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result
            && self.failed.fetch_add(1, Ordering::Relaxed) == 0
        {
            eprintln!("delivery failed: {e}");
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: loadgen BOOTSTRAP TOPIC COUNT SIZE ACKS");
        std::process::exit(2);
    }
    let (bootstrap, topic) = (&args[1], &args[2]);
    let count: usize = args[3].parse().expect("COUNT is a number");
    let size: usize = args[4].parse().expect("SIZE is a number");
    let acks = &args[5];

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let created = runtime.block_on(admin.create_topics(
        &[NewTopic::new(topic, 1, TopicReplication::Fixed(1))],
        &AdminOptions::new(),
    ));
    println!(
        "create topic {topic}: {:?}",
        created.map(|r| r.into_iter().map(|x| x.is_ok()).collect::<Vec<_>>())
    );

    let producer: BaseProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks)
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(Deliveries::default())
        .unwrap();
    let payload = vec![b'x'; size];
    let start = Instant::now();
    for _ in 0..count {
        loop {
            match producer.send(BaseRecord::<(), _>::to(topic).payload(&payload)) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("send failed: {e}"),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(120))
        .expect("every message is delivered");
    report("produce", count, size, start.elapsed());
    let failed = producer.context().failed.load(Ordering::Relaxed);
    if failed > 0 {
        eprintln!("{failed} deliveries failed");
        std::process::exit(1);
    }

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "loadgen")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .create()
        .unwrap();
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let start = Instant::now();
    let mut received = 0;
    let mut last_progress = Instant::now();
    while received < count && last_progress.elapsed() < Duration::from_secs(60) {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            message.expect("a message");
            received += 1;
            last_progress = Instant::now();
        }
    }
    report("consume", received, size, start.elapsed());
}

fn report(phase: &str, count: usize, size: usize, elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    println!(
        "{phase}: {count} messages of {size} B in {secs:.2} s = {:.0} msgs/s, {:.1} MB/s",
        count as f64 / secs,
        (count * size) as f64 / secs / 1e6
    );
}
