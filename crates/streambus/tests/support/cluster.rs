//! A cluster of `streambus serve` processes on loopback for the cluster tests: three nodes
//! with one `--voters` list, started together, each killable (SIGKILL), pausable (SIGSTOP)
//! and restartable on its own data directory; and what the tests read of it through
//! librdkafka: each node's view of a topic, agreement among the nodes, records produced with
//! acks=all and read back.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{
    BaseRecord, DefaultProducerContext, DeliveryResult, Producer, ProducerContext, ThreadedProducer,
};
use rdkafka::{Offset, TopicPartitionList};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use streambus_testkit::FaultProxy;
use tempfile::TempDir;

use super::{Launch, Server, poll};

pub const NODES: i32 = 3;
/// How long a cluster may take to agree on something.
pub const AGREE: Duration = Duration::from_secs(30);

/// The voter list of `ports`: `1@127.0.0.1:P1,2@...`.
pub fn voters(ports: &[u16]) -> String {
    let entries: Vec<String> = ports
        .iter()
        .zip(1..)
        .map(|(port, id)| format!("{id}@127.0.0.1:{port}"))
        .collect();
    entries.join(",")
}

/// Free loopback ports for the quorum listeners (bound and released: the nodes bind them).
pub fn free_ports(n: i32) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

pub struct Cluster {
    pub dirs: Vec<TempDir>,
    /// Each node's `--voters` (the same list unless the cluster runs behind proxies).
    voters: Vec<String>,
    /// Each node's quorum listener, when it is not its entry in its voter list.
    controller_addrs: Vec<Option<String>>,
    /// The proxy that carries node `from`'s quorum traffic to node `to`: `(from, to, proxy)`.
    proxies: Vec<(i32, i32, FaultProxy)>,
    /// Each node's `--rack`, if any.
    racks: Vec<Option<String>>,
    nodes: Vec<Option<Server>>,
}

impl Cluster {
    /// Starts every node at once (each waits for the others to form the quorum).
    pub fn start() -> Result<Cluster> {
        Cluster::start_in_racks(vec![None; NODES as usize])
    }

    /// Starts every node at once, each in its rack (`--rack`) if it has one.
    pub fn start_in_racks(racks: Vec<Option<&str>>) -> Result<Cluster> {
        let list = voters(&free_ports(NODES));
        Cluster::start_nodes(
            vec![list; NODES as usize],
            vec![None; NODES as usize],
            Vec::new(),
            racks.into_iter().map(|r| r.map(str::to_owned)).collect(),
        )
    }

    /// Starts every node with its quorum traffic to each other node through a proxy of its
    /// own, so that [`isolate`](Cluster::isolate) can cut one node off from the others'
    /// quorum while clients and the other brokers' Kafka connections still reach it. (The
    /// voter lists differ per node, and with them the derived cluster ids.)
    pub fn start_behind_proxies() -> Result<Cluster> {
        let ports = free_ports(NODES);
        let mut proxies = Vec::new();
        for from in 1..=NODES {
            for to in (1..=NODES).filter(|to| *to != from) {
                let target = std::net::SocketAddr::from(([127, 0, 0, 1], ports[(to - 1) as usize]));
                proxies.push((from, to, FaultProxy::start(target)));
            }
        }
        let lists = (1..=NODES)
            .map(|from| {
                let entries: Vec<String> = (1..=NODES)
                    .map(|to| {
                        let port = proxies
                            .iter()
                            .find(|(f, t, _)| *f == from && *t == to)
                            .map_or(ports[(to - 1) as usize], |(_, _, p)| p.addr().port());
                        format!("{to}@127.0.0.1:{port}")
                    })
                    .collect();
                entries.join(",")
            })
            .collect();
        let binds = ports
            .iter()
            .map(|p| Some(format!("127.0.0.1:{p}")))
            .collect();
        Cluster::start_nodes(lists, binds, proxies, vec![None; NODES as usize])
    }

    fn start_nodes(
        voters: Vec<String>,
        controller_addrs: Vec<Option<String>>,
        proxies: Vec<(i32, i32, FaultProxy)>,
        racks: Vec<Option<String>>,
    ) -> Result<Cluster> {
        let dirs: Vec<TempDir> = (0..NODES).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut cluster = Cluster {
            dirs,
            voters,
            controller_addrs,
            proxies,
            racks,
            nodes: Vec::new(),
        };
        let mut spawned = Vec::new();
        for id in 1..=NODES {
            spawned.push(cluster.launch(id).spawn()?);
        }
        for server in &mut spawned {
            server.await_serving()?;
        }
        cluster.nodes = spawned.into_iter().map(Some).collect();
        Ok(cluster)
    }

