//! OffsetDelete (key 47): removes a group's offsets for partitions it no longer consumes.
//!
//! The group must exist (GROUP_ID_NOT_FOUND) and, if it has members, be a consumer group
//! (NON_EMPTY_GROUP otherwise); partitions of topics its members subscribe to get
//! GROUP_SUBSCRIBED_TO_TOPIC, and partitions that do not exist UNKNOWN_TOPIC_OR_PARTITION.

use streambus_coordinator::{DeleteOffsets, Event, Response, TopicPartition, errors};
use streambus_protocol::messages::offset_delete_request::OffsetDeleteRequest;
use streambus_protocol::messages::offset_delete_response::{
    OffsetDeleteResponse, OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};

use crate::Broker;
use crate::context::RequestContext;
use crate::groups::{PartitionPlan, wrong_response};

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let image = broker.image();
    let mut plan = PartitionPlan::default();
    let mut partitions = Vec::new();
    for topic in request.topics {
        for p in topic.partitions {
            if plan.push(&image, &topic.name, p.partition_index) {
                partitions.push(TopicPartition::new(topic.name.clone(), p.partition_index));
            }
        }
    }
    let (error_code, codes) = delete(broker, &request.group_id, partitions).await;
    let topics = if error_code == errors::NONE {
        plan.answer(codes)
            .into_iter()
            .map(|(name, row)| OffsetDeleteResponseTopic {
                name,
                partitions: row
                    .into_iter()
                    .map(
                        |(partition_index, error_code)| OffsetDeleteResponsePartition {
                            partition_index,
                            error_code,
                        },
                    )
                    .collect(),
            })
            .collect()
    } else {
        Vec::new()
    };
    OffsetDeleteResponse {
        error_code,
        throttle_time_ms: 0,
        topics,
    }
}

/// The group-level error and each partition's code, in order.
async fn delete(
    broker: &Broker,
    group_id: &str,
    partitions: Vec<TopicPartition>,
) -> (i16, Vec<i16>) {
    if group_id.is_empty() {
        return (errors::INVALID_GROUP_ID, Vec::new());
    }
    let event = |request_id| {
        Event::DeleteOffsets(DeleteOffsets {
            request_id,
            partitions,
        })
    };
    match broker.groups().handle_existing(group_id, event).await {
        Ok(Some(Response::DeleteOffsets(response))) => (
            response.error_code,
            response
                .partitions
                .into_iter()
                .map(|p| p.error_code)
                .collect(),
        ),
        Ok(Some(_)) => (wrong_response("OffsetDelete"), Vec::new()),
        Ok(None) => (errors::GROUP_ID_NOT_FOUND, Vec::new()),
        Err(not_served) => (not_served.error_code(), Vec::new()),
    }
}
