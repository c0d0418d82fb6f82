//! DeleteGroups (key 42): deletes groups without members, with all their offsets.
//! A group with members is NON_EMPTY_GROUP; one that does not exist GROUP_ID_NOT_FOUND.

use streambus_coordinator::{Event, Response, errors};
use streambus_protocol::messages::delete_groups_request::DeleteGroupsRequest;
use streambus_protocol::messages::delete_groups_response::{
    DeletableGroupResult, DeleteGroupsResponse,
};

use crate::Broker;
use crate::context::RequestContext;
use crate::groups::wrong_response;

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for group_id in request.groups_names {
        let error_code = if group_id.is_empty() {
            errors::INVALID_GROUP_ID
        } else {
            let delete = |request_id| Event::DeleteGroup { request_id };
            match broker.groups().handle_existing(&group_id, delete).await {
                Ok(Some(Response::Delete(code))) => code,
                Ok(Some(_)) => wrong_response("DeleteGroups"),
                Ok(None) => errors::GROUP_ID_NOT_FOUND,
                Err(not_served) => not_served.error_code(),
            }
        };
        if error_code == errors::NONE {
            tracing::info!(group = %group_id, "deleted consumer group");
        }
        results.push(DeletableGroupResult {
            group_id,
            error_code,
        });
    }
    DeleteGroupsResponse {
        throttle_time_ms: 0,
        results,
    }
}
