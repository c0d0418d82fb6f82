//! CreateTopics (key 19): create topics with partitions, replication factor, replica
//! assignments and configs, or only validate them.

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::create_topics_request::CreateTopicsRequest;
use streambus_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult, CreateTopicsResponse,
};

use crate::Broker;
use crate::context::RequestContext;
use crate::topic_config;
use crate::topics::TopicSpec;

/// `config_source` of a topic override and of a default, as DescribeConfigs numbers them.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_DEFAULT: i8 = 5;

pub(crate) async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let duplicates = super::repeated(request.topics.iter().map(|t| t.name.clone()));
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        if duplicates.contains(&topic.name) {
            results.push(failure(
                topic.name,
                ErrorCode::InvalidRequest,
                "the topic is named more than once in the request".into(),
            ));
            continue;
        }
        let spec = TopicSpec {
            name: topic.name.clone(),
            partitions: topic.num_partitions,
            replication_factor: topic.replication_factor,
            assignments: topic
                .assignments
                .into_iter()
                .map(|a| (a.partition_index, a.broker_ids))
                .collect(),
            configs: topic
                .configs
                .into_iter()
                .map(|c| (c.name, c.value))
                .collect(),
        };
        let result = match broker.create_topic(&spec, request.validate_only).await {
            Ok(created) => CreatableTopicResult {
                name: topic.name,
                topic_id: created.id.into_bytes(),
                error_code: ErrorCode::None.code(),
                error_message: None,
                num_partitions: created.partitions,
                replication_factor: created.replication_factor,
                configs: (ctx.api_version >= 5).then(|| {
                    topic_config::names()
                        .into_iter()
                        .map(|name| {
                            let set = created.configs.get(name);
                            CreatableTopicConfigs {
                                name: name.to_string(),
                                value: set.cloned().or_else(|| {
                                    topic_config::default_value(&broker.config.log, name)
                                }),
                                read_only: false,
                                config_source: if set.is_some() {
                                    SOURCE_TOPIC
                                } else {
                                    SOURCE_DEFAULT
                                },
                                is_sensitive: false,
                            }
                        })
                        .collect()
                }),
                ..Default::default()
            },
            Err(e) => failure(topic.name, e.code, e.message.unwrap_or_default()),
        };
        results.push(result);
    }
    CreateTopicsResponse {
        topics: results,
        ..Default::default()
    }
}

fn failure(name: String, code: ErrorCode, message: String) -> CreatableTopicResult {
    CreatableTopicResult {
        name,
        error_code: code.code(),
        error_message: Some(message),
        num_partitions: -1,
        replication_factor: -1,
        configs: None,
        ..Default::default()
    }
}
