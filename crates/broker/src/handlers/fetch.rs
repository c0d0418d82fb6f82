//! Fetch (key 1): committed batches from many partitions, waiting up to `max_wait_ms` for
//! `min_bytes`, with fetch sessions for incremental fetches.
//!
//! The wait is woken by the appends that move a fetched partition's high watermark (not by
//! a timer), and ends at the deadline. A follower replica's fetch (`replica_id` >= 0) reads
//! up to what its leader has committed rather than the high watermark, reports its progress
//! to the leader (which may move the high watermark or propose an ISR change), and waits
//! for appends rather than for the high watermark. A partition led elsewhere is answered
//! with NOT_LEADER_OR_FOLLOWER and, from v12, the current leader and its epoch (KIP-951). Byte limits follow Kafka: each partition returns at
//! most `partition_max_bytes`, the response at most `max_bytes`, except that the first batch
//! of the first partition with data is returned even when larger, so consumers never stall.

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::select_all;
use streambus_protocol::ErrorCode;
use streambus_protocol::messages::fetch_request::FetchRequest;
use streambus_protocol::messages::fetch_response::{
    FetchResponse, FetchableTopicResponse, LeaderIdAndEpoch, PartitionData,
};
use streambus_replication::FetchWaiter;
use streambus_storage::TopicPartition;
use streambus_storage::batch::{BatchIter, Compression};

use crate::Broker;
use crate::context::RequestContext;
use crate::errors::KafkaError;
use crate::fetch_session::{SessionPartition, SessionPartitions, SessionRequest};

/// The longest a fetch may wait, whatever the client asks.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// First version that names topics by id.
const TOPIC_IDS_FROM: i16 = 13;
/// The first Fetch version that may return zstd batches (KIP-110); older clients get
/// UNSUPPORTED_COMPRESSION_TYPE for a partition that holds them.
const ZSTD_FROM_VERSION: i16 = 10;

