//! The broker's Prometheus metrics, rendered in the OpenMetrics text format for `/metrics`.
//!
//! Counters and histograms are updated on the request path (one atomic add or a bucket
//! increment each): requests, errors by error code and latency per API, bytes and records
//! in and out per topic, connections. State is sampled when scraped: partitions, their
//! offsets and sizes, consumer groups and their lag, fsync latency (the storage crate's
//! histogram), and the process (memory, CPU, open files) from `/proc`.
//!
//! Cardinality stays bounded: API and error-code labels come from fixed sets; topic labels
//! are one per topic (removed when the topic is deleted); per-partition series are only
//! exported while the broker hosts at most [`PER_PARTITION_LIMIT`] partitions (beyond that
//! the per-topic sums carry the same information); consumer lag is one series per group and
//! topic, summed over partitions.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use streambus_protocol::{ApiKey, ErrorCode, Response};

use crate::Broker;

/// Most hosted partitions for which per-partition series are exported.
pub const PER_PARTITION_LIMIT: usize = 1000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    api: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    api: &'static str,
    error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    topic: String,
    partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupTopicLabels {
    group: String,
    topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Request latency buckets: 50 µs to about 3.3 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 17))
}

/// Everything the broker measures, and the registry they are rendered from.
pub struct BrokerMetrics {
    /// When off, the request path records nothing (scrapes still sample state).
    enabled: bool,
    registry: Mutex<Registry>,
    requests: Family<ApiLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    latency: HistogramFamily<ApiLabels>,
    bytes_in: Family<TopicLabels, Counter>,
    records_in: Family<TopicLabels, Counter>,
    bytes_out: Family<TopicLabels, Counter>,
    connections: Gauge,
    connections_accepted: Counter,
    // Sampled at scrape time.
    topic_partitions: Family<TopicLabels, Gauge>,
    topic_size: Family<TopicLabels, Gauge>,
    log_start: Family<PartitionLabels, Gauge>,
    log_end: Family<PartitionLabels, Gauge>,
    high_watermark: Family<PartitionLabels, Gauge>,
    partition_size: Family<PartitionLabels, Gauge>,
    groups: Family<StateLabels, Gauge>,
    group_lag: Family<GroupTopicLabels, Gauge>,
    data_dir_free: Gauge,
    data_dir_size: Gauge,
    resident_memory: Gauge,
    cpu_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    /// The CPU time the counter holds, to add only what passed since the last scrape.
    cpu_seconds_seen: Mutex<f64>,
    open_fds: Gauge,
    pub(crate) replication: crate::replication_metrics::ReplicationMetrics,
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        Self::new(true)
    }
}

impl BrokerMetrics {
    /// Fresh metrics, all at zero; `enabled` false turns off recording on the request path
    /// (`metrics_enabled`), to measure what it costs.
    pub fn new(enabled: bool) -> Self {
        let metrics = BrokerMetrics {
            enabled,
            registry: Mutex::new(Registry::default()),
            requests: Family::default(),
            errors: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            bytes_in: Family::default(),
            records_in: Family::default(),
            bytes_out: Family::default(),
            connections: Gauge::default(),
            connections_accepted: Counter::default(),
            topic_partitions: Family::default(),
            topic_size: Family::default(),
            log_start: Family::default(),
            log_end: Family::default(),
            high_watermark: Family::default(),
            partition_size: Family::default(),
            groups: Family::default(),
            group_lag: Family::default(),
            data_dir_free: Gauge::default(),
            data_dir_size: Gauge::default(),
            resident_memory: Gauge::default(),
            cpu_seconds: Counter::default(),
            cpu_seconds_seen: Mutex::new(0.0),
            open_fds: Gauge::default(),
            replication: Default::default(),
        };
        metrics.register();
        metrics
    }

