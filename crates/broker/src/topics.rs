//! Creating and deleting topics and adding partitions: the admin operations that change
//! both the metadata and the logs, shared by CreateTopics, DeleteTopics, CreatePartitions
//! and Metadata's auto-creation.
//!
//! Each runs under the broker's admin lock: it checks the request against the current image,
//! commits the records, then brings the hosted partitions in line with the new image. The
//! metadata commit is the point of no return; a crash after it is finished by the next start
//! (`host_partitions`).

use std::collections::BTreeMap;

use streambus_coordinator::OFFSETS_TOPIC;
use streambus_metadata::{ConfigResource, MetadataRecord};
use streambus_protocol::ErrorCode;
use streambus_storage::{TopicPartition, is_legal_topic_name};
use uuid::Uuid;

use crate::errors::KafkaError;
use crate::placement::spread_replicas;
use crate::{Broker, topic_config};

/// The most partitions one topic may have: each is a directory with open files.
pub(crate) const MAX_PARTITIONS: i32 = 10_000;

/// Kafka's internal topics: clients may read them but not write or delete them.
const INTERNAL_TOPICS: &[&str] = &[OFFSETS_TOPIC, "__transaction_state"];

/// Whether `name` is one of Kafka's internal topics.
pub(crate) fn is_internal(name: &str) -> bool {
    INTERNAL_TOPICS.contains(&name)
}

/// A topic to create, as CreateTopics (or auto-creation) asks for it.
#[derive(Debug, Clone)]
pub(crate) struct TopicSpec {
    pub name: String,
    /// -1 for the broker default.
    pub partitions: i32,
    /// -1 for the broker default.
    pub replication_factor: i16,
    /// Manual replica assignments by partition, if any.
    pub assignments: Vec<(i32, Vec<i32>)>,
    pub configs: Vec<(String, Option<String>)>,
}

/// What creation made (or would make, when only validating).
#[derive(Debug, Clone)]
pub(crate) struct CreatedTopic {
    pub id: Uuid,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

/// The live topic `name`, or UNKNOWN_TOPIC_OR_PARTITION.
fn existing_topic<'a>(
    image: &'a streambus_metadata::MetadataImage,
    name: &str,
) -> Result<&'a streambus_metadata::TopicImage, KafkaError> {
    image.topic(name).ok_or_else(|| {
        invalid(
            ErrorCode::UnknownTopicOrPartition,
            format!("topic {name} does not exist"),
        )
    })
}

/// Internal topics belong to the broker: deleting `__consumer_offsets` loses every group,
/// and more partitions would move groups to partitions that do not hold their state.
fn refuse_internal(name: &str, what: &str) -> Result<(), KafkaError> {
    if is_internal(name) {
        return Err(invalid(
            ErrorCode::InvalidTopicException,
            format!("{name} is an internal topic and cannot be {what}"),
        ));
    }
    Ok(())
}

fn invalid(code: ErrorCode, message: impl Into<String>) -> KafkaError {
    KafkaError::new(code, message)
}

impl Broker {
    /// Checks a topic name against Kafka's rules.
    pub(crate) fn check_topic_name(name: &str) -> Result<(), KafkaError> {
        if is_legal_topic_name(name) {
            Ok(())
        } else {
            Err(invalid(
                ErrorCode::InvalidTopicException,
                format!(
                    "topic name {name:?} is illegal: use 1 to 249 of the characters [a-zA-Z0-9._-], not . or .."
                ),
            ))
        }
    }

