//! Three `streambus serve` processes forming one cluster through the metadata quorum
//! (`--voters`): every node shows the same brokers, topics and leaders; partitions are spread
//! over the nodes and each is served by its leader, with librdkafka routing to it; the
//! quorum keeps committing when its leader is SIGKILLed, and the killed node comes back on
//! its directory with what was decided without it. `STREAMBUS_TEST_ECHO=1` echoes the logs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use support::{Launch, Server, create_topic, poll};
use tempfile::TempDir;

const NODES: i32 = 3;
/// How long a cluster may take to agree on something.
const AGREE: Duration = Duration::from_secs(30);

/// The voter list of `ports`: `1@127.0.0.1:P1,2@...`.
fn voters(ports: &[u16]) -> String {
    let entries: Vec<String> = ports
        .iter()
        .zip(1..)
        .map(|(port, id)| format!("{id}@127.0.0.1:{port}"))
        .collect();
    entries.join(",")
}

/// Free loopback ports for the quorum listeners (bound and released: the nodes bind them).
fn free_ports(n: i32) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

struct Cluster {
    dirs: Vec<TempDir>,
    voters: String,
    nodes: Vec<Option<Server>>,
}

impl Cluster {
    /// Starts every node at once (each waits for the others to form the quorum).
    fn start() -> Result<Cluster> {
        let voters = voters(&free_ports(NODES));
        let dirs: Vec<TempDir> = (0..NODES).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut cluster = Cluster {
            dirs,
            voters,
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

    fn launch(&self, id: i32) -> Launch {
        let mut launch = Launch::new(self.dirs[(id - 1) as usize].path());
        launch.node_id = Some(id);
        launch.extra = vec!["--voters".into(), self.voters.clone()];
        launch
    }

    fn node(&self, id: i32) -> &Server {
        self.nodes[(id - 1) as usize]
            .as_ref()
            .expect("the node runs")
    }

    fn live(&self) -> impl Iterator<Item = (i32, &Server)> {
        self.nodes
            .iter()
            .zip(1..)
            .filter_map(|(node, id)| node.as_ref().map(|n| (id, n)))
    }

    fn bootstrap(&self) -> String {
        let all: Vec<String> = self.live().map(|(_, n)| n.bootstrap()).collect();
        all.join(",")
    }

    /// The quorum leader as node `id`'s health report names it.
    fn quorum_leader(&self, id: i32) -> Option<i32> {
        let (_, body) = self.node(id).http_get("/health").ok()?;
        let at = body.find("led by node ")? + "led by node ".len();
        body[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    }

    fn kill(&mut self, id: i32) -> Result<()> {
        let node = self.nodes[(id - 1) as usize]
            .take()
            .context("not running")?;
        node.sigkill()
    }

    fn restart(&mut self, id: i32) -> Result<()> {
        let server = self.launch(id).start()?;
        self.nodes[(id - 1) as usize] = Some(server);
        Ok(())
    }
}

/// Brokers and each partition's leader of `topic`, as the node at `bootstrap` reports them.
fn view(bootstrap: &str, topic: &str) -> Option<(Vec<i32>, BTreeMap<i32, i32>)> {
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
    let leaders = found
        .partitions()
        .iter()
        .map(|p| (p.id(), p.leader()))
        .collect();
    Some((brokers, leaders))
}

/// Waits until every live node reports the same brokers and leaders for `topic`.
fn agreed_view(cluster: &Cluster, topic: &str) -> Result<(Vec<i32>, BTreeMap<i32, i32>)> {
    poll("every node to agree on the topic", AGREE, || {
        let views: Vec<_> = cluster
            .live()
            .map(|(_, n)| view(&n.bootstrap(), topic))
            .collect::<Option<_>>()?;
        views
            .windows(2)
            .all(|w| w[0] == w[1])
            .then(|| views[0].clone())
    })
}

fn value(partition: i32, seq: u32) -> Vec<u8> {
    format!("p{partition}-seq{seq}").into_bytes()
}

/// Produces `per_partition` records to each partition with acks=all, through any node.
fn produce(bootstrap: &str, topic: &str, partitions: i32, per_partition: u32) -> Result<()> {
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
fn read(
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

fn expected(partitions: i32, per_partition: u32) -> BTreeMap<i32, Vec<Vec<u8>>> {
    (0..partitions)
        .map(|p| (p, (0..per_partition).map(|seq| value(p, seq)).collect()))
        .collect()
}

#[test]
fn three_nodes_share_metadata_spread_partitions_and_survive_the_quorum_leaders_death() -> Result<()>
{
    let mut cluster = Cluster::start()?;
    let (topic, partitions, per_partition) = ("spread", 6, 50);
    create_topic(&cluster.node(2).bootstrap(), topic, partitions)?;
    let (brokers, leaders) = agreed_view(&cluster, topic)?;
    ensure!(brokers == [1, 2, 3], "brokers {brokers:?}");
    for id in 1..=NODES {
        let led = leaders.values().filter(|l| **l == id).count();
        ensure!(
            led == 2,
            "node {id} leads {led} of 6 partitions: {leaders:?}"
        );
    }

    produce(&cluster.bootstrap(), topic, partitions, per_partition)?;
    ensure!(
        read(
            &cluster.node(3).bootstrap(),
            topic,
            partitions,
            per_partition
        )? == expected(partitions, per_partition)
    );

    // The quorum leader dies; the two others elect a new one and keep deciding.
    let leader = poll("a quorum leader", AGREE, || cluster.quorum_leader(1))?;
    cluster.kill(leader)?;
    let survivor = (1..=NODES).find(|id| *id != leader).unwrap();
    poll("a topic created without the old leader", AGREE, || {
        create_topic(&cluster.node(survivor).bootstrap(), "after", 2).ok()
    })?;
    let new_leader = poll("a new quorum leader", AGREE, || {
        cluster.quorum_leader(survivor).filter(|l| *l != leader)
    })?;
    ensure!(new_leader != leader);

    // Back on its directory, the old leader learns what was decided and serves its data.
    cluster.restart(leader)?;
    let (brokers, _) = agreed_view(&cluster, "after")?;
    ensure!(
        brokers == [1, 2, 3],
        "brokers after the restart {brokers:?}"
    );
    ensure!(
        read(
            &cluster.node(leader).bootstrap(),
            topic,
            partitions,
            per_partition
        )? == expected(partitions, per_partition)
    );
    Ok(())
}
