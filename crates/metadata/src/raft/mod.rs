//! [`RaftMetadataLog`]: the metadata log agreed by a Raft quorum of controller voters
//! (ARCHITECTURE.md decision 4), with openraft kept entirely behind it.
//!
//! Pieces: `config` (settings and the voter list), `log_store` and `state_machine` (what
//! openraft stores, on disk in the quorum directory), `network` and `server` (the TCP
//! transport, our own framed protocol in `rpc` and `codec`), `write` (proposing and
//! forwarding a batch), `liveness` (heartbeats to the leader, and the leader's view of
//! which nodes are live), `join` (how an observer, a node outside the voter list, becomes a
//! learner that receives the log without a vote).
//!
//! The sync/async boundary: the quorum runs on a tokio runtime of its own, owned by the
//! log. [`MetadataLog::commit`] is synchronous broker code: it spawns the write onto that
//! runtime and blocks on a std channel for the answer; readers (`image`, `wait_for_offset`)
//! never touch the runtime, they read the image the state machine publishes.
//!
//! Invariants:
//! - offsets are Raft log indexes: a commit returns its entry's index, and the image's
//!   offset is the index of the last applied entry (of any kind), so offsets increase but
//!   have gaps (leader no-ops, membership entries, refused batches);
//! - on a pristine directory only the lowest voter id initializes the membership (all the
//!   voters); the others wait to hear from it. One voter is a one-node quorum on the same
//!   path, and elects itself at once. Observers never initialize; they join as learners;
//! - after `close`, the runtime is gone, the listener is closed, and commits fail with
//!   [`MetadataError::Closed`].

mod codec;
mod config;
mod disk;
mod join;
mod liveness;
mod log_store;
mod network;
mod rpc;
mod server;
mod state_machine;
mod types;
mod write;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

pub use config::{QuorumConfig, Voter};
use openraft::{BasicNode, ServerState};

use crate::error::{CommitError, IoContext, MetadataError};
use crate::image::MetadataImage;
use crate::log::MetadataLog;
use crate::record::MetadataRecord;
use liveness::Liveness;
use log_store::LogStore;
use network::{Network, Peers};
use state_machine::{Published, StateMachine};
use write::Writer;

/// Entries per AppendEntries request.
const MAX_PAYLOAD_ENTRIES: u64 = 32;
/// The largest encoded batch the quorum accepts: small enough that a full AppendEntries
/// request stays under the frame limit.
pub const MAX_BATCH_BYTES: usize =
    crate::frame::MAX_FRAME_BYTES / (2 * MAX_PAYLOAD_ENTRIES as usize);
/// How long `close` waits for the runtime's tasks to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// This node's part in the quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumRole {
    /// It leads: commits are proposed here.
    Leader,
    /// It follows a leader (or waits for one).
    Follower,
    /// It stands for election.
    Candidate,
    /// It replicates without a vote.
    Learner,
    /// It was closed.
    Stopped,
}

/// A snapshot of this node's view of the quorum, for health endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    /// This node's id.
    pub node_id: u64,
    /// The leader this node knows of, if any.
    pub leader: Option<u64>,
    /// The current Raft term.
    pub term: u64,
    /// This node's role.
    pub role: QuorumRole,
    /// The Raft index of the last entry applied to the image (0 if none).
    pub last_applied: u64,
}

/// The metadata log of a node of a Raft quorum: a [`MetadataLog`] that any voter can commit
/// to, replicated to and agreed by the voters.
pub struct RaftMetadataLog {
    config: QuorumConfig,
    writer: Arc<Writer>,
    published: Arc<Published>,
    liveness: Arc<Liveness>,
    handle: tokio::runtime::Handle,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    closed: AtomicBool,
    /// Holds the directory lock for as long as the log lives.
    _lock: File,
}

