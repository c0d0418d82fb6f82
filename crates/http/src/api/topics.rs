//! Topics: `GET /api/v1/topics` (Metadata), `POST /api/v1/topics` (CreateTopics),
//! `GET /api/v1/topics/{name}` (Metadata, ListOffsets earliest and latest, DescribeConfigs)
//! and `DELETE /api/v1/topics/{name}` (DeleteTopics).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use streambus_broker::Broker;
use streambus_protocol::ErrorCode;
use streambus_protocol::messages::create_topics_request::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use streambus_protocol::messages::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};
use streambus_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use streambus_protocol::messages::metadata_response::MetadataResponseTopic;

use super::extract::{JsonBody, Param};
use super::partitions::{EARLIEST, LATEST, offsets};
use super::topic_configs::{ConfigEntry, describe_configs, entry};
use super::{ApiError, broker, call, check};
use crate::Health;

/// How long CreateTopics and DeleteTopics may take, as Kafka's admin client asks.
const TIMEOUT_MS: i32 = 30_000;

/// A topic in the list.
#[derive(Serialize)]
pub(crate) struct TopicSummary {
    name: String,
    partitions: usize,
    replication_factor: usize,
    internal: bool,
}

impl TopicSummary {
    fn of(topic: &MetadataResponseTopic) -> TopicSummary {
        TopicSummary {
            name: topic.name.clone().unwrap_or_default(),
            partitions: topic.partitions.len(),
            replication_factor: topic
                .partitions
                .first()
                .map_or(0, |p| p.replica_nodes.len()),
            internal: topic.is_internal,
        }
    }
}

/// The Metadata of `names` (every topic for `None`), without creating any.
async fn metadata(
    broker: &Broker,
    names: Option<Vec<String>>,
) -> Result<Vec<MetadataResponseTopic>, ApiError> {
    let request = MetadataRequest {
        topics: names.map(|names| {
            names
                .into_iter()
                .map(|name| MetadataRequestTopic {
                    topic_id: [0; 16],
                    name: Some(name),
                })
                .collect()
        }),
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    Ok(call!(broker, Metadata, request).topics)
}

/// The Metadata of one topic; 404 if it does not exist, 400 if its name is illegal.
pub(crate) async fn topic_metadata(
    broker: &Broker,
    name: &str,
) -> Result<MetadataResponseTopic, ApiError> {
    let topic = metadata(broker, Some(vec![name.to_string()]))
        .await?
        .into_iter()
        .find(|t| t.name.as_deref() == Some(name))
        .ok_or_else(|| ApiError::internal(format!("no metadata for topic {name}")))?;
    let fallback = if topic.error_code == ErrorCode::UnknownTopicOrPartition.code() {
        format!("topic {name} does not exist")
    } else {
        format!("cannot describe topic {name}")
    };
    check(topic.error_code, None, &fallback)?;
    Ok(topic)
}

/// The summary of one topic, for answers after a change.
pub(crate) async fn summary(broker: &Broker, name: &str) -> Result<TopicSummary, ApiError> {
    Ok(TopicSummary::of(&topic_metadata(broker, name).await?))
}

pub(crate) async fn list(
    State(health): State<Arc<Health>>,
) -> Result<Json<Vec<TopicSummary>>, ApiError> {
    let broker = broker(&health)?;
    let mut topics: Vec<TopicSummary> = metadata(&broker, None)
        .await?
        .iter()
        .filter(|t| t.error_code == 0)
        .map(TopicSummary::of)
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(topics))
}

/// The body of `POST /api/v1/topics`; the broker's defaults where a field is left out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTopic {
    name: String,
    #[serde(default = "unset_i32")]
    partitions: i32,
    #[serde(default = "unset_i16")]
    replication_factor: i16,
    #[serde(default)]
    configs: BTreeMap<String, String>,
    #[serde(default)]
    validate_only: bool,
}

fn unset_i32() -> i32 {
    -1
}

fn unset_i16() -> i16 {
    -1
}

/// What `POST /api/v1/topics` answers: the topic as created (or as it would be).
#[derive(Serialize)]
pub(crate) struct CreatedTopic {
    name: String,
    topic_id: String,
    partitions: i32,
    replication_factor: i16,
    configs: BTreeMap<String, ConfigEntry>,
    validate_only: bool,
}

