//! ApiVersions (key 18): the APIs and versions this broker serves.

use streambus_protocol::messages::api_versions_request::ApiVersionsRequest;
use streambus_protocol::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};
use streambus_protocol::{ErrorCode, supported_versions};

use crate::context::RequestContext;
use crate::dispatch;

/// Every API with a handler, at exactly the versions the codec implements.
pub(crate) fn advertised() -> Vec<ApiVersion> {
    supported_versions()
        .iter()
        .filter(|(api, _)| dispatch::handled(*api))
        .map(|(api, range)| ApiVersion {
            api_key: *api as i16,
            min_version: range.min,
            max_version: range.max,
        })
        .collect()
}

pub(crate) fn handle(ctx: &RequestContext, request: ApiVersionsRequest) -> ApiVersionsResponse {
    if ctx.api_version >= 3 {
        tracing::debug!(
            connection = ctx.connection.id,
            client = request.client_software_name,
            version = request.client_software_version,
            "client software"
        );
    }
    ApiVersionsResponse {
        error_code: ErrorCode::None.code(),
        api_keys: advertised(),
        ..Default::default()
    }
}

/// The v0 reply to a version the broker does not serve.
pub(crate) fn unsupported() -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: ErrorCode::UnsupportedVersion.code(),
        api_keys: advertised(),
        ..Default::default()
    }
}
