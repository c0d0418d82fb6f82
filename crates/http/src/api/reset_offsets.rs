//! `POST /api/v1/groups/{id}/reset-offsets`: moves a group's committed offsets of one topic
//! to the earliest or latest offset, an offset, or the first offset at a timestamp.
//!
//! Like `kafka-consumer-groups --reset-offsets`: the targets come from ListOffsets, an offset
//! is clamped to the partition's [log start, high watermark], a timestamp after the last
//! record resets to the high watermark, and the offsets are written with a simple
//! OffsetCommit (generation -1, no member id), which the coordinator refuses while the group
//! has members (UNKNOWN_MEMBER_ID, answered as 409).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use streambus_broker::Broker;
use streambus_protocol::ErrorCode;
use streambus_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};

use super::extract::{JsonBody, Param};
use super::groups::with_coordinator;
use super::partitions::{EARLIEST, LATEST, offsets};
use super::topics::topic_metadata;
use super::{ApiError, broker, call, check};
use crate::Health;

/// Where to move the offsets.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Target {
    /// `"earliest"` or `"latest"`.
    Named(Named),
    /// `{"offset": N}`.
    Offset(AtOffset),
    /// `{"timestamp": ms}`.
    Timestamp(AtTimestamp),
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Named {
    Earliest,
    Latest,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AtOffset {
    offset: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AtTimestamp {
    timestamp: i64,
}

/// The body of `reset-offsets`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reset {
    topic: String,
    to: Target,
    /// Only these partitions; every partition of the topic when left out.
    partitions: Option<Vec<i32>>,
}

/// What `reset-offsets` answers: the offset committed for each partition.
#[derive(Serialize)]
pub(crate) struct ResetDone {
    group_id: String,
    topic: String,
    partitions: BTreeMap<i32, i64>,
}

pub(crate) async fn reset(
    State(health): State<Arc<Health>>,
    Param(id): Param,
    JsonBody(reset): JsonBody<Reset>,
) -> Result<Json<ResetDone>, ApiError> {
    let broker = broker(&health)?;
    let topic = reset.topic;
    let existing: Vec<i32> = topic_metadata(&broker, &topic)
        .await?
        .partitions
        .iter()
        .map(|p| p.partition_index)
        .collect();
    let partitions = match reset.partitions {
        None => existing,
        Some(wanted) => {
            if let Some(missing) = wanted.iter().find(|p| !existing.contains(p)) {
                return Err(ApiError::kafka(
                    ErrorCode::UnknownTopicOrPartition,
                    None,
                    &format!("topic {topic} has no partition {missing}"),
                ));
            }
            wanted
        }
    };
    let earliest = offsets(&broker, &topic, &partitions, EARLIEST).await?;
    let latest = offsets(&broker, &topic, &partitions, LATEST).await?;
    let targets: BTreeMap<i32, i64> = match reset.to {
        Target::Named(Named::Earliest) => earliest,
        Target::Named(Named::Latest) => latest,
        Target::Offset(AtOffset { offset }) => partitions
            .iter()
            .map(|p| {
                let low = earliest.get(p).copied().unwrap_or(0);
                let high = latest.get(p).copied().unwrap_or(low).max(low);
                (*p, offset.clamp(low, high))
            })
            .collect(),
        Target::Timestamp(AtTimestamp { timestamp }) => {
            if timestamp < 0 {
                return Err(ApiError::bad_request(format!(
                    "timestamp must be milliseconds since the epoch, not {timestamp}"
                )));
            }
            let found = offsets(&broker, &topic, &partitions, timestamp).await?;
            found
                .into_iter()
                .map(|(p, offset)| {
                    let end = latest.get(&p).copied().unwrap_or(offset);
                    (p, if offset < 0 { end } else { offset })
                })
                .collect()
        }
    };
    with_coordinator(&broker, &id, || commit(&broker, &id, &topic, &targets)).await?;
    Ok(Json(ResetDone {
        group_id: id,
        topic,
        partitions: targets,
    }))
}

/// A simple commit (generation -1, no member) of `targets` for `group`.
async fn commit(
    broker: &Broker,
    group: &str,
    topic: &str,
    targets: &BTreeMap<i32, i64>,
) -> Result<(), ApiError> {
    let request = OffsetCommitRequest {
        group_id: group.to_string(),
        generation_id_or_member_epoch: -1,
        member_id: String::new(),
        group_instance_id: None,
        retention_time_ms: -1,
        topics: vec![OffsetCommitRequestTopic {
            name: topic.to_string(),
            partitions: targets
                .iter()
                .map(
                    |(&partition_index, &committed_offset)| OffsetCommitRequestPartition {
                        partition_index,
                        committed_offset,
                        committed_metadata: Some(String::new()),
                        ..Default::default()
                    },
                )
                .collect(),
        }],
    };
    let response = call!(broker, OffsetCommit, request);
    for t in response.topics {
        for p in t.partitions {
            check(
                p.error_code,
                None,
                &format!("cannot commit offsets of group {group}"),
            )
            .map_err(|e| {
                if p.error_code == ErrorCode::UnknownMemberId.code() {
                    e.with_message("the group has active members; stop them first")
                } else {
                    e
                }
            })?;
        }
    }
    Ok(())
}