pub(crate) async fn create(
    State(health): State<Arc<Health>>,
    JsonBody(new): JsonBody<NewTopic>,
) -> Result<Response, ApiError> {
    let broker = broker(&health)?;
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: new.name.clone(),
            num_partitions: new.partitions,
            replication_factor: new.replication_factor,
            assignments: Vec::new(),
            configs: new
                .configs
                .into_iter()
                .map(|(name, value)| CreatableTopicConfig {
                    name,
                    value: Some(value),
                })
                .collect(),
        }],
        timeout_ms: TIMEOUT_MS,
        validate_only: new.validate_only,
    };
    let response = call!(&broker, CreateTopics, request);
    let result = response
        .topics
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("CreateTopics answered no topic"))?;
    check(
        result.error_code,
        result.error_message,
        &format!("cannot create topic {}", new.name),
    )?;
    let created = CreatedTopic {
        name: result.name,
        topic_id: uuid_string(&result.topic_id),
        partitions: result.num_partitions,
        replication_factor: result.replication_factor,
        configs: result
            .configs
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                let config = entry(c.value, c.config_source, c.read_only, c.is_sensitive);
                (c.name, config)
            })
            .collect(),
        validate_only: new.validate_only,
    };
    let status = if new.validate_only {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(created)).into_response())
}

/// A partition of `GET /api/v1/topics/{name}`.
#[derive(Serialize)]
pub(crate) struct PartitionDetail {
    partition: i32,
    leader: i32,
    leader_epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    offline_replicas: Vec<i32>,
    log_start_offset: i64,
    high_watermark: i64,
}

/// What `GET /api/v1/topics/{name}` answers.
#[derive(Serialize)]
pub(crate) struct TopicDetail {
    name: String,
    topic_id: String,
    internal: bool,
    partitions: Vec<PartitionDetail>,
    configs: BTreeMap<String, ConfigEntry>,
}

pub(crate) async fn describe(
    State(health): State<Arc<Health>>,
    Param(name): Param,
) -> Result<Json<TopicDetail>, ApiError> {
    let broker = broker(&health)?;
    let topic = topic_metadata(&broker, &name).await?;
    let indexes: Vec<i32> = topic.partitions.iter().map(|p| p.partition_index).collect();
    let earliest = offsets(&broker, &name, &indexes, EARLIEST).await?;
    let latest = offsets(&broker, &name, &indexes, LATEST).await?;
    let mut partitions: Vec<PartitionDetail> = topic
        .partitions
        .into_iter()
        .map(|p| PartitionDetail {
            partition: p.partition_index,
            leader: p.leader_id,
            leader_epoch: p.leader_epoch,
            replicas: p.replica_nodes,
            isr: p.isr_nodes,
            offline_replicas: p.offline_replicas,
            log_start_offset: earliest.get(&p.partition_index).copied().unwrap_or(-1),
            high_watermark: latest.get(&p.partition_index).copied().unwrap_or(-1),
        })
        .collect();
    partitions.sort_by_key(|p| p.partition);
    Ok(Json(TopicDetail {
        configs: describe_configs(&broker, &name).await?,
        name,
        topic_id: uuid_string(&topic.topic_id),
        internal: topic.is_internal,
        partitions,
    }))
}

pub(crate) async fn delete(
    State(health): State<Arc<Health>>,
    Param(name): Param,
) -> Result<StatusCode, ApiError> {
    let broker = broker(&health)?;
    let request = DeleteTopicsRequest {
        topics: vec![DeleteTopicState {
            name: Some(name.clone()),
            topic_id: [0; 16],
        }],
        topic_names: Vec::new(),
        timeout_ms: TIMEOUT_MS,
    };
    let response = call!(&broker, DeleteTopics, request);
    let result = response
        .responses
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("DeleteTopics answered no topic"))?;
    check(
        result.error_code,
        result.error_message,
        &format!("cannot delete topic {name}"),
    )?;
    Ok(StatusCode::NO_CONTENT)
}

/// A topic id as a UUID string, `8-4-4-4-12` hex digits.
fn uuid_string(id: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, byte) in id.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuid_strings_are_hyphenated_hex() {
        let id: [u8; 16] = std::array::from_fn(|i| i as u8 * 17);
        assert_eq!(
            super::uuid_string(&id),
            "00112233-4455-6677-8899-aabbccddeeff"
        );
    }
}
