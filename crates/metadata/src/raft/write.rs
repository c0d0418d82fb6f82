//! The async half of a commit: propose the batch if this node leads, forward it to the
//! leader otherwise, and turn the outcome into the `commit` result.
//!
//! Refusals: validation happens in the state machine at apply time, on every node alike.
//! On the leader, openraft's client-write response carries the entry's outcome. A forwarded
//! write gets the leader's index and the refusal's text, waits until this node has applied
//! that index, and takes the typed refusal from its own state machine, which computed the
//! same one; only if that has been forgotten (the node caught up by snapshot) does it fall
//! back to [`CommitError::RejectedByLeader`] with the leader's text.
//!
//! Retries: a write is retried (until the commit timeout) only when nothing was proposed:
//! no leader known yet, the leader said it is not the leader, or the request never left
//! this node. Once a forwarded request may have reached a leader and no answer came back,
//! the result is [`CommitError::OutcomeUnknown`], never a blind retry that could commit the
//! batch twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, Fatal, RaftError};

use super::network::{CallError, Peers};
use super::rpc::{ForwardReply, Request, Response};
use super::state_machine::Published;
use super::types::{Batch, Raft};
use crate::error::{CommitError, MetadataError};
use crate::record::MetadataRecord;

/// Longest pause between two looks for a leader.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// What a commit needs from the running node.
pub(crate) struct Writer {
    pub node_id: u64,
    pub raft: Raft,
    pub peers: Arc<Peers>,
    pub published: Arc<Published>,
    pub dir: std::path::PathBuf,
}

enum Step {
    Done(Result<u64, CommitError>),
    Retry,
}

impl Writer {
    /// Commits `records` through the quorum and returns the batch's Raft log index, waiting
    /// at most `timeout` for a leader and its answer.
    pub async fn commit(
        &self,
        records: Vec<MetadataRecord>,
        timeout: Duration,
    ) -> Result<u64, CommitError> {
        let start = Instant::now();
        let deadline = start + timeout;
        loop {
            let leader = self.raft.metrics().borrow().current_leader;
            let step = match leader {
                Some(leader) if leader == self.node_id => {
                    self.propose(records.clone(), deadline).await
                }
                Some(leader) => self.forward(leader, &records, deadline).await,
                None => Step::Retry,
            };
            if let Step::Done(result) = step {
                return result;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(CommitError::NoLeader {
                    waited: start.elapsed(),
                });
            }
            // Wake early when the leader changes.
            let mut metrics = self.raft.metrics();
            let _ = tokio::time::timeout(left.min(RETRY_PAUSE), metrics.changed()).await;
        }
    }

    async fn propose(&self, records: Vec<MetadataRecord>, deadline: Instant) -> Step {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, self.raft.client_write(Batch(records))).await {
            Ok(Ok(response)) => Step::Done(response.data.into_result(response.log_id.index)),
            // Not the leader any more: the batch was not proposed.
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => Step::Retry,
            Ok(Err(RaftError::APIError(e))) => Step::Done(Err(self.raft_error(e.to_string()))),
            Ok(Err(RaftError::Fatal(Fatal::Stopped))) => Step::Done(Err(self.closed())),
            Ok(Err(RaftError::Fatal(e))) => Step::Done(Err(self.raft_error(e.to_string()))),
            Err(_) => Step::Done(Err(CommitError::OutcomeUnknown {
                leader: self.node_id,
            })),
        }
    }

    async fn forward(&self, leader: u64, records: &[MetadataRecord], deadline: Instant) -> Step {
        let left = deadline.saturating_duration_since(Instant::now());
        let request = Request::Forward(records.to_vec());
        let unknown = Step::Done(Err(CommitError::OutcomeUnknown { leader }));
        match self.peers.call(leader, &request, left).await {
            Ok(Response::Forward(ForwardReply::Committed { index, refused })) => {
                Step::Done(self.forwarded_outcome(index, refused, deadline).await)
            }
            Ok(Response::Forward(ForwardReply::NotLeader { .. })) => Step::Retry,
            Ok(Response::Forward(ForwardReply::Failed { reason })) => {
                tracing::warn!(leader, reason, "forwarded metadata write failed");
                unknown
            }
            Ok(_) => unknown,
            Err(CallError::NotSent(reason)) => {
                tracing::debug!(leader, reason, "could not forward a metadata write");
                Step::Retry
            }
            Err(CallError::Timeout { sent: false }) => Step::Retry,
            Err(CallError::NoAnswer(_) | CallError::Timeout { sent: true }) => unknown,
        }
    }

    /// Waits until this node applied the forwarded batch at `index`, then reports it.
    async fn forwarded_outcome(
        &self,
        index: u64,
        refused: Option<String>,
        deadline: Instant,
    ) -> Result<u64, CommitError> {
        let left = deadline.saturating_duration_since(Instant::now());
        let applied = self
            .raft
            .wait(Some(left))
            .applied_index_at_least(Some(index), "forwarded write applied")
            .await
            .is_ok();
        if !applied {
            // Committed by the quorum; this node's image will follow.
            tracing::warn!(index, "forwarded metadata write not yet applied locally");
        }
        match (self.published.refusal(index), refused) {
            (Some(refusal), _) => Err(refusal.into_error()),
            (None, Some(message)) => Err(CommitError::RejectedByLeader {
                offset: index,
                message,
            }),
            (None, None) => Ok(index),
        }
    }

    fn closed(&self) -> CommitError {
        CommitError::Log(MetadataError::Closed {
            path: self.dir.clone(),
        })
    }

    fn raft_error(&self, reason: String) -> CommitError {
        CommitError::Log(MetadataError::Raft { reason })
    }
}
