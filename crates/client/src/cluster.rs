//! The client's view of a cluster: which brokers exist, which broker leads each partition,
//! and one connection per broker, each behind its own circuit breaker.
//!
//! Metadata is fetched on demand (the first time a topic is needed, after an error that
//! says leadership moved, or when older than `metadata_max_age`) and shared by every task of
//! one producer, consumer or admin client. Connections are opened lazily and replaced when
//! they fail; a broker whose breaker is open is skipped without trying.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use streambus_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use streambus_protocol::messages::metadata_response::MetadataResponse;

use crate::backoff::Breaker;
use crate::call::Call;
use crate::config::ClientConfig;
use crate::connection::Connection;
use crate::error::{Error, Result};

/// A broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// Its node id.
    pub node_id: i32,
    /// Its advertised `host:port`.
    pub addr: String,
    /// Its rack, if configured.
    pub rack: Option<String>,
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition index.
    pub id: i32,
    /// The leader's node id, -1 while there is none.
    pub leader: i32,
    /// The leader epoch, -1 if the broker does not say.
    pub leader_epoch: i32,
    /// Node ids of the replicas.
    pub replicas: Vec<i32>,
    /// Node ids of the in-sync replicas.
    pub isr: Vec<i32>,
}

/// A topic and its partitions, in partition order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// The name.
    pub name: String,
    /// The topic id.
    pub id: [u8; 16],
    /// Whether it is one of the broker's internal topics.
    pub internal: bool,
    /// Its partitions, index `i` at position `i`.
    pub partitions: Vec<PartitionInfo>,
}

/// Brokers, topics and connections, shared by the tasks of one client.
pub struct Cluster {
    config: ClientConfig,
    state: Mutex<State>,
    /// One connect at a time per address, so that concurrent callers share it.
    connecting: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    brokers: BTreeMap<i32, BrokerInfo>,
    controller: Option<i32>,
    cluster_id: Option<String>,
    topics: HashMap<String, (TopicInfo, Instant)>,
    connections: HashMap<String, Arc<Connection>>,
    breakers: HashMap<String, Breaker>,
}

impl State {
    /// The breaker of the broker at `addr`, closed when first asked for.
    fn breaker(&mut self, addr: &str, config: crate::backoff::BreakerConfig) -> &mut Breaker {
        self.breakers
            .entry(addr.to_owned())
            .or_insert_with(|| Breaker::new(config))
    }
}

impl Cluster {
    /// Connects to the first bootstrap address that answers and learns the brokers.
    pub async fn connect(config: ClientConfig) -> Result<Arc<Cluster>> {
        config.validate()?;
        let cluster = Arc::new(Cluster {
            config,
            state: Mutex::new(State::default()),
            connecting: tokio::sync::Mutex::new(()),
        });
        cluster.refresh(Some(&[]), false).await?;
        Ok(cluster)
    }

    /// The settings this client was made with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The brokers, by node id, as the last metadata named them.
    pub fn brokers(&self) -> Vec<BrokerInfo> {
        self.lock().brokers.values().cloned().collect()
    }

    /// The controller's node id and the cluster id, as the last metadata named them.
    pub fn controller_and_id(&self) -> (Option<i32>, Option<String>) {
        let state = self.lock();
        (state.controller, state.cluster_id.clone())
    }

    /// The topic's partitions and leaders, from the cache while it is fresh. An unknown
    /// topic is `UNKNOWN_TOPIC_OR_PARTITION`, unless `auto_create` asks the broker to
    /// create it (where the broker allows that).
    pub async fn topic(&self, name: &str, auto_create: bool) -> Result<TopicInfo> {
        if let Some((topic, fetched)) = self.lock().topics.get(name)
            && fetched.elapsed() < self.config.metadata_max_age
        {
            return Ok(topic.clone());
        }
        self.refresh(Some(&[name.to_owned()]), auto_create).await?;
        self.lock()
            .topics
            .get(name)
            .map(|(topic, _)| topic.clone())
            .ok_or_else(|| Error::Kafka {
                code: streambus_protocol::ErrorCode::UnknownTopicOrPartition,
                context: format!("topic {name}"),
                message: None,
            })
    }

    /// The partition count of `topic` from fresh cached metadata, without copying it: the
    /// producer's per-record fast path.
    pub fn cached_partition_count(&self, topic: &str) -> Option<i32> {
        let state = self.lock();
        let (info, fetched) = state.topics.get(topic)?;
        (fetched.elapsed() < self.config.metadata_max_age)
            .then(|| i32::try_from(info.partitions.len()).unwrap_or(i32::MAX))
    }

