//! IncrementalAlterConfigs (key 44): set, delete, append to or subtract from single topic
//! configs, leaving the others as they are.
//!
//! As in Kafka: a resource named twice, a config named twice, a null value for anything but
//! DELETE, or an unknown operation refuse the resource with INVALID_REQUEST; APPEND and
//! SUBTRACT apply only to list configs (`cleanup.policy`), and start from the current value
//! (the override, else the broker default). The resulting overrides are checked whole and
//! committed in one batch, so a resource changes completely or not at all.
//!
//! Broker resources are refused with INVALID_REQUEST: the broker's log defaults are its
//! static configuration, and a dynamic override stored in the metadata would not reach the
//! logs yet. Storing a config that has no effect would be worse than refusing it.

use std::collections::{BTreeMap, HashSet};

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
};
use streambus_protocol::messages::incremental_alter_configs_response::{
    AlterConfigsResourceResponse, IncrementalAlterConfigsResponse,
};
use streambus_storage::LogConfig;

use crate::Broker;
use crate::context::RequestContext;
use crate::errors::KafkaError;
use crate::handlers::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC, check_broker_id};
use crate::topic_config;

/// The refusal of every broker config change.
pub(crate) const BROKER_CONFIGS_UNSUPPORTED: &str = "dynamic broker configs are not supported yet";

/// The topic configs whose values are comma-separated lists.
const LIST_CONFIGS: &[&str] = &["cleanup.policy"];

/// Kafka's `AlterConfigOp.OpType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Set,
    Delete,
    Append,
    Subtract,
}

impl Op {
    fn from_id(id: i8) -> Option<Op> {
        match id {
            0 => Some(Op::Set),
            1 => Some(Op::Delete),
            2 => Some(Op::Append),
            3 => Some(Op::Subtract),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Op::Set => "SET",
            Op::Delete => "DELETE",
            Op::Append => "APPEND",
            Op::Subtract => "SUBTRACT",
        }
    }
}

/// One checked change of one config.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Change {
    name: String,
    op: Op,
    /// Present for every operation but DELETE.
    value: String,
}

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let repeated = super::repeated(
        request
            .resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.clone())),
    );
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let key = (resource.resource_type, resource.resource_name.clone());
        let result = if repeated.contains(&key) {
            Err(KafkaError::new(
                ErrorCode::InvalidRequest,
                "each resource must appear at most once",
            ))
        } else {
            alter(broker, &resource, request.validate_only).await
        };
        let (error_code, error_message) = KafkaError::fields(result);
        responses.push(AlterConfigsResourceResponse {
            error_code,
            error_message,
            resource_type: resource.resource_type,
            resource_name: resource.resource_name,
        });
    }
    IncrementalAlterConfigsResponse {
        responses,
        ..Default::default()
    }
}

async fn alter(
    broker: &Broker,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), KafkaError> {
    let changes = parse(&resource.configs)?;
    match resource.resource_type {
        RESOURCE_TOPIC => {
            let defaults = &broker.config.log;
            broker
                .alter_topic_configs(&resource.resource_name, validate_only, |current| {
                    apply(current, defaults, &changes)
                })
                .await
        }
        RESOURCE_BROKER => {
            if !resource.resource_name.is_empty() {
                check_broker_id(&resource.resource_name, broker.config.node_id)?;
            }
            Err(KafkaError::new(
                ErrorCode::InvalidRequest,
                BROKER_CONFIGS_UNSUPPORTED,
            ))
        }
        other => Err(KafkaError::new(
            ErrorCode::InvalidRequest,
            format!("unknown resource type {other}"),
        )),
    }
}

