//! Which metadata log a broker runs on, and how it follows what others commit.
//!
//! A broker started without voters keeps its metadata in a [`LocalMetadataLog`] under
//! `__cluster_metadata` (the single-node form). Started with `--voters`, it is a node of a
//! Raft quorum ([`RaftMetadataLog`]) under `__cluster_metadata_raft`; any node can commit, and
//! each applies what the quorum agreed. The two directories never mix: a data directory
//! that holds one is refused by the other, since nothing converts one into the other.
//!
//! On a quorum, records committed by other nodes (a topic created through another broker)
//! change this node's image without a call on this node, so a follower thread waits for
//! each new image and hosts or drops partitions and loads group partitions to match.

use std::ops::Deref;
use std::path::Path;
use std::sync::Weak;
use std::time::{Duration, Instant};

use streambus_metadata::{
    CommitError, LOG_FILE, LocalMetadataLog, MetadataConfig, MetadataLog, MetadataRecord,
    QuorumConfig, QuorumStatus, RaftMetadataLog, Voter,
};

use crate::Broker;
use crate::config::BrokerConfig;
use crate::startup::BrokerError;

/// The single-node metadata log's directory inside the data directory.
pub(crate) const LOCAL_DIR: &str = "__cluster_metadata";
/// The quorum node's directory inside the data directory.
/// (Not `<name>-<n>`, which the log manager would take for a partition.)
pub(crate) const QUORUM_DIR: &str = "__cluster_metadata_raft";

/// How long a follower waits for a new image before it checks whether to stop.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// The metadata quorum a broker belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumSettings {
    /// Every voter: the same list on every node. A node outside it is an observer, a
    /// broker that follows the metadata log without a vote.
    pub voters: Vec<Voter>,
    /// Where this node's quorum listener binds, if not at its own voter address (to bind
    /// `0.0.0.0` while the others reach it by name, say). An observer must have one, the
    /// address the voters reach it at.
    pub controller_addr: Option<std::net::SocketAddr>,
    /// How long a starting broker waits for the quorum to elect a leader and accept its
    /// registration: the other voters may start later.
    pub join_timeout: Duration,
}

impl QuorumSettings {
    /// The quorum of `voters`, bound at this node's voter address, waiting up to two
    /// minutes at start for the others.
    pub fn new(voters: Vec<Voter>) -> QuorumSettings {
        QuorumSettings {
            voters,
            controller_addr: None,
            join_timeout: Duration::from_secs(120),
        }
    }
}

/// The broker's metadata log: local, or a node of a quorum.
pub(crate) enum ClusterMetadata {
    Local(LocalMetadataLog),
    Quorum(RaftMetadataLog),
}

impl Deref for ClusterMetadata {
    type Target = dyn MetadataLog;

    fn deref(&self) -> &(dyn MetadataLog + 'static) {
        match self {
            ClusterMetadata::Local(log) => log,
            ClusterMetadata::Quorum(log) => log,
        }
    }
}

impl ClusterMetadata {
    /// Opens the log `config` asks for in the data directory.
    pub(crate) fn open(config: &BrokerConfig) -> Result<ClusterMetadata, BrokerError> {
        let dir = &config.data_dir;
        let (local, quorum) = (dir.join(LOCAL_DIR), dir.join(QUORUM_DIR));
        let Some(settings) = &config.quorum else {
            if quorum.exists() {
                return Err(mixed(
                    &quorum,
                    "holds the metadata of a quorum: start with --voters",
                ));
            }
            let log = LocalMetadataLog::open(&local, MetadataConfig::default())?;
            return Ok(ClusterMetadata::Local(log));
        };
        if local.join(LOG_FILE).exists() {
            return Err(mixed(
                &local,
                "holds single-node metadata, which a quorum node does not take over: start without --voters, or use a new data directory",
            ));
        }
        let node_id = u64::try_from(config.node_id).unwrap_or(u64::MAX);
        let mut quorum_config = QuorumConfig::new(node_id, settings.voters.clone(), quorum);
        if !quorum_config.is_voter() {
            // An observer: its controller address is where the voters reach it.
            quorum_config.observer_addr = settings.controller_addr;
        }
        let log = match settings.controller_addr {
            None => RaftMetadataLog::open(quorum_config)?,
            Some(addr) => {
                let listener =
                    std::net::TcpListener::bind(addr).map_err(|e| BrokerError::DataDir {
                        path: addr.to_string(),
                        reason: format!("cannot bind the controller address: {e}"),
                    })?;
                RaftMetadataLog::open_with_listener(quorum_config, listener)?
            }
        };
        Ok(ClusterMetadata::Quorum(log))
    }

    /// The quorum's state as this node sees it; `None` on a single node.
    pub(crate) fn quorum_status(&self) -> Option<QuorumStatus> {
        match self {
            ClusterMetadata::Local(_) => None,
            ClusterMetadata::Quorum(log) => Some(log.status()),
        }
    }

