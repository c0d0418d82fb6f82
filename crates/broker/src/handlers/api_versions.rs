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

#[cfg(test)]
mod tests {
    use super::*;
    use streambus_protocol::ApiKey;

    /// The README's table of supported APIs, between its markers, must be exactly what
    /// ApiVersions advertises.
    #[test]
    fn readme_lists_exactly_the_advertised_versions() {
        let readme = include_str!("../../../../README.md");
        let table = readme
            .split("<!-- supported-apis:start -->")
            .nth(1)
            .and_then(|rest| rest.split("<!-- supported-apis:end -->").next())
            .expect("README has the supported-apis markers");
        let mut listed: Vec<(i16, i16, i16)> = table
            .lines()
            .filter(|line| {
                line.starts_with("| ") && !line.starts_with("| API") && !line.contains("---")
            })
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let key: i16 = cells[2].parse().expect("a key");
                let (min, max) = cells[3].split_once('-').expect("MIN-MAX");
                let api = ApiKey::from_i16(key).expect("a known key");
                assert_eq!(cells[1], api.name(), "name of key {key}");
                (key, min.parse().expect("min"), max.parse().expect("max"))
            })
            .collect();
        let mut advertised: Vec<(i16, i16, i16)> = advertised()
            .into_iter()
            .map(|v| (v.api_key, v.min_version, v.max_version))
            .collect();
        listed.sort_unstable();
        advertised.sort_unstable();
        assert_eq!(listed, advertised);
    }
}
