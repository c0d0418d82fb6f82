//! OffsetFetch (key 9): a group's committed offsets; v8+ asks for several groups at once.
//!
//! A partition without a committed offset (or a group that does not exist) reads as offset
//! -1 with empty metadata and no error, as Kafka answers. Group-level errors go in the
//! top-level (v2-7) or group (v8+) error code; v0-1 have neither, so each partition
//! carries it.

use streambus_coordinator::{Event, FetchOffsets, FetchedOffset, Response, TopicPartition, errors};
use streambus_protocol::messages::offset_fetch_request::OffsetFetchRequest;
use streambus_protocol::messages::offset_fetch_response::{
    OffsetFetchResponse, OffsetFetchResponseGroup, OffsetFetchResponsePartition,
    OffsetFetchResponsePartitions, OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};

use crate::Broker;
use crate::context::RequestContext;
use crate::groups::wrong_response;

/// The first version that fetches several groups.
const MULTI_GROUP_FROM_VERSION: i16 = 8;
/// The first version with a top-level error code.
const TOP_LEVEL_ERROR_FROM_VERSION: i16 = 2;

/// The response's topics of `partitions`, as `$topic` structs of `$partition` structs:
/// v0-7 and v8+ responses differ only in those type names. A partition without metadata
/// reads as empty metadata, as Kafka answers.
macro_rules! wire_topics {
    ($partitions:expr, $topic:ident, $partition:ident) => {
        by_topic($partitions)
            .into_iter()
            .map(|(name, partitions)| $topic {
                name,
                partitions: partitions
                    .into_iter()
                    .map(|p| $partition {
                        partition_index: p.partition.partition,
                        committed_offset: p.offset,
                        committed_leader_epoch: p.leader_epoch,
                        metadata: Some(p.metadata.unwrap_or_default()),
                        error_code: p.error_code,
                    })
                    .collect(),
            })
            .collect()
    };
}

/// One group's answer: a group-level error code and the partitions.
struct GroupOffsets {
    error_code: i16,
    partitions: Vec<FetchedOffset>,
}

pub(crate) async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    if ctx.api_version >= MULTI_GROUP_FROM_VERSION {
        let mut groups = Vec::with_capacity(request.groups.len());
        for group in request.groups {
            let wanted = group
                .topics
                .map(|topics| flatten(topics.into_iter().map(|t| (t.name, t.partition_indexes))));
            let fetched = fetch(broker, &group.group_id, wanted).await;
            groups.push(OffsetFetchResponseGroup {
                group_id: group.group_id,
                topics: wire_topics!(
                    fetched.partitions,
                    OffsetFetchResponseTopics,
                    OffsetFetchResponsePartitions
                ),
                error_code: fetched.error_code,
            });
        }
        return OffsetFetchResponse {
            groups,
            ..Default::default()
        };
    }
    let wanted = request
        .topics
        .map(|topics| flatten(topics.into_iter().map(|t| (t.name, t.partition_indexes))));
    let mut fetched = fetch(broker, &request.group_id, wanted).await;
    if ctx.api_version < TOP_LEVEL_ERROR_FROM_VERSION && fetched.error_code != errors::NONE {
        for p in &mut fetched.partitions {
            p.error_code = fetched.error_code;
        }
    }
    OffsetFetchResponse {
        throttle_time_ms: 0,
        topics: wire_topics!(
            fetched.partitions,
            OffsetFetchResponseTopic,
            OffsetFetchResponsePartition
        ),
        error_code: fetched.error_code,
        groups: Vec::new(),
    }
}

/// The offsets of `wanted` partitions (`None`: all the group has) of one group.
async fn fetch(
    broker: &Broker,
    group_id: &str,
    wanted: Option<Vec<TopicPartition>>,
) -> GroupOffsets {
    let none_committed = |wanted: Option<Vec<TopicPartition>>, error_code| GroupOffsets {
        error_code,
        partitions: wanted
            .unwrap_or_default()
            .into_iter()
            .map(|partition| FetchedOffset {
                partition,
                offset: -1,
                leader_epoch: -1,
                metadata: None,
                error_code: errors::NONE,
            })
            .collect(),
    };
    if group_id.is_empty() {
        return none_committed(wanted, errors::INVALID_GROUP_ID);
    }
    let asked = wanted.clone();
    let event = |request_id| {
        Event::FetchOffsets(FetchOffsets {
            request_id,
            partitions: wanted,
        })
    };
    match broker.groups().handle_existing(group_id, event).await {
        Ok(Some(Response::Fetch(response))) => GroupOffsets {
            error_code: response.error_code,
            partitions: response.partitions,
        },
        Ok(None) => none_committed(asked, errors::NONE),
        Ok(Some(_)) => none_committed(asked, wrong_response("OffsetFetch")),
        Err(not_served) => none_committed(asked, not_served.error_code()),
    }
}

/// The partitions of `(topic, indexes)` pairs, in order.
fn flatten(topics: impl Iterator<Item = (String, Vec<i32>)>) -> Vec<TopicPartition> {
    topics
        .flat_map(|(name, indexes)| {
            indexes
                .into_iter()
                .map(move |p| TopicPartition::new(name.clone(), p))
        })
        .collect()
}

/// Partitions grouped by topic, topics in order of first appearance.
fn by_topic(partitions: Vec<FetchedOffset>) -> Vec<(String, Vec<FetchedOffset>)> {
    let mut topics: Vec<(String, Vec<FetchedOffset>)> = Vec::new();
    for p in partitions {
        match topics
            .iter_mut()
            .find(|(name, _)| *name == p.partition.topic)
        {
            Some((_, list)) => list.push(p),
            None => topics.push((p.partition.topic.clone(), vec![p])),
        }
    }
    topics
}
