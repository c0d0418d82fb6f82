//! DescribeConfigs (key 32): the configs of topics and of this broker, with their sources,
//! synonyms (v1+), types and documentation (v3+).
//!
//! A topic shows every topic config the broker knows: its override, else the broker's
//! value. A broker (resource name = this node's id) shows its settings under Kafka's broker
//! names, all read-only: dynamic broker configs are not supported, so IncrementalAlterConfigs
//! refuses them. The empty resource name stands for the cluster-wide dynamic defaults, of
//! which there are none. Sources follow Kafka: a topic override is TOPIC_CONFIG, a broker
//! setting that differs from the built-in default is STATIC_BROKER_CONFIG, anything else is
//! DEFAULT_CONFIG.

use std::collections::BTreeMap;

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::describe_configs_request::{
    DescribeConfigsRequest, DescribeConfigsResource,
};
use streambus_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResponse, DescribeConfigsResult,
    DescribeConfigsSynonym,
};
use streambus_storage::LogConfig;

use crate::context::RequestContext;
use crate::errors::KafkaError;
use crate::{Broker, BrokerConfig, topic_config};

/// Kafka's `ConfigResource.Type` ids of the resources the broker serves.
pub(crate) const RESOURCE_TOPIC: i8 = 2;
pub(crate) const RESOURCE_BROKER: i8 = 4;

/// Kafka's `ConfigSource` ids.
const SOURCE_TOPIC_CONFIG: i8 = 1;
const SOURCE_STATIC_BROKER_CONFIG: i8 = 4;
const SOURCE_DEFAULT_CONFIG: i8 = 5;

/// Kafka's `ConfigType` ids (DescribeConfigs v3+).
const TYPE_BOOLEAN: i8 = 1;
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;
const TYPE_LIST: i8 = 7;

/// Every topic config: its Kafka type, the broker setting that supplies its default (Kafka's
/// name; `log.flush.policy` and `log.flush.interval.bytes` are StreamBus's own), and a line
/// of documentation.
const TOPIC_CONFIGS: &[(&str, i8, &str, &str)] = &[
    (
        "cleanup.policy",
        TYPE_LIST,
        "log.cleanup.policy",
        "what happens to old segments: delete, compact, or both",
    ),
    (
        "compression.type",
        TYPE_STRING,
        "compression.type",
        "batches are kept as the producer compressed them (only producer is accepted)",
    ),
    (
        "delete.retention.ms",
        TYPE_LONG,
        "log.cleaner.delete.retention.ms",
        "how long a compacted topic keeps tombstones",
    ),
    (
        "flush.interval.bytes",
        TYPE_LONG,
        "log.flush.interval.bytes",
        "with flush.policy=interval, fsync once this many bytes are unsynced",
    ),
    (
        "flush.ms",
        TYPE_LONG,
        "log.flush.interval.ms",
        "with flush.policy=interval, fsync when the last fsync is this old",
    ),
    (
        "flush.policy",
        TYPE_STRING,
        "log.flush.policy",
        "when appends are fsynced: always (before acknowledging), interval, or os",
    ),
    (
        "index.interval.bytes",
        TYPE_INT,
        "log.index.interval.bytes",
        "bytes of batches between two offset index entries",
    ),
    (
        "max.message.bytes",
        TYPE_INT,
        "message.max.bytes",
        "the largest record batch a producer may append",
    ),
    (
        "message.timestamp.type",
        TYPE_STRING,
        "log.message.timestamp.type",
        "CreateTime or LogAppendTime",
    ),
    (
        "min.compaction.lag.ms",
        TYPE_LONG,
        "log.cleaner.min.compaction.lag.ms",
        "records younger than this are never compacted away",
    ),
    (
        "min.insync.replicas",
        TYPE_INT,
        "min.insync.replicas",
        "in-sync replicas an acks=all produce needs",
    ),
    (
        "retention.bytes",
        TYPE_LONG,
        "log.retention.bytes",
        "oldest segments are deleted while a partition is larger; -1 for no limit",
    ),
    (
        "retention.ms",
        TYPE_LONG,
        "log.retention.ms",
        "segments whose newest record is older are deleted; -1 keeps them forever",
    ),
    (
        "segment.bytes",
        TYPE_INT,
        "log.segment.bytes",
        "a segment is rolled before it grows past this size",
    ),
    (
        "segment.index.bytes",
        TYPE_INT,
        "log.index.size.max.bytes",
        "the largest an offset index may grow before the segment is rolled",
    ),
    (
        "segment.ms",
        TYPE_LONG,
        "log.roll.ms",
        "a segment is rolled once its first batch is this old",
    ),
    (
        "unclean.leader.election.enable",
        TYPE_BOOLEAN,
        "unclean.leader.election.enable",
        "whether an out-of-sync replica may become leader",
    ),
];

