//! The client side of the quorum transport: one TCP connection per peer, shared by
//! openraft's replication and vote calls and by forwarded writes, and the
//! [`RaftNetworkFactory`] / [`RaftNetwork`] openraft drives.
//!
//! Invariants:
//! - every call has a deadline, covering the wait for the connection, the connect, the
//!   request and the response;
//! - a connection is reused only after a whole request/response exchange; a call that
//!   fails or times out drops it, since its stream may hold half a frame;
//! - after a failed connect, the next attempt waits a backoff that doubles per failure,
//!   from 50 ms up to 1 s, so a down peer costs no busy loop;
//! - [`CallError::NotSent`] means the request certainly did not leave this node, which is
//!   what lets a forwarded write be retried safely.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, RPCTypes};
use tokio::net::TcpStream;

use super::codec;
use super::rpc::{Request, Response};
use super::types::TypeConfig;

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// The request did not leave this node.
    #[error("not sent: {0}")]
    NotSent(String),
    /// The request may have reached the peer, but no whole answer came back.
    #[error("no answer: {0}")]
    NoAnswer(String),
    /// The deadline passed; `sent` says whether the request may have left.
    #[error("timed out")]
    Timeout { sent: bool },
}

/// The connections of this node to its peers: the voters, known from the config, and the
/// observers the membership names (learned when openraft first replicates to one).
#[derive(Debug)]
pub(crate) struct Peers {
    node_id: u64,
    addrs: Mutex<HashMap<u64, SocketAddr>>,
    slots: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<Slot>>>>,
}

#[derive(Debug, Default)]
struct Slot {
    stream: Option<TcpStream>,
    failures: u32,
    retry_at: Option<Instant>,
}

impl Peers {
    pub fn new(node_id: u64, addrs: HashMap<u64, SocketAddr>) -> Peers {
        Peers {
            node_id,
            addrs: Mutex::new(addrs),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Notes where node `id` is reached, unless it is known already (a voter's address
    /// comes from the config and is never replaced).
    pub fn learn(&self, id: u64, addr: SocketAddr) {
        let mut addrs = self.addrs.lock().unwrap_or_else(PoisonError::into_inner);
        addrs.entry(id).or_insert(addr);
    }

    fn slot(&self, target: u64) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(slots.entry(target).or_default())
    }

    /// Sends `request` to `target` and waits for its response, at most `ttl`.
    pub async fn call(
        &self,
        target: u64,
        request: &Request,
        ttl: Duration,
    ) -> Result<Response, CallError> {
        let addr = self
            .addrs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&target)
            .copied()
            .ok_or_else(|| CallError::NotSent(format!("node {target} is not a known peer")))?;
        let frame = codec::encode(request).map_err(|e| CallError::NotSent(e.to_string()))?;
        let slot = self.slot(target);
        let mut sent = false;
        let exchange = async {
            let mut slot = slot.lock().await;
            let mut stream = match slot.stream.take().filter(is_alive) {
                Some(stream) => stream,
                None => connect(&mut slot, addr).await?,
            };
            sent = true;
            codec::write(&mut stream, &frame)
                .await
                .map_err(|e| CallError::NoAnswer(e.to_string()))?;
            let response = codec::read(&mut stream)
                .await
                .map_err(|e| CallError::NoAnswer(e.to_string()))?;
            slot.stream = Some(stream);
            Ok(response)
        };
        let result = tokio::time::timeout(ttl, exchange).await;
        result.unwrap_or(Err(CallError::Timeout { sent }))
    }
}

async fn connect(slot: &mut Slot, addr: SocketAddr) -> Result<TcpStream, CallError> {
    if let Some(at) = slot.retry_at
        && Instant::now() < at
    {
        return Err(CallError::NotSent(
            "backing off after a failed connect".into(),
        ));
    }
    match TcpStream::connect(addr).await {
        Ok(stream) => {
            // Small request/response frames: do not wait to coalesce them.
            let _ = stream.set_nodelay(true);
            slot.failures = 0;
            slot.retry_at = None;
            Ok(stream)
        }
        Err(e) => {
            slot.failures = slot.failures.saturating_add(1);
            let backoff = BACKOFF_MIN
                .saturating_mul(1 << slot.failures.min(6))
                .min(BACKOFF_MAX);
            slot.retry_at = Some(Instant::now() + backoff);
            Err(CallError::NotSent(format!("connect {addr}: {e}")))
        }
    }
}

/// Whether an idle pooled connection is still usable: the peer has not closed it and sent
/// nothing unasked.
fn is_alive(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// openraft's network factory: hands out a client per target over the shared [`Peers`].
#[derive(Debug, Clone)]
pub(crate) struct Network {
    pub peers: Arc<Peers>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerClient {
        match node.addr.parse() {
            Ok(addr) => self.peers.learn(target, addr),
            Err(_) => {
                tracing::warn!(target, addr = %node.addr, "a member's address does not parse")
            }
        }
        PeerClient {
            peers: Arc::clone(&self.peers),
            target,
        }
    }
}

/// openraft's client for one peer.
#[derive(Debug)]
pub(crate) struct PeerClient {
    peers: Arc<Peers>,
    target: u64,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<u64, BasicNode, RaftError<u64, E>>>;

impl PeerClient {
    async fn call<E: std::error::Error>(
        &self,
        action: RPCTypes,
        request: Request,
        option: &RPCOption,
    ) -> Result<Response, RPCError<u64, BasicNode, RaftError<u64, E>>> {
        let ttl = option.hard_ttl();
        self.peers
            .call(self.target, &request, ttl)
            .await
            .map_err(|e| match e {
                CallError::NotSent(reason) => {
                    RPCError::Unreachable(Unreachable::new(&std::io::Error::other(reason)))
                }
                CallError::NoAnswer(reason) => {
                    RPCError::Network(NetworkError::new(&std::io::Error::other(reason)))
                }
                CallError::Timeout { .. } => RPCError::Timeout(Timeout {
                    action,
                    id: self.peers.node_id,
                    target: self.target,
                    timeout: ttl,
                }),
            })
    }

    // The error is openraft's, the one its network trait returns.
    #[allow(clippy::result_large_err)]
    fn remote<T, E: std::error::Error>(
        &self,
        result: Result<T, RaftError<u64, E>>,
    ) -> RpcResult<T, E> {
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

fn mismatch<E: std::error::Error>() -> RPCError<u64, BasicNode, RaftError<u64, E>> {
    RPCError::Network(NetworkError::new(&std::io::Error::other(
        "peer answered with a response of another kind",
    )))
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        let request = Request::AppendEntries(rpc);
        match self.call(RPCTypes::AppendEntries, request, &option).await? {
            Response::AppendEntries(result) => self.remote(result),
            _ => Err(mismatch()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        let request = Request::InstallSnapshot(rpc);
        match self
            .call(RPCTypes::InstallSnapshot, request, &option)
            .await?
        {
            Response::InstallSnapshot(result) => self.remote(result),
            _ => Err(mismatch()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>> {
        match self
            .call(RPCTypes::Vote, Request::Vote(rpc), &option)
            .await?
        {
            Response::Vote(result) => self.remote(result),
            _ => Err(mismatch()),
        }
    }
}
