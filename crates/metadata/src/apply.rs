//! Applying records to a [`MetadataImage`]: each record is checked against the image first
//! and applied only if it keeps the image's invariants (see the `image` module), so a
//! refused record leaves the image exactly as it was.
//!
//! The image checks consistency, not policy: whether a replica set fits the live brokers or
//! a config value parses is the controller's business before it writes the record, since a
//! record that was valid when committed must still apply when replayed later.

use std::sync::Arc;

use uuid::Uuid;

use crate::error::{ApplyError, CommitError};
use crate::image::{BrokerRegistration, MetadataImage, PartitionImage, TopicImage};
use crate::record::{ConfigResource, MetadataRecord};

/// Kafka's limit on topic name length.
const MAX_TOPIC_NAME_LEN: usize = 249;

impl MetadataImage {
    /// Applies one record, or refuses it with the reason and leaves the image unchanged.
    pub fn apply(&mut self, record: &MetadataRecord) -> Result<(), ApplyError> {
        match record {
            MetadataRecord::RegisterBroker {
                node_id,
                host,
                port,
                rack,
            } => self.register_broker(*node_id, host, *port, rack.as_deref()),
            MetadataRecord::Topic { name, topic_id } => self.create_topic(name, *topic_id),
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
                adding_replicas,
                removing_replicas,
            } => self.set_partition(
                *topic_id,
                PartitionImage {
                    partition: *partition,
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    leader: *leader,
                    leader_epoch: *leader_epoch,
                    partition_epoch: *partition_epoch,
                    adding_replicas: adding_replicas.clone(),
                    removing_replicas: removing_replicas.clone(),
                },
            ),
            MetadataRecord::RemoveTopic { topic_id } => self.remove_topic(*topic_id),
            MetadataRecord::Config {
                resource,
                name,
                value,
            } => self.set_config(resource, name, value.as_deref()),
            MetadataRecord::ProducerIds {
                node_id,
                first_producer_id,
                block_size,
            } => self.hand_out_producer_ids(*node_id, *first_producer_id, *block_size),
        }
    }

    /// The image after applying the whole batch `records` as the batch at `offset`, or the
    /// first refusal; `self` is never changed, so a batch applies all or nothing.
    pub fn apply_batch(
        &self,
        offset: u64,
        records: &[MetadataRecord],
    ) -> Result<MetadataImage, CommitError> {
        let mut next = self.clone();
        for (index, record) in records.iter().enumerate() {
            next.apply(record).map_err(|source| CommitError::Rejected {
                index,
                kind: record.kind(),
                source,
            })?;
        }
        next.offset = offset;
        Ok(next)
    }

    fn register_broker(
        &mut self,
        node_id: i32,
        host: &str,
        port: u16,
        rack: Option<&str>,
    ) -> Result<(), ApplyError> {
        let reason = if node_id < 0 {
            Some("node id is negative")
        } else if host.is_empty() {
            Some("host is empty")
        } else if port == 0 {
            Some("port is 0")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(ApplyError::InvalidBroker { node_id, reason });
        }
        self.brokers.insert(
            node_id,
            BrokerRegistration {
                node_id,
                host: host.to_owned(),
                port,
                rack: rack.map(str::to_owned),
            },
        );
        Ok(())
    }

    fn create_topic(&mut self, name: &str, id: Uuid) -> Result<(), ApplyError> {
        if let Some(reason) = topic_name_problem(name) {
            return Err(ApplyError::InvalidTopicName {
                name: name.to_owned(),
                reason,
            });
        }
        if id.is_nil() {
            return Err(ApplyError::NilTopicId {
                name: name.to_owned(),
            });
        }
        if let Some(existing) = self.names_by_id.get(&id) {
            return Err(ApplyError::TopicIdInUse {
                topic_id: id,
                existing: existing.clone(),
            });
        }
        if let Some(existing) = self.topics.get(name) {
            return Err(ApplyError::TopicNameInUse {
                name: name.to_owned(),
                existing: existing.id,
            });
        }
        self.names_by_id.insert(id, name.to_owned());
        self.topics.insert(
            name.to_owned(),
            Arc::new(TopicImage {
                name: name.to_owned(),
                id,
                partitions: Vec::new(),
                configs: Default::default(),
            }),
        );
        Ok(())
    }

    fn set_partition(&mut self, id: Uuid, state: PartitionImage) -> Result<(), ApplyError> {
        let name = self
            .names_by_id
            .get(&id)
            .ok_or(ApplyError::UnknownTopicId { topic_id: id })?;
        let topic = self
            .topics
            .get_mut(name)
            .ok_or(ApplyError::UnknownTopicId { topic_id: id })?;
        let invalid = |reason| ApplyError::InvalidPartition {
            topic: name.clone(),
            partition: state.partition,
            reason,
        };
        let index = usize::try_from(state.partition).map_err(|_| invalid("index is negative"))?;
        if let Some(reason) = partition_state_problem(&state) {
            return Err(invalid(reason));
        }
        match topic.partitions.get(index) {
            Some(current) => {
                // A change is a compare-and-set: it names the version it replaces, so one
                // made from a stale image is refused here, on every node alike.
                if current.partition_epoch.checked_add(1) != Some(state.partition_epoch) {
                    return Err(ApplyError::StalePartitionEpoch {
                        topic: name.clone(),
                        partition: state.partition,
                        current: current.partition_epoch,
                        proposed: state.partition_epoch,
                    });
                }
                if state.leader_epoch < current.leader_epoch {
                    return Err(ApplyError::EpochRegression {
                        topic: name.clone(),
                        partition: state.partition,
                        epoch: "leader_epoch",
                        current: current.leader_epoch,
                        proposed: state.leader_epoch,
                    });
                }
                Arc::make_mut(topic).partitions[index] = state;
            }
            None if index == topic.partitions.len() => {
                Arc::make_mut(topic).partitions.push(state);
            }
            None => {
                return Err(ApplyError::PartitionGap {
                    topic: name.clone(),
                    partition: state.partition,
                    count: topic.partitions.len(),
                });
            }
        }
        Ok(())
    }

    fn remove_topic(&mut self, id: Uuid) -> Result<(), ApplyError> {
        let name = self
            .names_by_id
            .remove(&id)
            .ok_or(ApplyError::UnknownTopicId { topic_id: id })?;
        self.topics.remove(&name);
        Ok(())
    }

    fn set_config(
        &mut self,
        resource: &ConfigResource,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), ApplyError> {
        if name.is_empty() {
            return Err(ApplyError::InvalidConfig {
                name: name.to_owned(),
                reason: "name is empty",
            });
        }
        match resource {
            ConfigResource::Topic(topic) => {
                let topic = self
                    .topics
                    .get_mut(topic)
                    .ok_or_else(|| ApplyError::UnknownTopic {
                        name: topic.clone(),
                    })?;
                match value {
                    Some(value) => {
                        Arc::make_mut(topic)
                            .configs
                            .insert(name.to_owned(), value.to_owned());
                    }
                    None if topic.configs.contains_key(name) => {
                        Arc::make_mut(topic).configs.remove(name);
                    }
                    None => {}
                }
            }
            ConfigResource::Broker(node_id) => {
                if *node_id < 0 {
                    return Err(ApplyError::InvalidConfig {
                        name: name.to_owned(),
                        reason: "broker node id is negative",
                    });
                }
                match value {
                    Some(value) => {
                        self.broker_configs
                            .entry(*node_id)
                            .or_default()
                            .insert(name.to_owned(), value.to_owned());
                    }
                    None => {
                        if let Some(configs) = self.broker_configs.get_mut(node_id) {
                            configs.remove(name);
                            if configs.is_empty() {
                                self.broker_configs.remove(node_id);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn hand_out_producer_ids(
        &mut self,
        node_id: i32,
        first: i64,
        size: i64,
    ) -> Result<(), ApplyError> {
        let end = first.checked_add(size).filter(|_| size > 0);
        let Some(end) = end else {
            return Err(ApplyError::InvalidProducerIdBlock {
                node_id,
                first,
                size,
            });
        };
        if first != self.next_producer_id {
            return Err(ApplyError::ProducerIdBlockMismatch {
                node_id,
                expected: self.next_producer_id,
                first,
            });
        }
        self.next_producer_id = end;
        Ok(())
    }
}

/// Why Kafka would refuse `name` as a topic name, if it would.
fn topic_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("name is empty")
    } else if name == "." || name == ".." {
        Some("name is '.' or '..'")
    } else if name.len() > MAX_TOPIC_NAME_LEN {
        Some("name is longer than 249 characters")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Some("name has characters other than ASCII letters, digits, '.', '_' and '-'")
    } else {
        None
    }
}

/// What is wrong with a partition state, if anything (besides its index).
fn partition_state_problem(state: &PartitionImage) -> Option<&'static str> {
    let replicas = &state.replicas;
    if replicas.is_empty() {
        return Some("replica list is empty");
    }
    if replicas.iter().any(|&r| r < 0) {
        return Some("replica node id is negative");
    }
    if has_duplicates(replicas) {
        return Some("replica list has duplicates");
    }
    if state.isr.iter().any(|r| !replicas.contains(r)) {
        return Some("isr member is not a replica");
    }
    if has_duplicates(&state.isr) {
        return Some("isr has duplicates");
    }
    if state.leader != -1 && !state.isr.contains(&state.leader) {
        return Some("leader is neither -1 nor in the isr");
    }
    if state.leader_epoch < 0 || state.partition_epoch < 0 {
        return Some("epoch is negative");
    }
    let moving = [&state.adding_replicas, &state.removing_replicas];
    if moving
        .iter()
        .any(|list| list.iter().any(|r| !replicas.contains(r)))
    {
        return Some("an adding or removing replica is not a replica");
    }
    if moving.iter().any(|list| has_duplicates(list)) {
        return Some("adding or removing replicas have duplicates");
    }
    if state
        .adding_replicas
        .iter()
        .any(|r| state.removing_replicas.contains(r))
    {
        return Some("a replica is both added and removed");
    }
    if state.removing_replicas.len() >= replicas.len() {
        return Some("a reassignment removes every replica");
    }
    None
}

fn has_duplicates(ids: &[i32]) -> bool {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    !ids.iter().all(|id| seen.insert(*id))
}
