//! Opening a broker's data directory, and closing it cleanly.
//!
//! `meta.properties` in the data directory records the cluster id and node id the directory
//! belongs to (as in Kafka), so a directory is never served by a broker with another id.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use streambus_coordinator::GroupCoordinator;
use streambus_metadata::{MetadataError, MetadataRecord};
use streambus_replication::state::LeaderConfig;
use streambus_replication::{FollowerSpec, LeaderSpec, ReplicaManager, ReplicationError};
use streambus_storage::{LogManager, LogManagerConfig, StorageError, TopicPartition};
use thiserror::Error;

use crate::cluster_metadata::{self, ClusterMetadata};
use crate::config::{BrokerConfig, ConfigError};
use crate::controller;
use crate::{Broker, topic_config};

/// How long a stopping broker tries to hand its leaderships over.
const HANDOFF_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Identity of the data directory.
const META_PROPERTIES: &str = "meta.properties";

/// Why a broker could not start or stop cleanly.
#[derive(Debug, Error)]
pub enum BrokerError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The logs could not be opened or closed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The metadata log could not be opened or written.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// A partition could not be hosted.
    #[error(transparent)]
    Replication(#[from] ReplicationError),
    /// The consumer groups could not be loaded from `__consumer_offsets`.
    #[error(transparent)]
    Groups(#[from] streambus_coordinator::runtime::LoadError),
    /// The metadata refused a record the broker wrote at start.
    #[error("metadata refused the broker's registration: {0}")]
    Registration(String),
    /// `meta.properties` belongs to another node, or cannot be read or written.
    #[error("{path}: {reason}")]
    DataDir {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl Broker {
    /// Opens the data directory (logs, metadata), registers the broker and hosts the
    /// partitions the metadata assigns to it.
    pub fn open(config: BrokerConfig) -> Result<Arc<Broker>, BrokerError> {
        config.validate()?;
        let dir = config.data_dir.clone();
        fs::create_dir_all(&dir).map_err(|e| data_dir_error(&dir, e.to_string()))?;
        let new_id = || match &config.quorum {
            Some(quorum) => quorum_cluster_id(&quorum.voters),
            None => new_cluster_id(),
        };
        let cluster_id = read_or_create_identity(&dir, config.node_id, new_id)?;
        let mut logs_config = LogManagerConfig::new(&dir);
        logs_config.defaults = config.log.clone();
        let (logs, report) = LogManager::open(logs_config)?;
        for (tp, error) in &report.failed {
            tracing::error!(partition = %tp, %error, "partition log is damaged and will not be served");
        }
        let metadata = ClusterMetadata::open(&config)?;
        let broker = Arc::new(Broker {
            cluster_id,
            metadata,
            replicas: ReplicaManager::new(Arc::new(logs)),
            next_connection_id: AtomicU64::new(1),
            producer_ids: Mutex::new((0, 0)),
            admin: tokio::sync::Mutex::new(()),
            maintenance: Mutex::new(None),
            fetch_sessions: Mutex::new(Default::default()),
            groups: GroupCoordinator::new(
                config.group.clone(),
                config.offsets_topic_num_partitions,
            ),
            metrics: crate::BrokerMetrics::new(config.metrics_enabled),
            damaged: report.failed.iter().map(|(tp, _)| tp.clone()).collect(),
            hosting: Mutex::new(()),
            isr_proposals: Mutex::new(Vec::new()),
            closing: AtomicBool::new(false),
            handed_over: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            config,
        });
        broker.register()?;
        broker.host_partitions()?;
        broker.load_groups()?;
        broker
            .threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(
                cluster_metadata::spawn_follower(&broker)
                    .into_iter()
                    .chain(cluster_metadata::spawn_isr_committer(&broker))
                    .chain(controller::spawn_controller(&broker)),
            );
        let handle = broker.replicas.logs().spawn_maintenance(
            broker.config.flush_check_interval,
            broker.config.retention_check_interval,
        );
        *broker
            .maintenance
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(handle);
        Ok(broker)
    }

    /// Hands this node's partition leaderships to other in-sync replicas (Kafka's controlled
    /// shutdown); a stopping cluster node calls it while it still serves, before its
    /// listeners close, so that followers can fetch what the new leaders need. Nothing to
    /// do on a single node. `close` calls it too, for whatever is still led by then.
    pub fn hand_over_leaderships(&self) {
        if !self.handed_over.swap(true, Ordering::AcqRel) {
            controller::move_leadership_away(self, HANDOFF_TIMEOUT);
        }
    }

    /// Stops background work and closes every log and the metadata log cleanly.
    pub fn close(&self) -> Result<(), BrokerError> {
        // Leaderships move to other in-sync replicas first, while this node still serves
        // them data (Kafka's controlled shutdown).
        self.hand_over_leaderships();
        self.closing.store(true, Ordering::Release);
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for thread in threads {
            // A background thread may itself hold the last reference and be the one closing.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
        self.groups.shutdown();
        self.maintenance
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.replicas.logs().close()?;
        self.metadata.close()?;
        Ok(())
    }

    /// Records this broker's address and rack in the metadata if they changed.
    fn register(&self) -> Result<(), BrokerError> {
        let addr = &self.config.advertised_addr;
        let image = self.metadata.image();
        let current = image.broker(self.config.node_id);
        if current.is_some_and(|b| {
            b.host == addr.host && b.port == addr.port && b.rack == self.config.rack
        }) {
            return Ok(());
        }
        let record = MetadataRecord::RegisterBroker {
            node_id: self.config.node_id,
            host: addr.host.clone(),
            port: addr.port,
            rack: self.config.rack.clone(),
        };
        let patience = self
            .config
            .quorum
            .as_ref()
            .map_or(std::time::Duration::ZERO, |q| q.join_timeout);
        self.metadata
            .commit_patiently(vec![record], patience)
            .map_err(|e| BrokerError::Registration(e.to_string()))?;
        Ok(())
    }

    /// Hosts every partition the metadata makes this broker a replica of, as its leader or
    /// as a follower of its leader, and stops hosting the rest. Logs on disk that no topic
    /// claims are left alone and reported: they may be data whose metadata was lost, which
    /// only an operator should delete. A partition that cannot take up its role is logged
    /// and left out; the others go on.
    pub(crate) fn host_partitions(&self) -> Result<(), BrokerError> {
        let _hosting = self.hosting.lock().unwrap_or_else(PoisonError::into_inner);
        let image = self.metadata.image();
        let own = self.config.node_id;
        let mut wanted = HashSet::new();
        for topic in image.topics() {
            let config = topic_config::log_config(&self.config.log, &topic.configs);
            for partition in &topic.partitions {
                if !partition.replicas.contains(&own) {
                    continue;
                }
                let tp = TopicPartition::new(topic.name.clone(), partition.partition);
                if self.damaged.contains(&tp) {
                    // Reported at open; creating it afresh would hide the damage.
                    continue;
                }
                let hosted = if partition.leader == own {
                    let spec = LeaderSpec {
                        own_id: own,
                        replicas: partition.replicas.clone(),
                        isr: partition.isr.clone(),
                        leader_epoch: partition.leader_epoch,
                        partition_epoch: partition.partition_epoch,
                        config: LeaderConfig {
                            replica_lag_time_max_ms: self.config.replica_lag_time_max.as_millis()
                                as i64,
                            min_insync_replicas: topic_config::min_insync_replicas(&topic.configs)
                                .max(1) as usize,
                        },
                    };
                    self.replicas.become_leader(&tp, &spec, &config)
                } else {
                    let leader = image.broker(partition.leader);
                    let spec = FollowerSpec {
                        own_id: own,
                        leader: leader.map_or(-1, |b| b.node_id),
                        leader_addr: leader
                            .map_or_else(String::new, |b| format!("{}:{}", b.host, b.port)),
                        leader_epoch: partition.leader_epoch,
                    };
                    self.replicas.become_follower(&tp, &spec, &config)
                };
                if let Err(e) = hosted {
                    tracing::error!(partition = %tp, error = %e, "cannot host the partition");
                    continue;
                }
                wanted.insert(tp);
            }
        }
        for partition in self.replicas.partitions() {
            if !wanted.contains(partition.topic_partition()) {
                self.replicas
                    .delete_partition(partition.topic_partition())?;
            }
        }
        for tp in self.replicas.logs().partitions() {
            if !wanted.contains(&tp) && !self.damaged.contains(&tp) {
                tracing::warn!(partition = %tp, "a log on disk belongs to no topic; it is not served");
            }
        }
        Ok(())
    }
}

fn data_dir_error(path: &Path, reason: String) -> BrokerError {
    BrokerError::DataDir {
        path: path.display().to_string(),
        reason,
    }
}

/// Reads `meta.properties`, checking the node id, or writes it with the cluster id `new_id`
/// makes.
fn read_or_create_identity(
    dir: &Path,
    node_id: i32,
    new_id: impl FnOnce() -> String,
) -> Result<String, BrokerError> {
    let path = dir.join(META_PROPERTIES);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let value = |key: &str| {
                text.lines()
                    .filter_map(|line| line.split_once('='))
                    .find(|(k, _)| k.trim() == key)
                    .map(|(_, v)| v.trim().to_string())
            };
            let cluster_id =
                value("cluster.id").ok_or_else(|| data_dir_error(&path, "no cluster.id".into()))?;
            let stored: Option<i32> = value("node.id").and_then(|v| v.parse().ok());
            if stored != Some(node_id) {
                return Err(data_dir_error(
                    &path,
                    format!(
                        "the data directory belongs to node {}, not node {node_id}",
                        stored.map_or("(unknown)".to_string(), |n| n.to_string())
                    ),
                ));
            }
            Ok(cluster_id)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let cluster_id = new_id();
            let text = format!("version=1\ncluster.id={cluster_id}\nnode.id={node_id}\n");
            let tmp = path.with_extension("tmp");
            fs::write(&tmp, text)
                .and_then(|()| fs::File::open(&tmp)?.sync_all())
                .and_then(|()| fs::rename(&tmp, &path))
                .map_err(|e| data_dir_error(&path, e.to_string()))?;
            Ok(cluster_id)
        }
        Err(e) => Err(data_dir_error(&path, e.to_string())),
    }
}

/// A Kafka-style cluster id: a random UUID in URL-safe base64 without padding (22 chars).
fn new_cluster_id() -> String {
    encode_cluster_id(u128::from_be_bytes(uuid::Uuid::new_v4().into_bytes()))
}

/// The cluster id of the quorum of `voters`: the same on every node without their agreeing
/// on anything but the voter list they are all given (Kafka has each node formatted with one
/// id instead). Two FNV-1a hashes of the sorted `id@addr` entries make its 128 bits.
fn quorum_cluster_id(voters: &[streambus_metadata::Voter]) -> String {
    let mut entries: Vec<String> = voters
        .iter()
        .map(|v| format!("{}@{}", v.id, v.addr))
        .collect();
    entries.sort();
    let text = entries.join(",");
    let fnv = |seed: u64| {
        text.bytes().fold(seed, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let high = fnv(0xcbf2_9ce4_8422_2325);
    let low = fnv(0x8422_2325_cbf2_9ce4);
    encode_cluster_id((u128::from(high) << 64) | u128::from(low))
}

fn encode_cluster_id(mut bits: u128) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // 128 bits as 22 six-bit digits, least significant last (the first holds 2 bits).
    let mut chars = ['A'; 22];
    for c in chars.iter_mut().rev() {
        *c = char::from(ALPHABET[(bits & 0x3f) as usize]);
        bits >>= 6;
    }
    chars.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_are_22_url_safe_chars() {
        let id = new_cluster_id();
        assert_eq!(id.len(), 22);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(id, new_cluster_id());
    }

    #[test]
    fn a_quorum_has_one_cluster_id_whatever_the_order_of_its_voters() {
        let voters =
            streambus_metadata::Voter::parse_list("1@127.0.0.1:9093,2@127.0.0.1:9095").unwrap();
        let reversed: Vec<_> = voters.iter().rev().copied().collect();
        let id = quorum_cluster_id(&voters);
        assert_eq!(id.len(), 22);
        assert_eq!(id, quorum_cluster_id(&reversed));
        let other =
            streambus_metadata::Voter::parse_list("1@127.0.0.1:9093,2@127.0.0.1:9096").unwrap();
        assert_ne!(id, quorum_cluster_id(&other));
    }

    #[test]
    fn identity_is_kept_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let first = read_or_create_identity(dir.path(), 3, new_cluster_id).unwrap();
        assert_eq!(
            read_or_create_identity(dir.path(), 3, new_cluster_id).unwrap(),
            first
        );
        let err = read_or_create_identity(dir.path(), 4, new_cluster_id).unwrap_err();
        assert!(
            err.to_string().contains("belongs to node 3, not node 4"),
            "{err}"
        );
    }
}