/// Checks the shape of a resource's changes: each config once, a known operation, and a
/// value for everything but DELETE.
fn parse(configs: &[AlterableConfig]) -> Result<Vec<Change>, KafkaError> {
    let mut names = HashSet::new();
    if !configs.iter().all(|c| names.insert(c.name.as_str())) {
        return Err(KafkaError::new(
            ErrorCode::InvalidRequest,
            "error due to duplicate config keys",
        ));
    }
    let mut changes = Vec::with_capacity(configs.len());
    let mut nulls = Vec::new();
    for config in configs {
        let Some(op) = Op::from_id(config.config_operation) else {
            return Err(KafkaError::new(
                ErrorCode::InvalidRequest,
                format!("unknown operation type {}", config.config_operation),
            ));
        };
        let value = match (&config.value, op) {
            (Some(value), _) => value.clone(),
            (None, Op::Delete) => String::new(),
            (None, _) => {
                nulls.push(format!("{}:{}", op.name(), config.name));
                continue;
            }
        };
        changes.push(Change {
            name: config.name.clone(),
            op,
            value,
        });
    }
    if !nulls.is_empty() {
        return Err(KafkaError::new(
            ErrorCode::InvalidRequest,
            format!("null value not supported for: {}", nulls.join(", ")),
        ));
    }
    Ok(changes)
}

/// The overrides after applying `changes` to `current`. List operations start from the
/// current override, else the broker default, and keep the items in order without repeats.
fn apply(
    current: &BTreeMap<String, String>,
    defaults: &LogConfig,
    changes: &[Change],
) -> Result<BTreeMap<String, String>, KafkaError> {
    let mut overrides = current.clone();
    for change in changes {
        match change.op {
            Op::Set => {
                overrides.insert(change.name.clone(), change.value.clone());
            }
            Op::Delete => {
                overrides.remove(&change.name);
            }
            Op::Append | Op::Subtract => {
                if !LIST_CONFIGS.contains(&change.name.as_str()) {
                    return Err(KafkaError::new(
                        ErrorCode::InvalidConfig,
                        format!(
                            "can't {} to key {} because its type is not LIST",
                            change.op.name(),
                            change.name
                        ),
                    ));
                }
                let start = overrides
                    .get(&change.name)
                    .cloned()
                    .or_else(|| topic_config::default_value(defaults, &change.name))
                    .unwrap_or_default();
                let mut items = list_items(&start);
                for item in list_items(&change.value) {
                    if change.op == Op::Append {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    } else {
                        items.retain(|i| *i != item);
                    }
                }
                overrides.insert(change.name.clone(), items.join(","));
            }
        }
    }
    Ok(overrides)
}

