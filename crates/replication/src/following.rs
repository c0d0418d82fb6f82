//! The follower's side of a partition: taking up the role, and the log writes its fetcher
//! makes (replicated appends, truncation), each checked against the role's generation
//! under the role lock so that a fetcher that is no longer current writes nothing.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use streambus_storage::now_ms;

use crate::fetcher::{self, FetchTarget};
use crate::leader_link::LeaderLinks;
use crate::manager::ReplicationError;
use crate::partition::{Partition, Role};
use crate::state::{FetchedBatch, ReplicaId};

/// What the metadata says of a partition this broker follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerSpec {
    /// This broker's id, sent as the replica id of its fetches.
    pub own_id: ReplicaId,
    /// The leader's broker id, or -1 when the partition has none.
    pub leader: ReplicaId,
    /// `host:port` of the leader's Kafka listener (empty without a leader).
    pub leader_addr: String,
    /// The leader epoch.
    pub leader_epoch: i32,
}

impl Partition {
    /// Follows `spec.leader`: starts a fetcher from it on `runtime`, unless this broker
    /// already follows that leader at that epoch and address. Waiting `acks=all` produces
    /// of a former leadership fail with NOT_LEADER_OR_FOLLOWER.
    pub(crate) fn make_follower(
        self: &Arc<Self>,
        spec: &FollowerSpec,
        fetching: Option<(&tokio::runtime::Handle, &LeaderLinks)>,
    ) -> Result<(), ReplicationError> {
        let mut role = self.lock_role();
        if let Role::Follower { leader, fetcher } = &*role
            && *leader == spec.leader
            && self.leader_epoch() == spec.leader_epoch
            && fetcher.as_ref().map(|f| f.addr()) == Some(spec.leader_addr.as_str())
        {
            return Ok(());
        }
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.leader_epoch
            .store(spec.leader_epoch, Ordering::Release);
        let fetcher = if spec.leader >= 0 {
            let (runtime, links) = fetching.ok_or_else(|| ReplicationError::NoRuntime {
                partition: self.tp.clone(),
            })?;
            let target = FetchTarget {
                leader: spec.leader,
                addr: spec.leader_addr.clone(),
                leader_epoch: spec.leader_epoch,
                replica_id: spec.own_id,
                generation,
            };
            let link = links.link(runtime, &spec.leader_addr, spec.own_id);
            Some(fetcher::spawn(runtime, link, Arc::clone(self), target))
        } else {
            None
        };
        *role = Role::Follower {
            leader: spec.leader,
            fetcher,
        };
        drop(role);
        tracing::debug!(partition = %self.tp, leader = spec.leader, leader_epoch = spec.leader_epoch, generation, "following");
        // Wakes produces waiting for the high watermark: they find the role changed.
        self.high_watermark.send_modify(|_| {});
        Ok(())
    }

    /// Whether the fetcher of `generation` is still the current one.
    pub(crate) fn is_current(&self, generation: u64) -> bool {
        self.generation.load(Ordering::Acquire) == generation
    }

    /// Appends batches fetched from the leader (whole batches, `batches` their headers),
    /// keeping their offsets and epochs. `false` if the fetcher is no longer current.
    pub(crate) async fn append_fetched(
        self: &Arc<Self>,
        generation: u64,
        bytes: Bytes,
        batches: Vec<FetchedBatch>,
    ) -> Result<bool, ReplicationError> {
        let partition = Arc::clone(self);
        let appended = tokio::task::spawn_blocking(move || {
            let _role = partition.lock_role();
            if !partition.is_current(generation) {
                return Ok(false);
            }
            partition.log.append_replicated(&bytes, now_ms())?;
            let mut epochs = partition.lock_epochs();
            for batch in &batches {
                if epochs.latest_epoch() != Some(batch.epoch) {
                    let _ = epochs.assign(batch.epoch, batch.base_offset);
                }
            }
            Ok::<_, ReplicationError>(true)
        })
        .await
        .map_err(|_| ReplicationError::TaskFailed)??;
        self.publish_log_end();
        Ok(appended)
    }

    /// Truncates the log to `offset` (where it diverges from the leader's), or, with
    /// `restart`, empties it and starts it at `offset` (the leader no longer holds what
    /// this log ends with). `false` if the fetcher is no longer current.
    pub(crate) async fn truncate_as_follower(
        self: &Arc<Self>,
        generation: u64,
        offset: i64,
        restart: bool,
    ) -> Result<bool, ReplicationError> {
        let partition = Arc::clone(self);
        let truncated = tokio::task::spawn_blocking(move || {
            let _role = partition.lock_role();
            if !partition.is_current(generation) {
                return Ok(false);
            }
            let end = if restart {
                partition.log.truncate_fully_and_start_at(offset)?;
                partition.lock_epochs().clear();
                offset
            } else {
                let end = partition.log.truncate_to(offset)?;
                partition.lock_epochs().truncate_from_end(end);
                end
            };
            if partition.high_watermark() > end {
                partition.set_high_watermark(end);
            }
            Ok::<_, ReplicationError>(true)
        })
        .await
        .map_err(|_| ReplicationError::TaskFailed)??;
        self.publish_log_end();
        Ok(truncated)
    }
}