impl std::fmt::Debug for RaftMetadataLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftMetadataLog")
            .field("node_id", &self.config.node_id)
            .field("dir", &self.config.dir)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl RaftMetadataLog {
    /// Opens this node's quorum directory (created if absent), binds its voter (or
    /// observer) address and joins the quorum.
    pub fn open(config: QuorumConfig) -> Result<RaftMetadataLog, MetadataError> {
        config.validate()?;
        let addr = config
            .own_addr()
            .ok_or(crate::error::QuorumConfigError::NotAVoter {
                node_id: config.node_id,
            })?;
        let listener =
            TcpListener::bind(addr).map_err(|source| MetadataError::Listen { addr, source })?;
        RaftMetadataLog::open_with_listener(config, listener)
    }

    /// As [`open`](RaftMetadataLog::open), with the quorum listener already bound (tests
    /// bind port 0 first to learn their addresses).
    pub fn open_with_listener(
        config: QuorumConfig,
        listener: TcpListener,
    ) -> Result<RaftMetadataLog, MetadataError> {
        config.validate()?;
        let raft_config = Arc::new(config.raft_config()?);
        let dir = config.dir.clone();
        fs::create_dir_all(&dir).at("create", &dir)?;
        let lock = crate::local::lock_dir(&dir)?;
        disk::remove_leftovers(&dir)?;
        let log_store = LogStore::open(&dir)?;
        let published = Arc::new(Published::default());
        let state_machine = StateMachine::open(&dir, Arc::clone(&published))?;
        let pristine = log_store.is_pristine()? && published.image().offset() == 0;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("metadata-raft-{}", config.node_id))
            .enable_all()
            .build()
            .at("start the runtime for", &dir)?;
        let addr = listener.local_addr().at("inspect the listener of", &dir)?;
        listener
            .set_nonblocking(true)
            .map_err(|source| MetadataError::Listen { addr, source })?;
        let addrs: HashMap<u64, _> = config.voters.iter().map(|v| (v.id, v.addr)).collect();
        let liveness = Arc::new(Liveness::new(
            config.node_id,
            config.voters.iter().map(|v| v.id),
        ));
        let heartbeat_peers = Peers::new(config.node_id, addrs.clone());
        let join_peers = Peers::new(config.node_id, addrs.clone());
        let peers = Arc::new(Peers::new(config.node_id, addrs));
        let network = Network {
            peers: Arc::clone(&peers),
        };
        let raft_error = |reason: String| MetadataError::Raft { reason };

        let raft = runtime.block_on(async {
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|source| MetadataError::Listen { addr, source })?;
            let raft = types::Raft::new(
                config.node_id,
                raft_config,
                network,
                log_store,
                state_machine,
            )
            .await
            .map_err(|e| raft_error(e.to_string()))?;
            tokio::spawn(server::serve(
                listener,
                raft.clone(),
                Arc::clone(&liveness),
                config.commit_timeout,
            ));
            tokio::spawn(liveness::run(
                Arc::clone(&liveness),
                raft.clone(),
                heartbeat_peers,
                config.heartbeat_interval,
            ));
            if !config.is_voter() {
                tokio::spawn(join::run(
                    raft.clone(),
                    join_peers,
                    config.node_id,
                    config.observer_addr.unwrap_or(addr).to_string(),
                    config.voters.iter().map(|v| v.id).collect(),
                ));
            }
            let lowest = config.voters.iter().map(|v| v.id).min();
            if pristine && lowest == Some(config.node_id) {
                let members: BTreeMap<u64, BasicNode> = config
                    .voters
                    .iter()
                    .map(|v| (v.id, BasicNode::new(v.addr.to_string())))
                    .collect();
                raft.initialize(members)
                    .await
                    .map_err(|e| raft_error(format!("initialize the membership: {e}")))?;
                tracing::info!(node_id = config.node_id, "initialized the metadata quorum");
            }
            Ok::<_, MetadataError>(raft)
        })?;

        let writer = Arc::new(Writer {
            node_id: config.node_id,
            raft,
            peers,
            published: Arc::clone(&published),
            dir: dir.clone(),
        });
        Ok(RaftMetadataLog {
            handle: runtime.handle().clone(),
            runtime: Mutex::new(Some(runtime)),
            config,
            writer,
            published,
            liveness,
            closed: AtomicBool::new(false),
            _lock: lock,
        })
    }

    /// The node's settings.
    pub fn config(&self) -> &QuorumConfig {
        &self.config
    }

    /// This node's current view of the quorum.
    pub fn status(&self) -> QuorumStatus {
        let metrics = self.writer.raft.metrics().borrow().clone();
        let role = match metrics.state {
            _ if self.closed.load(Ordering::Acquire) => QuorumRole::Stopped,
            ServerState::Leader => QuorumRole::Leader,
            ServerState::Follower => QuorumRole::Follower,
            ServerState::Candidate => QuorumRole::Candidate,
            ServerState::Learner => QuorumRole::Learner,
            ServerState::Shutdown => QuorumRole::Stopped,
        };
        QuorumStatus {
            node_id: self.config.node_id,
            leader: metrics.current_leader,
            term: metrics.current_term,
            role,
            // The image's offset, not openraft's metric, which is updated a little later.
            last_applied: self.published.image().offset(),
        }
    }

    /// The nodes the quorum leader heard from within `session_timeout`, this node always
    /// included, or `None` when this node is not the leader (or is closed). For
    /// `session_timeout` after this node became leader, every member (voter or observer)
    /// counts as live: a new leader has not heard from anyone yet. Every node sends the leader a heartbeat each
    /// `heartbeat_interval`, so a timeout of several intervals tolerates a lost one.
    pub fn live_nodes(&self, session_timeout: Duration) -> Option<BTreeSet<u64>> {
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        let leading = liveness::leading(&self.writer.raft);
        self.liveness.live(leading, session_timeout, Instant::now())
    }

    fn closed_error(&self) -> MetadataError {
        MetadataError::Closed {
            path: self.config.dir.clone(),
        }
    }

    /// Stops openraft, then the runtime (its server and connection tasks with it).
    fn shutdown(&self) -> Result<(), MetadataError> {
        let Some(runtime) = self
            .runtime
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return Ok(());
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let raft = self.writer.raft.clone();
        runtime.spawn(async move {
            let _ = tx.send(raft.shutdown().await.map_err(|e| e.to_string()));
        });
        let stopped = rx.recv_timeout(SHUTDOWN_GRACE);
        if tokio::runtime::Handle::try_current().is_ok() {
            // Called from async code, where a runtime may not block on its drop.
            runtime.shutdown_background();
        } else {
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        }
        match stopped {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(MetadataError::Raft { reason }),
            Err(_) => Err(MetadataError::Raft {
                reason: "raft did not stop in time".to_owned(),
            }),
        }
    }
}