    fn register(&self) {
        let mut r = self.lock_registry();
        let p = "streambus_";
        r.register(
            format!("{p}requests"),
            "Kafka requests served, by API",
            self.requests.clone(),
        );
        r.register(
            format!("{p}request_errors"),
            "Error codes in Kafka responses, by API and error (one per partition or resource that failed)",
            self.errors.clone(),
        );
        r.register(
            format!("{p}request_duration_seconds"),
            "Time from a decoded request to its response, by API",
            self.latency.clone(),
        );
        r.register(
            format!("{p}topic_bytes_in"),
            "Record batch bytes appended by producers, by topic",
            self.bytes_in.clone(),
        );
        r.register(
            format!("{p}topic_records_in"),
            "Records appended by producers, by topic",
            self.records_in.clone(),
        );
        r.register(
            format!("{p}topic_bytes_out"),
            "Record batch bytes returned to fetches, by topic",
            self.bytes_out.clone(),
        );
        r.register(
            format!("{p}connections"),
            "Open Kafka client connections",
            self.connections.clone(),
        );
        r.register(
            format!("{p}connections_accepted"),
            "Kafka client connections accepted",
            self.connections_accepted.clone(),
        );
        r.register(
            format!("{p}topic_partitions"),
            "Partitions hosted, by topic",
            self.topic_partitions.clone(),
        );
        r.register(
            format!("{p}topic_size_bytes"),
            "Bytes on disk of the hosted partitions, by topic",
            self.topic_size.clone(),
        );
        r.register(
            format!("{p}partition_log_start_offset"),
            "First offset held, by partition",
            self.log_start.clone(),
        );
        r.register(
            format!("{p}partition_log_end_offset"),
            "Offset the next record gets, by partition",
            self.log_end.clone(),
        );
        r.register(
            format!("{p}partition_high_watermark"),
            "Offset below which consumers may read, by partition",
            self.high_watermark.clone(),
        );
        r.register(
            format!("{p}partition_size_bytes"),
            "Bytes on disk, by partition",
            self.partition_size.clone(),
        );
        r.register(
            format!("{p}consumer_groups"),
            "Consumer groups coordinated here, by state",
            self.groups.clone(),
        );
        r.register(
            format!("{p}consumer_group_lag"),
            "Records between a group's committed offsets and the high watermarks, by group and topic",
            self.group_lag.clone(),
        );
        r.register_collector(Box::new(FsyncCollector));
        r.register(
            format!("{p}data_dir_free_bytes"),
            "Bytes available to the broker on the data directory's file system",
            self.data_dir_free.clone(),
        );
        r.register(
            format!("{p}data_dir_size_bytes"),
            "Size of the data directory's file system",
            self.data_dir_size.clone(),
        );
        r.register(
            "process_resident_memory_bytes",
            "Resident memory of the broker process",
            self.resident_memory.clone(),
        );
        r.register(
            "process_cpu_seconds",
            "User and system CPU time of the broker process",
            self.cpu_seconds.clone(),
        );
        r.register(
            "process_open_fds",
            "Open file descriptors of the broker process",
            self.open_fds.clone(),
        );
        self.replication.register(&mut r);
    }

    fn lock_registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one request of `api` that took `elapsed`, and the error codes of its response.
    pub(crate) fn record_request(
        &self,
        api: ApiKey,
        elapsed: Duration,
        response: Option<&Response>,
    ) {
        if !self.enabled {
            return;
        }
        let labels = ApiLabels { api: api.name() };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if let Some(response) = response {
            response.visit_error_codes(&mut |code| {
                if code != ErrorCode::None.code() {
                    let error = ErrorCode::from_code(code).map_or("UNKNOWN", ErrorCode::name);
                    self.errors
                        .get_or_create(&ErrorLabels {
                            api: api.name(),
                            error,
                        })
                        .inc();
                }
            });
        }
    }

    /// Counts a batch appended to `topic`.
    pub(crate) fn record_produce(&self, topic: &str, bytes: usize, records: i64) {
        if !self.enabled {
            return;
        }
        let labels = TopicLabels {
            topic: topic.to_string(),
        };
        self.bytes_in.get_or_create(&labels).inc_by(bytes as u64);
        self.records_in
            .get_or_create(&labels)
            .inc_by(records.max(0) as u64);
    }

    /// Counts record bytes returned from `topic` to a fetch.
    pub(crate) fn record_fetch(&self, topic: &str, bytes: usize) {
        if self.enabled && bytes > 0 {
            self.bytes_out
                .get_or_create(&TopicLabels {
                    topic: topic.to_string(),
                })
                .inc_by(bytes as u64);
        }
    }

    /// Counts a connection as open until the returned guard drops (even by a panic).
    pub(crate) fn connection_opened(&self) -> OpenConnection {
        self.connections.inc();
        self.connections_accepted.inc();
        OpenConnection(self.connections.clone())
    }

    /// Forgets the per-topic counters of a deleted topic.
    pub(crate) fn forget_topic(&self, topic: &str) {
        let labels = TopicLabels {
            topic: topic.to_string(),
        };
        for family in [&self.bytes_in, &self.records_in, &self.bytes_out] {
            family.remove(&labels);
        }
    }

