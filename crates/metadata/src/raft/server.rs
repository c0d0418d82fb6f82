//! The server side of the quorum transport: accepts peers on this node's voter address and
//! answers their requests by handing them to openraft, for a forwarded write by proposing
//! the batch if this node is the leader, and for a heartbeat by noting the sender alive.
//!
//! Invariants: a frame whose header announces more than the limit closes its connection
//! before anything is allocated for it, and so does any frame that does not check out; a
//! bad connection never affects another. A forwarded write is never forwarded again, so a
//! stale view of the leader cannot bounce a batch between nodes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use tokio::net::{TcpListener, TcpStream};

use super::codec;
use super::liveness::Liveness;
use super::rpc::{ForwardReply, Request, Response};
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
