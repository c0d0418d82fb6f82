//! Topics: create (or only validate), delete, list, describe, add partitions.
//!
//! Changes go to the controller (CreateTopics, DeleteTopics, CreatePartitions); reads come
//! from metadata, which any broker serves, plus the topic's configs (DescribeConfigs). After a
//! change the topic's cached metadata is dropped, so the next use sees the new partitions.

use streambus_protocol::messages::create_partitions_request::{
    CreatePartitionsRequest, CreatePartitionsTopic,
};
use streambus_protocol::messages::create_topics_request::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use streambus_protocol::messages::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};

use super::Admin;
use super::configs::{ConfigEntry, ConfigResource, ConfigSource};
use crate::cluster::PartitionInfo;
use crate::error::{Error, Result};

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Its name.
    pub name: String,
    /// Its partition count; -1 for the broker's default.
    pub partitions: i32,
    /// Copies of each partition; -1 for the broker's default.
    pub replication_factor: i16,
    /// Config overrides (`retention.ms`, `cleanup.policy`...), in order.
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with the broker's default partition count and replication factor.
    pub fn new(name: impl Into<String>) -> NewTopic {
        NewTopic {
            name: name.into(),
            partitions: -1,
            replication_factor: -1,
            configs: Vec::new(),
        }
    }

    /// Sets the partition count.
    pub fn partitions(mut self, partitions: i32) -> NewTopic {
        self.partitions = partitions;
        self
    }

    /// Sets the replication factor.
    pub fn replication_factor(mut self, factor: i16) -> NewTopic {
        self.replication_factor = factor;
        self
    }

    /// Adds a config override.
    pub fn config(mut self, name: impl Into<String>, value: impl Into<String>) -> NewTopic {
        self.configs.push((name.into(), value.into()));
        self
    }
}

/// What the broker created (or, validating only, would create).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    /// The name.
    pub name: String,
    /// The topic id (all zeros from brokers before CreateTopics v7, and when validating).
    pub id: [u8; 16],
    /// The partition count, -1 if the broker does not say (before v5).
    pub partitions: i32,
    /// The replication factor, -1 if the broker does not say (before v5).
    pub replication_factor: i16,
    /// The topic's configs as created (empty before v5).
    pub configs: Vec<ConfigEntry>,
}

/// One topic of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicListing {
    /// The name.
    pub name: String,
    /// How many partitions it has.
    pub partitions: usize,
    /// Whether it is one of the broker's internal topics (`__consumer_offsets`).
    pub internal: bool,
}

/// A topic's partitions and configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// The name.
    pub name: String,
    /// The topic id.
    pub id: [u8; 16],
    /// Whether it is internal.
    pub internal: bool,
    /// Its partitions in order, with leader, replicas and in-sync replicas.
    pub partitions: Vec<PartitionInfo>,
    /// Every config of the topic, overrides and defaults, sorted by name.
    pub configs: Vec<ConfigEntry>,
}

impl Admin {
    /// Creates a topic.
    pub async fn create_topic(&self, topic: &NewTopic) -> Result<CreatedTopic> {
        self.create(topic, false).await
    }

    /// Checks that [`Admin::create_topic`] would succeed, without creating anything.
    pub async fn validate_topic(&self, topic: &NewTopic) -> Result<CreatedTopic> {
        self.create(topic, true).await
    }

