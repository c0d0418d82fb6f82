//! The admin REST API under `/api/v1`: JSON in and out, every operation one or more Kafka
//! requests run through [`Broker::call`], so validation and error codes are the broker's own.
//!
//! This module owns the route table ([`routes`], the one list the router and the OpenAPI
//! test read), the hand-over of the broker ([`Health::set_broker`]; until then every route
//! answers 503), the JSON error body and the one mapping from Kafka error codes to HTTP
//! statuses ([`status_for`]). One file per resource: [`cluster`], [`topics`] (with
//! [`topic_configs`] and [`partitions`]), [`groups`] (with [`reset_offsets`]), [`openapi`].

mod cluster;
mod extract;
mod groups;
mod openapi;
mod partitions;
mod reset_offsets;
mod topic_configs;
mod topics;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use serde::Serialize;
use streambus_broker::Broker;
use streambus_protocol::ErrorCode;

use crate::Health;

/// The listener name the broker sees for admin API requests (logs, metrics, client id).
const LISTENER: &str = "http";

/// The peer the broker is told about: `serve` does not record connection addresses, and the
/// admin requests use the peer only for logs.
const PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

impl Health {
    /// Serves the admin API through `broker` from now on (the first call wins); until then
    /// it answers 503.
    pub fn set_broker(&self, broker: Arc<Broker>) {
        let _ = self.broker.set(broker);
    }
}

/// One route of the API: method, axum path and handler.
pub(crate) struct Route {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    handler: Box<dyn FnOnce(MethodFilter) -> MethodRouter<Arc<Health>>>,
}

fn route<H, T>(method: Method, path: &'static str, handler: H) -> Route
where
    H: Handler<T, Arc<Health>>,
    T: 'static,
{
    Route {
        method,
        path,
        handler: Box::new(move |filter| on(filter, handler)),
    }
}

/// Every route the API serves. `openapi.json` must describe exactly these (a test checks).
pub(crate) fn routes() -> Vec<Route> {
    use Method as M;
    vec![
        route(M::GET, "/api/v1/cluster", cluster::cluster),
        route(M::GET, "/api/v1/brokers", cluster::brokers),
        route(M::GET, "/api/v1/topics", topics::list),
        route(M::POST, "/api/v1/topics", topics::create),
        route(M::GET, "/api/v1/topics/{name}", topics::describe),
        route(M::DELETE, "/api/v1/topics/{name}", topics::delete),
        route(
            M::PATCH,
            "/api/v1/topics/{name}/configs",
            topic_configs::alter,
        ),
        route(
            M::POST,
            "/api/v1/topics/{name}/partitions",
            partitions::create,
        ),
        route(
            M::POST,
            "/api/v1/topics/{name}/delete-records",
            partitions::delete_records,
        ),
        route(M::GET, "/api/v1/groups", groups::list),
        route(M::GET, "/api/v1/groups/{id}", groups::describe),
        route(M::DELETE, "/api/v1/groups/{id}", groups::delete),
        route(
            M::POST,
            "/api/v1/groups/{id}/reset-offsets",
            reset_offsets::reset,
        ),
        route(M::GET, "/api/v1/openapi.json", openapi::document),
    ]
}

/// The API's routes, for merging into the HTTP router.
pub(crate) fn router() -> Router<Arc<Health>> {
    routes().into_iter().fold(Router::new(), |router, r| {
        let filter = match r.method.as_str() {
            "POST" => MethodFilter::POST,
            "PATCH" => MethodFilter::PATCH,
            "DELETE" => MethodFilter::DELETE,
            _ => MethodFilter::GET,
        };
        router.route(r.path, (r.handler)(filter))
    })
}

/// The broker, or 503 while it is still opening.
fn broker(health: &Health) -> Result<Arc<Broker>, ApiError> {
    health.broker.get().cloned().ok_or_else(|| {
        ApiError::http(
            StatusCode::SERVICE_UNAVAILABLE,
            "the broker is starting; try again shortly",
        )
    })
}

/// Runs one Kafka request through the broker and unwraps the response of the same API:
/// `call!(broker, Metadata, request)` is the `MetadataResponse`.
macro_rules! call {
    ($broker:expr, $api:ident, $request:expr) => {
        match $crate::api::call_raw($broker, streambus_protocol::Request::$api($request)).await? {
            streambus_protocol::Response::$api(response) => response,
            _ => {
                return Err($crate::api::ApiError::internal(concat!(
                    "the broker answered ",
                    stringify!($api),
                    " with another response"
                )));
            }
        }
    };
}
pub(crate) use call;

async fn call_raw(
    broker: &Broker,
    request: streambus_protocol::Request,
) -> Result<streambus_protocol::Response, ApiError> {
    broker
        .call(LISTENER, PEER, request)
        .await
        .ok_or_else(|| ApiError::internal("the broker sent no response"))
}

/// An error answer: `{"error": {"code": ..., "message": ...}}` with its status.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: String,
}

