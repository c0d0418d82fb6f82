//! The follower's fetcher: one task per followed partition that runs the
//! [`FollowerState`] machine against the leader over the Kafka protocol, through the
//! [`LeaderLink`] it shares with the other partitions it follows on that leader (their
//! fetches go out as one request).
//!
//! It asks OffsetForLeaderEpoch until it knows where its log agrees with the leader's,
//! truncates there, then fetches from its log end with its replica id (so the leader
//! counts its progress), appends what arrives and follows the leader's high watermark. A
//! failed connection or a refusal (the leader moved, the epoch is not yet known there)
//! starts over after a backoff, from the truncation step; the broker replaces the fetcher
//! when the metadata names another leader or epoch. Every write goes through the
//! partition's generation check, so a replaced fetcher writes nothing.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use streambus_protocol::ErrorCode;
use streambus_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderEpochRequest, OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use streambus_storage::batch::BatchIter;
use thiserror::Error;

use crate::leader_link::{LeaderLink, LinkError};
use crate::partition::Partition;
use crate::state::{
    EpochEndOffset, FetchedBatch, FollowerEffect, FollowerRequest, FollowerState, ReplicaId,
};

/// Backoff between attempts after a failure.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Whom a fetcher follows.
pub(crate) struct FetchTarget {
    pub leader: ReplicaId,
    pub addr: String,
    pub leader_epoch: i32,
    pub replica_id: ReplicaId,
    pub generation: u64,
}

/// A running fetcher; dropping it stops the task.
pub(crate) struct FetcherHandle {
    addr: String,
    task: tokio::task::AbortHandle,
}

impl FetcherHandle {
    /// The leader address it fetches from.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }
}

