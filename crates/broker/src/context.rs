//! `RequestContext`: who is asking, over which connection, for which API and version.
//!
//! Every handler receives one (ARCHITECTURE.md, decision 8). Authorization and quotas will
//! be one call on it; today it carries the connection and request identity used in logs.

use std::net::SocketAddr;

/// The principal of an unauthenticated connection, as Kafka names it.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// The connection-wide part of a request's context.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// A number unique to the connection within this process, for logs.
    pub id: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// The listener the connection came in on.
    pub listener: &'static str,
    /// The authenticated principal.
    pub principal: String,
}

/// Everything a handler knows about the request besides its body.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The connection.
    pub connection: ConnectionInfo,
    /// The request's API key.
    pub api_key: i16,
    /// The request's API version; the response is encoded at the same version.
    pub api_version: i16,
    /// The client's correlation id.
    pub correlation_id: i32,
    /// The client id from the request header.
    pub client_id: Option<String>,
}
