//! The broker's side of consumer groups: the `__consumer_offsets` topic (created on first
//! use, as Kafka does, whatever `auto.create.topics.enable` says), loading the partitions
//! this broker leads into the group coordinator, and consumer lag for operators.
//!
//! The group protocol itself lives in the `coordinator` crate; the handlers under
//! `handlers/` only turn wire requests into its events.

use std::sync::Arc;

use streambus_coordinator::{GroupCoordinator, OFFSETS_TOPIC};
use streambus_metadata::MetadataImage;
use streambus_protocol::ErrorCode;
use streambus_storage::TopicPartition;

use crate::Broker;
use crate::errors::KafkaError;
use crate::startup::BrokerError;
use crate::topics::TopicSpec;

/// `offsets.topic.segment.bytes`: Kafka keeps the offsets topic's segments small so that
/// compaction can reclaim them early.
const OFFSETS_SEGMENT_BYTES: &str = "104857600";

/// How far a group's committed offset trails a partition's high watermark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The partition.
    pub partition: TopicPartition,
    /// The group's committed offset.
    pub committed_offset: i64,
    /// The partition's high watermark, or -1 if this broker does not host it.
    pub high_watermark: i64,
    /// `high_watermark - committed_offset`, never negative; -1 if the watermark is unknown.
    pub lag: i64,
}

impl Broker {
    /// The group coordinator.
    pub(crate) fn groups(&self) -> &Arc<GroupCoordinator> {
        &self.groups
    }

    /// Loads every `__consumer_offsets` partition this broker hosts that the coordinator
    /// has not loaded yet.
    pub(crate) fn load_groups(&self) -> Result<(), BrokerError> {
        let image = self.image();
        let Some(topic) = image.topic(OFFSETS_TOPIC) else {
            return Ok(());
        };
        for partition in &topic.partitions {
            let tp = TopicPartition::new(OFFSETS_TOPIC, partition.partition);
            if let Some(hosted) = self.replicas.leading(&tp) {
                let groups = self.groups.load(partition.partition, hosted)?;
                if groups > 0 {
                    tracing::info!(partition = %tp, groups, "loaded consumer groups");
                }
            }
        }
        Ok(())
    }

    /// Makes sure `__consumer_offsets` exists and its partitions are loaded: FindCoordinator
    /// calls this before naming a coordinator.
    pub(crate) async fn ensure_offsets_topic(&self) -> Result<(), KafkaError> {
        if self.image().topic(OFFSETS_TOPIC).is_none() {
            let spec = TopicSpec {
                name: OFFSETS_TOPIC.to_string(),
                partitions: self.groups.num_partitions(),
                // Kafka's offsets.topic.replication.factor (3), on as many brokers as there
                // are up to that: group state survives a broker's loss in a cluster.
                replication_factor: self.image().brokers().len().clamp(1, 3) as i16,
                assignments: Vec::new(),
                configs: vec![
                    ("cleanup.policy".into(), Some("compact".into())),
                    ("segment.bytes".into(), Some(OFFSETS_SEGMENT_BYTES.into())),
                ],
            };
            match self.create_topic(&spec, false).await {
                Ok(_) => {}
                // Another request created it meanwhile.
                Err(e) if e.code == ErrorCode::TopicAlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        self.load_groups()
            .map_err(|e| KafkaError::new(ErrorCode::CoordinatorNotAvailable, e.to_string()))
    }

    /// The committed offsets of `group_id` against the high watermarks of their partitions,
    /// or `None` if the group does not exist here.
    pub async fn consumer_lag(&self, group_id: &str) -> Option<Vec<PartitionLag>> {
        let offsets = self
            .groups
            .view(group_id, |group| {
                group
                    .offsets()
                    .iter()
                    .map(|(tp, committed)| (tp.clone(), committed.offset))
                    .collect::<Vec<_>>()
            })
            .await?;
        let lags = offsets
            .into_iter()
            .map(|(tp, committed_offset)| {
                let partition = TopicPartition::new(tp.topic, tp.partition);
                let high_watermark = self
                    .replicas
                    .partition(&partition)
                    .map_or(-1, |p| p.high_watermark());
                let lag = if high_watermark < 0 {
                    -1
                } else {
                    (high_watermark - committed_offset).max(0)
                };
                PartitionLag {
                    partition,
                    committed_offset,
                    high_watermark,
                    lag,
                }
            })
            .collect();
        Some(lags)
    }
}

/// The error for a response of an unexpected kind: a bug, never client input.
pub(crate) fn wrong_response(api: &str) -> i16 {
    tracing::error!(
        api,
        "the group coordinator answered with another response type"
    );
    ErrorCode::UnknownServerError.code()
}

/// The partitions of an OffsetCommit or OffsetDelete in request order, each either answered
/// here (UNKNOWN_TOPIC_OR_PARTITION: the topic or partition does not exist) or asked of the
/// group, whose codes fill the rest in order.
#[derive(Default)]
pub(crate) struct PartitionPlan {
    topics: Vec<(String, Vec<PlannedPartition>)>,
}

/// A partition index and, if answered here, its error code.
type PlannedPartition = (i32, Option<i16>);

impl PartitionPlan {
    /// Adds a partition; returns whether it exists, so the caller asks the group about it.
    pub(crate) fn push(&mut self, image: &MetadataImage, topic: &str, partition: i32) -> bool {
        let count = image.topic(topic).map_or(0, |t| t.partitions.len());
        let exists = usize::try_from(partition).is_ok_and(|i| i < count);
        let code = (!exists).then_some(ErrorCode::UnknownTopicOrPartition.code());
        match self.topics.last_mut() {
            Some((name, row)) if name == topic => row.push((partition, code)),
            _ => self
                .topics
                .push((topic.to_string(), vec![(partition, code)])),
        }
        exists
    }

    /// Every partition with its code, by topic; `group_codes` answers the existing ones.
    pub(crate) fn answer(self, group_codes: Vec<i16>) -> Vec<(String, Vec<(i32, i16)>)> {
        let mut group_codes = group_codes.into_iter();
        self.topics
            .into_iter()
            .map(|(name, row)| {
                let row = row
                    .into_iter()
                    .map(|(partition, code)| {
                        let code = code.or_else(|| group_codes.next());
                        (
                            partition,
                            code.unwrap_or(ErrorCode::UnknownServerError.code()),
                        )
                    })
                    .collect();
                (name, row)
            })
            .collect()
    }
}
