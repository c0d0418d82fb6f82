//! FindCoordinator (key 10): which broker coordinates a group (or a transactional id).
//!
//! For a group, the coordinator is the leader of the `__consumer_offsets` partition the
//! group id hashes to (ARCHITECTURE decision 6); the topic is created on the first request,
//! as Kafka does. v4+ asks for several keys at once. Transactional ids are answered with
//! this broker too, so that a transactional client gets InitProducerId's clear refusal
//! rather than retrying a lookup forever; other key types are INVALID_REQUEST.

use streambus_coordinator::OFFSETS_TOPIC;
use streambus_protocol::ErrorCode;
use streambus_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use streambus_protocol::messages::find_coordinator_response::{
    Coordinator, FindCoordinatorResponse,
};

use crate::Broker;
use crate::context::RequestContext;
use crate::errors::KafkaError;

/// Kafka's `CoordinatorType` ids.
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// The first version that batches keys (KIP-699).
const BATCHED_FROM_VERSION: i16 = 4;

pub(crate) async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    if ctx.api_version >= BATCHED_FROM_VERSION {
        let mut coordinators = Vec::with_capacity(request.coordinator_keys.len());
        for key in request.coordinator_keys {
            coordinators.push(find(broker, request.key_type, key).await);
        }
        return FindCoordinatorResponse {
            coordinators,
            ..Default::default()
        };
    }
    let found = find(broker, request.key_type, request.key).await;
    FindCoordinatorResponse {
        error_code: found.error_code,
        // v1-3 carry the message; an absent one is null there.
        error_message: found.error_message,
        node_id: found.node_id,
        host: found.host,
        port: found.port,
        ..Default::default()
    }
}

async fn find(broker: &Broker, key_type: i8, key: String) -> Coordinator {
    let located = match key_type {
        KEY_TYPE_GROUP => group_coordinator(broker, &key).await,
        KEY_TYPE_TRANSACTION => Ok(broker.config.node_id),
        other => Err(KafkaError::new(
            ErrorCode::InvalidRequest,
            format!("unknown coordinator key type {other}"),
        )),
    };
    let node = located.and_then(|node_id| {
        broker
            .image()
            .broker(node_id)
            .map(|b| (node_id, b.host.clone(), i32::from(b.port)))
            .ok_or_else(|| {
                KafkaError::new(
                    ErrorCode::CoordinatorNotAvailable,
                    format!("coordinator node {node_id} is not registered"),
                )
            })
    });
    match node {
        Ok((node_id, host, port)) => Coordinator {
            key,
            node_id,
            host,
            port,
            error_code: ErrorCode::None.code(),
            error_message: None,
        },
        Err(error) => Coordinator {
            key,
            node_id: -1,
            host: String::new(),
            port: -1,
            error_code: error.code.code(),
            error_message: error.message,
        },
    }
}

/// The leader of the group's `__consumer_offsets` partition, creating the topic if needed.
async fn group_coordinator(broker: &Broker, group_id: &str) -> Result<i32, KafkaError> {
    broker.ensure_offsets_topic().await?;
    let partition = broker.groups().partition_for(group_id);
    let image = broker.image();
    let leader = image
        .topic(OFFSETS_TOPIC)
        .and_then(|topic| topic.partitions.get(usize::try_from(partition).ok()?))
        .map_or(-1, |p| p.leader);
    if leader < 0 {
        return Err(KafkaError::new(
            ErrorCode::CoordinatorNotAvailable,
            format!("{OFFSETS_TOPIC}-{partition} has no leader"),
        ));
    }
    Ok(leader)
}