    async fn create(&self, topic: &NewTopic, validate_only: bool) -> Result<CreatedTopic> {
        let request = CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: topic.name.clone(),
                num_partitions: topic.partitions,
                replication_factor: topic.replication_factor,
                assignments: Vec::new(),
                configs: topic
                    .configs
                    .iter()
                    .map(|(name, value)| CreatableTopicConfig {
                        name: name.clone(),
                        value: Some(value.clone()),
                    })
                    .collect(),
            }],
            timeout_ms: self.operation_timeout_ms(),
            validate_only,
        };
        let response = self.cluster.call_controller(request).await?;
        self.cluster.invalidate(&topic.name);
        let result = response
            .topics
            .into_iter()
            .find(|t| t.name == topic.name)
            .ok_or_else(|| missing("CreateTopics", &topic.name))?;
        Error::check_with_message(result.error_code, result.error_message.as_deref(), || {
            format!("cannot create topic {}", topic.name)
        })?;
        let mut configs: Vec<ConfigEntry> = result
            .configs
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                let source = ConfigSource::from_id(c.config_source);
                ConfigEntry {
                    is_default: source == ConfigSource::Default,
                    name: c.name,
                    value: c.value,
                    source,
                    read_only: c.read_only,
                    sensitive: c.is_sensitive,
                }
            })
            .collect();
        configs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(CreatedTopic {
            name: result.name,
            id: result.topic_id,
            partitions: result.num_partitions,
            replication_factor: result.replication_factor,
            configs,
        })
    }

    /// Deletes a topic and its data.
    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        let request = DeleteTopicsRequest {
            // v6+ names topics in `topics`, earlier versions in `topic_names`.
            topics: vec![DeleteTopicState {
                name: Some(name.to_owned()),
                topic_id: [0; 16],
            }],
            topic_names: vec![name.to_owned()],
            timeout_ms: self.operation_timeout_ms(),
        };
        let response = self.cluster.call_controller(request).await?;
        self.cluster.invalidate(name);
        let result = response
            .responses
            .into_iter()
            .find(|r| r.name.as_deref() == Some(name))
            .ok_or_else(|| missing("DeleteTopics", name))?;
        Error::check_with_message(result.error_code, result.error_message.as_deref(), || {
            format!("cannot delete topic {name}")
        })
    }

    /// Every topic, sorted by name.
    pub async fn list_topics(&self) -> Result<Vec<TopicListing>> {
        let response = self.cluster.refresh(None, false).await?;
        let mut topics: Vec<TopicListing> = response
            .topics
            .into_iter()
            .filter(|t| t.error_code == 0)
            .filter_map(|t| {
                Some(TopicListing {
                    name: t.name?,
                    partitions: t.partitions.len(),
                    internal: t.is_internal,
                })
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// A topic's partitions (from fresh metadata) and configs.
    pub async fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        let response = self
            .cluster
            .refresh(Some(&[name.to_owned()]), false)
            .await?;
        let found = response
            .topics
            .iter()
            .find(|t| t.name.as_deref() == Some(name))
            .ok_or_else(|| missing("Metadata", name))?;
        Error::check(found.error_code, || format!("topic {name}"))?;
        let topic = self.cluster.topic(name, false).await?;
        let configs = self
            .describe_configs(&ConfigResource::Topic(name.to_owned()))
            .await?;
        Ok(TopicDescription {
            name: topic.name,
            id: topic.id,
            internal: topic.internal,
            partitions: topic.partitions,
            configs,
        })
    }

    /// Grows a topic to `total` partitions (the new count, not the number to add).
    pub async fn create_partitions(&self, name: &str, total: i32) -> Result<()> {
        let request = CreatePartitionsRequest {
            topics: vec![CreatePartitionsTopic {
                name: name.to_owned(),
                count: total,
                assignments: None,
            }],
            timeout_ms: self.operation_timeout_ms(),
            validate_only: false,
        };
        let response = self.cluster.call_controller(request).await?;
        self.cluster.invalidate(name);
        let result = response
            .results
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| missing("CreatePartitions", name))?;
        Error::check_with_message(result.error_code, result.error_message.as_deref(), || {
            format!("cannot grow topic {name} to {total} partitions")
        })
    }
}

/// A response that left out the item asked about.
pub(super) fn missing(api: &str, item: &str) -> Error {
    Error::Protocol {
        addr: "the broker".into(),
        reason: format!("the {api} response does not mention {item}"),
    }
}