impl Drop for FetcherHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why one round of following ended.
#[derive(Debug, Error)]
enum FetchError {
    #[error(transparent)]
    Client(#[from] streambus_client::Error),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("the leader answered {0}")]
    Refused(ErrorCode),
    #[error("the leader's response lacks the partition")]
    Missing,
    #[error(transparent)]
    Replica(#[from] crate::manager::ReplicationError),
    #[error("{0}")]
    State(#[from] crate::state::StateError),
}

pub(crate) fn spawn(
    runtime: &tokio::runtime::Handle,
    link: Arc<LeaderLink>,
    partition: Arc<Partition>,
    target: FetchTarget,
) -> FetcherHandle {
    let addr = target.addr.clone();
    let task = runtime.spawn(run(link, partition, target)).abort_handle();
    FetcherHandle { addr, task }
}

async fn run(link: Arc<LeaderLink>, partition: Arc<Partition>, target: FetchTarget) {
    let mut backoff = BACKOFF_MIN;
    let mut warned = false;
    while partition.is_current(target.generation) {
        match follow(&link, &partition, &target).await {
            Ok(()) => {
                tracing::debug!(partition = %partition.tp, leader = target.leader, "fetcher replaced");
                return;
            }
            Err(e) => {
                if !warned {
                    tracing::info!(partition = %partition.tp, leader = target.leader, error = %e, "follower fetch failed; retrying");
                    warned = true;
                } else {
                    tracing::debug!(partition = %partition.tp, leader = target.leader, error = %e, "follower fetch failed");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Follows the leader until the fetcher is replaced (`Ok`) or something fails.
async fn follow(
    link: &LeaderLink,
    partition: &Arc<Partition>,
    target: &FetchTarget,
) -> Result<(), FetchError> {
    let (mut state, mut effects) = {
        let epochs = partition.lock_epochs();
        FollowerState::become_follower(
            target.leader,
            target.leader_epoch,
            partition.high_watermark(),
            &epochs,
            partition.log_end_offset(),
        )
    };
    let mut fetched: Option<(Bytes, Vec<FetchedBatch>)> = None;
    loop {
        let mut next = None;
        for effect in effects.drain(..) {
            let current = match effect {
                FollowerEffect::TruncateTo(offset) => {
                    tracing::info!(partition = %partition.tp, offset, "truncating to where the leader's log agrees");
                    partition
                        .truncate_as_follower(target.generation, offset, false)
                        .await?
                }
                FollowerEffect::AppendFetched { .. } => match fetched.take() {
                    Some((bytes, batches)) => {
                        partition
                            .append_fetched(target.generation, bytes, batches)
                            .await?
                    }
                    None => true,
                },
                FollowerEffect::HighWatermark(offset) => {
                    partition.set_high_watermark(offset);
                    true
                }
                FollowerEffect::Send(request) => {
                    next = Some(request);
                    true
                }
            };
            if !current {
                return Ok(());
            }
        }
        if !partition.is_current(target.generation) {
            return Ok(());
        }
        let Some(request) = next else {
            return Ok(());
        };
        effects = match request {
            FollowerRequest::OffsetForLeaderEpoch {
                current_leader_epoch,
                epoch,
                ..
            } => {
                let answer =
                    epoch_end(link, partition, target, current_leader_epoch, epoch).await?;
                tracing::debug!(partition = %partition.tp, leader = target.leader, epoch, ?answer, "the leader says where the epoch ends");
                let epochs = partition.lock_epochs();
                state.on_epoch_end_offset(
                    current_leader_epoch,
                    epoch,
                    answer,
                    &epochs,
                    partition.log_end_offset(),
                )
            }
            FollowerRequest::Fetch {
                current_leader_epoch,
                fetch_offset,
                ..
            } => {
                let data =
                    fetch(link, partition, target, current_leader_epoch, fetch_offset).await?;
                let records = data.records.unwrap_or_default();
                let mut whole = BatchIter::new(&records);
                let batches: Vec<FetchedBatch> = whole
                    .by_ref()
                    .map(|(header, _)| FetchedBatch {
                        base_offset: header.base_offset,
                        last_offset: header.last_offset(),
                        epoch: header.partition_leader_epoch,
                    })
                    .collect();
                let bytes = records.slice(..whole.position());
                let effects = state.on_fetch_response(
                    current_leader_epoch,
                    fetch_offset,
                    &batches,
                    data.high_watermark,
                    partition.log_end_offset(),
                )?;
                fetched = Some((bytes, batches));
                effects
            }
        };
    }
}

async fn epoch_end(
    link: &LeaderLink,
    partition: &Partition,
    target: &FetchTarget,
    current_leader_epoch: i32,
    epoch: i32,
) -> Result<EpochEndOffset, FetchError> {
    let request = OffsetForLeaderEpochRequest {
        replica_id: target.replica_id,
        topics: vec![OffsetForLeaderTopic {
            topic: partition.tp.topic.to_string(),
            partitions: vec![OffsetForLeaderPartition {
                partition: partition.tp.partition,
                current_leader_epoch,
                leader_epoch: epoch,
            }],
        }],
    };
    let response = link.control().await?.call(request).await?;
    let answer = response
        .topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition == partition.tp.partition)
        .ok_or(FetchError::Missing)?;
    check(answer.error_code)?;
    Ok(EpochEndOffset::new(answer.leader_epoch, answer.end_offset))
}

async fn fetch(
    link: &LeaderLink,
    partition: &Arc<Partition>,
    target: &FetchTarget,
    current_leader_epoch: i32,
    fetch_offset: i64,
) -> Result<streambus_protocol::messages::fetch_response::PartitionData, FetchError> {
    let data = link
        .fetch(&partition.tp, current_leader_epoch, fetch_offset)
        .await?;
    if data.error_code == ErrorCode::OffsetOutOfRange.code() && data.log_start_offset > fetch_offset
    {
        // The leader no longer holds what this log needs next: start over at its log start.
        partition
            .truncate_as_follower(target.generation, data.log_start_offset, true)
            .await?;
        return Err(FetchError::Refused(ErrorCode::OffsetOutOfRange));
    }
    check(data.error_code)?;
    Ok(data)
}

fn check(code: i16) -> Result<(), FetchError> {
    match ErrorCode::from_code(code) {
        Some(ErrorCode::None) => Ok(()),
        Some(code) => Err(FetchError::Refused(code)),
        None => Err(FetchError::Refused(ErrorCode::UnknownServerError)),
    }
}
