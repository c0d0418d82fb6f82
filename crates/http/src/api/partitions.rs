//! Partitions of a topic: `POST /api/v1/topics/{name}/partitions` (CreatePartitions),
//! `POST /api/v1/topics/{name}/delete-records` (DeleteRecords), and the ListOffsets lookup
//! the topic and group views share.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use streambus_broker::Broker;
use streambus_protocol::messages::create_partitions_request::{
    CreatePartitionsRequest, CreatePartitionsTopic,
};
use streambus_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsTopic,
};
use streambus_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};

use super::extract::{JsonBody, Param};
use super::topics::{TopicSummary, summary, topic_metadata};
use super::{ApiError, broker, call, check};
use crate::Health;

/// ListOffsets' timestamp for the high watermark.
pub(crate) const LATEST: i64 = -1;
/// ListOffsets' timestamp for the log start offset.
pub(crate) const EARLIEST: i64 = -2;

/// How long CreatePartitions and DeleteRecords may take.
const TIMEOUT_MS: i32 = 30_000;

/// ListOffsets for `partitions` of `topic` at `timestamp` (or [`EARLIEST`], [`LATEST`]): the
/// offset of each partition, -1 where no record is at or after the timestamp.
pub(crate) async fn offsets(
    broker: &Broker,
    topic: &str,
    partitions: &[i32],
    timestamp: i64,
) -> Result<BTreeMap<i32, i64>, ApiError> {
    if partitions.is_empty() {
        return Ok(BTreeMap::new());
    }
    let request = ListOffsetsRequest {
        // -1: a consumer, not a follower replica.
        replica_id: -1,
        isolation_level: 0,
        topics: vec![ListOffsetsTopic {
            name: topic.to_string(),
            partitions: partitions
                .iter()
                .map(|&partition_index| ListOffsetsPartition {
                    partition_index,
                    timestamp,
                    ..Default::default()
                })
                .collect(),
        }],
    };
    let response = call!(broker, ListOffsets, request);
    let mut found = BTreeMap::new();
    for t in response.topics {
        for p in t.partitions {
            check(
                p.error_code,
                None,
                &format!("cannot look up offsets of {topic}-{}", p.partition_index),
            )?;
            found.insert(p.partition_index, p.offset);
        }
    }
    Ok(found)
}

/// The body of `POST /api/v1/topics/{name}/partitions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewPartitions {
    /// The new total number of partitions.
    count: i32,
}

pub(crate) async fn create(
    State(health): State<Arc<Health>>,
    Param(name): Param,
    JsonBody(body): JsonBody<NewPartitions>,
) -> Result<Json<TopicSummary>, ApiError> {
    let broker = broker(&health)?;
    let request = CreatePartitionsRequest {
        topics: vec![CreatePartitionsTopic {
            name: name.clone(),
            count: body.count,
            assignments: None,
        }],
        timeout_ms: TIMEOUT_MS,
        validate_only: false,
    };
    let response = call!(&broker, CreatePartitions, request);
    let result = response
        .results
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("CreatePartitions answered no topic"))?;
    check(
        result.error_code,
        result.error_message,
        &format!("cannot add partitions to {name}"),
    )?;
    Ok(Json(summary(&broker, &name).await?))
}

/// The body of `POST /api/v1/topics/{name}/delete-records`: partition to the offset before
/// which records go (-1: the high watermark, i.e. all of them).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteRecords {
    partitions: BTreeMap<i32, i64>,
}

/// What `delete-records` answers: each partition's new log start offset.
#[derive(Serialize)]
pub(crate) struct LowWatermarks {
    partitions: BTreeMap<i32, i64>,
}

pub(crate) async fn delete_records(
    State(health): State<Arc<Health>>,
    Param(name): Param,
    JsonBody(body): JsonBody<DeleteRecords>,
) -> Result<Json<LowWatermarks>, ApiError> {
    let broker = broker(&health)?;
    // 404 for an unknown topic even when no partition is named.
    topic_metadata(&broker, &name).await?;
    let request = DeleteRecordsRequest {
        topics: vec![DeleteRecordsTopic {
            name: name.clone(),
            partitions: body
                .partitions
                .iter()
                .map(|(&partition_index, &offset)| DeleteRecordsPartition {
                    partition_index,
                    offset,
                })
                .collect(),
        }],
        timeout_ms: TIMEOUT_MS,
    };
    let response = call!(&broker, DeleteRecords, request);
    let mut partitions = BTreeMap::new();
    for t in response.topics {
        for p in t.partitions {
            check(
                p.error_code,
                None,
                &format!("cannot delete records of {name}-{}", p.partition_index),
            )?;
            partitions.insert(p.partition_index, p.low_watermark);
        }
    }
    Ok(Json(LowWatermarks { partitions }))
}
