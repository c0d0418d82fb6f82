//! The StreamBus broker: Kafka listeners, connections, request dispatch, and one handler per
//! Kafka API under `handlers/`.
//!
//! A request's way through the broker: [`serve`] accepts the connection, `connection` reads
//! and decodes frames (through the `protocol` crate), `dispatch` routes each request to its
//! handler with a [`RequestContext`], and the handler reaches partitions through the
//! `replication` crate's `ReplicaManager` and cluster state through the `metadata` crate.
//! The broker holds no storage logic of its own.

mod cluster_metadata;
mod config;
mod connection;
mod context;
mod dispatch;
mod errors;
mod fetch_session;
mod groups;
mod handlers;
mod health;
mod isr;
mod metrics;
mod partition_commit;
mod partition_moves;
mod placement;
mod replication_metrics;
mod server;
mod startup;
mod topic_config;
mod topics;

mod controller;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use streambus_coordinator::GroupCoordinator;
use streambus_metadata::{ApplyError, CommitError, MetadataImage, MetadataRecord};
use streambus_replication::ReplicaManager;
use streambus_replication::state::IsrProposal;
use streambus_storage::MaintenanceHandle;

pub use cluster_metadata::QuorumSettings;
pub use config::{AdvertisedAddr, BrokerConfig, ConfigError};
pub use context::{ConnectionInfo, RequestContext};
pub use groups::PartitionLag;
pub use health::{ComponentHealth, HealthStatus};
pub use metrics::{BrokerMetrics, PER_PARTITION_LIMIT};
pub use server::serve;
pub use startup::BrokerError;
pub use streambus_metadata::{QuorumRole, QuorumStatus, Voter};

/// Producer ids a broker takes from the metadata at a time.
const PRODUCER_ID_BLOCK: i64 = 1000;

/// A running broker's state, shared by every connection.
pub struct Broker {
    config: BrokerConfig,
    cluster_id: String,
    metadata: cluster_metadata::ClusterMetadata,
    replicas: ReplicaManager,
    next_connection_id: AtomicU64,
    /// Producer ids left in the block this broker holds: `(next, end)`.
    producer_ids: Mutex<(i64, i64)>,
    /// Serialises topic creation, deletion and partition changes, which touch both the
    /// metadata and the logs.
    admin: tokio::sync::Mutex<()>,
    maintenance: Mutex<Option<MaintenanceHandle>>,
    fetch_sessions: Mutex<fetch_session::FetchSessions>,
    /// The consumer groups of the `__consumer_offsets` partitions this broker leads.
    groups: Arc<GroupCoordinator>,
    metrics: BrokerMetrics,
    /// Partition logs that could not be opened at start, and are not served.
    damaged: Vec<streambus_storage::TopicPartition>,
    /// Serialises changes to the hosted partitions: a quorum node's follower thread and
    /// this node's own topic commands both make them.
    hosting: Mutex<()>,
    /// ISR changes led partitions proposed, for the metadata follower to commit.
    isr_proposals: Mutex<Vec<(Arc<streambus_replication::Partition>, IsrProposal)>>,
    /// Set by `close`, so that background threads stop.
    closing: AtomicBool,
    /// Set once leaderships have been handed over (controlled shutdown), which a stop does
    /// at most once.
    handed_over: AtomicBool,
    /// The metadata follower and controller threads of a quorum node.
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Broker {
    /// The configuration the broker runs with.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// The cluster id, generated when the data directory was first used.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.metadata.image()
    }

    /// The metadata quorum as this node sees it; `None` on a single node.
    pub fn quorum_status(&self) -> Option<QuorumStatus> {
        self.metadata.quorum_status()
    }

    /// The node clients are told is the controller.
    pub fn controller_id(&self) -> i32 {
        self.metadata.controller_id(self.config.node_id)
    }

    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// The partitions this broker hosts.
    pub fn replicas(&self) -> &ReplicaManager {
        &self.replicas
    }

    /// The broker's metrics.
    pub fn metrics(&self) -> &BrokerMetrics {
        &self.metrics
    }

    /// Every metric in the OpenMetrics text format, for `/metrics`.
    pub fn render_metrics(&self) -> String {
        self.metrics.render(self)
    }

    /// Serves one Kafka request from inside the process (the HTTP admin API), at the
    /// highest version the broker serves for its API, through the same handlers, checks and
    /// metrics as a request from a Kafka client. `peer` is the address of whoever asked, for
    /// logs and group member hosts. `None` only for Produce with acks=0.
    pub async fn call(
        &self,
        listener: &'static str,
        peer: std::net::SocketAddr,
        request: streambus_protocol::Request,
    ) -> Option<streambus_protocol::Response> {
        let api = request.api_key();
        let ctx = RequestContext {
            connection: ConnectionInfo {
                id: 0,
                peer,
                listener,
                principal: context::ANONYMOUS.to_string(),
            },
            api_key: api as i16,
            api_version: api.supported().max,
            correlation_id: 0,
            client_id: Some(listener.to_string()),
        };
        dispatch::handle(self, &ctx, request).await
    }

    /// Hands out the next producer id of this broker's block. When the block is used up (or
    /// at the first call after a start) a new block is committed to the metadata first, so
    /// an id is never handed out twice, across restarts too.
    pub(crate) fn next_producer_id(&self) -> Result<i64, errors::KafkaError> {
        let mut ids = self
            .producer_ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if ids.0 >= ids.1 {
            let first = self.take_producer_id_block()?;
            *ids = (first, first.saturating_add(PRODUCER_ID_BLOCK));
            tracing::debug!(
                first,
                size = PRODUCER_ID_BLOCK,
                "took a block of producer ids"
            );
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// Commits the next block of producer ids to this node and returns its first id. On a
    /// quorum another node may take the same block first, or this node's image may not yet
    /// show the last block taken; the refused commit is then retried on a newer image.
    fn take_producer_id_block(&self) -> Result<i64, errors::KafkaError> {
        const ATTEMPTS: usize = 5;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let image = self.metadata.image();
            let first = image.next_producer_id();
            let block = vec![MetadataRecord::ProducerIds {
                node_id: self.config.node_id,
                first_producer_id: first,
                block_size: PRODUCER_ID_BLOCK,
            }];
            match self.metadata.commit_from_task(block) {
                Ok(_) => return Ok(first),
                Err(CommitError::Rejected {
                    source: ApplyError::ProducerIdBlockMismatch { .. },
                    ..
                }) if attempt < ATTEMPTS => {
                    self.metadata
                        .wait_for_offset(image.offset() + 1, std::time::Duration::from_millis(100));
                }
                Err(e) => {
                    tracing::error!(error = %e, "metadata commit failed");
                    return Err(errors::KafkaError::new(
                        streambus_protocol::ErrorCode::UnknownServerError,
                        e.to_string(),
                    ));
                }
            }
        }
    }

    fn lock_fetch_sessions(&self) -> std::sync::MutexGuard<'_, fetch_session::FetchSessions> {
        self.fetch_sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
