//! Routing a decoded request to its handler, one file per Kafka API under `handlers/`.

use streambus_protocol::{ApiKey, Request, Response, supported_versions};

use crate::Broker;
use crate::context::RequestContext;
use crate::handlers;

/// Whether the broker serves `version` of `api`.
pub(crate) fn supports(api: ApiKey, version: i16) -> bool {
    handled(api)
        && supported_versions()
            .iter()
            .any(|(key, range)| *key == api && range.contains(version))
}

/// The APIs with a handler. The codec knows more (the group APIs) than the broker serves
/// yet; ApiVersions advertises only these.
pub(crate) fn handled(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::ApiVersions
            | ApiKey::Metadata
            | ApiKey::Produce
            | ApiKey::Fetch
            | ApiKey::ListOffsets
            | ApiKey::CreateTopics
            | ApiKey::DeleteTopics
    )
}

/// The reply to a request whose version the broker does not serve: for ApiVersions, the v0
/// response with UNSUPPORTED_VERSION and the supported ranges, so that the client can pick
/// a version (KIP-511); for any other API, none (the connection is closed, as Kafka does).
pub(crate) fn unsupported_version(api: ApiKey, _version: i16) -> Option<(i16, Response)> {
    (api == ApiKey::ApiVersions).then(|| {
        (
            0,
            Response::ApiVersions(handlers::api_versions::unsupported()),
        )
    })
}

/// Runs the handler of `request`. `Ok(None)` means no response is sent (Produce with
/// acks=0); `Err` closes the connection.
pub(crate) async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: Request,
) -> Result<Option<Response>, String> {
    let response = match request {
        Request::ApiVersions(r) => Response::ApiVersions(handlers::api_versions::handle(ctx, r)),
        Request::Metadata(r) => {
            Response::Metadata(handlers::metadata::handle(broker, ctx, r).await)
        }
        Request::Produce(r) => {
            return Ok(handlers::produce::handle(broker, ctx, r)
                .await
                .map(Response::Produce));
        }
        Request::Fetch(r) => Response::Fetch(handlers::fetch::handle(broker, ctx, r).await),
        Request::ListOffsets(r) => {
            Response::ListOffsets(handlers::list_offsets::handle(broker, ctx, r).await)
        }
        Request::CreateTopics(r) => {
            Response::CreateTopics(handlers::create_topics::handle(broker, ctx, r).await)
        }
        Request::DeleteTopics(r) => {
            Response::DeleteTopics(handlers::delete_topics::handle(broker, ctx, r).await)
        }
        other => {
            // `supports` lets only handled APIs through; reaching here is a bug, not input.
            return Err(format!("no handler for {:?}", other.api_key()));
        }
    };
    Ok(Some(response))
}
