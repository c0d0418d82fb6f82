//! ListOffsets (key 2): offsets by time: earliest (-2), latest (-1), the record with the
//! largest timestamp (-3, v7+), or the first record at or after a timestamp.

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest,
};
use streambus_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
};
use streambus_storage::TopicPartition;

use crate::Broker;
use crate::context::RequestContext;
use crate::errors::KafkaError;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| ListOffsetsTopicResponse {
            partitions: topic
                .partitions
                .iter()
                .map(|p| lookup(broker, &topic.name, p))
                .collect(),
            name: topic.name,
        })
        .collect();
    ListOffsetsResponse {
        topics,
        ..Default::default()
    }
}

fn lookup(
    broker: &Broker,
    topic: &str,
    request: &ListOffsetsPartition,
) -> ListOffsetsPartitionResponse {
    let index = request.partition_index;
    let fail = |code: ErrorCode| ListOffsetsPartitionResponse {
        partition_index: index,
        error_code: code.code(),
        timestamp: -1,
        offset: -1,
        leader_epoch: -1,
        ..Default::default()
    };
    let tp = TopicPartition::new(topic, index);
    let Some(partition) = broker.replicas.leading(&tp) else {
        return fail(broker.not_hosted(&tp).code);
    };
    let epoch = partition.leader_epoch();
    if request.current_leader_epoch >= 0 && request.current_leader_epoch != epoch {
        return fail(if request.current_leader_epoch < epoch {
            ErrorCode::FencedLeaderEpoch
        } else {
            ErrorCode::UnknownLeaderEpoch
        });
    }
    let found = match request.timestamp {
        LATEST => Ok(Some((-1, partition.high_watermark()))),
        EARLIEST => Ok(Some((-1, partition.log_start_offset()))),
        MAX_TIMESTAMP => partition
            .log()
            .max_timestamp_offset()
            .map(|hit| hit.map(|t| (t.timestamp, t.offset))),
        timestamp if timestamp >= 0 => partition
            .log()
            .offset_for_timestamp(timestamp)
            .map(|hit| hit.map(|t| (t.timestamp, t.offset))),
        _ => {
            return fail(ErrorCode::InvalidRequest);
        }
    };
    match found {
        Ok(Some((timestamp, offset)))
            if offset < partition.high_watermark() || request.timestamp < 0 =>
        {
            ListOffsetsPartitionResponse {
                partition_index: index,
                error_code: ErrorCode::None.code(),
                old_style_offsets: Vec::new(),
                timestamp,
                offset,
                leader_epoch: epoch,
            }
        }
        // No record at or after the timestamp (or not yet committed): Kafka's "unknown".
        Ok(_) => ListOffsetsPartitionResponse {
            partition_index: index,
            error_code: ErrorCode::None.code(),
            timestamp: -1,
            offset: -1,
            leader_epoch: -1,
            ..Default::default()
        },
        Err(e) => fail(KafkaError::from(&e).code),
    }
}
