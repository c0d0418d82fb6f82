//! Heartbeat (key 12): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to
//! rejoin. A group that does not exist has no such member: UNKNOWN_MEMBER_ID.

use streambus_coordinator::{Event, Heartbeat, Response, errors};
use streambus_protocol::messages::heartbeat_request::HeartbeatRequest;
use streambus_protocol::messages::heartbeat_response::HeartbeatResponse;

use crate::Broker;
use crate::context::RequestContext;
use crate::groups::wrong_response;

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    let error_code = if request.group_id.is_empty() {
        errors::INVALID_GROUP_ID
    } else {
        let heartbeat = |request_id| {
            Event::Heartbeat(Heartbeat {
                request_id,
                member_id: request.member_id,
                group_instance_id: request.group_instance_id,
                generation: request.generation_id,
            })
        };
        match broker
            .groups()
            .handle_existing(&request.group_id, heartbeat)
            .await
        {
            Ok(Some(Response::Heartbeat(response))) => response.error_code,
            Ok(Some(_)) => wrong_response("Heartbeat"),
            Ok(None) => errors::UNKNOWN_MEMBER_ID,
            Err(not_served) => not_served.error_code(),
        }
    };
    HeartbeatResponse {
        throttle_time_ms: 0,
        error_code,
    }
}
