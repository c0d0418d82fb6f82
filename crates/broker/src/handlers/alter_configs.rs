//! AlterConfigs (key 33): replace the whole config of topics, Kafka's non-incremental way.
//!
//! The configs a request gives for a topic become its overrides, and every override it does
//! not name is removed. As in Kafka, a resource named twice, a config named twice or a null
//! value refuse the resource with INVALID_REQUEST; an unknown config or a bad value with
//! INVALID_CONFIG, and then nothing of the resource changes. Broker resources are refused:
//! dynamic broker configs are not supported (see `incremental_alter_configs`).

use std::collections::BTreeMap;

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::alter_configs_request::{
    AlterConfigsRequest, AlterConfigsResource, AlterableConfig,
};
use streambus_protocol::messages::alter_configs_response::{
    AlterConfigsResourceResponse, AlterConfigsResponse,
};

use crate::Broker;
use crate::context::RequestContext;
use crate::errors::KafkaError;
use crate::handlers::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC, check_broker_id};
use crate::handlers::incremental_alter_configs::BROKER_CONFIGS_UNSUPPORTED;

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
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
    AlterConfigsResponse {
        responses,
        ..Default::default()
    }
}

async fn alter(
    broker: &Broker,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), KafkaError> {
    let wanted = replacement(&resource.configs)?;
    match resource.resource_type {
        RESOURCE_TOPIC => {
            broker
                .alter_topic_configs(&resource.resource_name, validate_only, |_| Ok(wanted))
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

/// The complete set of overrides a request's configs stand for, or why they are malformed.
fn replacement(configs: &[AlterableConfig]) -> Result<BTreeMap<String, String>, KafkaError> {
    let mut wanted = BTreeMap::new();
    let mut nulls = Vec::new();
    for config in configs {
        let value = match &config.value {
            Some(value) => value.clone(),
            None => {
                nulls.push(config.name.as_str());
                String::new()
            }
        };
        if wanted.insert(config.name.clone(), value).is_some() {
            return Err(KafkaError::new(
                ErrorCode::InvalidRequest,
                "error due to duplicate config keys",
            ));
        }
    }
    if !nulls.is_empty() {
        return Err(KafkaError::new(
            ErrorCode::InvalidRequest,
            format!("null value not supported for: {}", nulls.join(", ")),
        ));
    }
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use streambus_protocol::ApiKey;
    use streambus_storage::TopicPartition;

    use super::*;
    use crate::handlers::testing;

    fn config(name: &str, value: Option<&str>) -> AlterableConfig {
        AlterableConfig {
            name: name.into(),
            value: value.map(str::to_string),
        }
    }

    fn topic(name: &str, configs: Vec<AlterableConfig>) -> AlterConfigsResource {
        AlterConfigsResource {
            resource_type: RESOURCE_TOPIC,
            resource_name: name.into(),
            configs,
        }
    }

    async fn alter_all(
        broker: &Broker,
        resources: Vec<AlterConfigsResource>,
        validate_only: bool,
    ) -> Vec<AlterConfigsResourceResponse> {
        let ctx = testing::ctx(ApiKey::AlterConfigs, 2);
        let request = AlterConfigsRequest {
            resources,
            validate_only,
        };
        handle(broker, &ctx, request).await.responses
    }

    fn overrides(broker: &Broker, name: &str) -> BTreeMap<String, String> {
        broker.image().topic(name).unwrap().configs.clone()
    }

    #[test]
    fn replacement_refuses_duplicates_and_nulls() {
        let ok = replacement(&[config("a", Some("1")), config("b", Some("2"))]).unwrap();
        assert_eq!(ok.len(), 2);
        let dup = replacement(&[config("a", Some("1")), config("a", Some("2"))]).unwrap_err();
        assert_eq!(dup.code, ErrorCode::InvalidRequest);
        let null = replacement(&[config("a", None), config("b", None)]).unwrap_err();
        assert_eq!(null.code, ErrorCode::InvalidRequest);
        assert_eq!(
            null.message.as_deref(),
            Some("null value not supported for: a, b")
        );
    }

    #[tokio::test]
    async fn the_request_replaces_every_override() {
        let (_dir, broker) = testing::broker();
        testing::create_topic(
            &broker,
            "t",
            2,
            &[("retention.ms", "5000"), ("cleanup.policy", "compact")],
        )
        .await;
        let responses = alter_all(
            &broker,
            vec![topic("t", vec![config("segment.bytes", Some("100000"))])],
            false,
        )
        .await;
        assert_eq!(responses[0].error_code, 0, "{:?}", responses[0]);
        assert_eq!(responses[0].error_message, None);
        assert_eq!(
            overrides(&broker, "t"),
            BTreeMap::from([("segment.bytes".to_string(), "100000".to_string())])
        );
        // The hosted partitions run with the new config.
        for p in 0..2 {
            let partition = broker
                .replicas
                .partition(&TopicPartition::new("t", p))
                .unwrap();
            let config = partition.log().config();
            assert_eq!(config.segment_bytes, 100_000);
            assert_eq!(config.retention_ms, broker.config.log.retention_ms);
            assert!(!config.cleanup_policy.compact);
        }
        // An empty list removes every override.
        let responses = alter_all(&broker, vec![topic("t", vec![])], false).await;
        assert_eq!(responses[0].error_code, 0);
        assert!(overrides(&broker, "t").is_empty());
    }

    #[tokio::test]
    async fn invalid_or_validate_only_changes_nothing() {
        let (_dir, broker) = testing::broker();
        testing::create_topic(&broker, "t", 1, &[("retention.ms", "5000")]).await;
        let before = overrides(&broker, "t");
        let responses = alter_all(
            &broker,
            vec![topic("t", vec![config("segment.bytes", Some("100000"))])],
            true,
        )
        .await;
        assert_eq!(responses[0].error_code, 0);
        assert_eq!(overrides(&broker, "t"), before);

        let responses = alter_all(
            &broker,
            vec![
                topic(
                    "t",
                    vec![
                        config("segment.bytes", Some("100000")),
                        config("retention.ms", Some("soon")),
                    ],
                ),
                topic("missing", vec![]),
            ],
            false,
        )
        .await;
        assert_eq!(responses[0].error_code, ErrorCode::InvalidConfig.code());
        assert!(responses[0].error_message.is_some());
        assert_eq!(
            responses[1].error_code,
            ErrorCode::UnknownTopicOrPartition.code()
        );
        assert_eq!(overrides(&broker, "t"), before);

        let responses = alter_all(
            &broker,
            vec![
                topic("t", vec![config("no.such.config", Some("1"))]),
                topic("t", vec![]),
            ],
            false,
        )
        .await;
        assert!(
            responses
                .iter()
                .all(|r| r.error_code == ErrorCode::InvalidRequest.code())
        );
        assert_eq!(overrides(&broker, "t"), before);
    }

    #[tokio::test]
    async fn broker_resources_are_refused() {
        let (_dir, broker) = testing::broker();
        let resource = |name: &str| AlterConfigsResource {
            resource_type: RESOURCE_BROKER,
            resource_name: name.into(),
            configs: vec![config("log.retention.ms", Some("1000"))],
        };
        let responses = alter_all(&broker, vec![resource("1"), resource("")], false).await;
        for r in &responses {
            assert_eq!(r.error_code, ErrorCode::InvalidRequest.code());
            assert_eq!(r.error_message.as_deref(), Some(BROKER_CONFIGS_UNSUPPORTED));
        }
        let responses = alter_all(&broker, vec![resource("7")], false).await;
        assert_eq!(responses[0].error_code, ErrorCode::InvalidRequest.code());
        assert_ne!(
            responses[0].error_message.as_deref(),
            Some(BROKER_CONFIGS_UNSUPPORTED)
        );
    }
}