pub(crate) async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: FetchRequest,
) -> FetchResponse {
    let by_id = ctx.api_version >= TOPIC_IDS_FROM;
    let session = {
        let mut sessions = broker.lock_fetch_sessions();
        sessions.begin(request.session_id, request.session_epoch)
    };
    let (session_id, incremental, mut wanted) = match session {
        Err(code) => {
            return FetchResponse {
                error_code: code.code(),
                session_id: 0,
                ..Default::default()
            };
        }
        Ok(SessionRequest::Full { new_session }) => (new_session, false, SessionPartitions::new()),
        Ok(SessionRequest::Incremental { session_id }) => {
            let known = broker
                .lock_fetch_sessions()
                .partitions(session_id)
                .unwrap_or_default();
            (session_id, true, known)
        }
    };
    let mut unresolved = Vec::new();
    for topic in &request.topics {
        let name = if by_id {
            match broker
                .image()
                .topic_by_id(uuid::Uuid::from_bytes(topic.topic_id))
            {
                Some(t) => t.name.clone(),
                None => {
                    unresolved.push(topic.clone());
                    continue;
                }
            }
        } else {
            topic.topic.clone()
        };
        for p in &topic.partitions {
            let previous = wanted.get(&(name.clone(), p.partition));
            wanted.insert(
                (name.clone(), p.partition),
                SessionPartition {
                    topic_id: topic.topic_id,
                    fetch_offset: p.fetch_offset,
                    max_bytes: p.partition_max_bytes,
                    current_leader_epoch: p.current_leader_epoch,
                    last_high_watermark: previous.and_then(|s| s.last_high_watermark),
                    last_log_start: previous.and_then(|s| s.last_log_start),
                },
            );
        }
    }
    for forgotten in &request.forgotten_topics_data {
        let name = if by_id {
            broker
                .image()
                .topic_by_id(uuid::Uuid::from_bytes(forgotten.topic_id))
                .map(|t| t.name.clone())
        } else {
            Some(forgotten.topic.clone())
        };
        if let Some(name) = name {
            for partition in &forgotten.partitions {
                wanted.remove(&(name.clone(), *partition));
            }
        }
    }

    let max_wait = Duration::from_millis(request.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let deadline = tokio::time::Instant::now() + max_wait;
    let min_bytes = i64::from(request.min_bytes.max(0));
    let replica = (request.replica_id >= 0).then_some(request.replica_id);
    let results = loop {
        // Subscribe before reading, so that an append between the two is not missed.
        let mut waiters: Vec<FetchWaiter> = wanted
            .keys()
            .filter_map(|(topic, p)| {
                broker
                    .replicas
                    .leading(&TopicPartition::new(topic.clone(), *p))
            })
            .map(|partition| match replica {
                Some(_) => partition.log_end_waiter(),
                None => partition.waiter(),
            })
            .collect();
        let (results, bytes, errors) =
            read_all(broker, &wanted, request.max_bytes, ctx.api_version, replica);
        if bytes >= min_bytes || errors || tokio::time::Instant::now() >= deadline {
            break results;
        }
        if waiters.is_empty() {
            tokio::time::sleep_until(deadline).await;
            continue;
        }
        let changed = select_all(waiters.iter_mut().map(|w| Box::pin(w.changed())));
        let _ = tokio::time::timeout_at(deadline, changed).await;
    };

    let mut topics: Vec<FetchableTopicResponse> = Vec::new();
    for (((name, _), state), data) in wanted.iter_mut().zip(results) {
        broker
            .metrics
            .record_fetch(name, data.records.as_ref().map_or(0, |r| r.len()));
        let news = !incremental
            || data.error_code != ErrorCode::None.code()
            || data.records.as_ref().is_some_and(|r| !r.is_empty())
            || state.last_high_watermark != Some(data.high_watermark)
            || state.last_log_start != Some(data.log_start_offset);
        state.last_high_watermark = Some(data.high_watermark);
        state.last_log_start = Some(data.log_start_offset);
        if !news {
            continue;
        }
        match topics.last_mut() {
            Some(last) if last.topic == *name => last.partitions.push(data),
            _ => topics.push(FetchableTopicResponse {
                topic: name.clone(),
                topic_id: state.topic_id,
                partitions: vec![data],
            }),
        }
    }
    for topic in unresolved {
        topics.push(FetchableTopicResponse {
            topic: topic.topic,
            topic_id: topic.topic_id,
            partitions: topic
                .partitions
                .iter()
                .map(|p| error_data(p.partition, ErrorCode::UnknownTopicId))
                .collect(),
        });
    }
    if session_id != 0 {
        broker.lock_fetch_sessions().store(session_id, wanted);
    }
    FetchResponse {
        error_code: ErrorCode::None.code(),
        session_id,
        responses: topics,
        ..Default::default()
    }
}

/// Reads every wanted partition; returns the partition data in `wanted`'s order, the bytes
/// of records returned, and whether any partition has an error.
fn read_all(
    broker: &Broker,
    wanted: &SessionPartitions,
    max_bytes: i32,
    version: i16,
    replica: Option<i32>,
) -> (Vec<PartitionData>, i64, bool) {
    let mut remaining = i64::from(max_bytes.max(0));
    let mut total = 0i64;
    let mut errors = false;
    let mut out = Vec::with_capacity(wanted.len());
    for ((topic, index), state) in wanted {
        let tp = TopicPartition::new(topic.clone(), *index);
        let data = read_one(broker, &tp, state, remaining, total == 0, version, replica);
        if data.error_code != ErrorCode::None.code() {
            errors = true;
        }
        let len = data.records.as_ref().map_or(0, |r| r.len() as i64);
        total += len;
        remaining = (remaining - len).max(0);
        out.push(data);
    }
    (out, total, errors)
}

fn read_one(
    broker: &Broker,
    tp: &TopicPartition,
    state: &SessionPartition,
    remaining: i64,
    first_with_data: bool,
    version: i16,
    replica: Option<i32>,
) -> PartitionData {
    let Some(partition) = broker.replicas.leading(tp) else {
        let mut data = error_data(tp.partition, broker.not_hosted(tp).code);
        if data.error_code == ErrorCode::NotLeaderOrFollower.code() {
            data.current_leader = current_leader(broker, tp);
        }
        return data;
    };
    let epoch = partition.leader_epoch();
    if state.current_leader_epoch >= 0 && state.current_leader_epoch != epoch {
        let code = if state.current_leader_epoch < epoch {
            ErrorCode::FencedLeaderEpoch
        } else {
            ErrorCode::UnknownLeaderEpoch
        };
        return error_data(tp.partition, code);
    }
    if let Some(replica) = replica {
        match partition.on_follower_fetch(replica, state.fetch_offset) {
            Ok(Some(proposal)) => broker.propose_isr(&partition, proposal),
            Ok(None) => {}
            Err(e) => return error_data(tp.partition, KafkaError::from(&e).code),
        }
    }
    let high_watermark = partition.high_watermark();
    let log_start = partition.log_start_offset();
    let mut data = PartitionData {
        partition_index: tp.partition,
        error_code: ErrorCode::None.code(),
        high_watermark,
        last_stable_offset: high_watermark,
        log_start_offset: log_start,
        aborted_transactions: None,
        preferred_read_replica: -1,
        records: Some(Bytes::new()),
        ..Default::default()
    };
    let limit = i64::from(state.max_bytes).min(remaining);
    if limit <= 0 && !first_with_data {
        return data;
    }
    let read = match replica {
        Some(_) => partition.read_for_follower(state.fetch_offset, limit.max(1) as usize),
        None => partition.read(state.fetch_offset, limit.max(1) as usize),
    };
    match read {
        Ok(read) if version < ZSTD_FROM_VERSION && holds_zstd(&read.records) => {
            data.error_code = ErrorCode::UnsupportedCompressionType.code();
        }
        Ok(read) => {
            let too_big = read.records.len() as i64 > limit && !first_with_data;
            if !too_big {
                data.records = Some(read.records);
            }
        }
        Err(e) => {
            let error = KafkaError::from(&e);
            if error.code != ErrorCode::OffsetOutOfRange {
                tracing::debug!(partition = %tp, error = %e, "fetch failed");
            }
            data.error_code = error.code.code();
        }
    }
    data
}

/// The partition's leader and leader epoch as the metadata says (KIP-951), so that a client
/// told NOT_LEADER_OR_FOLLOWER can go there without a metadata round trip first. Fetch v12+
/// carries it; older versions leave the tagged field out.
fn current_leader(broker: &Broker, tp: &TopicPartition) -> LeaderIdAndEpoch {
    broker
        .image()
        .partition(&tp.topic, tp.partition)
        .map_or_else(LeaderIdAndEpoch::default, |p| LeaderIdAndEpoch {
            leader_id: p.leader,
            leader_epoch: p.leader_epoch,
        })
}

/// Whether any batch in `records` is zstd-compressed.
fn holds_zstd(records: &[u8]) -> bool {
    BatchIter::new(records).any(|(header, _)| header.compression() == Ok(Compression::Zstd))
}

fn error_data(partition: i32, code: ErrorCode) -> PartitionData {
    PartitionData {
        partition_index: partition,
        error_code: code.code(),
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        preferred_read_replica: -1,
        records: Some(Bytes::new()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use streambus_protocol::ApiKey;
    use streambus_protocol::messages::fetch_request::{FetchPartition, FetchTopic};

    use super::*;
    use crate::handlers::testing;

    #[tokio::test]
    async fn a_partition_led_elsewhere_names_its_leader() {
        let (_dir, broker) = testing::broker();
        testing::led_elsewhere(&broker, "elsewhere", 9, &[(2, 3)]);
        let request = FetchRequest {
            max_wait_ms: 0,
            topics: vec![FetchTopic {
                topic: "elsewhere".into(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let response = handle(&broker, &testing::ctx(ApiKey::Fetch, 12), request).await;
        let data = &response.responses[0].partitions[0];
        assert_eq!(data.error_code, ErrorCode::NotLeaderOrFollower.code());
        assert_eq!(
            (
                data.current_leader.leader_id,
                data.current_leader.leader_epoch
            ),
            (2, 3)
        );
    }
}
