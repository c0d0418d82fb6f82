//! OffsetCommit (key 8): stores a group's consumed offsets in `__consumer_offsets`.
//!
//! Partitions of topics that do not exist (or indexes past a topic's partitions) get
//! UNKNOWN_TOPIC_OR_PARTITION here and never reach the group; the rest go to the group as
//! one [`CommitOffsets`] event, which checks member, instance id and generation and answers
//! once the offsets are written. A null metadata string is stored as empty, as Kafka does.

use streambus_coordinator::{
    CommitOffsets, Event, OffsetToCommit, Response, TopicPartition, errors,
};
use streambus_protocol::messages::offset_commit_request::OffsetCommitRequest;
use streambus_protocol::messages::offset_commit_response::{
    OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};

use crate::Broker;
use crate::context::RequestContext;
use crate::groups::{PartitionPlan, wrong_response};

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let image = broker.image();
    let mut plan = PartitionPlan::default();
    let mut offsets = Vec::new();
    for topic in request.topics {
        for p in topic.partitions {
            if plan.push(&image, &topic.name, p.partition_index) {
                offsets.push(OffsetToCommit {
                    partition: TopicPartition::new(topic.name.clone(), p.partition_index),
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: Some(p.committed_metadata.unwrap_or_default()),
                });
            }
        }
    }
    let member = Member {
        id: request.member_id,
        instance_id: request.group_instance_id,
        generation: request.generation_id_or_member_epoch,
    };
    let codes = commit(broker, &request.group_id, member, offsets).await;
    let topics = plan
        .answer(codes)
        .into_iter()
        .map(|(name, row)| OffsetCommitResponseTopic {
            name,
            partitions: row
                .into_iter()
                .map(
                    |(partition_index, error_code)| OffsetCommitResponsePartition {
                        partition_index,
                        error_code,
                    },
                )
                .collect(),
        })
        .collect();
    OffsetCommitResponse {
        throttle_time_ms: 0,
        topics,
    }
}

/// Who commits: empty id and generation -1 for a simple commit from outside the group.
struct Member {
    id: String,
    instance_id: Option<String>,
    generation: i32,
}

/// The group's result for each offset, in order.
async fn commit(
    broker: &Broker,
    group_id: &str,
    member: Member,
    offsets: Vec<OffsetToCommit>,
) -> Vec<i16> {
    let count = offsets.len();
    if count == 0 {
        return Vec::new();
    }
    if group_id.is_empty() {
        return vec![errors::INVALID_GROUP_ID; count];
    }
    let event = |request_id| {
        Event::CommitOffsets(CommitOffsets {
            request_id,
            member_id: member.id,
            group_instance_id: member.instance_id,
            generation: member.generation,
            offsets,
        })
    };
    match broker.groups().handle(group_id, event).await {
        Ok(Response::Commit(response)) => response
            .partitions
            .into_iter()
            .map(|p| p.error_code)
            .collect(),
        Ok(_) => vec![wrong_response("OffsetCommit"); count],
        Err(not_served) => vec![not_served.error_code(); count],
    }
}
