//! Produce (key 0): validate each partition's batch and append it, all partitions at once.
//!
//! Per partition, as Kafka does: the topic must not be internal (`__consumer_offsets` is
//! written by the group coordinator only) and the partition must exist here; the records must be
//! exactly one valid v2 batch (v3+ requests) no larger than `max.message.bytes`; idempotent
//! batches are checked against the producer state (a retry gets its original offsets). The
//! response waits for every append to be committed; with acks=0 there is no response.
//!
//! A request is served in two steps: [`append_all`] appends every partition's batch (the
//! connection waits for it before it reads its next request, so that one connection's
//! appends keep their order), and returns the response as a future that waits for the
//! appends to be committed, which the connection may await while it serves the next ones.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use streambus_protocol::ErrorCode;
use streambus_protocol::messages::produce_request::{PartitionProduceData, ProduceRequest};
use streambus_protocol::messages::produce_response::{
    PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};
use streambus_storage::TopicPartition;
use streambus_storage::batch::{Compression, ProduceLimits, validate_produce};

use streambus_replication::{Partition, ReplicationError};

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
    append_all(broker, ctx, request).await.await
}

/// Appends every partition's batch of `request`; the future of the response, ready once
/// every append is committed (`None` with acks=0).
pub(crate) async fn append_all(
    broker: &Broker,
    ctx: &RequestContext,
    request: ProduceRequest,
) -> impl Future<Output = Option<ProduceResponse>> + Send + 'static + use<> {
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
    // How long acks=all waits for the in-sync replicas: the request's timeout (Kafka's
    // `request.timeout.ms`), or Kafka's default of 30 s when the client gives none.
    let replication_timeout = match request.timeout_ms {
        t if t > 0 => Duration::from_millis(t as u64),
        _ => Duration::from_secs(30),
    };
    let mut topics = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let name = topic.name;
        let appends = topic.partition_data.into_iter().map(|data| {
            let refusal = refusal.clone();
            let name = name.clone();
            async move {
                match refusal {
                    Some(error) => Appended::Done(error_response(data.index, error)),
                    None => match admit(broker, &name, data, acks, ctx.api_version) {
                        Ok((partition, index, records)) => {
                            let acks_all = (acks == -1).then_some(replication_timeout);
                            append(broker, &name, &partition, index, records, acks_all).await
                        }
                        Err(refused) => Appended::Done(refused),
                    },
                }
            }
        });
        let appended = join_all(appends).await;
        topics.push((name, appended));
    }
    let connection = ctx.connection.id;
    async move {
        let mut responses = Vec::with_capacity(topics.len());
        for (name, appended) in topics {
            let answers = join_all(appended.into_iter().map(Appended::committed)).await;
            responses.push(TopicProduceResponse {
                partition_responses: answers,
                name,
            });
        }
        if acks == 0 {
            tracing::trace!(connection, "acks=0: no response");
            return None;
        }
        Some(ProduceResponse {
            responses,
            ..Default::default()
        })
    }
}

/// A commit still to wait for.
type Committing = Pin<Box<dyn Future<Output = Result<(), ReplicationError>> + Send>>;

/// One partition's append: answered already (refused or failed), or waiting to be
/// committed before its answer goes.
enum Appended {
    Done(PartitionProduceResponse),
    Pending(PartitionProduceResponse, Committing),
}

impl Appended {
    /// The partition's answer once its append is committed (or why it could not be).
    async fn committed(self) -> PartitionProduceResponse {
        match self {
            Appended::Done(response) => response,
            Appended::Pending(response, committing) => match committing.await {
                Ok(()) => response,
                Err(e) => error_response(response.index, KafkaError::from(&e)),
            },
        }
    }
}

/// Appends admitted records in order; the answer to send once they are committed.
async fn append(
    broker: &Broker,
    topic: &str,
    partition: &Arc<Partition>,
    index: i32,
    records: Bytes,
    acks_all: Option<Duration>,
) -> Appended {
    let size = records.len();
    match partition.append_in_order(records, acks_all).await {
        Ok((info, committing)) => {
            broker
                .metrics
                .record_produce(topic, size, info.last_offset - info.base_offset + 1);
            let response = PartitionProduceResponse {
                index,
                error_code: ErrorCode::None.code(),
                base_offset: info.base_offset,
                log_append_time_ms: info.log_append_time,
                log_start_offset: info.log_start_offset,
                ..Default::default()
            };
            Appended::Pending(response, Box::pin(committing))
        }
        Err(e) => Appended::Done(error_response(index, KafkaError::from(&e))),
    }
}

/// Checks one partition's data before it is appended: the partition, the records and acks.
/// The partition, index and records to append, or the answer refusing them.
fn admit(
    broker: &Broker,
    topic: &str,
    data: PartitionProduceData,
    acks: i16,
    ctx_version: i16,
) -> Result<(Arc<Partition>, i32, Bytes), PartitionProduceResponse> {
    let tp = TopicPartition::new(topic, data.index);
    if crate::topics::is_internal(topic) {
        // As Kafka: only the broker itself writes its internal topics.
        return refuse(
            data.index,
            KafkaError::new(
                ErrorCode::InvalidTopicException,
                format!("cannot append to internal topic {topic}"),
            ),
        );
    }
    let Some(partition) = broker.replicas.leading(&tp) else {
        return refuse(data.index, broker.not_hosted(&tp));
    };
    let Some(records) = data.records else {
        return refuse(
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
            return refuse(
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
            return refuse(
                data.index,
                KafkaError::new(
                    ErrorCode::UnsupportedCompressionType,
                    format!("zstd needs Produce v{ZSTD_FROM_VERSION} or later"),
                ),
            );
        }
        Ok(_) => {}
        Err(e) => return Err(error_response(data.index, KafkaError::from(&e))),
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
            return refuse(
                data.index,
                KafkaError::new(
                    ErrorCode::NotEnoughReplicas,
                    format!("{isr} in-sync replica(s), min.insync.replicas is {wanted}"),
                ),
            );
        }
    }
    Ok((partition, data.index, records))
}

/// The refusal of a partition's data, as `admit` returns it.
fn refuse(
    index: i32,
    error: KafkaError,
) -> Result<(Arc<Partition>, i32, Bytes), PartitionProduceResponse> {
    Err(error_response(index, error))
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