/// The items of a comma-separated list, trimmed, without empty ones.
fn list_items(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use streambus_protocol::ApiKey;
    use streambus_storage::TopicPartition;

    use super::*;
    use crate::handlers::testing;

    fn op(name: &str, op: i8, value: Option<&str>) -> AlterableConfig {
        AlterableConfig {
            name: name.into(),
            config_operation: op,
            value: value.map(str::to_string),
        }
    }

    fn change(name: &str, op: Op, value: &str) -> Change {
        Change {
            name: name.into(),
            op,
            value: value.into(),
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn append_and_subtract_work_on_cleanup_policy() {
        let defaults = LogConfig::default();
        let none = BTreeMap::new();
        // From the default (delete).
        let appended = apply(
            &none,
            &defaults,
            &[change("cleanup.policy", Op::Append, "compact")],
        )
        .unwrap();
        assert_eq!(appended, map(&[("cleanup.policy", "delete,compact")]));
        // Appending what is there changes nothing; items are trimmed.
        let again = apply(
            &appended,
            &defaults,
            &[change("cleanup.policy", Op::Append, " compact ,delete")],
        )
        .unwrap();
        assert_eq!(again, appended);
        let subtracted = apply(
            &appended,
            &defaults,
            &[change("cleanup.policy", Op::Subtract, "delete")],
        )
        .unwrap();
        assert_eq!(subtracted, map(&[("cleanup.policy", "compact")]));
        // Subtracting everything leaves an empty list, which validation then refuses.
        let empty = apply(
            &subtracted,
            &defaults,
            &[change("cleanup.policy", Op::Subtract, "compact")],
        )
        .unwrap();
        assert_eq!(empty, map(&[("cleanup.policy", "")]));
        assert!(topic_config::validate_overrides(&defaults, &empty).is_err());
    }

    #[test]
    fn list_operations_on_other_configs_are_invalid_config() {
        let err = apply(
            &BTreeMap::new(),
            &LogConfig::default(),
            &[change("retention.ms", Op::Append, "1")],
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidConfig);
        assert_eq!(
            err.message.as_deref(),
            Some("can't APPEND to key retention.ms because its type is not LIST")
        );
    }

    #[test]
    fn set_and_delete_touch_only_their_config() {
        let current = map(&[("retention.ms", "1"), ("segment.ms", "2")]);
        let changed = apply(
            &current,
            &LogConfig::default(),
            &[
                change("retention.ms", Op::Set, "10"),
                change("segment.ms", Op::Delete, ""),
                change("segment.bytes", Op::Delete, ""),
            ],
        )
        .unwrap();
        assert_eq!(changed, map(&[("retention.ms", "10")]));
    }

    #[test]
    fn malformed_changes_are_invalid_request() {
        let dup = parse(&[op("a", 0, Some("1")), op("a", 1, None)]).unwrap_err();
        assert_eq!(dup.code, ErrorCode::InvalidRequest);
        let null = parse(&[op("a", 0, None), op("b", 1, None), op("c", 2, None)]).unwrap_err();
        assert_eq!(null.code, ErrorCode::InvalidRequest);
        assert_eq!(
            null.message.as_deref(),
            Some("null value not supported for: SET:a, APPEND:c")
        );
        let unknown = parse(&[op("a", 9, Some("1"))]).unwrap_err();
        assert_eq!(unknown.code, ErrorCode::InvalidRequest);
        assert_eq!(parse(&[op("a", 1, None)]).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn changes_are_incremental_and_reach_the_log() {
        let (_dir, broker) = testing::broker();
        testing::create_topic(&broker, "t", 1, &[("retention.ms", "5000")]).await;
        let ctx = testing::ctx(ApiKey::IncrementalAlterConfigs, 1);
        let request = IncrementalAlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: RESOURCE_TOPIC,
                resource_name: "t".into(),
                configs: vec![
                    op("cleanup.policy", 2, Some("compact")),
                    op("segment.bytes", 0, Some("100000")),
                ],
            }],
            validate_only: false,
        };
        let response = handle(&broker, &ctx, request).await;
        assert_eq!(response.responses[0].error_code, 0);
        assert_eq!(
            broker.image().topic("t").unwrap().configs,
            map(&[
                ("cleanup.policy", "delete,compact"),
                ("retention.ms", "5000"),
                ("segment.bytes", "100000"),
            ])
        );
        let partition = broker
            .replicas
            .partition(&TopicPartition::new("t", 0))
            .unwrap();
        let config = partition.log().config();
        assert!(config.cleanup_policy.compact && config.cleanup_policy.delete);
        assert_eq!(config.retention_ms, 5000);
        assert_eq!(config.segment_bytes, 100_000);

        // A bad value refuses the whole resource.
        let request = IncrementalAlterConfigsRequest {
            resources: vec![
                AlterConfigsResource {
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "t".into(),
                    configs: vec![
                        op("retention.ms", 1, None),
                        op("segment.bytes", 0, Some("tiny")),
                    ],
                },
                AlterConfigsResource {
                    resource_type: RESOURCE_BROKER,
                    resource_name: "1".into(),
                    configs: vec![op("log.retention.ms", 0, Some("1000"))],
                },
            ],
            validate_only: false,
        };
        let response = handle(&broker, &ctx, request).await;
        assert_eq!(
            response.responses[0].error_code,
            ErrorCode::InvalidConfig.code()
        );
        assert_eq!(
            response.responses[1].error_code,
            ErrorCode::InvalidRequest.code()
        );
        assert_eq!(
            response.responses[1].error_message.as_deref(),
            Some(BROKER_CONFIGS_UNSUPPORTED)
        );
        assert_eq!(
            broker.image().topic("t").unwrap().configs["retention.ms"],
            "5000"
        );
    }
}
