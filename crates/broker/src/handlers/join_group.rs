//! JoinGroup (key 11): a member joins a classic group; the response may wait for the
//! rebalance to complete (the group parks the request).
//!
//! The wire request becomes a [`Join`] event: v0 has no rebalance timeout (the session
//! timeout serves for both), v4+ asks for the KIP-394 member id handshake, v5+ carries
//! `group.instance.id`. Before v9 a static leader that rejoined without a rebalance gets an
//! empty member list, since it cannot be told to skip the assignment.

use streambus_coordinator::{Event, Join, JoinResponse, Response, errors};
use streambus_protocol::messages::join_group_request::JoinGroupRequest;
use streambus_protocol::messages::join_group_response::{
    JoinGroupResponse, JoinGroupResponseMember,
};

use crate::Broker;
use crate::context::RequestContext;
use crate::groups::wrong_response;

/// KIP-394: from this version a new member must rejoin with the id it is given.
const MEMBER_ID_REQUIRED_FROM: i16 = 4;
/// From this version the response says when the leader must skip the assignment.
const SKIP_ASSIGNMENT_FROM: i16 = 9;
/// From this version protocol names in the response may be null.
const NULLABLE_PROTOCOL_FROM: i16 = 7;

pub(crate) async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    let version = ctx.api_version;
    if request.group_id.is_empty() {
        let error = JoinResponse::error(errors::INVALID_GROUP_ID, &request.member_id);
        return to_wire(error, version);
    }
    let session_timeout_ms = u32::try_from(request.session_timeout_ms).unwrap_or(0);
    let rebalance_timeout_ms = if version == 0 || request.rebalance_timeout_ms < 0 {
        session_timeout_ms
    } else {
        u32::try_from(request.rebalance_timeout_ms).unwrap_or(0)
    };
    let member_id = request.member_id.clone();
    let join = |request_id| {
        Event::Join(Join {
            request_id,
            member_id: request.member_id,
            group_instance_id: request.group_instance_id,
            client_id: ctx.client_id.clone().unwrap_or_default(),
            client_host: format!("/{}", ctx.connection.peer.ip()),
            session_timeout_ms,
            rebalance_timeout_ms,
            protocol_type: request.protocol_type,
            protocols: request
                .protocols
                .into_iter()
                .map(|p| (p.name, p.metadata.to_vec()))
                .collect(),
            require_known_member_id: version >= MEMBER_ID_REQUIRED_FROM,
        })
    };
    let response = match broker.groups().handle(&request.group_id, join).await {
        Ok(Response::Join(response)) => response,
        Ok(_) => JoinResponse::error(wrong_response("JoinGroup"), &member_id),
        Err(not_served) => JoinResponse::error(not_served.error_code(), &member_id),
    };
    to_wire(response, version)
}

fn to_wire(response: JoinResponse, version: i16) -> JoinGroupResponse {
    let nullable = version >= NULLABLE_PROTOCOL_FROM;
    let name = |value: Option<String>| {
        if nullable {
            value
        } else {
            Some(value.unwrap_or_default())
        }
    };
    let hide_members = response.skip_assignment && version < SKIP_ASSIGNMENT_FROM;
    JoinGroupResponse {
        throttle_time_ms: 0,
        error_code: response.error_code,
        generation_id: response.generation,
        protocol_type: response.protocol_type.filter(|_| nullable),
        protocol_name: name(response.protocol_name),
        leader: response.leader,
        skip_assignment: response.skip_assignment,
        member_id: response.member_id,
        members: if hide_members {
            Vec::new()
        } else {
            response
                .members
                .into_iter()
                .map(|m| JoinGroupResponseMember {
                    member_id: m.member_id,
                    group_instance_id: m.group_instance_id,
                    metadata: m.metadata.into(),
                })
                .collect()
        },
    }
}