    /// The nodes whose session is live, if this node leads the metadata quorum (see
    /// [`RaftMetadataLog::live_nodes`]); `None` on any other node of a quorum and on a
    /// single node, where there is no one else to watch.
    pub(crate) fn live_nodes(
        &self,
        session_timeout: Duration,
    ) -> Option<std::collections::BTreeSet<i32>> {
        match self {
            ClusterMetadata::Local(_) => None,
            ClusterMetadata::Quorum(log) => log.live_nodes(session_timeout).map(|nodes| {
                nodes
                    .into_iter()
                    .filter_map(|node| i32::try_from(node).ok())
                    .collect()
            }),
        }
    }

    /// The node clients are told is the controller: the quorum's leader if one is known,
    /// else this node (as on a single node, which is its own controller).
    pub(crate) fn controller_id(&self, own: i32) -> i32 {
        self.quorum_status()
            .and_then(|status| status.leader)
            .and_then(|leader| i32::try_from(leader).ok())
            .unwrap_or(own)
    }

    /// Commits `records` from wherever the broker runs. A quorum commit waits on the
    /// network (a leader, a majority's fsyncs) and up to the commit timeout without a
    /// leader, so on a worker of a multi-threaded runtime it tells tokio that this worker
    /// blocks, and the worker's other tasks move elsewhere meanwhile.
    pub(crate) fn commit_from_task(
        &self,
        records: Vec<MetadataRecord>,
    ) -> Result<u64, CommitError> {
        let on_worker = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        match self {
            ClusterMetadata::Quorum(log) if on_worker => {
                tokio::task::block_in_place(|| log.commit(records))
            }
            _ => self.commit(records),
        }
    }

    /// Commits `records`, retrying while the quorum has no leader or does not answer, for
    /// up to `patience`: what a starting broker does while the other voters come up. A
    /// refusal is returned at once; on a single node there is nothing to wait for.
    pub(crate) fn commit_patiently(
        &self,
        records: Vec<MetadataRecord>,
        patience: Duration,
    ) -> Result<u64, CommitError> {
        let deadline = Instant::now() + patience;
        let mut warned = false;
        loop {
            match self.commit(records.clone()) {
                Err(e @ (CommitError::NoLeader { .. } | CommitError::OutcomeUnknown { .. }))
                    if Instant::now() < deadline =>
                {
                    if !warned {
                        tracing::warn!(error = %e, "waiting for the metadata quorum");
                        warned = true;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }
}

fn mixed(dir: &Path, reason: &str) -> BrokerError {
    BrokerError::DataDir {
        path: dir.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Starts the thread that keeps a quorum node's hosted partitions and loaded groups in step
/// with the image; it ends when the broker is dropped or closed. Nothing to follow on a
/// single node, where every change is made by this node's own calls. It never commits
/// anything itself, so a quorum that is slow to answer never delays what it applies.
pub(crate) fn spawn_follower(
    broker: &std::sync::Arc<Broker>,
) -> Option<std::thread::JoinHandle<()>> {
    if !matches!(broker.metadata, ClusterMetadata::Quorum(_)) {
        return None;
    }
    let weak: Weak<Broker> = std::sync::Arc::downgrade(broker);
    let mut seen = broker.metadata.last_offset();
    std::thread::Builder::new()
        .name("metadata-follower".into())
        .spawn(move || {
            loop {
                let Some(broker) = weak.upgrade() else { return };
                if broker.is_closing() {
                    return;
                }
                if broker
                    .metadata
                    .wait_for_offset(seen + 1, FOLLOW_POLL)
                    .is_none()
                {
                    continue;
                }
                seen = broker.metadata.last_offset();
                if let Err(e) = broker.host_partitions().and_then(|()| broker.load_groups()) {
                    tracing::error!(error = %e, "cannot follow the metadata");
                }
            }
        })
        .map_err(|e| tracing::error!(error = %e, "cannot start the metadata follower"))
        .ok()
}

/// Starts the thread that commits the ISR changes this node's leaderships propose (see
/// `isr`), apart from the follower so that a commit waiting on the quorum never holds up
/// applying the metadata. `None` on a single node, whose partitions have one replica.
pub(crate) fn spawn_isr_committer(
    broker: &std::sync::Arc<Broker>,
) -> Option<std::thread::JoinHandle<()>> {
    if !matches!(broker.metadata, ClusterMetadata::Quorum(_)) {
        return None;
    }
    let weak: Weak<Broker> = std::sync::Arc::downgrade(broker);
    std::thread::Builder::new()
        .name("isr-committer".into())
        .spawn(move || {
            loop {
                std::thread::sleep(FOLLOW_POLL);
                let Some(broker) = weak.upgrade() else { return };
                if broker.is_closing() {
                    return;
                }
                if broker.commit_isr_changes()
                    && let Err(e) = broker.host_partitions()
                {
                    tracing::error!(error = %e, "cannot take up an ISR change");
                }
            }
        })
        .map_err(|e| tracing::error!(error = %e, "cannot start the ISR committer"))
        .ok()
}
