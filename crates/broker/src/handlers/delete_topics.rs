//! DeleteTopics (key 20): delete topics by name, or by id (v6+).

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::delete_topics_request::DeleteTopicsRequest;
use streambus_protocol::messages::delete_topics_response::{
    DeletableTopicResult, DeleteTopicsResponse,
};

use crate::Broker;
use crate::context::RequestContext;

pub(crate) async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    // Before v6 topics come as names; from v6 as (name or id) states.
    let targets: Vec<(Option<String>, [u8; 16])> = if ctx.api_version < 6 {
        request
            .topic_names
            .into_iter()
            .map(|n| (Some(n), [0; 16]))
            .collect()
    } else {
        request
            .topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    };
    let mut responses = Vec::with_capacity(targets.len());
    for (name, id) in targets {
        let resolved = match &name {
            Some(name) => Ok(name.clone()),
            None => broker
                .image()
                .topic_by_id(uuid::Uuid::from_bytes(id))
                .map(|t| t.name.clone())
                .ok_or(ErrorCode::UnknownTopicId),
        };
        let result = match resolved {
            Err(code) => DeletableTopicResult {
                name,
                topic_id: id,
                error_code: code.code(),
                error_message: Some("no topic has this id".into()),
            },
            Ok(topic) => match broker.delete_topic(&topic).await {
                Ok(deleted) => DeletableTopicResult {
                    name: Some(topic),
                    topic_id: deleted.into_bytes(),
                    error_code: ErrorCode::None.code(),
                    error_message: None,
                },
                Err(e) => DeletableTopicResult {
                    name: Some(topic),
                    topic_id: id,
                    error_code: e.code.code(),
                    error_message: e.message,
                },
            },
        };
        responses.push(result);
    }
    DeleteTopicsResponse {
        responses,
        ..Default::default()
    }
}
