//! A topic's configs: read with DescribeConfigs (for `GET /api/v1/topics/{name}`) and
//! changed with `PATCH /api/v1/topics/{name}/configs` (IncrementalAlterConfigs: a string
//! value is a SET, `null` a DELETE that resets the key to its default).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use streambus_broker::Broker;
use streambus_protocol::messages::describe_configs_request::{
    DescribeConfigsRequest, DescribeConfigsResource,
};
use streambus_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
};

use super::extract::{JsonBody, Param};
use super::{ApiError, broker, call, check};
use crate::Health;

/// Kafka's `ConfigResource.Type` of a topic.
const RESOURCE_TOPIC: i8 = 2;
/// IncrementalAlterConfigs operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
/// `ConfigSource` of a built-in default.
const SOURCE_DEFAULT: i8 = 5;

/// One config of a topic.
#[derive(Serialize)]
pub(crate) struct ConfigEntry {
    value: Option<String>,
    /// Where the value comes from, as Kafka's `ConfigSource` names it.
    source: &'static str,
    read_only: bool,
    /// Whether this is the built-in default (no override anywhere).
    default: bool,
    sensitive: bool,
}

/// A [`ConfigEntry`] from the wire fields DescribeConfigs and CreateTopics share.
pub(crate) fn entry(
    value: Option<String>,
    source: i8,
    read_only: bool,
    sensitive: bool,
) -> ConfigEntry {
    ConfigEntry {
        value,
        source: source_name(source),
        read_only,
        default: source == SOURCE_DEFAULT,
        sensitive,
    }
}

/// Kafka's names of `ConfigSource` ids (`org.apache.kafka.clients.admin.ConfigEntry`).
fn source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "DYNAMIC_CLIENT_METRICS_CONFIG",
        8 => "DYNAMIC_GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

/// Every config of `topic`, by name.
pub(crate) async fn describe_configs(
    broker: &Broker,
    topic: &str,
) -> Result<BTreeMap<String, ConfigEntry>, ApiError> {
    let request = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: RESOURCE_TOPIC,
            resource_name: topic.to_string(),
            configuration_keys: None,
        }],
        ..Default::default()
    };
    let response = call!(broker, DescribeConfigs, request);
    let result = response
        .results
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("DescribeConfigs answered no resource"))?;
    check(
        result.error_code,
        result.error_message,
        &format!("cannot describe the configs of {topic}"),
    )?;
    Ok(result
        .configs
        .into_iter()
        .map(|c| {
            let config = entry(c.value, c.config_source, c.read_only, c.is_sensitive);
            (c.name, config)
        })
        .collect())
}

/// The body of `PATCH /api/v1/topics/{name}/configs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigChanges {
    configs: BTreeMap<String, Option<String>>,
}

/// What the PATCH answers: every config of the topic after the change.
#[derive(Serialize)]
pub(crate) struct Configs {
    configs: BTreeMap<String, ConfigEntry>,
}

pub(crate) async fn alter(
    State(health): State<Arc<Health>>,
    Param(name): Param,
    JsonBody(changes): JsonBody<ConfigChanges>,
) -> Result<Json<Configs>, ApiError> {
    let broker = broker(&health)?;
    let request = IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: RESOURCE_TOPIC,
            resource_name: name.clone(),
            configs: changes
                .configs
                .into_iter()
                .map(|(key, value)| AlterableConfig {
                    name: key,
                    config_operation: if value.is_some() { OP_SET } else { OP_DELETE },
                    value,
                })
                .collect(),
        }],
        validate_only: false,
    };
    let response = call!(&broker, IncrementalAlterConfigs, request);
    let result = response
        .responses
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("IncrementalAlterConfigs answered no resource"))?;
    check(
        result.error_code,
        result.error_message,
        &format!("cannot change the configs of {name}"),
    )?;
    Ok(Json(Configs {
        configs: describe_configs(&broker, &name).await?,
    }))
}
