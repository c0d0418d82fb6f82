//! Committed offsets: OffsetCommit and OffsetFetch to the group coordinator.
//!
//! A member of a subscribed group commits with its generation and member id (and instance
//! id when static), so that the coordinator refuses commits from a member that lost its
//! partitions; a consumer with a manual assignment commits as a simple consumer (generation
//! -1, empty member id). Errors name the group, topic and partition.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use streambus_protocol::messages::offset_fetch_request::{
    OffsetFetchRequest, OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};

use super::coordinator::{GroupClient, Lane};
use crate::backoff::{Backoff, BackoffConfig};
use crate::error::{Error, Result};
use crate::offsets::TopicPartition;

/// Who commits: a group member of a generation, or a simple consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Committer {
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
}

impl Committer {
    /// A consumer outside any generation (manual assignment).
    pub(crate) fn simple() -> Committer {
        Committer {
            generation: -1,
            member_id: String::new(),
            instance_id: None,
        }
    }
}

/// Commits `offsets` (the next offset to consume of each partition).
pub(crate) async fn commit(
    group: &GroupClient,
    committer: &Committer,
    offsets: &[(TopicPartition, i64)],
) -> Result<()> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for ((topic, partition), offset) in offsets {
        topics
            .entry(topic)
            .or_default()
            .push(OffsetCommitRequestPartition {
                partition_index: *partition,
                committed_offset: *offset,
                committed_leader_epoch: -1,
                commit_timestamp: -1,
                committed_metadata: Some(String::new()),
            });
    }
    let request = OffsetCommitRequest {
        group_id: group.group_id().to_owned(),
        generation_id_or_member_epoch: committer.generation,
        member_id: committer.member_id.clone(),
        group_instance_id: committer.instance_id.clone(),
        retention_time_ms: -1,
        topics: topics
            .into_iter()
            .map(|(name, partitions)| OffsetCommitRequestTopic {
                name: name.to_owned(),
                partitions,
            })
            .collect(),
    };
    let response = group.call(Lane::Prompt, request).await?;
    for topic in &response.topics {
        for p in &topic.partitions {
            Error::check(p.error_code, || {
                format!(
                    "commit of {}-{} for group {}",
                    topic.name,
                    p.partition_index,
                    group.group_id()
                )
            })?;
        }
    }
    Ok(())
}

/// The committed offset of each of `partitions`, `None` where the group has none. Retries
/// UNSTABLE_OFFSET_COMMIT (a transaction's offsets are pending) within the request timeout.
pub(crate) async fn fetch(
    group: &GroupClient,
    partitions: &[TopicPartition],
    require_stable: bool,
    backoff: BackoffConfig,
    timeout: std::time::Duration,
) -> Result<HashMap<TopicPartition, Option<i64>>> {
    let deadline = Instant::now() + timeout;
    let mut backoff = Backoff::new(backoff);
    loop {
        match fetch_once(group, partitions, require_stable).await {
            Err(e)
                if e.code() == Some(ErrorCode::UnstableOffsetCommit)
                    && Instant::now() < deadline =>
            {
                backoff.wait().await;
            }
            result => return result,
        }
    }
}

async fn fetch_once(
    group: &GroupClient,
    partitions: &[TopicPartition],
    require_stable: bool,
) -> Result<HashMap<TopicPartition, Option<i64>>> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        by_topic.entry(topic).or_default().push(*partition);
    }
    // Versions 0-7 name one group at the top level, 8+ a list of groups: both are filled,
    // and the codec writes the ones of the version the broker speaks.
    let request = OffsetFetchRequest {
        group_id: group.group_id().to_owned(),
        topics: Some(
            by_topic
                .iter()
                .map(|(name, indexes)| OffsetFetchRequestTopic {
                    name: (*name).to_owned(),
                    partition_indexes: indexes.clone(),
                })
                .collect(),
        ),
        groups: vec![OffsetFetchRequestGroup {
            group_id: group.group_id().to_owned(),
            member_id: None,
            member_epoch: -1,
            topics: Some(
                by_topic
                    .iter()
                    .map(|(name, indexes)| OffsetFetchRequestTopics {
                        name: (*name).to_owned(),
                        partition_indexes: indexes.clone(),
                    })
                    .collect(),
            ),
        }],
        require_stable,
    };
    let response = group.call(Lane::Prompt, request).await?;
    let mut found: HashMap<TopicPartition, Option<i64>> = HashMap::new();
    for c in crate::offsets::committed_offsets(response, group.group_id())? {
        found.insert((c.topic, c.partition), (c.offset >= 0).then_some(c.offset));
    }
    for tp in partitions {
        found.entry(tp.clone()).or_insert(None);
    }
    Ok(found)
}
