//! ListGroups (key 16): the groups this broker coordinates, optionally only those in the
//! given states (v4+) or of the given types (v5+), both matched case-insensitively as Kafka
//! does. Every group here is a `classic` group; groups that only store offsets are listed
//! with an empty protocol type.

use streambus_protocol::messages::list_groups_request::ListGroupsRequest;
use streambus_protocol::messages::list_groups_response::{ListGroupsResponse, ListedGroup};

use crate::Broker;
use crate::context::RequestContext;

/// The type of groups of the classic protocol (KIP-848 names it so).
const CLASSIC: &str = "classic";

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let listed = broker
        .groups()
        .view_all(|group| ListedGroup {
            group_id: group.id().to_string(),
            protocol_type: group.protocol_type().unwrap_or_default().to_string(),
            group_state: group.state().kafka_name().to_string(),
            group_type: CLASSIC.to_string(),
        })
        .await;
    let matches = |filter: &[String], value: &str| {
        filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value))
    };
    let wanted = |group: &ListedGroup| {
        matches(&request.states_filter, &group.group_state)
            && matches(&request.types_filter, &group.group_type)
    };
    ListGroupsResponse {
        throttle_time_ms: 0,
        error_code: 0,
        groups: listed.into_iter().filter(wanted).collect(),
    }
}
