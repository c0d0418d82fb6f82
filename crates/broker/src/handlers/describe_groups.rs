//! DescribeGroups (key 15): state, protocol and members of groups.
//!
//! As Kafka: a `Stable` group reports its selected protocol and each member's metadata and
//! assignment; in any other state the protocol is empty and members come without them, since
//! they are being renegotiated. A group that does not exist is reported `Dead` with no error
//! (this is what versions up to 5 answer).

use streambus_coordinator::{Group, GroupState, errors};
use streambus_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use streambus_protocol::messages::describe_groups_response::{
    DescribeGroupsResponse, DescribedGroup, DescribedGroupMember,
};

use crate::Broker;
use crate::context::{RequestContext, operations};

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let authorized_operations = if request.include_authorized_operations {
        operations::ALL_GROUP
    } else {
        operations::NOT_REQUESTED
    };
    let mut groups = Vec::with_capacity(request.groups.len());
    for group_id in request.groups {
        let mut described = if group_id.is_empty() {
            failed(group_id, errors::INVALID_GROUP_ID)
        } else if !broker.groups().is_coordinator(&group_id) {
            failed(group_id, errors::NOT_COORDINATOR)
        } else {
            match broker.groups().view(&group_id, describe).await {
                Some(described) => described,
                None => failed(group_id, errors::NONE),
            }
        };
        described.authorized_operations = authorized_operations;
        groups.push(described);
    }
    DescribeGroupsResponse {
        throttle_time_ms: 0,
        groups,
    }
}

fn describe(group: &Group) -> DescribedGroup {
    let stable = group.state() == GroupState::Stable;
    let protocol = group.protocol_name().filter(|_| stable).unwrap_or_default();
    DescribedGroup {
        error_code: errors::NONE,
        group_id: group.id().to_string(),
        group_state: group.state().kafka_name().to_string(),
        protocol_type: group.protocol_type().unwrap_or_default().to_string(),
        protocol_data: protocol.to_string(),
        members: group
            .members()
            .iter()
            .map(|m| DescribedGroupMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                member_metadata: if stable {
                    m.metadata(protocol).unwrap_or_default().to_vec().into()
                } else {
                    Default::default()
                },
                member_assignment: if stable {
                    m.assignment.clone().into()
                } else {
                    Default::default()
                },
            })
            .collect(),
        authorized_operations: operations::NOT_REQUESTED,
    }
}

/// A group without details: an error, or (with no error) one that does not exist.
fn failed(group_id: String, error_code: i16) -> DescribedGroup {
    DescribedGroup {
        error_code,
        group_id,
        group_state: GroupState::Dead.kafka_name().to_string(),
        protocol_type: String::new(),
        protocol_data: String::new(),
        members: Vec::new(),
        authorized_operations: operations::NOT_REQUESTED,
    }
}
