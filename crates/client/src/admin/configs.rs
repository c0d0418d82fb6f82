//! Configs of topics and brokers: read them (DescribeConfigs) and change single keys
//! (IncrementalAlterConfigs).
//!
//! A broker's configs are asked of that broker, a topic's of any broker, as Kafka's admin
//! client does. The source of each value is reported with Kafka's names, and `is_default`
//! is what the broker says in DescribeConfigs v0, else whether the source is the default.

use streambus_protocol::messages::describe_configs_request::{
    DescribeConfigsRequest, DescribeConfigsResource,
};
use streambus_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
};

use super::Admin;
use super::topics::missing;
use crate::error::{Error, Result};

/// Kafka's `ConfigResource.Type` ids.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// Something that has configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigResource {
    /// A topic, by name.
    Topic(String),
    /// A broker, by node id.
    Broker(i32),
}

impl ConfigResource {
    fn wire(&self) -> (i8, String) {
        match self {
            ConfigResource::Topic(name) => (RESOURCE_TOPIC, name.clone()),
            ConfigResource::Broker(id) => (RESOURCE_BROKER, id.to_string()),
        }
    }
}

impl std::fmt::Display for ConfigResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigResource::Topic(name) => write!(f, "topic {name}"),
            ConfigResource::Broker(id) => write!(f, "broker {id}"),
        }
    }
}

/// Where a config's value comes from (Kafka's `ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// The broker did not say (DescribeConfigs v0) or sent an unknown id.
    Unknown,
    /// A topic override.
    Topic,
    /// A dynamic config of this broker.
    DynamicBroker,
    /// A dynamic config for all brokers.
    DynamicDefaultBroker,
    /// The broker's configuration file.
    StaticBroker,
    /// The built-in default.
    Default,
    /// A dynamic log level of the broker.
    DynamicBrokerLogger,
    /// A client metrics subscription.
    ClientMetrics,
    /// A group config.
    Group,
}

impl ConfigSource {
    /// The source of a wire id.
    pub fn from_id(id: i8) -> ConfigSource {
        match id {
            1 => ConfigSource::Topic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            6 => ConfigSource::DynamicBrokerLogger,
            7 => ConfigSource::ClientMetrics,
            8 => ConfigSource::Group,
            _ => ConfigSource::Unknown,
        }
    }

    /// Kafka's name for it (`TOPIC_CONFIG`, `DEFAULT_CONFIG`...).
    pub fn name(self) -> &'static str {
        match self {
            ConfigSource::Unknown => "UNKNOWN",
            ConfigSource::Topic => "TOPIC_CONFIG",
            ConfigSource::DynamicBroker => "DYNAMIC_BROKER_CONFIG",
            ConfigSource::DynamicDefaultBroker => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            ConfigSource::StaticBroker => "STATIC_BROKER_CONFIG",
            ConfigSource::Default => "DEFAULT_CONFIG",
            ConfigSource::DynamicBrokerLogger => "DYNAMIC_BROKER_LOGGER_CONFIG",
            ConfigSource::ClientMetrics => "CLIENT_METRICS_CONFIG",
            ConfigSource::Group => "GROUP_CONFIG",
        }
    }
}

/// One config of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Its name.
    pub name: String,
    /// Its value; `None` when it is sensitive or has no value.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether the value is the default.
    pub is_default: bool,
    /// Whether it cannot be changed.
    pub read_only: bool,
    /// Whether the value is secret (and then not sent).
    pub sensitive: bool,
}

/// One change of one config key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfig {
    /// Sets the key to the value.
    Set(String, String),
    /// Removes the override, so the default applies again.
    Delete(String),
    /// Adds the value to a list config.
    Append(String, String),
    /// Removes the value from a list config.
    Subtract(String, String),
}

impl AlterConfig {
    fn wire(&self) -> AlterableConfig {
        let (name, config_operation, value) = match self {
            AlterConfig::Set(name, value) => (name, 0, Some(value.clone())),
            AlterConfig::Delete(name) => (name, 1, None),
            AlterConfig::Append(name, value) => (name, 2, Some(value.clone())),
            AlterConfig::Subtract(name, value) => (name, 3, Some(value.clone())),
        };
        AlterableConfig {
            name: name.clone(),
            config_operation,
            value,
        }
    }
}

impl Admin {
    /// Every config of `resource`, sorted by name.
    pub async fn describe_configs(&self, resource: &ConfigResource) -> Result<Vec<ConfigEntry>> {
        let (resource_type, resource_name) = resource.wire();
        let request = DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type,
                resource_name: resource_name.clone(),
                configuration_keys: None,
            }],
            include_synonyms: false,
            include_documentation: false,
        };
        let response = match resource {
            ConfigResource::Broker(id) => self.cluster.call_node(*id, request).await?,
            ConfigResource::Topic(_) => self.cluster.call_any(request).await?,
        };
        let result = response
            .results
            .into_iter()
            .find(|r| r.resource_type == resource_type && r.resource_name == resource_name)
            .ok_or_else(|| missing("DescribeConfigs", &resource.to_string()))?;
        Error::check_with_message(result.error_code, result.error_message.as_deref(), || {
            format!("configs of {resource}")
        })?;
        let mut configs: Vec<ConfigEntry> = result
            .configs
            .into_iter()
            .map(|c| {
                let source = ConfigSource::from_id(c.config_source);
                // v0 has `is_default` and no source (-1); later versions the reverse.
                let is_default = if c.config_source < 0 {
                    c.is_default
                } else {
                    source == ConfigSource::Default
                };
                ConfigEntry {
                    name: c.name,
                    value: c.value,
                    source,
                    is_default,
                    read_only: c.read_only,
                    sensitive: c.is_sensitive,
                }
            })
            .collect();
        configs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(configs)
    }

    /// Applies `changes` to `resource`'s configs, all or none, leaving other keys alone.
    pub async fn alter_configs(
        &self,
        resource: &ConfigResource,
        changes: &[AlterConfig],
    ) -> Result<()> {
        let (resource_type, resource_name) = resource.wire();
        let request = IncrementalAlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type,
                resource_name: resource_name.clone(),
                configs: changes.iter().map(AlterConfig::wire).collect(),
            }],
            validate_only: false,
        };
        let response = match resource {
            ConfigResource::Broker(id) => self.cluster.call_node(*id, request).await?,
            ConfigResource::Topic(_) => self.cluster.call_controller(request).await?,
        };
        let result = response
            .responses
            .into_iter()
            .find(|r| r.resource_type == resource_type && r.resource_name == resource_name)
            .ok_or_else(|| missing("IncrementalAlterConfigs", &resource.to_string()))?;
        Error::check_with_message(result.error_code, result.error_message.as_deref(), || {
            format!("cannot alter the configs of {resource}")
        })
    }
}