impl ApiError {
    /// An error of HTTP itself; its code is the status's reason, e.g. `BAD_REQUEST`.
    pub(crate) fn http(status: StatusCode, message: impl Into<String>) -> ApiError {
        let code = status
            .canonical_reason()
            .unwrap_or("ERROR")
            .to_ascii_uppercase()
            .replace([' ', '-'], "_");
        ApiError {
            status,
            code: Cow::Owned(code),
            message: message.into(),
        }
    }

    /// 400: the request itself is wrong.
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::http(StatusCode::BAD_REQUEST, message)
    }

    /// 500: the broker answered something it should not have.
    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::http(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// A Kafka error code as answered by the broker; `message` is the broker's error message
    /// where there is one, else `fallback`.
    pub(crate) fn kafka(code: ErrorCode, message: Option<String>, fallback: &str) -> ApiError {
        let message = message
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| fallback.to_string());
        ApiError {
            status: status_for(code),
            code: Cow::Borrowed(code.name()),
            message,
        }
    }

    /// Whether this is the coordinator not being available, loading, or elsewhere: worth
    /// asking FindCoordinator again and retrying.
    pub(crate) fn is_coordinator_moving(&self) -> bool {
        [
            ErrorCode::CoordinatorNotAvailable,
            ErrorCode::CoordinatorLoadInProgress,
            ErrorCode::NotCoordinator,
        ]
        .iter()
        .any(|code| self.code == code.name())
    }

    /// The same error with another message.
    pub(crate) fn with_message(mut self, message: impl Into<String>) -> ApiError {
        self.message = message.into();
        self
    }
}

/// `Ok` for error code 0, else the [`ApiError`] of the code (see [`ApiError::kafka`]).
pub(crate) fn check(code: i16, message: Option<String>, fallback: &str) -> Result<(), ApiError> {
    match ErrorCode::from_code(code) {
        Some(ErrorCode::None) => Ok(()),
        Some(code) => Err(ApiError::kafka(code, message, fallback)),
        None => Err(ApiError::internal(format!(
            "{fallback}: the broker answered unknown error code {code}"
        ))),
    }
}

/// The HTTP status that means what a Kafka error code means. The one place that maps them.
pub(crate) fn status_for(code: ErrorCode) -> StatusCode {
    use ErrorCode as E;
    match code {
        E::None => StatusCode::OK,
        E::InvalidTopicException
        | E::InvalidPartitions
        | E::InvalidReplicationFactor
        | E::InvalidReplicaAssignment
        | E::InvalidConfig
        | E::InvalidRequest
        | E::PolicyViolation
        | E::InvalidGroupId
        | E::InvalidTimestamp
        | E::InvalidCommitOffsetSize
        | E::OffsetMetadataTooLarge
        | E::OffsetOutOfRange => StatusCode::BAD_REQUEST,
        E::TopicAuthorizationFailed
        | E::GroupAuthorizationFailed
        | E::ClusterAuthorizationFailed => StatusCode::FORBIDDEN,
        E::UnknownTopicOrPartition | E::UnknownTopicId | E::GroupIdNotFound => {
            StatusCode::NOT_FOUND
        }
        E::TopicAlreadyExists
        | E::NonEmptyGroup
        | E::UnknownMemberId
        | E::IllegalGeneration
        | E::RebalanceInProgress
        | E::TopicDeletionDisabled => StatusCode::CONFLICT,
        E::CoordinatorNotAvailable
        | E::CoordinatorLoadInProgress
        | E::NotCoordinator
        | E::LeaderNotAvailable
        | E::NotLeaderOrFollower
        | E::BrokerNotAvailable
        | E::NotController
        | E::RequestTimedOut => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: &self.code,
                message: &self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_map_to_statuses_that_mean_the_same() {
        assert_eq!(
            status_for(ErrorCode::InvalidConfig),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status_for(ErrorCode::UnknownTopicOrPartition),
            StatusCode::NOT_FOUND
        );
        assert_eq!(status_for(ErrorCode::NonEmptyGroup), StatusCode::CONFLICT);
        assert_eq!(
            status_for(ErrorCode::CoordinatorNotAvailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_for(ErrorCode::CorruptMessage),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let error = ApiError::http(StatusCode::SERVICE_UNAVAILABLE, "starting");
        assert_eq!(error.code, "SERVICE_UNAVAILABLE");
    }
}