    /// Starts one more node, outside the voter list: an observer, a broker that follows the
    /// metadata quorum without a vote, on a controller address of its own. Its id.
    pub fn add_observer(&mut self) -> Result<i32> {
        let id = self.nodes.len() as i32 + 1;
        let port = free_ports(1)[0];
        self.dirs.push(tempfile::tempdir()?);
        self.voters.push(self.voters[0].clone());
        self.controller_addrs
            .push(Some(format!("127.0.0.1:{port}")));
        self.racks.push(None);
        self.nodes.push(None);
        self.restart(id)?;
        Ok(id)
    }

    pub fn launch(&self, id: i32) -> Launch {
        let mut launch = Launch::new(self.dirs[(id - 1) as usize].path());
        launch.node_id = Some(id);
        let index = (id - 1) as usize;
        launch.extra = vec!["--voters".into(), self.voters[index].clone()];
        if let Some(addr) = &self.controller_addrs[index] {
            launch
                .extra
                .extend(["--controller-addr".into(), addr.clone()]);
        }
        if let Some(rack) = &self.racks[index] {
            launch.extra.extend(["--rack".into(), rack.clone()]);
        }
        // A stopped follower leaves the ISR after 2 s rather than Kafka's 30, and a dead
        // broker's session ends after 2 s.
        launch
            .env
            .push(("STREAMBUS_REPLICA_LAG_TIME_MAX_MS".into(), "2000".into()));
        launch
            .env
            .push(("STREAMBUS_BROKER_SESSION_TIMEOUT_MS".into(), "2000".into()));
        // The test's own default is `info`, which would bring the Raft library's logs back.
        launch.env.push(("STREAMBUS_LOG".into(), String::new()));
        launch
    }

    /// Black-holes node `id`'s quorum links both ways: it neither hears from the others'
    /// quorum nor is heard. Only for a cluster started behind proxies.
    pub fn isolate(&self, id: i32) {
        for (from, to, proxy) in &self.proxies {
            if *from == id || *to == id {
                proxy.blackhole();
            }
        }
    }

    /// Opens node `id`'s quorum links again.
    pub fn heal(&self, id: i32) {
        for (from, to, proxy) in &self.proxies {
            if *from == id || *to == id {
                proxy.heal();
            }
        }
    }

    pub fn node(&self, id: i32) -> &Server {
        self.nodes[(id - 1) as usize]
            .as_ref()
            .expect("the node runs")
    }

    pub fn live(&self) -> impl Iterator<Item = (i32, &Server)> {
        self.nodes
            .iter()
            .zip(1..)
            .filter_map(|(node, id)| node.as_ref().map(|n| (id, n)))
    }

    pub fn bootstrap(&self) -> String {
        let all: Vec<String> = self.live().map(|(_, n)| n.bootstrap()).collect();
        all.join(",")
    }