    /// Creates a topic (or checks that it could be created, with `validate_only`).
    pub(crate) async fn create_topic(
        &self,
        spec: &TopicSpec,
        validate_only: bool,
    ) -> Result<CreatedTopic, KafkaError> {
        let _admin = self.admin.lock().await;
        Self::check_topic_name(&spec.name)?;
        let image = self.metadata.image();
        if image.topic(&spec.name).is_some() {
            return Err(invalid(
                ErrorCode::TopicAlreadyExists,
                format!("topic {} already exists", spec.name),
            ));
        }
        let live_brokers = image.brokers().len().max(1);
        let (partitions, replication_factor) = if spec.assignments.is_empty() {
            let partitions = match spec.partitions {
                -1 => self.config.num_partitions,
                p => p,
            };
            let replication_factor = match spec.replication_factor {
                -1 => self.config.default_replication_factor,
                r => r,
            };
            (partitions, replication_factor)
        } else {
            self.check_assignments(spec, &image)?
        };
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(invalid(
                ErrorCode::InvalidPartitions,
                format!(
                    "number of partitions must be between 1 and {MAX_PARTITIONS}, not {partitions}"
                ),
            ));
        }
        if replication_factor < 1 {
            return Err(invalid(
                ErrorCode::InvalidReplicationFactor,
                format!("replication factor must be at least 1, not {replication_factor}"),
            ));
        }
        if replication_factor as usize > live_brokers {
            return Err(invalid(
                ErrorCode::InvalidReplicationFactor,
                format!(
                    "replication factor {replication_factor} is larger than the {live_brokers} available broker(s)"
                ),
            ));
        }
        let mut configs = BTreeMap::new();
        for (name, value) in &spec.configs {
            let Some(value) = value else {
                return Err(invalid(
                    ErrorCode::InvalidConfig,
                    format!("config {name} has a null value"),
                ));
            };
            topic_config::validate(name, value)
                .map_err(|e| invalid(ErrorCode::InvalidConfig, e.message))?;
            configs.insert(name.clone(), value.clone());
        }
        let id = Uuid::new_v4();
        let created = CreatedTopic {
            id,
            partitions,
            replication_factor,
            configs: configs.clone(),
        };
        if validate_only {
            return Ok(created);
        }
        let assignments = if spec.assignments.is_empty() {
            spread_replicas(&image, &spec.name, 0..partitions, replication_factor)
        } else {
            let mut sorted = spec.assignments.clone();
            sorted.sort_by_key(|(p, _)| *p);
            sorted.into_iter().map(|(_, replicas)| replicas).collect()
        };
        let mut records = vec![MetadataRecord::Topic {
            name: spec.name.clone(),
            topic_id: id,
        }];
        records.extend(
            assignments
                .into_iter()
                .zip(0..)
                .map(|(replicas, partition)| new_partition(id, partition, replicas)),
        );
        records.extend(
            configs
                .into_iter()
                .map(|(name, value)| MetadataRecord::Config {
                    resource: ConfigResource::Topic(spec.name.clone()),
                    name,
                    value: Some(value),
                }),
        );
        // A log left on disk under this name belongs to no topic (see `host_partitions`);
        // the new topic starts empty.
        for partition in 0..partitions {
            let tp = TopicPartition::new(spec.name.clone(), partition);
            if self.replicas.partition(&tp).is_none() && self.replicas.logs().get(&tp).is_some() {
                self.replicas
                    .delete_partition(&tp)
                    .map_err(|e| KafkaError::from(&e))?;
            }
        }
        self.commit(records)?;
        self.host_partitions()
            .map_err(|e| invalid(ErrorCode::KafkaStorageError, e.to_string()))?;
        tracing::info!(topic = %spec.name, partitions, "created topic");
        Ok(created)
    }

    fn check_assignments(
        &self,
        spec: &TopicSpec,
        image: &streambus_metadata::MetadataImage,
    ) -> Result<(i32, i16), KafkaError> {
        if spec.partitions != -1 || spec.replication_factor != -1 {
            return Err(invalid(
                ErrorCode::InvalidRequest,
                "give either replica assignments or partitions and replication factor, not both",
            ));
        }
        let mut sorted: Vec<_> = spec.assignments.clone();
        sorted.sort_by_key(|(p, _)| *p);
        let replication_factor = sorted[0].1.len();
        for (expected, (partition, replicas)) in sorted.iter().enumerate() {
            if *partition != expected as i32 {
                return Err(invalid(
                    ErrorCode::InvalidReplicaAssignment,
                    "assigned partitions must be numbered 0, 1, 2, ... without gaps",
                ));
            }
            if replicas.is_empty() || replicas.len() != replication_factor {
                return Err(invalid(
                    ErrorCode::InvalidReplicaAssignment,
                    "every partition needs the same, non-zero number of replicas",
                ));
            }
            let mut unique = replicas.clone();
            unique.sort_unstable();
            unique.dedup();
            if unique.len() != replicas.len() {
                return Err(invalid(
                    ErrorCode::InvalidReplicaAssignment,
                    "a replica is assigned twice",
                ));
            }
            if let Some(unknown) = replicas.iter().find(|id| image.broker(**id).is_none()) {
                return Err(invalid(
                    ErrorCode::InvalidReplicaAssignment,
                    format!("broker {unknown} is not registered"),
                ));
            }
        }
        Ok((sorted.len() as i32, replication_factor as i16))
    }

    /// Deletes a topic by name; returns its id.
    pub(crate) async fn delete_topic(&self, name: &str) -> Result<Uuid, KafkaError> {
        let _admin = self.admin.lock().await;
        let image = self.metadata.image();
        let id = existing_topic(&image, name)?.id;
        refuse_internal(name, "deleted")?;
        self.commit(vec![MetadataRecord::RemoveTopic { topic_id: id }])?;
        self.host_partitions()
            .map_err(|e| invalid(ErrorCode::KafkaStorageError, e.to_string()))?;
        self.metrics.forget_topic(name);
        // As Kafka: groups forget their offsets of a deleted topic.
        self.groups.topics_deleted(&[name.to_string()]).await;
        tracing::info!(topic = %name, "deleted topic");
        Ok(id)
    }

    /// Grows a topic to `count` partitions.
    pub(crate) async fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        let _admin = self.admin.lock().await;
        let image = self.metadata.image();
        let topic = existing_topic(&image, name)?;
        refuse_internal(name, "given more partitions")?;
        let current = topic.partitions.len() as i32;
        if count <= current {
            return Err(invalid(
                ErrorCode::InvalidPartitions,
                format!(
                    "topic {name} has {current} partitions; the new count {count} must be larger"
                ),
            ));
        }
        if count > MAX_PARTITIONS {
            return Err(invalid(
                ErrorCode::InvalidPartitions,
                format!("a topic may have at most {MAX_PARTITIONS} partitions"),
            ));
        }
        if validate_only {
            return Ok(());
        }
        let replication_factor = topic
            .partitions
            .first()
            .map_or(1, |p| p.replicas.len() as i16);
        let records = spread_replicas(&image, name, current..count, replication_factor)
            .into_iter()
            .zip(current..)
            .map(|(replicas, partition)| new_partition(topic.id, partition, replicas))
            .collect();
        self.commit(records)?;
        self.host_partitions()
            .map_err(|e| invalid(ErrorCode::KafkaStorageError, e.to_string()))?;
        Ok(())
    }

    /// Replaces the config overrides of topic `name` with what `change` makes of the current
    /// ones (AlterConfigs and IncrementalAlterConfigs). The new set is checked whole; only
    /// the differences are committed, in one batch; the hosted partitions then take the new
    /// log config. `change` runs under the admin lock, so concurrent changes do not lose
    /// each other's updates.
    pub(crate) async fn alter_topic_configs(
        &self,
        name: &str,
        validate_only: bool,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, KafkaError>,
    ) -> Result<(), KafkaError> {
        let _admin = self.admin.lock().await;
        let image = self.metadata.image();
        let Some(topic) = image.topic(name) else {
            return Err(invalid(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic {name} does not exist"),
            ));
        };
        let wanted = change(&topic.configs)?;
        topic_config::validate_overrides(&self.config.log, &wanted)
            .map_err(|e| invalid(ErrorCode::InvalidConfig, e.message))?;
        let records = config_changes(name, &topic.configs, &wanted);
        if validate_only || records.is_empty() {
            return Ok(());
        }
        self.commit(records)?;
        self.host_partitions()
            .map_err(|e| invalid(ErrorCode::KafkaStorageError, e.to_string()))?;
        tracing::info!(topic = %name, "altered topic configs");
        Ok(())
    }

    /// Commits metadata records; a refusal or failure becomes the client's error.
    pub(crate) fn commit(&self, records: Vec<MetadataRecord>) -> Result<u64, KafkaError> {
        self.metadata.commit_from_task(records).map_err(|e| {
            tracing::error!(error = %e, "metadata commit failed");
            invalid(ErrorCode::UnknownServerError, e.to_string())
        })
    }
}

