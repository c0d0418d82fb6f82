//! ListGroups (key 16): the groups this broker coordinates, optionally only those in the
//! given states (v4+, matched case-insensitively as Kafka does). Groups that only store
//! offsets are listed with an empty protocol type.

use streambus_protocol::messages::list_groups_request::ListGroupsRequest;
use streambus_protocol::messages::list_groups_response::{ListGroupsResponse, ListedGroup};

use crate::Broker;
use crate::context::RequestContext;

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
            group_type: "classic".to_string(),
        })
        .await;
    let wanted = |group: &ListedGroup| {
        request.states_filter.is_empty()
            || request
                .states_filter
                .iter()
                .any(|state| state.eq_ignore_ascii_case(&group.group_state))
    };
    ListGroupsResponse {
        throttle_time_ms: 0,
        error_code: 0,
        groups: listed.into_iter().filter(wanted).collect(),
    }
}
