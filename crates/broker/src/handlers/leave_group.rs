//! LeaveGroup (key 13): members leave on purpose, so the group rebalances at once instead of
//! waiting for their sessions to expire. v0-2 name one member; v3+ a batch, each with its
//! own result (KIP-345). A group that does not exist answers UNKNOWN_MEMBER_ID.

use streambus_coordinator::{Event, Leave, LeaveResponse, LeavingMember, Response, errors};
use streambus_protocol::messages::leave_group_request::LeaveGroupRequest;
use streambus_protocol::messages::leave_group_response::{LeaveGroupResponse, MemberResponse};

use crate::Broker;
use crate::context::RequestContext;
use crate::groups::wrong_response;

/// The first version that batches members.
const BATCHED_FROM_VERSION: i16 = 3;

pub(crate) async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let batched = ctx.api_version >= BATCHED_FROM_VERSION;
    let members: Vec<LeavingMember> = if batched {
        request
            .members
            .into_iter()
            .map(|m| LeavingMember {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: request.member_id,
            group_instance_id: None,
        }]
    };
    let failed = |error_code| LeaveResponse {
        error_code,
        members: Vec::new(),
    };
    let response = if request.group_id.is_empty() {
        failed(errors::INVALID_GROUP_ID)
    } else {
        let leave = |request_id| {
            Event::Leave(Leave {
                request_id,
                members,
            })
        };
        match broker
            .groups()
            .handle_existing(&request.group_id, leave)
            .await
        {
            Ok(Some(Response::Leave(response))) => response,
            Ok(Some(_)) => failed(wrong_response("LeaveGroup")),
            Ok(None) => failed(errors::UNKNOWN_MEMBER_ID),
            Err(not_served) => failed(not_served.error_code()),
        }
    };
    // v0-2 clients see only the top-level code, so the member's own error goes there.
    let error_code = match (batched, response.members.first()) {
        (false, Some(member)) if response.error_code == errors::NONE => member.error_code,
        _ => response.error_code,
    };
    LeaveGroupResponse {
        throttle_time_ms: 0,
        error_code,
        members: response
            .members
            .into_iter()
            .map(|m| MemberResponse {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                error_code: m.error_code,
            })
            .collect(),
    }
}