/// One config as the handler builds it, before the version decides what is sent.
struct Entry {
    name: String,
    value: Option<String>,
    read_only: bool,
    source: i8,
    config_type: i8,
    documentation: &'static str,
    synonyms: Vec<DescribeConfigsSynonym>,
}

fn synonym(name: &str, value: Option<String>, source: i8) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym {
        name: name.to_string(),
        value,
        source,
    }
}

pub(crate) async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let include_synonyms = ctx.api_version >= 1 && request.include_synonyms;
    let include_documentation = ctx.api_version >= 3 && request.include_documentation;
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let mut result = DescribeConfigsResult {
                error_code: ErrorCode::None.code(),
                error_message: None,
                resource_type: resource.resource_type,
                resource_name: resource.resource_name.clone(),
                configs: Vec::new(),
            };
            match describe(broker, &resource) {
                Ok(entries) => {
                    result.configs = entries
                        .into_iter()
                        .filter(|e| wanted(&resource, &e.name))
                        .map(|e| DescribeConfigsResourceResult {
                            name: e.name,
                            value: e.value,
                            read_only: e.read_only,
                            is_default: e.source == SOURCE_DEFAULT_CONFIG,
                            config_source: e.source,
                            is_sensitive: false,
                            synonyms: if include_synonyms {
                                e.synonyms
                            } else {
                                Vec::new()
                            },
                            config_type: e.config_type,
                            documentation: include_documentation
                                .then(|| e.documentation.to_string()),
                        })
                        .collect();
                }
                Err(e) => {
                    result.error_code = e.code.code();
                    result.error_message = e.message;
                }
            }
            result
        })
        .collect();
    DescribeConfigsResponse {
        results,
        ..Default::default()
    }
}

/// Whether the request asks for config `name` (a null key list asks for all).
fn wanted(resource: &DescribeConfigsResource, name: &str) -> bool {
    resource
        .configuration_keys
        .as_ref()
        .is_none_or(|keys| keys.iter().any(|k| k == name))
}

fn describe(broker: &Broker, resource: &DescribeConfigsResource) -> Result<Vec<Entry>, KafkaError> {
    match resource.resource_type {
        RESOURCE_TOPIC => {
            let name = &resource.resource_name;
            Broker::check_topic_name(name)?;
            let image = broker.image();
            let Some(topic) = image.topic(name) else {
                return Err(KafkaError::new(
                    ErrorCode::UnknownTopicOrPartition,
                    format!("topic {name} does not exist"),
                ));
            };
            Ok(topic_entries(&broker.config.log, &topic.configs))
        }
        RESOURCE_BROKER => {
            if resource.resource_name.is_empty() {
                // The cluster-wide dynamic defaults: none can be set yet.
                return Ok(Vec::new());
            }
            check_broker_id(&resource.resource_name, broker.config.node_id)?;
            Ok(broker_entries(&broker.config))
        }
        other => Err(KafkaError::new(
            ErrorCode::InvalidRequest,
            format!("unsupported resource type {other}"),
        )),
    }
}

/// Checks that a broker resource names this node, with Kafka's errors.
pub(crate) fn check_broker_id(resource_name: &str, node_id: i32) -> Result<(), KafkaError> {
    let id: i32 = resource_name.parse().map_err(|_| {
        KafkaError::new(
            ErrorCode::InvalidRequest,
            format!("broker id must be an integer, but it is: {resource_name}"),
        )
    })?;
    if id != node_id {
        return Err(KafkaError::new(
            ErrorCode::InvalidRequest,
            format!("unexpected broker id, expected {node_id} or empty string, but received {id}"),
        ));
    }
    Ok(())
}

/// Every topic config of a topic with overrides `overrides`, over the broker's log defaults.
fn topic_entries(defaults: &LogConfig, overrides: &BTreeMap<String, String>) -> Vec<Entry> {
    let builtin = LogConfig::default();
    topic_config::names()
        .into_iter()
        .map(|name| {
            let (config_type, broker_name, documentation) = topic_config_info(name);
            let default = topic_config::default_value(&builtin, name);
            let broker_value = topic_config::default_value(defaults, name);
            let overridden = overrides.get(name).cloned();
            let mut synonyms = Vec::new();
            if let Some(value) = &overridden {
                synonyms.push(synonym(name, Some(value.clone()), SOURCE_TOPIC_CONFIG));
            }
            let static_broker = broker_value != default;
            if static_broker {
                synonyms.push(synonym(
                    broker_name,
                    broker_value.clone(),
                    SOURCE_STATIC_BROKER_CONFIG,
                ));
            }
            synonyms.push(synonym(broker_name, default, SOURCE_DEFAULT_CONFIG));
            let source = if overridden.is_some() {
                SOURCE_TOPIC_CONFIG
            } else if static_broker {
                SOURCE_STATIC_BROKER_CONFIG
            } else {
                SOURCE_DEFAULT_CONFIG
            };
            Entry {
                name: name.to_string(),
                value: overridden.or(broker_value),
                read_only: false,
                source,
                config_type,
                documentation,
                synonyms,
            }
        })
        .collect()
}

