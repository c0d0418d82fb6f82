//! Committing one partition's change computed from the image, for the operator APIs
//! (ElectLeaders, AlterPartitionReassignments): the change is a compare-and-set on the
//! partition epoch, so when something else changed the partition first (an ISR change, the
//! controller) it is computed again from the newer image, a bounded number of times.

use std::collections::BTreeSet;

use streambus_metadata::{CommitError, MetadataImage, PartitionImage, Uuid};
use streambus_protocol::ErrorCode;

use crate::Broker;
use crate::cluster_metadata::ClusterMetadata;
use crate::errors::KafkaError;

/// How many times a change refused as stale is computed again.
const ATTEMPTS: usize = 5;

/// A committed change: the partition's state before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) before: PartitionImage,
    pub(crate) after: PartitionImage,
}

impl Broker {
    /// The brokers whose session is live: on the node leading the metadata quorum, and on
    /// a single node (itself); `None` on the other nodes of a quorum.
    pub(crate) fn live_brokers(&self) -> Option<BTreeSet<i32>> {
        match &self.metadata {
            ClusterMetadata::Local(_) => Some(BTreeSet::from([self.config.node_id])),
            ClusterMetadata::Quorum(_) => {
                self.metadata.live_nodes(self.config.broker_session_timeout)
            }
        }
    }

    /// Computes partition `partition` of `topic`'s next state with `change` from the newest
    /// image and commits it (`None`: there was nothing to change), again from a newer image
    /// if it was refused as stale. An unknown
    /// partition is UNKNOWN_TOPIC_OR_PARTITION; `change`'s own errors are returned as they
    /// are; a quorum that does not answer is REQUEST_TIMED_OUT.
    pub(crate) fn commit_partition_change(
        &self,
        topic: &str,
        partition: i32,
        change: impl Fn(&MetadataImage, &PartitionImage) -> Result<Option<PartitionImage>, KafkaError>,
    ) -> Result<Option<Change>, KafkaError> {
        for _ in 0..ATTEMPTS {
            let image = self.image();
            let (topic_id, before) = current(&image, topic, partition)?;
            let Some(after) = change(&image, &before)? else {
                return Ok(None);
            };
            match self.metadata.commit_from_task(vec![after.record(topic_id)]) {
                Ok(_) => {
                    // On a quorum node the metadata follower does it too, once it applies
                    // the record; on a single node this is the only place.
                    self.host_partitions().map_err(|e| {
                        KafkaError::new(ErrorCode::UnknownServerError, e.to_string())
                    })?;
                    return Ok(Some(Change { before, after }));
                }
                Err(CommitError::Rejected { .. }) => continue,
                Err(e @ (CommitError::NoLeader { .. } | CommitError::OutcomeUnknown { .. })) => {
                    return Err(KafkaError::new(ErrorCode::RequestTimedOut, e.to_string()));
                }
                Err(e) => {
                    return Err(KafkaError::new(
                        ErrorCode::UnknownServerError,
                        e.to_string(),
                    ));
                }
            }
        }
        Err(KafkaError::new(
            ErrorCode::RequestTimedOut,
            format!("{topic}-{partition} kept changing meanwhile; try again"),
        ))
    }
}

fn current(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
) -> Result<(Uuid, PartitionImage), KafkaError> {
    image
        .topic(topic)
        .and_then(|t| t.partition(partition).map(|p| (t.id, p.clone())))
        .ok_or_else(|| {
            KafkaError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("{topic}-{partition} does not exist"),
            )
        })
}
