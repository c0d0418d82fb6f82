//! `ReplicaManager`: the partitions this broker hosts.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use streambus_storage::{LogConfig, LogManager, StorageError, TopicPartition};
use thiserror::Error;

use crate::partition::Partition;

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
}

/// Every partition hosted by this broker.
pub struct ReplicaManager {
    logs: Arc<LogManager>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
}

impl ReplicaManager {
    /// A manager over the logs of a data directory.
    pub fn new(logs: Arc<LogManager>) -> Self {
        ReplicaManager {
            logs,
            partitions: RwLock::new(HashMap::new()),
        }
    }

    /// The log manager underneath.
    pub fn logs(&self) -> &Arc<LogManager> {
        &self.logs
    }

    /// Makes this broker the leader of `tp` at `leader_epoch` with the topic's config,
    /// creating its log if it has none. Idempotent.
    pub fn become_leader(
        &self,
        tp: &TopicPartition,
        leader_epoch: i32,
        config: &LogConfig,
    ) -> Result<Arc<Partition>, ReplicationError> {
        if let Some(partition) = self.partition(tp) {
            partition.set_leader_epoch(leader_epoch);
            if *partition.log().config() != *config {
                partition.log().set_config(config.clone())?;
            }
            return Ok(partition);
        }
        let log = self.logs.get_or_create(tp)?;
        if *log.config() != *config {
            log.set_config(config.clone())?;
        }
        let partition = Arc::new(Partition::new(tp.clone(), log, leader_epoch));
        self.write().insert(tp.clone(), Arc::clone(&partition));
        Ok(partition)
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