/// Kafka type, broker synonym and documentation of a topic config.
fn topic_config_info(name: &str) -> (i8, &str, &'static str) {
    TOPIC_CONFIGS
        .iter()
        .find(|(n, _, _, _)| *n == name)
        .map_or((TYPE_STRING, name, ""), |(_, t, broker, doc)| {
            (*t, *broker, *doc)
        })
}

/// The broker's settings under Kafka's broker names, all read-only.
fn broker_entries(config: &BrokerConfig) -> Vec<Entry> {
    let builtin = BrokerConfig::new(config.data_dir.clone(), config.advertised_addr.clone());
    let setting = |name: &str, value: String, default: String, config_type, documentation| {
        let mut synonyms = Vec::new();
        let source = if value == default {
            SOURCE_DEFAULT_CONFIG
        } else {
            synonyms.push(synonym(
                name,
                Some(value.clone()),
                SOURCE_STATIC_BROKER_CONFIG,
            ));
            SOURCE_STATIC_BROKER_CONFIG
        };
        synonyms.push(synonym(name, Some(default), SOURCE_DEFAULT_CONFIG));
        Entry {
            name: name.to_string(),
            value: Some(value),
            read_only: true,
            source,
            config_type,
            documentation,
            synonyms,
        }
    };
    let mut entries = vec![
        setting(
            "node.id",
            config.node_id.to_string(),
            builtin.node_id.to_string(),
            TYPE_INT,
            "this broker's node id",
        ),
        setting(
            "num.partitions",
            config.num_partitions.to_string(),
            builtin.num_partitions.to_string(),
            TYPE_INT,
            "partitions of a topic created without a count",
        ),
        setting(
            "default.replication.factor",
            config.default_replication_factor.to_string(),
            builtin.default_replication_factor.to_string(),
            TYPE_INT,
            "replication factor of a topic created without one",
        ),
        setting(
            "auto.create.topics.enable",
            config.auto_create_topics.to_string(),
            builtin.auto_create_topics.to_string(),
            TYPE_BOOLEAN,
            "whether a topic is created when a client asks for its metadata",
        ),
        setting(
            "socket.request.max.bytes",
            config.socket_request_max_bytes.to_string(),
            builtin.socket_request_max_bytes.to_string(),
            TYPE_INT,
            "the largest request the broker accepts",
        ),
    ];
    // The data directory is always given, so it is always a static setting.
    let dir = config.data_dir.display().to_string();
    entries.push(Entry {
        name: "log.dirs".into(),
        value: Some(dir.clone()),
        read_only: true,
        source: SOURCE_STATIC_BROKER_CONFIG,
        config_type: TYPE_STRING,
        documentation: "the directory that holds the logs and the metadata",
        synonyms: vec![synonym("log.dirs", Some(dir), SOURCE_STATIC_BROKER_CONFIG)],
    });
    // The topic config defaults, under their broker names.
    let builtin_log = LogConfig::default();
    for (name, config_type, broker_name, documentation) in TOPIC_CONFIGS {
        let (Some(value), Some(default)) = (
            topic_config::default_value(&config.log, name),
            topic_config::default_value(&builtin_log, name),
        ) else {
            continue;
        };
        entries.push(setting(
            broker_name,
            value,
            default,
            *config_type,
            documentation,
        ));
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}

#[cfg(test)]
mod tests {
    use streambus_protocol::ApiKey;

    use super::*;
    use crate::handlers::testing;

    fn resource(resource_type: i8, name: &str, keys: Option<&[&str]>) -> DescribeConfigsResource {
        DescribeConfigsResource {
            resource_type,
            resource_name: name.into(),
            configuration_keys: keys.map(|k| k.iter().map(|s| s.to_string()).collect()),
        }
    }

    async fn describe_one(
        broker: &Broker,
        version: i16,
        resource: DescribeConfigsResource,
        synonyms: bool,
    ) -> DescribeConfigsResult {
        let request = DescribeConfigsRequest {
            resources: vec![resource],
            include_synonyms: synonyms,
            include_documentation: true,
        };
        let ctx = testing::ctx(ApiKey::DescribeConfigs, version);
        let mut response = handle(broker, &ctx, request).await;
        response.results.remove(0)
    }

    #[test]
    fn every_topic_config_has_a_type_and_a_broker_synonym() {
        for name in topic_config::names() {
            assert!(
                TOPIC_CONFIGS.iter().any(|(n, _, _, _)| *n == name),
                "{name} is missing from TOPIC_CONFIGS"
            );
        }
    }

    #[tokio::test]
    async fn topic_configs_show_overrides_and_defaults() {
        let (_dir, broker) = testing::broker();
        testing::create_topic(&broker, "t", 1, &[("retention.ms", "5000")]).await;
        let result = describe_one(&broker, 4, resource(RESOURCE_TOPIC, "t", None), true).await;
        assert_eq!(result.error_code, 0);
        assert_eq!(result.configs.len(), topic_config::names().len());
        let retention = result
            .configs
            .iter()
            .find(|c| c.name == "retention.ms")
            .unwrap();
        assert_eq!(retention.value.as_deref(), Some("5000"));
        assert_eq!(retention.config_source, SOURCE_TOPIC_CONFIG);
        assert_eq!(retention.config_type, TYPE_LONG);
        assert!(!retention.read_only);
        assert_eq!(retention.synonyms.len(), 2);
        assert_eq!(retention.synonyms[1].name, "log.retention.ms");
        assert_eq!(retention.synonyms[1].source, SOURCE_DEFAULT_CONFIG);
        let policy = result
            .configs
            .iter()
            .find(|c| c.name == "cleanup.policy")
            .unwrap();
        assert_eq!(policy.value.as_deref(), Some("delete"));
        assert_eq!(policy.config_source, SOURCE_DEFAULT_CONFIG);
        assert_eq!(policy.config_type, TYPE_LIST);
        assert!(policy.documentation.is_some());

        let filtered = describe_one(
            &broker,
            1,
            resource(RESOURCE_TOPIC, "t", Some(&["segment.bytes", "no.such"])),
            false,
        )
        .await;
        assert_eq!(filtered.configs.len(), 1);
        assert!(filtered.configs[0].synonyms.is_empty());
        assert!(filtered.configs[0].documentation.is_none());

        let missing = describe_one(&broker, 4, resource(RESOURCE_TOPIC, "nope", None), false).await;
        assert_eq!(
            missing.error_code,
            ErrorCode::UnknownTopicOrPartition.code()
        );
        assert!(missing.configs.is_empty());
    }

    #[tokio::test]
    async fn broker_configs_are_read_only_and_checked_by_node_id() {
        let (_dir, broker) = testing::broker();
        let result = describe_one(&broker, 4, resource(RESOURCE_BROKER, "1", None), true).await;
        assert_eq!(result.error_code, 0);
        let names: Vec<&str> = result.configs.iter().map(|c| c.name.as_str()).collect();
        for name in [
            "node.id",
            "num.partitions",
            "default.replication.factor",
            "auto.create.topics.enable",
            "socket.request.max.bytes",
            "log.dirs",
            "log.segment.bytes",
            "log.retention.ms",
            "log.retention.bytes",
            "log.cleanup.policy",
            "log.index.interval.bytes",
            "log.message.timestamp.type",
            "message.max.bytes",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        assert!(result.configs.iter().all(|c| c.read_only));
        let segment = result
            .configs
            .iter()
            .find(|c| c.name == "log.segment.bytes")
            .unwrap();
        assert_eq!(segment.value.as_deref(), Some("1073741824"));
        assert_eq!(segment.config_type, TYPE_INT);

        let cluster = describe_one(&broker, 4, resource(RESOURCE_BROKER, "", None), false).await;
        assert_eq!(cluster.error_code, 0);
        assert!(cluster.configs.is_empty());

        let other = describe_one(&broker, 4, resource(RESOURCE_BROKER, "2", None), false).await;
        assert_eq!(other.error_code, ErrorCode::InvalidRequest.code());
        let garbage = describe_one(&broker, 4, resource(RESOURCE_BROKER, "x", None), false).await;
        assert_eq!(garbage.error_code, ErrorCode::InvalidRequest.code());
        let logger = describe_one(&broker, 4, resource(8, "1", None), false).await;
        assert_eq!(logger.error_code, ErrorCode::InvalidRequest.code());
        assert!(logger.error_message.is_some());
    }
}
