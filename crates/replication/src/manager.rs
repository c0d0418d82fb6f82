//! `ReplicaManager`: the partitions this broker hosts.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use streambus_storage::{LogConfig, LogManager, StorageError, TopicPartition};
use thiserror::Error;

use crate::following::FollowerSpec;
use crate::leader_link::LeaderLinks;
use crate::leading::LeaderSpec;
use crate::partition::{Partition, Role};
use crate::state::IsrProposal;

/// Why a replica operation failed.
#[derive(Debug, Error)]
pub enum ReplicationError {
    /// The broker does not host the partition (UNKNOWN_TOPIC_OR_PARTITION).
    #[error("this broker does not host {partition}")]
    UnknownPartition {
        /// The partition.
        partition: TopicPartition,
    },
    /// An offset beyond what may be deleted or read (OFFSET_OUT_OF_RANGE).
    #[error("offset {offset} is out of range [{log_start}, {high_watermark}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: i64,
        /// First offset held.
        log_start: i64,
        /// The high watermark.
        high_watermark: i64,
    },
    /// The log refused or failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A blocking task panicked or was cancelled.
    #[error("a storage task did not complete")]
    TaskFailed,
    /// This broker hosts the partition but does not lead it (NOT_LEADER_OR_FOLLOWER).
    #[error("this broker does not lead {partition}")]
    NotLeader {
        /// The partition.
        partition: TopicPartition,
    },
    /// The in-sync replicas did not all take an `acks=all` append in time
    /// (REQUEST_TIMED_OUT).
    #[error("the in-sync replicas of {partition} did not take the append within {timeout:?}")]
    ReplicationTimeout {
        /// The partition.
        partition: TopicPartition,
        /// How long the append waited.
        timeout: std::time::Duration,
    },
    /// The append is committed, but the ISR shrank below `min.insync.replicas` meanwhile
    /// (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
    #[error("the ISR of {partition} shrank below min.insync.replicas after the append")]
    NotEnoughReplicasAfterAppend {
        /// The partition.
        partition: TopicPartition,
    },
    /// A follower's fetch does not fit the leader's state (an unknown replica, an offset
    /// past the log end).
    #[error("follower fetch of {partition} refused: {reason}")]
    FollowerFetch {
        /// The partition.
        partition: TopicPartition,
        /// Why.
        reason: String,
    },
    /// The metadata describes a state the replica cannot take up.
    #[error("cannot take up the role for {partition}: {reason}")]
    State {
        /// The partition.
        partition: TopicPartition,
        /// Why.
        reason: String,
    },
    /// A follower needs a runtime for its fetcher and the manager has none.
    #[error("no async runtime to fetch {partition} from its leader")]
    NoRuntime {
        /// The partition.
        partition: TopicPartition,
    },
}

/// Every partition hosted by this broker.
pub struct ReplicaManager {
    logs: Arc<LogManager>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Where followers' fetchers run: the runtime the manager was created in, if any.
    runtime: Option<tokio::runtime::Handle>,
    /// The followers' fetch links, one per leader.
    links: LeaderLinks,
}

impl ReplicaManager {
    /// A manager over the logs of a data directory.
    pub fn new(logs: Arc<LogManager>) -> Self {
        ReplicaManager {
            logs,
            partitions: RwLock::new(HashMap::new()),
            runtime: tokio::runtime::Handle::try_current().ok(),
            links: LeaderLinks::default(),
        }
    }

    /// The log manager underneath.
    pub fn logs(&self) -> &Arc<LogManager> {
        &self.logs
    }

    /// Makes this broker the leader of `tp` as `spec` says, with the topic's log config,
    /// creating its log if it has none. Idempotent.
    pub fn become_leader(
        &self,
        tp: &TopicPartition,
        spec: &LeaderSpec,
        config: &LogConfig,
    ) -> Result<Arc<Partition>, ReplicationError> {
        let partition = self.host(tp, config)?;
        partition.make_leader(spec)?;
        Ok(partition)
    }

    /// Makes this broker a follower of `tp` as `spec` says, creating its log if it has
    /// none, and starts fetching from the leader. Idempotent.
    pub fn become_follower(
        &self,
        tp: &TopicPartition,
        spec: &FollowerSpec,
        config: &LogConfig,
    ) -> Result<Arc<Partition>, ReplicationError> {
        let partition = self.host(tp, config)?;
        let fetching = self.runtime.as_ref().map(|runtime| (runtime, &self.links));
        partition.make_follower(spec, fetching)?;
        Ok(partition)
    }

    /// The hosted partition, created (as a follower of nobody) if new; its log config set.
    fn host(
        &self,
        tp: &TopicPartition,
        config: &LogConfig,
    ) -> Result<Arc<Partition>, ReplicationError> {
        if let Some(partition) = self.partition(tp) {
            if *partition.log().config() != *config {
                partition.log().set_config(config.clone())?;
            }
            return Ok(partition);
        }
        let log = self.logs.get_or_create(tp)?;
        if *log.config() != *config {
            log.set_config(config.clone())?;
        }
        let role = Role::Follower {
            leader: -1,
            fetcher: None,
        };
        let partition = Arc::new(Partition::new(tp.clone(), log, role));
        let mut partitions = self.write();
        let partition = partitions.entry(tp.clone()).or_insert(partition);
        Ok(Arc::clone(partition))
    }

    /// The hosted partition if this broker leads it.
    pub fn leading(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partition(tp).filter(|p| p.is_leader())
    }

    /// Lets every led partition check its followers' lag: the ISR changes to propose.
    pub fn tick(&self) -> Vec<(Arc<Partition>, IsrProposal)> {
        self.partitions()
            .into_iter()
            .filter_map(|p| p.tick().map(|proposal| (p, proposal)))
            .collect()
    }

    /// Stops hosting `tp` and deletes its log.
    pub fn delete_partition(&self, tp: &TopicPartition) -> Result<(), ReplicationError> {
        self.write().remove(tp);
        match self.logs.delete(tp) {
            Ok(()) | Err(StorageError::Log { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The hosted partition, if any.
    pub fn partition(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.read().get(tp).cloned()
    }

    /// The hosted partition, or `UnknownPartition`.
    pub fn leader(&self, tp: &TopicPartition) -> Result<Arc<Partition>, ReplicationError> {
        self.partition(tp)
            .ok_or_else(|| ReplicationError::UnknownPartition {
                partition: tp.clone(),
            })
    }

    /// Every hosted partition.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.read().values().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TopicPartition, Arc<Partition>>> {
        self.partitions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<TopicPartition, Arc<Partition>>> {
        self.partitions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
