//! SyncGroup (key 14): the leader hands out the assignment and every member gets its own;
//! a follower's request waits (parked in the group) until the leader's arrives. A group
//! that does not exist has no such member: UNKNOWN_MEMBER_ID.

use streambus_coordinator::{Event, Response, Sync, SyncResponse, errors};
use streambus_protocol::messages::sync_group_request::SyncGroupRequest;
use streambus_protocol::messages::sync_group_response::SyncGroupResponse;

use crate::Broker;
use crate::context::RequestContext;
use crate::groups::wrong_response;

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    if request.group_id.is_empty() {
        return to_wire(SyncResponse::error(errors::INVALID_GROUP_ID));
    }
    let sync = |request_id| {
        Event::Sync(Sync {
            request_id,
            member_id: request.member_id,
            group_instance_id: request.group_instance_id,
            generation: request.generation_id,
            protocol_type: request.protocol_type,
            protocol_name: request.protocol_name,
            assignments: request
                .assignments
                .into_iter()
                .map(|a| (a.member_id, a.assignment.to_vec()))
                .collect(),
        })
    };
    let response = match broker
        .groups()
        .handle_existing(&request.group_id, sync)
        .await
    {
        Ok(Some(Response::Sync(response))) => response,
        Ok(Some(_)) => SyncResponse::error(wrong_response("SyncGroup")),
        Ok(None) => SyncResponse::error(errors::UNKNOWN_MEMBER_ID),
        Err(not_served) => SyncResponse::error(not_served.error_code()),
    };
    to_wire(response)
}

fn to_wire(response: SyncResponse) -> SyncGroupResponse {
    SyncGroupResponse {
        throttle_time_ms: 0,
        error_code: response.error_code,
        protocol_type: response.protocol_type,
        protocol_name: response.protocol_name,
        assignment: response.assignment.into(),
    }
}
