//! DescribeProducers (key 61): the idempotent producers each partition knows, with their
//! epoch and last batch.
//!
//! There are no transactions yet, so `coordinator_epoch` and `current_txn_start_offset` are
//! always -1. An unknown partition is UNKNOWN_TOPIC_OR_PARTITION.

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::describe_producers_request::DescribeProducersRequest;
use streambus_protocol::messages::describe_producers_response::{
    DescribeProducersResponse, PartitionResponse, ProducerState, TopicResponse,
};
use streambus_storage::TopicPartition;

use crate::Broker;
use crate::context::RequestContext;

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| TopicResponse {
            partitions: topic
                .partition_indexes
                .iter()
                .map(|index| describe(broker, &topic.name, *index))
                .collect(),
            name: topic.name,
        })
        .collect();
    DescribeProducersResponse {
        topics,
        ..Default::default()
    }
}

fn describe(broker: &Broker, topic: &str, index: i32) -> PartitionResponse {
    let tp = TopicPartition::new(topic, index);
    let Some(partition) = broker.replicas.leading(&tp) else {
        let error = broker.not_hosted(&tp);
        return PartitionResponse {
            partition_index: index,
            error_code: error.code.code(),
            error_message: error.message,
            active_producers: Vec::new(),
        };
    };
    let active_producers = partition
        .log()
        .producers()
        .into_iter()
        .map(|entry| ProducerState {
            producer_id: entry.producer_id,
            producer_epoch: i32::from(entry.epoch),
            last_sequence: entry.last().map_or(-1, |b| b.last_sequence),
            last_timestamp: entry.last().map_or(-1, |b| b.timestamp),
            coordinator_epoch: -1,
            current_txn_start_offset: -1,
        })
        .collect();
    PartitionResponse {
        partition_index: index,
        error_code: ErrorCode::None.code(),
        error_message: None,
        active_producers,
    }
}

#[cfg(test)]
mod tests {
    use streambus_protocol::ApiKey;
    use streambus_protocol::messages::describe_producers_request::TopicRequest;

    use super::*;
    use crate::handlers::testing;

    #[tokio::test]
    async fn lists_producers_with_their_last_batch() {
        let (_dir, broker) = testing::broker();
        testing::create_topic(&broker, "t", 2, &[]).await;
        testing::produce(&broker, "t", 0, Some((7, 2, 0)), 3).await;
        testing::produce(&broker, "t", 0, Some((7, 2, 3)), 2).await;
        testing::produce(&broker, "t", 0, None, 2).await;
        let ctx = testing::ctx(ApiKey::DescribeProducers, 0);
        let request = DescribeProducersRequest {
            topics: vec![TopicRequest {
                name: "t".into(),
                partition_indexes: vec![0, 1, 5],
            }],
        };
        let response = handle(&broker, &ctx, request).await;
        let partitions = &response.topics[0].partitions;
        assert_eq!(partitions[0].error_code, 0);
        assert_eq!(
            partitions[0].active_producers,
            vec![ProducerState {
                producer_id: 7,
                producer_epoch: 2,
                last_sequence: 4,
                last_timestamp: 1_001,
                coordinator_epoch: -1,
                current_txn_start_offset: -1,
            }]
        );
        assert!(partitions[1].active_producers.is_empty());
        assert_eq!(
            partitions[2].error_code,
            ErrorCode::UnknownTopicOrPartition.code()
        );
    }
}
