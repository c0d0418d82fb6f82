//! Produce (key 0): validate each partition's batch and append it, all partitions at once.
//!
//! Per partition, as Kafka does: the topic must not be internal (`__consumer_offsets` is
//! written by the group coordinator only) and the partition must exist here; the records must be
//! exactly one valid v2 batch (v3+ requests) no larger than `max.message.bytes`; idempotent
//! batches are checked against the producer state (a retry gets its original offsets). The
//! response waits for every append to be committed; with acks=0 there is no response.

use futures_util::future::join_all;
use streambus_protocol::ErrorCode;
use streambus_protocol::messages::produce_request::{PartitionProduceData, ProduceRequest};
use streambus_protocol::messages::produce_response::{
    PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};
use streambus_storage::TopicPartition;
use streambus_storage::batch::{Compression, ProduceLimits, validate_produce};

use crate::Broker;
use crate::context::RequestContext;
use crate::errors::KafkaError;
use crate::topic_config;

/// The first Produce version that may carry zstd batches (KIP-110).
const ZSTD_FROM_VERSION: i16 = 7;

pub(crate) async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = request.acks;
    let refusal = if !matches!(acks, -1..=1) {
        Some(KafkaError::new(
            ErrorCode::InvalidRequiredAcks,
            format!("acks must be -1, 0 or 1, not {acks}"),
        ))
    } else if request.transactional_id.is_some() {
        Some(KafkaError::new(
            ErrorCode::TransactionalIdAuthorizationFailed,
            "transactions are not supported by this broker yet",
        ))
    } else {
        None
    };
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let name = topic.name;
        let appends = topic.partition_data.into_iter().map(|data| {
            let refusal = refusal.clone();
            let name = name.clone();
            async move {
                match refusal {
                    Some(error) => error_response(data.index, error),
                    None => append(broker, &name, data, acks, ctx.api_version).await,
                }
            }
        });
        responses.push(TopicProduceResponse {
            partition_responses: join_all(appends).await,
            name,
        });
    }
    if acks == 0 {
        tracing::trace!(connection = ctx.connection.id, "acks=0: no response");
        return None;
    }
    Some(ProduceResponse {
        responses,
        ..Default::default()
    })
}

async fn append(
    broker: &Broker,
    topic: &str,
    data: PartitionProduceData,
    acks: i16,
    ctx_version: i16,
) -> PartitionProduceResponse {
    let tp = TopicPartition::new(topic, data.index);
    if crate::topics::is_internal(topic) {
        // As Kafka: only the broker itself writes its internal topics.
        return error_response(
            data.index,
            KafkaError::new(
                ErrorCode::InvalidTopicException,
                format!("cannot append to internal topic {topic}"),
            ),
        );
    }
    let Some(partition) = broker.replicas.partition(&tp) else {
        return error_response(data.index, broker.not_hosted(&tp));
    };
    let Some(records) = data.records else {
        return error_response(
            data.index,
            KafkaError::new(ErrorCode::InvalidRecord, "the partition's records are null"),
        );
    };
    let config = partition.log().config();
    let limits = ProduceLimits {
        max_batch_bytes: config.max_message_bytes as usize,
    };
    match validate_produce(&records, limits) {
        Ok(validated) if validated.batch_count != 1 => {
            return error_response(
                data.index,
                KafkaError::new(
                    ErrorCode::InvalidRecord,
                    "a produce request must hold exactly one record batch per partition",
                ),
            );
        }
        Ok(validated)
            if ctx_version < ZSTD_FROM_VERSION
                && validated.first.compression() == Ok(Compression::Zstd) =>
        {
            return error_response(
                data.index,
                KafkaError::new(
                    ErrorCode::UnsupportedCompressionType,
                    format!("zstd needs Produce v{ZSTD_FROM_VERSION} or later"),
                ),
            );
        }
        Ok(_) => {}
        Err(e) => return error_response(data.index, KafkaError::from(&e)),
    }
    if acks == -1 {
        let image = broker.image();
        let wanted = image
            .topic(topic)
            .map_or(1, |t| topic_config::min_insync_replicas(&t.configs));
        let isr = image
            .partition(topic, data.index)
            .map_or(1, |p| p.isr.len() as i32);
        if isr < wanted {
            return error_response(
                data.index,
                KafkaError::new(
                    ErrorCode::NotEnoughReplicas,
                    format!("{isr} in-sync replica(s), min.insync.replicas is {wanted}"),
                ),
            );
        }
    }
    let size = records.len();
    match partition.append(records).await {
        Ok(info) => {
            broker
                .metrics
                .record_produce(topic, size, info.last_offset - info.base_offset + 1);
            PartitionProduceResponse {
                index: data.index,
                error_code: ErrorCode::None.code(),
                base_offset: info.base_offset,
                log_append_time_ms: info.log_append_time,
                log_start_offset: info.log_start_offset,
                ..Default::default()
            }
        }
        Err(e) => error_response(data.index, KafkaError::from(&e)),
    }
}

fn error_response(index: i32, error: KafkaError) -> PartitionProduceResponse {
    PartitionProduceResponse {
        index,
        error_code: error.code.code(),
        base_offset: -1,
        log_append_time_ms: -1,
        log_start_offset: -1,
        error_message: error.message,
        ..Default::default()
    }
}