    /// The quorum leader as node `id`'s health report names it.
    pub fn quorum_leader(&self, id: i32) -> Option<i32> {
        let (_, body) = self.node(id).http_get("/health").ok()?;
        let at = body.find("led by node ")? + "led by node ".len();
        body[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    }

    pub fn kill(&mut self, id: i32) -> Result<()> {
        let node = self.nodes[(id - 1) as usize]
            .take()
            .context("not running")?;
        node.sigkill()
    }

    /// Stops node `id` with SIGTERM (a clean shutdown: it hands its leaderships over first)
    /// and waits for it to exit, at most [`AGREE`]: its whole stderr. A node that exits
    /// unsuccessfully is an error.
    pub fn stop(&mut self, id: i32) -> Result<String> {
        let node = self.nodes[(id - 1) as usize]
            .take()
            .context("not running")?;
        let (status, stderr) = node.terminate(AGREE)?;
        ensure!(
            status.success(),
            "node {id} exited with {status} after SIGTERM:\n{stderr}"
        );
        Ok(stderr)
    }

    pub fn restart(&mut self, id: i32) -> Result<()> {
        let server = self.launch(id).start()?;
        self.nodes[(id - 1) as usize] = Some(server);
        Ok(())
    }
}

/// Makes node `id` the leader of `topic`-`partition` (a replica of it, in sync) the way an
/// operator would: its replicas reordered with `id` first (AlterPartitionReassignments),
/// then a preferred election (ElectLeaders), through the repository's admin client; waits
/// until every node reports it.
pub fn lead_from(cluster: &Cluster, topic: &str, partition: i32, id: i32) -> Result<()> {
    let (_, views) = agreed_view(cluster, topic)?;
    let current = &views[&partition];
    ensure!(
        current.isr.contains(&id),
        "node {id} is not in sync: {current:?}"
    );
    if current.leader == id {
        return Ok(());
    }
    let mut replicas = vec![id];
    replicas.extend(current.replicas.iter().copied().filter(|r| *r != id));
    super::block_on(async {
        let admin = streambus_client::admin::Admin::connect(streambus_client::ClientConfig::new(
            &cluster.bootstrap(),
        ))
        .await?;
        let reordered = admin
            .alter_partition_reassignments(&[streambus_client::admin::PartitionMove {
                partition: (topic.to_owned(), partition),
                replicas: Some(replicas.clone()),
            }])
            .await?;
        for outcome in reordered {
            outcome.result?;
        }
        let elected = admin
            .elect_leaders(
                streambus_client::admin::ElectionType::Preferred,
                Some(&[(topic.to_owned(), partition)]),
            )
            .await?;
        for outcome in elected {
            outcome.result?;
        }
        anyhow::Ok(())
    })?;
    agreed(cluster, topic, |v| v[&partition].leader == id)?;
    Ok(())
}

/// The value of the sample named exactly `sample` (`name{labels}`) in node `id`'s
/// `/metrics`, if it is there.
pub fn metric(cluster: &Cluster, id: i32, sample: &str) -> Option<f64> {
    let (_, body) = cluster.node(id).http_get("/metrics").ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix(sample).and_then(|v| v.trim().parse().ok()))
}

/// What a node reports of a partition: leader, replicas and in-sync replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// Brokers and each partition of `topic`, as the node at `bootstrap` reports them.
pub fn view(bootstrap: &str, topic: &str) -> Option<(Vec<i32>, BTreeMap<i32, PartitionView>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .ok()?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()?;
    let mut brokers: Vec<i32> = metadata.brokers().iter().map(|b| b.id()).collect();
    brokers.sort_unstable();
    let found = metadata.topics().iter().find(|t| t.name() == topic)?;
    if found.error().is_some() {
        return None;
    }
    let partitions = found
        .partitions()
        .iter()
        .map(|p| {
            let mut isr = p.isr().to_vec();
            isr.sort_unstable();
            let view = PartitionView {
                leader: p.leader(),
                replicas: p.replicas().to_vec(),
                isr,
            };
            (p.id(), view)
        })
        .collect();
    Some((brokers, partitions))
}

/// Waits until every live node reports the same brokers and partitions for `topic`, and
/// `wanted` holds of them.
pub fn agreed(
    cluster: &Cluster,
    topic: &str,
    wanted: impl Fn(&BTreeMap<i32, PartitionView>) -> bool,
) -> Result<(Vec<i32>, BTreeMap<i32, PartitionView>)> {
    let mut last = Vec::new();
    poll("every node to agree on the topic", AGREE, || {
        last = cluster
            .live()
            .map(|(_, n)| view(&n.bootstrap(), topic))
            .collect();
        let views: Vec<_> = last.iter().cloned().collect::<Option<_>>()?;
        (views.windows(2).all(|w| w[0] == w[1]) && wanted(&views[0].1)).then(|| views[0].clone())
    })
    .with_context(|| format!("the nodes' last views of {topic}: {last:?}"))
}

pub fn agreed_view(
    cluster: &Cluster,
    topic: &str,
) -> Result<(Vec<i32>, BTreeMap<i32, PartitionView>)> {
    agreed(cluster, topic, |_| true)
}

/// Creates `topic` through `bootstrap` with `replication_factor` replicas per partition.
pub fn create_replicated(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replication_factor: i32,
) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(15)));
    let new = NewTopic::new(
        topic,
        partitions,
        TopicReplication::Fixed(replication_factor),
    );
    for result in super::block_on(admin.create_topics(&[new], &options))? {
        result.map_err(|(name, code)| anyhow::anyhow!("create topic {name}: {code}"))?;
    }
    Ok(())
}