/// A new partition on `replicas`, led by the first, all of them in sync, at epoch 0.
fn new_partition(topic_id: Uuid, partition: i32, replicas: Vec<i32>) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id,
        partition,
        isr: replicas.clone(),
        leader: replicas.first().copied().unwrap_or(-1),
        replicas,
        leader_epoch: 0,
        partition_epoch: 0,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    }
}

/// The config records that turn a topic's overrides `current` into `wanted`: a set for each
/// new or changed value, a removal for each override that is gone.
fn config_changes(
    topic: &str,
    current: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> Vec<MetadataRecord> {
    let record = |name: &String, value: Option<&String>| MetadataRecord::Config {
        resource: ConfigResource::Topic(topic.to_string()),
        name: name.clone(),
        value: value.cloned(),
    };
    let set = wanted
        .iter()
        .filter(|(name, value)| current.get(*name) != Some(*value))
        .map(|(name, value)| record(name, Some(value)));
    let removed = current
        .keys()
        .filter(|name| !wanted.contains_key(*name))
        .map(|name| record(name, None));
    set.chain(removed).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn config_changes_set_what_changed_and_remove_what_is_gone() {
        let current = map(&[("retention.ms", "1"), ("segment.bytes", "1000")]);
        let wanted = map(&[
            ("retention.ms", "2"),
            ("segment.bytes", "1000"),
            ("segment.ms", "5"),
        ]);
        let changes = config_changes("t", &current, &wanted);
        let summary: Vec<(String, Option<String>)> = changes
            .into_iter()
            .map(|r| match r {
                MetadataRecord::Config {
                    resource,
                    name,
                    value,
                } => {
                    assert_eq!(resource, ConfigResource::Topic("t".into()));
                    (name, value)
                }
                other => panic!("unexpected record {other:?}"),
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("retention.ms".to_string(), Some("2".to_string())),
                ("segment.ms".to_string(), Some("5".to_string())),
            ]
        );
        let removal = config_changes("t", &current, &map(&[("segment.bytes", "1000")]));
        assert!(matches!(
            &removal[..],
            [MetadataRecord::Config { name, value: None, .. }] if name == "retention.ms"
        ));
        assert!(config_changes("t", &current, &current).is_empty());
    }
}
