//! Looking up offsets by position or time (ListOffsets), for the consumer's seeks and the
//! admin client's lag and resets.
//!
//! Requests go to each partition's leader, one request per leader for all its partitions.
//! A partition whose leader moved is retried once after a metadata refresh.

use std::collections::{BTreeMap, HashMap};

use streambus_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};

use crate::cluster::Cluster;
use crate::error::{Error, Result};

/// A topic and partition.
pub type TopicPartition = (String, i32);

/// Which offset of a partition to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (the next offset to be written).
    Latest,
    /// The first offset whose timestamp is at or after this one (milliseconds since the
    /// epoch); the log end offset when there is none.
    Timestamp(i64),
}

impl OffsetSpec {
    fn wire_timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(ms) => ms,
        }
    }
}

/// What ListOffsets found for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// The offset.
    pub offset: i64,
    /// The timestamp of the record at that offset, -1 for Earliest/Latest.
    pub timestamp: i64,
}

/// Looks up `spec` for each partition. Read-committed isolation is used when
/// `read_committed`, so that Latest is the last stable offset.
pub async fn list_offsets(
    cluster: &Cluster,
    partitions: &[(TopicPartition, OffsetSpec)],
    read_committed: bool,
) -> Result<HashMap<TopicPartition, ListedOffset>> {
    let mut found = HashMap::new();
    let mut todo: Vec<(TopicPartition, OffsetSpec)> = partitions.to_vec();
    for attempt in 0..2 {
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, OffsetSpec)>> = BTreeMap::new();
        for (tp, spec) in todo.drain(..) {
            let leader = cluster.leader(&tp.0, tp.1).await?;
            by_leader.entry(leader).or_default().push((tp, spec));
        }
        for (leader, asked) in by_leader {
            let request = request_for(&asked, read_committed);
            let response = cluster.call_node(leader, request).await?;
            for topic in response.topics {
                for p in topic.partitions {
                    let tp = (topic.name.clone(), p.partition_index);
                    let result =
                        Error::check(p.error_code, || format!("offsets of {}-{}", tp.0, tp.1));
                    match result {
                        Ok(()) => {
                            let listed = ListedOffset {
                                offset: p.offset,
                                timestamp: p.timestamp,
                            };
                            found.insert(tp, listed);
                        }
                        Err(e) if attempt == 0 && e.invalidates_metadata() => {
                            cluster.invalidate(&tp.0);
                            let spec = asked
                                .iter()
                                .find(|(asked_tp, _)| *asked_tp == tp)
                                .map_or(OffsetSpec::Latest, |(_, spec)| *spec);
                            todo.push((tp, spec));
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        if todo.is_empty() {
            break;
        }
    }
    for (tp, _) in partitions {
        if !found.contains_key(tp) {
            return Err(Error::Protocol {
                addr: "the partition leader".into(),
                reason: format!("no offset returned for {}-{}", tp.0, tp.1),
            });
        }
    }
    Ok(found)
}

fn request_for(asked: &[(TopicPartition, OffsetSpec)], read_committed: bool) -> ListOffsetsRequest {
    let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for ((topic, partition), spec) in asked {
        topics.entry(topic).or_default().push(ListOffsetsPartition {
            partition_index: *partition,
            current_leader_epoch: -1,
            timestamp: spec.wire_timestamp(),
            max_num_offsets: 1,
        });
    }
    ListOffsetsRequest {
        replica_id: -1,
        isolation_level: i8::from(read_committed),
        topics: topics
            .into_iter()
            .map(|(name, partitions)| ListOffsetsTopic {
                name: name.to_owned(),
                partitions,
            })
            .collect(),
    }
}

/// One partition's committed offset as an OffsetFetch response gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Committed {
    pub topic: String,
    pub partition: i32,
    /// -1 when the group has committed nothing for the partition.
    pub offset: i64,
    pub metadata: Option<String>,
}

/// The committed offsets of `group` in an OffsetFetch response, whichever of its two shapes
/// the version used (v8+ lists groups; earlier versions answer for one group at the top
/// level). A group-level or partition-level error code is an error naming it.
pub(crate) fn committed_offsets(
    response: streambus_protocol::messages::offset_fetch_response::OffsetFetchResponse,
    group: &str,
) -> Result<Vec<Committed>> {
    let context = || format!("the committed offsets of group {group}");
    // The two shapes have their own generated types with the same fields.
    macro_rules! rows {
        ($topics:expr) => {
            $topics
                .into_iter()
                .flat_map(|t| {
                    let name = t.name;
                    t.partitions.into_iter().map(move |p| {
                        let row = (p.partition_index, p.committed_offset, p.metadata);
                        (name.clone(), row.0, row.1, row.2, p.error_code)
                    })
                })
                .collect()
        };
    }
    let rows: Vec<(String, i32, i64, Option<String>, i16)> =
        match response.groups.into_iter().find(|g| g.group_id == group) {
            Some(answer) => {
                Error::check(answer.error_code, context)?;
                rows!(answer.topics)
            }
            None => {
                Error::check(response.error_code, context)?;
                rows!(response.topics)
            }
        };
    rows.into_iter()
        .map(|(topic, partition, offset, metadata, code)| {
            Error::check(code, || {
                format!("the committed offset of {topic}-{partition} in group {group}")
            })?;
            Ok(Committed {
                topic,
                partition,
                offset,
                metadata,
            })
        })
        .collect()
}
