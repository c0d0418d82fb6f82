//! OffsetForLeaderEpoch (key 23): the end offset of a leader epoch, which followers and
//! consumers use to detect and truncate a diverged log.
//!
//! Per partition, as Kafka does: a `current_leader_epoch` other than the partition's is
//! FENCED_LEADER_EPOCH when older and UNKNOWN_LEADER_EPOCH when newer; an epoch the
//! partition has not reached is answered with leader epoch -1 and end offset -1 and no
//! error. Only a partition's leader answers (NOT_LEADER_OR_FOLLOWER elsewhere); followers
//! ask it when they take up a new leader epoch, to find where their logs diverge.

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderEpochRequest, OffsetForLeaderPartition,
};
use streambus_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderEpochResponse, OffsetForLeaderTopicResult,
};
use streambus_storage::TopicPartition;

use crate::Broker;
use crate::context::RequestContext;

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| OffsetForLeaderTopicResult {
            partitions: topic
                .partitions
                .iter()
                .map(|p| end_offset(broker, &topic.topic, p))
                .collect(),
            topic: topic.topic,
        })
        .collect();
    OffsetForLeaderEpochResponse {
        topics,
        ..Default::default()
    }
}

fn end_offset(broker: &Broker, topic: &str, request: &OffsetForLeaderPartition) -> EpochEndOffset {
    let answer = |code: ErrorCode, leader_epoch: i32, end_offset: i64| EpochEndOffset {
        error_code: code.code(),
        partition: request.partition,
        leader_epoch,
        end_offset,
    };
    let tp = TopicPartition::new(topic, request.partition);
    let Some(partition) = broker.replicas.leading(&tp) else {
        return answer(broker.not_hosted(&tp).code, -1, -1);
    };
    let epoch = partition.leader_epoch();
    let current = request.current_leader_epoch;
    if current >= 0 && current != epoch {
        let code = if current < epoch {
            ErrorCode::FencedLeaderEpoch
        } else {
            ErrorCode::UnknownLeaderEpoch
        };
        return answer(code, -1, -1);
    }
    match partition.end_offset_for_epoch(request.leader_epoch) {
        Some((leader_epoch, end_offset)) => answer(ErrorCode::None, leader_epoch, end_offset),
        None => answer(ErrorCode::None, -1, -1),
    }
}

#[cfg(test)]
mod tests {
    use streambus_protocol::ApiKey;
    use streambus_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderTopic;

    use super::*;
    use crate::handlers::testing;

    #[tokio::test]
    async fn end_offsets_and_fencing() {
        let (_dir, broker) = testing::broker();
        testing::create_topic(&broker, "t", 1, &[]).await;
        testing::produce(&broker, "t", 0, None, 3).await;
        let ctx = testing::ctx(ApiKey::OffsetForLeaderEpoch, 4);
        let partition = |partition, current_leader_epoch, leader_epoch| OffsetForLeaderPartition {
            partition,
            current_leader_epoch,
            leader_epoch,
        };
        let request = OffsetForLeaderEpochRequest {
            replica_id: -1,
            topics: vec![OffsetForLeaderTopic {
                topic: "t".into(),
                partitions: vec![
                    partition(0, -1, 0),
                    partition(0, 0, 0),
                    partition(0, -1, 5),
                    partition(0, 1, 0),
                    partition(1, -1, 0),
                ],
            }],
        };
        let response = handle(&broker, &ctx, request).await;
        let got: Vec<(i16, i32, i64)> = response.topics[0]
            .partitions
            .iter()
            .map(|p| (p.error_code, p.leader_epoch, p.end_offset))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 0, 3),
                (0, 0, 3),
                (0, -1, -1),
                (ErrorCode::UnknownLeaderEpoch.code(), -1, -1),
                (ErrorCode::UnknownTopicOrPartition.code(), -1, -1),
            ]
        );
    }
}