    /// The leader of `topic`-`partition` from fresh cached metadata, if one is known.
    pub fn cached_leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let state = self.lock();
        let (info, fetched) = state.topics.get(topic)?;
        let leader = info
            .partitions
            .get(usize::try_from(partition).ok()?)?
            .leader;
        (fetched.elapsed() < self.config.metadata_max_age && leader >= 0).then_some(leader)
    }

    /// Forgets the cached metadata of `topic`, so that the next use fetches it again.
    pub fn invalidate(&self, topic: &str) {
        self.lock().topics.remove(topic);
    }

    /// Fetches metadata for `topics` (all topics for `None`) and updates the cache. Topics
    /// the broker reports with an error are dropped from the cache and returned as errors
    /// in the response for the caller to read.
    pub async fn refresh(
        &self,
        topics: Option<&[String]>,
        auto_create: bool,
    ) -> Result<MetadataResponse> {
        let request = MetadataRequest {
            topics: topics.map(|names| {
                names
                    .iter()
                    .map(|name| MetadataRequestTopic {
                        topic_id: [0; 16],
                        name: Some(name.clone()),
                    })
                    .collect()
            }),
            allow_auto_topic_creation: auto_create,
            include_cluster_authorized_operations: false,
            include_topic_authorized_operations: false,
        };
        let response = self.call_any(request).await?;
        self.absorb(&response, topics);
        Ok(response)
    }

    fn absorb(&self, response: &MetadataResponse, asked: Option<&[String]>) {
        let now = Instant::now();
        let mut state = self.lock();
        if !response.brokers.is_empty() {
            state.brokers = response
                .brokers
                .iter()
                .map(|b| {
                    let info = BrokerInfo {
                        node_id: b.node_id,
                        addr: format!("{}:{}", b.host, b.port),
                        rack: b.rack.clone(),
                    };
                    (b.node_id, info)
                })
                .collect();
        }
        state.controller = (response.controller_id >= 0).then_some(response.controller_id);
        state.cluster_id.clone_from(&response.cluster_id);
        if asked.is_none() {
            state.topics.clear();
        }
        for topic in &response.topics {
            let Some(name) = &topic.name else { continue };
            if topic.error_code != 0 {
                state.topics.remove(name);
                continue;
            }
            let mut partitions: Vec<PartitionInfo> = topic
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    id: p.partition_index,
                    leader: if p.error_code == 0 { p.leader_id } else { -1 },
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.clone(),
                    isr: p.isr_nodes.clone(),
                })
                .collect();
            partitions.sort_by_key(|p| p.id);
            let info = TopicInfo {
                name: name.clone(),
                id: topic.topic_id,
                internal: topic.is_internal,
                partitions,
            };
            state.topics.insert(name.clone(), (info, now));
        }
    }

    /// The leader of `topic`-`partition`, from fresh-enough metadata.
    pub async fn leader(&self, topic: &str, partition: i32) -> Result<i32> {
        let info = self.topic(topic, false).await?;
        let found = usize::try_from(partition)
            .ok()
            .and_then(|i| info.partitions.get(i));
        match found {
            None => Err(Error::Kafka {
                code: streambus_protocol::ErrorCode::UnknownTopicOrPartition,
                context: format!(
                    "partition {partition} of {topic} (it has {})",
                    info.partitions.len()
                ),
                message: None,
            }),
            Some(p) if p.leader < 0 => {
                self.invalidate(topic);
                Err(Error::Kafka {
                    code: streambus_protocol::ErrorCode::LeaderNotAvailable,
                    context: format!("{topic}-{partition}"),
                    message: None,
                })
            }
            Some(p) => Ok(p.leader),
        }
    }

    /// Sends `request` to broker `node_id`.
    pub async fn call_node<R: Call>(&self, node_id: i32, request: R) -> Result<R::Response> {
        let addr = self.addr_of(node_id)?;
        self.call_addr(&addr, request).await
    }

    /// Sends `request` to the controller (any broker if none is known).
    pub async fn call_controller<R: Call + Clone>(&self, request: R) -> Result<R::Response> {
        let controller = self.lock().controller;
        match controller {
            Some(node) => self.call_node(node, request).await,
            None => self.call_any(request).await,
        }
    }

    /// Sends `request` to any broker that answers: the known brokers first, then the
    /// bootstrap addresses. Fails with the last error when none does.
    pub async fn call_any<R: Call + Clone>(&self, request: R) -> Result<R::Response> {
        let mut addrs: Vec<String> = self
            .lock()
            .brokers
            .values()
            .map(|b| b.addr.clone())
            .collect();
        for addr in &self.config.bootstrap {
            if !addrs.contains(addr) {
                addrs.push(addr.clone());
            }
        }
        let mut last = None;
        for addr in &addrs {
            match self.call_addr(addr, request.clone()).await {
                Ok(response) => return Ok(response),
                Err(e) if e.is_retriable() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Invalid("no broker address known".into())))
    }

    /// Sends `request` to the broker at `addr`, through its breaker.
    pub async fn call_addr<R: Call>(&self, addr: &str, request: R) -> Result<R::Response> {
        let connection = self.connection(addr).await?;
        let result = connection.call(request).await;
        self.record(addr, &result);
        result
    }

    /// Writes `request` to broker `node_id` and returns a future of its response: requests
    /// started one after another reach the broker in that order.
    pub async fn start_call_node<R: Call>(
        self: &Arc<Self>,
        node_id: i32,
        request: R,
    ) -> Result<impl Future<Output = Result<R::Response>> + Send + 'static + use<R>> {
        let addr = self.addr_of(node_id)?;
        let connection = self.connection(&addr).await?;
        let started = connection.start(request).await;
        if started.is_err() {
            self.record(&addr, &started);
        }
        let response = started?;
        let cluster = self.clone();
        Ok(async move {
            let result = response.await;
            cluster.record(&addr, &result);
            result
        })
    }

    /// Sends `request`, which gets no response, to broker `node_id`.
    pub async fn send_only<R: Call>(&self, node_id: i32, request: R) -> Result<()> {
        let addr = self.addr_of(node_id)?;
        let connection = self.connection(&addr).await?;
        let result = connection.send_only(request).await;
        self.record(&addr, &result);
        result
    }

    /// The open connection to `addr`, or a new one if the breaker lets us try.
    pub async fn connection(&self, addr: &str) -> Result<Arc<Connection>> {
        if let Some(open) = self.open_connection(addr) {
            return Ok(open);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(open) = self.open_connection(addr) {
            return Ok(open);
        }
        self.allow(addr)?;
        let opened = Connection::open(
            addr,
            &self.config.client_id,
            self.config.connect_timeout,
            self.config.request_timeout,
        )
        .await;
        self.record(addr, &opened);
        let connection = Arc::new(opened?);
        self.lock()
            .connections
            .insert(addr.to_owned(), connection.clone());
        Ok(connection)
    }

    fn open_connection(&self, addr: &str) -> Option<Arc<Connection>> {
        let mut state = self.lock();
        let connection = state.connections.get(addr)?;
        if !connection.is_closed() {
            return Some(connection.clone());
        }
        state.connections.remove(addr);
        None
    }

    /// Asks the broker's breaker whether a connection attempt may go now.
    fn allow(&self, addr: &str) -> Result<()> {
        let mut state = self.lock();
        state
            .breaker(addr, self.config.breaker)
            .allow(Instant::now())
            .map_err(|refused| Error::CircuitOpen {
                addr: addr.to_owned(),
                failures: refused.failures,
                retry_in: refused.retry_in,
            })
    }

    /// Feeds a result to the broker's breaker: transport failures count, Kafka errors do not
    /// (the broker answered).
    fn record<T>(&self, addr: &str, result: &Result<T>) {
        let failed = matches!(
            result,
            Err(Error::NoBroker { .. }
                | Error::Connect { .. }
                | Error::Disconnected { .. }
                | Error::Timeout { .. })
        );
        let mut state = self.lock();
        let breaker = state.breaker(addr, self.config.breaker);
        if failed {
            breaker.record_failure(Instant::now());
            state.connections.remove(addr);
        } else if !matches!(result, Err(Error::CircuitOpen { .. })) {
            breaker.record_success();
        }
    }

    fn addr_of(&self, node_id: i32) -> Result<String> {
        self.lock()
            .brokers
            .get(&node_id)
            .map(|b| b.addr.clone())
            .ok_or_else(|| Error::Kafka {
                code: streambus_protocol::ErrorCode::BrokerNotAvailable,
                context: format!("broker {node_id} is not in the cluster metadata"),
                message: None,
            })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
