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
//!
//! A partition answered NOT_LEADER_OR_FOLLOWER names its current leader and epoch, and the
//! response those leaders' endpoints (KIP-951, v10+), so that the producer moves without a
//! metadata round trip: [`add_leader_hints`], run once the answer is complete.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use streambus_protocol::ErrorCode;
use streambus_protocol::messages::produce_request::{PartitionProduceData, ProduceRequest};
use streambus_protocol::messages::produce_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};
use streambus_storage::batch::{Compression, ProduceLimits, validate_produce};
use streambus_storage::{AppendInfo, TopicPartition};

use streambus_replication::{Commit, Partition, ReplicationError};

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
    let mut response = append_all(broker, ctx, request).await.await;
    if let Some(response) = &mut response {
        add_leader_hints(broker, response);
    }
    response
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
    // Every partition is admitted (or refused) first; the admitted ones are appended in
    // one go, which shares the blocking work among them.
    let acks_all = (acks == -1).then_some(replication_timeout);
    let mut topics: Vec<(String, Vec<Appended>)> = Vec::with_capacity(request.topic_data.len());
    let mut admitted = Vec::new();
    let mut appends = Vec::new();
    for topic in request.topic_data {
        let name = topic.name;
        let mut answers = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let checked = match &refusal {
                Some(error) => Err(error_response(data.index, error.clone())),
                None => admit(broker, &name, data, acks, ctx.api_version),
            };
            match checked {
                Ok((partition, index, records)) => {
                    admitted.push((topics.len(), answers.len(), index, records.len()));
                    appends.push((partition, records));
                    // Replaced by the append's outcome below.
                    answers.push(Appended::Done(PartitionProduceResponse::default()));
                }
                Err(refused) => answers.push(Appended::Done(refused)),
            }
        }
        topics.push((name, answers));
    }
    let outcomes = Partition::append_all(appends, acks_all).await;
    for ((topic, slot, index, size), outcome) in admitted.into_iter().zip(outcomes) {
        let (name, answers) = &mut topics[topic];
        answers[slot] = appended(broker, name, index, size, outcome);
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

/// Names, for each partition answered NOT_LEADER_OR_FOLLOWER, the leader and leader epoch
/// the metadata gives it now, and lists those leaders' endpoints (KIP-951). The fields are
/// tagged fields of v10+; older versions' encoding leaves them out.
pub(crate) fn add_leader_hints(broker: &Broker, response: &mut ProduceResponse) {
    let not_leader = ErrorCode::NotLeaderOrFollower.code();
    let mut leaders = BTreeSet::new();
    let mut image = None;
    for topic in &mut response.responses {
        for p in &mut topic.partition_responses {
            if p.error_code != not_leader {
                continue;
            }
            let image = image.get_or_insert_with(|| broker.image());
            if let Some(partition) = image.partition(&topic.name, p.index) {
                p.current_leader = LeaderIdAndEpoch {
                    leader_id: partition.leader,
                    leader_epoch: partition.leader_epoch,
                };
                if partition.leader >= 0 {
                    leaders.insert(partition.leader);
                }
            }
        }
    }
    let Some(image) = image else {
        return;
    };
    response.node_endpoints = leaders
        .into_iter()
        .filter_map(|id| image.broker(id))
        .map(|b| NodeEndpoint {
            node_id: b.node_id,
            host: b.host.clone(),
            port: i32::from(b.port),
            rack: b.rack.clone(),
        })
        .collect();
}

/// One partition's append: answered already (refused or failed), or waiting to be
/// committed before its answer goes.
enum Appended {
    Done(PartitionProduceResponse),
    Pending(PartitionProduceResponse, Commit),
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

/// One admitted partition's answer from its append's outcome: refused, or waiting to be
/// committed.
fn appended(
    broker: &Broker,
    topic: &str,
    index: i32,
    size: usize,
    outcome: Result<(AppendInfo, Commit), ReplicationError>,
) -> Appended {
    match outcome {
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
            Appended::Pending(response, committing)
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

#[cfg(test)]
mod tests {
    use streambus_protocol::ApiKey;
    use streambus_protocol::messages::produce_request::TopicProduceData;

    use super::*;
    use crate::handlers::testing;

    fn to(topic: &str, partitions: &[i32]) -> TopicProduceData {
        TopicProduceData {
            name: topic.into(),
            partition_data: partitions
                .iter()
                .map(|&index| PartitionProduceData {
                    index,
                    records: Some(Bytes::new()),
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn a_partition_led_elsewhere_names_its_leader_and_the_leaders_endpoint() {
        let (_dir, broker) = testing::broker();
        testing::led_elsewhere(&broker, "elsewhere", 11, &[(2, 3), (-1, 4)]);
        let request = ProduceRequest {
            acks: -1,
            timeout_ms: 1000,
            topic_data: vec![to("elsewhere", &[0, 1]), to("unknown", &[0])],
            ..Default::default()
        };
        let response = handle(&broker, &testing::ctx(ApiKey::Produce, 10), request)
            .await
            .unwrap();
        let answers: Vec<(&str, i32, i16, i32, i32)> = response
            .responses
            .iter()
            .flat_map(|t| {
                t.partition_responses.iter().map(|p| {
                    (
                        t.name.as_str(),
                        p.index,
                        p.error_code,
                        p.current_leader.leader_id,
                        p.current_leader.leader_epoch,
                    )
                })
            })
            .collect();
        assert_eq!(
            answers,
            vec![
                ("elsewhere", 0, ErrorCode::NotLeaderOrFollower.code(), 2, 3),
                ("elsewhere", 1, ErrorCode::LeaderNotAvailable.code(), -1, -1),
                (
                    "unknown",
                    0,
                    ErrorCode::UnknownTopicOrPartition.code(),
                    -1,
                    -1
                ),
            ]
        );
        let endpoints: Vec<(i32, &str, i32)> = response
            .node_endpoints
            .iter()
            .map(|e| (e.node_id, e.host.as_str(), e.port))
            .collect();
        assert_eq!(endpoints, vec![(2, "127.0.0.2", 9092)]);
    }

    #[tokio::test]
    async fn an_answer_without_leader_errors_names_no_endpoints() {
        let (_dir, broker) = testing::broker();
        let request = ProduceRequest {
            acks: 1,
            topic_data: vec![to("unknown", &[0])],
            ..Default::default()
        };
        let response = handle(&broker, &testing::ctx(ApiKey::Produce, 11), request)
            .await
            .unwrap();
        assert!(response.node_endpoints.is_empty(), "{response:?}");
    }
}