    /// Samples the broker's state and renders every metric.
    pub fn render(&self, broker: &Broker) -> String {
        let registry = self.lock_registry();
        self.sample(broker);
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
            tracing::error!(error = %e, "metrics do not encode");
        }
        out
    }

    fn sample(&self, broker: &Broker) {
        for family in [
            &self.log_start,
            &self.log_end,
            &self.high_watermark,
            &self.partition_size,
        ] {
            family.clear();
        }
        self.topic_partitions.clear();
        self.topic_size.clear();
        let partitions = broker.replicas().partitions();
        let per_partition = partitions.len() <= PER_PARTITION_LIMIT;
        for partition in &partitions {
            let tp = partition.topic_partition();
            let size = i64::try_from(partition.log().size_bytes()).unwrap_or(i64::MAX);
            let topic = TopicLabels {
                topic: tp.topic.clone(),
            };
            self.topic_partitions.get_or_create(&topic).inc();
            self.topic_size.get_or_create(&topic).inc_by(size);
            if per_partition {
                let labels = PartitionLabels {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                };
                self.log_start
                    .get_or_create(&labels)
                    .set(partition.log_start_offset());
                self.log_end
                    .get_or_create(&labels)
                    .set(partition.log_end_offset());
                self.high_watermark
                    .get_or_create(&labels)
                    .set(partition.high_watermark());
                self.partition_size.get_or_create(&labels).set(size);
            }
        }
        self.sample_groups(broker);
        self.replication.sample(broker);
        self.sample_disk(&broker.config().data_dir);
        self.sample_process();
    }

    fn sample_disk(&self, data_dir: &std::path::Path) {
        match rustix::fs::statvfs(data_dir) {
            Ok(fs) => {
                let block = fs.f_frsize;
                let bytes =
                    |blocks: u64| i64::try_from(blocks.saturating_mul(block)).unwrap_or(i64::MAX);
                self.data_dir_free.set(bytes(fs.f_bavail));
                self.data_dir_size.set(bytes(fs.f_blocks));
            }
            Err(e) => tracing::debug!(error = %e, "cannot stat the data directory's file system"),
        }
    }

    fn sample_groups(&self, broker: &Broker) {
        self.groups.clear();
        self.group_lag.clear();
        let groups = broker.groups().try_view_all(|group| {
            let offsets: Vec<(String, i32, i64)> = group
                .offsets()
                .iter()
                .map(|(tp, c)| (tp.topic.clone(), tp.partition, c.offset))
                .collect();
            (group.id().to_string(), group.state().kafka_name(), offsets)
        });
        for (group, state, offsets) in groups {
            self.groups.get_or_create(&StateLabels { state }).inc();
            for (topic, partition, committed) in offsets {
                let tp = streambus_storage::TopicPartition::new(topic.clone(), partition);
                let Some(hosted) = broker.replicas().partition(&tp) else {
                    continue;
                };
                let lag = (hosted.high_watermark() - committed).max(0);
                self.group_lag
                    .get_or_create(&GroupTopicLabels {
                        group: group.clone(),
                        topic,
                    })
                    .inc_by(lag);
            }
        }
    }

    fn sample_process(&self) {
        let process = ProcessStats::read();
        self.resident_memory.set(process.resident_bytes);
        let mut seen = self
            .cpu_seconds_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if process.cpu_seconds > *seen {
            self.cpu_seconds.inc_by(process.cpu_seconds - *seen);
            *seen = process.cpu_seconds;
        }
        self.open_fds.set(process.open_fds);
    }
}

/// Exports the storage crate's process-wide fsync histogram at each scrape.
#[derive(Debug)]
struct FsyncCollector;

impl prometheus_client::collector::Collector for FsyncCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        let snapshot = streambus_storage::fsync_stats().snapshot();
        let mut metric = encoder.encode_descriptor(
            "streambus_fsync_duration_seconds",
            "Time each group-commit fsync of partition data took",
            None,
            prometheus_client::metrics::MetricType::Histogram,
        )?;
        metric.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            snapshot.sum_seconds,
            snapshot.count,
            &snapshot.buckets,
            None,
        )
    }
}

/// An open connection in the `streambus_connections` gauge.
pub(crate) struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What `/proc/self` says of the process; zeros where it cannot be read.
#[derive(Debug, Default)]
struct ProcessStats {
    resident_bytes: i64,
    cpu_seconds: f64,
    open_fds: i64,
}

impl ProcessStats {
    /// Linux's `/proc/self/stat` counts CPU time in clock ticks; `USER_HZ` is 100 on every
    /// architecture Linux exposes to user space.
    const TICKS_PER_SECOND: f64 = 100.0;
    /// Pages of `/proc/self/statm`; 4 KiB on the targets the broker builds for.
    const PAGE_SIZE: i64 = 4096;

    fn read() -> ProcessStats {
        let mut stats = ProcessStats::default();
        if let Ok(statm) = std::fs::read_to_string("/proc/self/statm")
            && let Some(pages) = statm
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<i64>().ok())
        {
            stats.resident_bytes = pages * Self::PAGE_SIZE;
        }
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the line, so 11 and 12 after the name.
            let ticks: f64 = [11, 12]
                .iter()
                .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
                .sum();
            stats.cpu_seconds = ticks / Self::TICKS_PER_SECOND;
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            stats.open_fds = entries.count() as i64;
        }
        stats
    }
}