impl MetadataLog for RaftMetadataLog {
    fn commit(&self, records: Vec<MetadataRecord>) -> Result<u64, CommitError> {
        self.commit_within(records, self.config.commit_timeout)
    }

    fn commit_within(
        &self,
        records: Vec<MetadataRecord>,
        timeout: Duration,
    ) -> Result<u64, CommitError> {
        let timeout = timeout.min(self.config.commit_timeout);
        if records.is_empty() {
            return Err(CommitError::Empty);
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(self.closed_error().into());
        }
        let bytes = serde_json::to_vec(&records)
            .map_err(|source| MetadataError::Encode { source })?
            .len();
        if bytes > MAX_BATCH_BYTES {
            return Err(CommitError::TooLarge {
                bytes,
                max: MAX_BATCH_BYTES,
            });
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let writer = Arc::clone(&self.writer);
        // After `close` the runtime drops the task, and with it `tx`.
        self.handle.spawn(async move {
            let _ = tx.send(writer.commit(records, timeout).await);
        });
        match rx.recv_timeout(timeout + SHUTDOWN_GRACE) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(self.closed_error().into()),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(CommitError::OutcomeUnknown {
                leader: self
                    .writer
                    .raft
                    .metrics()
                    .borrow()
                    .current_leader
                    .unwrap_or(0),
            }),
        }
    }

    fn image(&self) -> Arc<MetadataImage> {
        self.published.image()
    }

    fn last_offset(&self) -> u64 {
        self.published.image().offset()
    }

    fn wait_for_offset(&self, offset: u64, timeout: Duration) -> Option<Arc<MetadataImage>> {
        self.published
            .wait_for(offset, Instant::now().checked_add(timeout))
    }

    fn close(&self) -> Result<(), MetadataError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.shutdown()
    }
}

impl Drop for RaftMetadataLog {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        if let Err(e) = self.shutdown() {
            tracing::warn!(error = %e, "metadata quorum did not stop cleanly");
        }
    }
}
