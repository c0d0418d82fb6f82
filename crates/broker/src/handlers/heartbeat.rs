//! Heartbeat (key 12): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to
//! rejoin.

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
        match broker.groups().handle(&request.group_id, heartbeat).await {
            Ok(Response::Heartbeat(response)) => response.error_code,
            Ok(_) => wrong_response("Heartbeat"),
            Err(not_served) => not_served.error_code(),
        }
    };
    HeartbeatResponse {
        throttle_time_ms: 0,
        error_code,
    }
}
