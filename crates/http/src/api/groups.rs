//! Consumer groups: `GET /api/v1/groups` (ListGroups, `?state=` filter),
//! `GET /api/v1/groups/{id}` (DescribeGroups with each member's assignment decoded, and the
//! committed offsets from OffsetFetch against the high watermarks) and
//! `DELETE /api/v1/groups/{id}` (DeleteGroups).
//!
//! Every call about one group first asks FindCoordinator, as Kafka's admin client does (that
//! is what creates `__consumer_offsets` on a broker that has never seen a group), and is
//! tried again while the coordinator is loading ([`with_coordinator`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use streambus_broker::Broker;
use streambus_protocol::ErrorCode;
use streambus_protocol::messages::delete_groups_request::DeleteGroupsRequest;
use streambus_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use streambus_protocol::messages::describe_groups_response::DescribedGroup;
use streambus_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use streambus_protocol::messages::list_groups_request::ListGroupsRequest;
use streambus_protocol::messages::offset_fetch_request::{
    OffsetFetchRequest, OffsetFetchRequestGroup,
};

use super::extract::{Param, QueryParams};
use super::partitions::{LATEST, offsets};
use super::{ApiError, broker, call, check};
use crate::Health;

/// How often a group operation is tried while the coordinator is loading or moving.
const COORDINATOR_TRIES: u32 = 20;
/// The pause between those tries.
const COORDINATOR_BACKOFF: Duration = Duration::from_millis(100);

/// Runs `op` on `group` after FindCoordinator, again (after FindCoordinator again) while the
/// answer is that the coordinator is not available, loading, or elsewhere: what Kafka's
/// clients do, since `__consumer_offsets` is created and loaded on first use. `op` is called
/// for each try and returns the future to await.
pub(crate) async fn with_coordinator<T, F>(
    broker: &Broker,
    group: &str,
    op: impl Fn() -> F,
) -> Result<T, ApiError>
where
    F: Future<Output = Result<T, ApiError>>,
{
    let mut tries = 1;
    loop {
        let result = match find_coordinator(broker, group).await {
            Ok(()) => op().await,
            Err(e) => Err(e),
        };
        match result {
            Err(e) if e.is_coordinator_moving() && tries < COORDINATOR_TRIES => {
                tries += 1;
                tokio::time::sleep(COORDINATOR_BACKOFF).await;
            }
            result => return result,
        }
    }
}

/// FindCoordinator for `group`: makes sure the group can be served here.
async fn find_coordinator(broker: &Broker, group: &str) -> Result<(), ApiError> {
    let request = FindCoordinatorRequest {
        key: String::new(),
        key_type: 0,
        coordinator_keys: vec![group.to_string()],
    };
    let response = call!(broker, FindCoordinator, request);
    for c in response.coordinators {
        check(
            c.error_code,
            c.error_message,
            &format!("no coordinator for group {group}"),
        )?;
    }
    Ok(())
}

/// The query of `GET /api/v1/groups`.
#[derive(Deserialize)]
pub(crate) struct ListQuery {
    /// Only groups in this state (`Stable`, `Empty`, ...; Kafka compares without case).
    state: Option<String>,
}

/// A group in the list.
#[derive(Serialize)]
pub(crate) struct GroupSummary {
    group_id: String,
    protocol_type: String,
    state: String,
    #[serde(rename = "type")]
    group_type: String,
}

pub(crate) async fn list(
    State(health): State<Arc<Health>>,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<Vec<GroupSummary>>, ApiError> {
    let broker = broker(&health)?;
    let request = ListGroupsRequest {
        states_filter: query.state.into_iter().collect(),
        types_filter: Vec::new(),
    };
    let response = call!(&broker, ListGroups, request);
    check(response.error_code, None, "cannot list groups")?;
    let mut groups: Vec<GroupSummary> = response
        .groups
        .into_iter()
        .map(|g| GroupSummary {
            group_id: g.group_id,
            protocol_type: g.protocol_type,
            state: g.group_state,
            group_type: g.group_type,
        })
        .collect();
    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    Ok(Json(groups))
}

/// Partitions of one topic assigned to a member.
#[derive(Serialize)]
pub(crate) struct Assigned {
    topic: String,
    partitions: Vec<i32>,
}

/// A member of a group.
#[derive(Serialize)]
pub(crate) struct MemberDetail {
    member_id: String,
    group_instance_id: Option<String>,
    client_id: String,
    client_host: String,
    /// Decoded from the consumer protocol; `null` for another protocol or while the group
    /// rebalances.
    assignment: Option<Vec<Assigned>>,
}

/// A committed offset against its partition's high watermark.
#[derive(Serialize)]
pub(crate) struct CommittedOffset {
    topic: String,
    partition: i32,
    committed_offset: i64,
    metadata: String,
    high_watermark: i64,
    /// `high_watermark - committed_offset`, `null` when either is unknown.
    lag: Option<i64>,
}

/// What `GET /api/v1/groups/{id}` answers.
#[derive(Serialize)]
pub(crate) struct GroupDetail {
    group_id: String,
    state: String,
    protocol_type: String,
    protocol: String,
    members: Vec<MemberDetail>,
    offsets: Vec<CommittedOffset>,
}

pub(crate) async fn describe(
    State(health): State<Arc<Health>>,
    Param(id): Param,
) -> Result<Json<GroupDetail>, ApiError> {
    let broker = broker(&health)?;
    let group = with_coordinator(&broker, &id, || describe_group(&broker, &id)).await?;
    // DescribeGroups answers a group that does not exist as Dead, without an error.
    if group.group_state == "Dead" && group.members.is_empty() {
        return Err(ApiError::kafka(
            ErrorCode::GroupIdNotFound,
            None,
            &format!("group {id} does not exist"),
        ));
    }
    // Assignments are only known in a stable group (DescribeGroups sends none otherwise).
    let decodable = group.protocol_type == "consumer" && group.group_state == "Stable";
    let members = group
        .members
        .into_iter()
        .map(|m| MemberDetail {
            assignment: decodable
                .then(|| decode_assignment(&m.member_assignment))
                .flatten(),
            member_id: m.member_id,
            group_instance_id: m.group_instance_id,
            client_id: m.client_id,
            client_host: m.client_host,
        })
        .collect();
    Ok(Json(GroupDetail {
        offsets: with_coordinator(&broker, &id, || committed(&broker, &id)).await?,
        group_id: group.group_id,
        state: group.group_state,
        protocol_type: group.protocol_type,
        protocol: group.protocol_data,
        members,
    }))
}

/// DescribeGroups of one group.
async fn describe_group(broker: &Broker, id: &str) -> Result<DescribedGroup, ApiError> {
    let request = DescribeGroupsRequest {
        groups: vec![id.to_string()],
        include_authorized_operations: false,
    };
    let response = call!(broker, DescribeGroups, request);
    let group = response
        .groups
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("DescribeGroups answered no group"))?;
    check(
        group.error_code,
        None,
        &format!("cannot describe group {id}"),
    )?;
    Ok(group)
}

