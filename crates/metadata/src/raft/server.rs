//! The server side of the quorum transport: accepts peers on this node's quorum address and
//! answers their requests by handing them to openraft, for a forwarded write by proposing
//! the batch if this node is the leader, for a heartbeat by noting the sender alive, and for
//! an observer's join by adding it as a learner if this node is the leader.
//!
//! Invariants: a frame whose header announces more than the limit closes its connection
//! before anything is allocated for it, and so does any frame that does not check out; a
//! bad connection never affects another. A forwarded write is never forwarded again, so a
//! stale view of the leader cannot bounce a batch between nodes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::BasicNode;
use openraft::error::{ClientWriteError, RaftError};
use tokio::net::{TcpListener, TcpStream};

use super::codec;
use super::liveness::Liveness;
use super::rpc::{ForwardReply, JoinReply, Request, Response};
use super::types::{Batch, Raft};

/// Accepts connections until the runtime shuts down.
pub(crate) async fn serve(
    listener: TcpListener,
    raft: Raft,
    liveness: Arc<Liveness>,
    commit_timeout: Duration,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let raft = raft.clone();
                let liveness = Arc::clone(&liveness);
                tokio::spawn(async move {
                    if let Err(reason) = connection(stream, raft, &liveness, commit_timeout).await {
                        tracing::debug!(%peer, reason, "closed a metadata quorum connection");
                    }
                });
            }
            Err(e) => {
                // Out of descriptors, typically: wait a little rather than spin.
                tracing::warn!(error = %e, "metadata quorum accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(
    mut stream: TcpStream,
    raft: Raft,
    liveness: &Liveness,
    commit_timeout: Duration,
) -> Result<(), String> {
    loop {
        let request: Request = match codec::read(&mut stream).await {
            Ok(request) => request,
            Err(codec::FrameError::Eof) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        let response = handle(&raft, liveness, request, commit_timeout).await;
        let frame = codec::encode(&response).map_err(|e| e.to_string())?;
        codec::write(&mut stream, &frame)
            .await
            .map_err(|e| e.to_string())?;
    }
}

async fn handle(
    raft: &Raft,
    liveness: &Liveness,
    request: Request,
    commit_timeout: Duration,
) -> Response {
    match request {
        Request::Vote(rpc) => Response::Vote(raft.vote(rpc).await),
        Request::AppendEntries(rpc) => Response::AppendEntries(raft.append_entries(rpc).await),
        Request::InstallSnapshot(rpc) => {
            Response::InstallSnapshot(raft.install_snapshot(rpc).await)
        }
        Request::Forward(records) => {
            Response::Forward(forwarded(raft, records, commit_timeout).await)
        }
        Request::Heartbeat { node_id } => {
            liveness.heard_from(node_id, Instant::now());
            Response::Heartbeat
        }
        Request::Join { node_id, addr } => Response::Join(join(raft, node_id, addr).await),
    }
}

/// Adds observer `node_id` at `addr` as a learner, if this node leads (without waiting for
/// it to catch up: the leader replicates to it from then on). A voter's id is refused, so
/// an observer cannot demote a voter, and so is a known observer at another address.
async fn join(raft: &Raft, node_id: u64, addr: String) -> JoinReply {
    let (is_voter, known_at) = {
        let metrics = raft.metrics();
        let metrics = metrics.borrow();
        let membership = metrics.membership_config.membership();
        (
            membership.voter_ids().any(|id| id == node_id),
            membership.get_node(&node_id).map(|n| n.addr.clone()),
        )
    };
    if is_voter {
        return JoinReply::Refused {
            reason: format!("node {node_id} is a voter"),
        };
    }
    match known_at {
        Some(known) if known == addr => return JoinReply::Added,
        Some(known) => {
            return JoinReply::Refused {
                reason: format!(
                    "node {node_id} is an observer at {known}; an observer keeps its address"
                ),
            };
        }
        None => {}
    }
    match raft
        .add_learner(node_id, BasicNode::new(addr.clone()), false)
        .await
    {
        Ok(_) => {
            tracing::info!(node_id, %addr, "added an observer to the metadata quorum");
            JoinReply::Added
        }
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => JoinReply::NotLeader {
            leader: f.leader_id,
        },
        Err(e) => JoinReply::Refused {
            reason: e.to_string(),
        },
    }
}

async fn forwarded(
    raft: &Raft,
    records: Vec<crate::MetadataRecord>,
    commit_timeout: Duration,
) -> ForwardReply {
    match tokio::time::timeout(commit_timeout, raft.client_write(Batch(records))).await {
        Ok(Ok(response)) => ForwardReply::Committed {
            index: response.log_id.index,
            refused: response.data.refused,
        },
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
            ForwardReply::NotLeader {
                leader: f.leader_id,
            }
        }
        Ok(Err(e)) => ForwardReply::Failed {
            reason: e.to_string(),
        },
        Err(_) => ForwardReply::Failed {
            reason: format!("not committed within {commit_timeout:?}"),
        },
    }
}
