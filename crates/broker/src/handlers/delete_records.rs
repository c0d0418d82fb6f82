//! DeleteRecords (key 21): move partitions' log start offsets forward, deleting the records
//! below them.
//!
//! Per partition, as Kafka does: offset -1 means the high watermark; any other offset must
//! lie in `[0, high watermark]` (OFFSET_OUT_OF_RANGE otherwise); an offset below the current
//! log start changes nothing. The low watermark returned is the log start offset after the
//! deletion. A single node has no followers to wait for, so `timeout_ms` is not needed.

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsRequest,
};
use streambus_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsResponse, DeleteRecordsTopicResult,
};
use streambus_storage::TopicPartition;

use crate::Broker;
use crate::context::RequestContext;
use crate::errors::KafkaError;

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            partitions.push(delete(broker, &topic.name, p).await);
        }
        topics.push(DeleteRecordsTopicResult {
            name: topic.name,
            partitions,
        });
    }
    DeleteRecordsResponse {
        topics,
        ..Default::default()
    }
}

async fn delete(
    broker: &Broker,
    topic: &str,
    request: &DeleteRecordsPartition,
) -> DeleteRecordsPartitionResult {
    let index = request.partition_index;
    // The response has no message field; the code is all the client gets.
    let fail = |error: KafkaError| DeleteRecordsPartitionResult {
        partition_index: index,
        low_watermark: -1,
        error_code: error.code.code(),
    };
    let tp = TopicPartition::new(topic, index);
    let Some(partition) = broker.replicas.leading(&tp) else {
        return fail(broker.not_hosted(&tp));
    };
    match partition.delete_records_before(request.offset).await {
        Ok(low_watermark) => {
            tracing::info!(partition = %tp, low_watermark, "deleted records");
            DeleteRecordsPartitionResult {
                partition_index: index,
                low_watermark,
                error_code: ErrorCode::None.code(),
            }
        }
        Err(e) => fail(KafkaError::from(&e)),
    }
}

#[cfg(test)]
mod tests {
    use streambus_protocol::ApiKey;
    use streambus_protocol::messages::delete_records_request::DeleteRecordsTopic;

    use super::*;
    use crate::handlers::testing;

    fn request(topic: &str, partitions: &[(i32, i64)]) -> DeleteRecordsRequest {
        DeleteRecordsRequest {
            topics: vec![DeleteRecordsTopic {
                name: topic.into(),
                partitions: partitions
                    .iter()
                    .map(|(partition_index, offset)| DeleteRecordsPartition {
                        partition_index: *partition_index,
                        offset: *offset,
                    })
                    .collect(),
            }],
            timeout_ms: 1000,
        }
    }

    #[tokio::test]
    async fn log_start_moves_forward_within_the_high_watermark() {
        let (_dir, broker) = testing::broker();
        testing::create_topic(&broker, "t", 2, &[]).await;
        testing::produce(&broker, "t", 0, None, 10).await;
        let ctx = testing::ctx(ApiKey::DeleteRecords, 2);
        let response = handle(
            &broker,
            &ctx,
            request("t", &[(0, 4), (1, 5), (2, 0), (0, -7)]),
        )
        .await;
        let results: Vec<(i16, i64)> = response.topics[0]
            .partitions
            .iter()
            .map(|p| (p.error_code, p.low_watermark))
            .collect();
        assert_eq!(
            results,
            vec![
                (0, 4),
                (ErrorCode::OffsetOutOfRange.code(), -1),
                (ErrorCode::UnknownTopicOrPartition.code(), -1),
                (ErrorCode::OffsetOutOfRange.code(), -1),
            ]
        );
        // Going back changes nothing; -1 is the high watermark.
        let response = handle(&broker, &ctx, request("t", &[(0, 2)])).await;
        assert_eq!(response.topics[0].partitions[0].low_watermark, 4);
        let response = handle(&broker, &ctx, request("t", &[(0, -1), (1, -1)])).await;
        let lows: Vec<i64> = response.topics[0]
            .partitions
            .iter()
            .map(|p| p.low_watermark)
            .collect();
        assert_eq!(lows, vec![10, 0]);
        let tp = TopicPartition::new("t", 0);
        assert_eq!(
            broker.replicas.partition(&tp).unwrap().log_start_offset(),
            10
        );
    }
}