/// Every committed offset of `group` (OffsetFetch v8) with the high watermarks.
async fn committed(broker: &Broker, group: &str) -> Result<Vec<CommittedOffset>, ApiError> {
    let request = OffsetFetchRequest {
        groups: vec![OffsetFetchRequestGroup {
            group_id: group.to_string(),
            topics: None,
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = call!(broker, OffsetFetch, request);
    let mut by_topic: BTreeMap<String, Vec<(i32, i64, String)>> = BTreeMap::new();
    for g in response.groups {
        check(
            g.error_code,
            None,
            &format!("cannot fetch the offsets of {group}"),
        )?;
        for t in g.topics {
            for p in t.partitions {
                check(
                    p.error_code,
                    None,
                    &format!("cannot fetch the offsets of {group}"),
                )?;
                by_topic.entry(t.name.clone()).or_default().push((
                    p.partition_index,
                    p.committed_offset,
                    p.metadata.unwrap_or_default(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    for (topic, mut partitions) in by_topic {
        partitions.sort_by_key(|p| p.0);
        let indexes: Vec<i32> = partitions.iter().map(|p| p.0).collect();
        // A topic deleted since the commit has no high watermark.
        let hwms = offsets(broker, &topic, &indexes, LATEST)
            .await
            .unwrap_or_default();
        for (partition, committed_offset, metadata) in partitions {
            let high_watermark = hwms.get(&partition).copied().unwrap_or(-1);
            let lag = (high_watermark >= 0 && committed_offset >= 0)
                .then(|| (high_watermark - committed_offset).max(0));
            out.push(CommittedOffset {
                topic: topic.clone(),
                partition,
                committed_offset,
                metadata,
                high_watermark,
                lag,
            });
        }
    }
    Ok(out)
}

/// The partitions of a `ConsumerProtocolAssignment` (any version: int16 version, then
/// `[topic string, [int32 partition]]`, then user data we skip). Empty bytes assign
/// nothing; bytes that do not parse give `None`.
pub(crate) fn decode_assignment(bytes: &[u8]) -> Option<Vec<Assigned>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let mut buf = Reader(bytes);
    let _version = buf.i16()?;
    let topics = buf.i32()?;
    let mut out = Vec::new();
    for _ in 0..topics.max(0) {
        let len = usize::try_from(buf.i16()?).ok()?;
        let topic = String::from_utf8(buf.take(len)?.to_vec()).ok()?;
        let count = buf.i32()?;
        let mut partitions = Vec::new();
        for _ in 0..count.max(0) {
            partitions.push(buf.i32()?);
        }
        out.push(Assigned { topic, partitions });
    }
    Some(out)
}

/// Big-endian reads that fail instead of running past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

pub(crate) async fn delete(
    State(health): State<Arc<Health>>,
    Param(id): Param,
) -> Result<StatusCode, ApiError> {
    let broker = broker(&health)?;
    with_coordinator(&broker, &id, || delete_group(&broker, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// DeleteGroups of one group.
async fn delete_group(broker: &Broker, id: &str) -> Result<(), ApiError> {
    let request = DeleteGroupsRequest {
        groups_names: vec![id.to_string()],
    };
    let response = call!(broker, DeleteGroups, request);
    for result in response.results {
        let fallback = match ErrorCode::from_code(result.error_code) {
            Some(ErrorCode::GroupIdNotFound) => format!("group {id} does not exist"),
            Some(ErrorCode::NonEmptyGroup) => {
                format!("group {id} has active members; stop them first")
            }
            _ => format!("cannot delete group {id}"),
        };
        check(result.error_code, None, &fallback)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::decode_assignment;

    #[test]
    fn assignments_decode_and_truncated_ones_do_not() {
        let mut bytes = vec![0, 1, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2];
        bytes.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff]);
        let assigned = decode_assignment(&bytes).unwrap();
        assert_eq!(assigned.len(), 1);
        assert_eq!(assigned[0].topic, "t");
        assert_eq!(assigned[0].partitions, vec![3, 7]);
        assert!(decode_assignment(&bytes[..10]).is_none());
        assert!(decode_assignment(&[]).unwrap().is_empty());
    }
}