/// The bytes of `topic-partition`'s first segment in node `id`'s data directory.
pub fn segment_bytes(cluster: &Cluster, id: i32, topic: &str, partition: i32) -> Vec<u8> {
    let path = cluster.dirs[(id - 1) as usize]
        .path()
        .join(format!("{topic}-{partition}"))
        .join("00000000000000000000.log");
    std::fs::read(path).unwrap_or_default()
}

pub fn value(partition: i32, seq: u32) -> Vec<u8> {
    format!("p{partition}-seq{seq}").into_bytes()
}

/// Produces `per_partition` records to each partition with acks=all, through any node.
pub fn produce(bootstrap: &str, topic: &str, partitions: i32, per_partition: u32) -> Result<()> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "20000")
        .create()?;
    for seq in 0..per_partition {
        for partition in 0..partitions {
            let payload = value(partition, seq);
            producer
                .send(
                    BaseRecord::<(), _>::to(topic)
                        .partition(partition)
                        .payload(&payload),
                )
                .map_err(|(e, _)| e)?;
        }
    }
    producer.flush(Duration::from_secs(30))?;
    ensure!(producer.in_flight_count() == 0, "records left undelivered");
    Ok(())
}

/// Reads every partition from the beginning: the values of each, in offset order.
pub fn read(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    per_partition: u32,
) -> Result<BTreeMap<i32, Vec<Vec<u8>>>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "cluster-test-reader")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut read: BTreeMap<i32, Vec<Vec<u8>>> = BTreeMap::new();
    let wanted = (partitions as usize) * per_partition as usize;
    poll("every record to be read", AGREE, || {
        while let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.ok()?;
            read.entry(message.partition())
                .or_default()
                .push(message.payload().unwrap_or_default().to_vec());
        }
        (read.values().map(Vec::len).sum::<usize>() >= wanted).then_some(())
    })?;
    Ok(read)
}

pub fn expected(partitions: i32, per_partition: u32) -> BTreeMap<i32, Vec<Vec<u8>>> {
    (0..partitions)
        .map(|p| (p, (0..per_partition).map(|seq| value(p, seq)).collect()))
        .collect()
}

/// A record the producer was told is acknowledged.
#[derive(Debug, Clone)]
pub struct Acked {
    pub partition: i32,
    pub offset: i64,
    pub value: Vec<u8>,
    /// When the acknowledgement arrived.
    pub at: Instant,
}

/// What a streaming producer was told: acknowledgements in order of arrival, and the
/// failures (the first ten with their error).
#[derive(Default)]
pub struct Deliveries {
    pub acked: Mutex<Vec<Acked>>,
    pub failed: AtomicUsize,
    pub errors: Mutex<Vec<String>>,
}

impl Deliveries {
    /// How many records are acknowledged so far.
    pub fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }
}

/// Records every delivery report into its [`Deliveries`].
pub struct Recorder(pub Arc<Deliveries>);

impl ClientContext for Recorder {}

impl ProducerContext for Recorder {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => self.0.acked.lock().unwrap().push(Acked {
                partition: message.partition(),
                offset: message.offset(),
                value: message.payload().unwrap_or_default().to_vec(),
                at: Instant::now(),
            }),
            Err((error, message)) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
                let mut errors = self.0.errors.lock().unwrap();
                if errors.len() < 10 {
                    errors.push(format!("partition {}: {error}", message.partition()));
                }
            }
        }
    }
}

/// An acks=all librdkafka producer for streaming through faults, reporting into
/// `deliveries`. A stopping, paused or cut-off broker answers nothing or closes its
/// connections; these settings make librdkafka give up on requests to it and look for the
/// new leaders soon (its defaults wait 30 s and 60 s).
pub fn streaming_producer(
    bootstrap: &str,
    deliveries: Arc<Deliveries>,
) -> Result<ThreadedProducer<Recorder>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("retry.backoff.ms", "50")
        .set("message.timeout.ms", "30000")
        .set("request.timeout.ms", "3000")
        .set("socket.timeout.ms", "3000")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .create_with_context(Recorder(deliveries))?)
}
