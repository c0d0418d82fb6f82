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

/// Authorized-operations bitfields (Metadata, DescribeCluster), by Kafka's ACL operation
/// codes. With no authorizer every principal may do everything a resource supports, as in
/// Kafka; the security issue replaces these with the authorizer's answer.
pub mod operations {
    /// The value when the client did not ask for authorized operations.
    pub const NOT_REQUESTED: i32 = i32::MIN;
    /// CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS and
    /// IDEMPOTENT_WRITE: every operation on the cluster resource.
    pub const ALL_CLUSTER: i32 = 1 << 5 | 1 << 7 | 1 << 8 | 1 << 9 | 1 << 10 | 1 << 11 | 1 << 12;
    /// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS and ALTER_CONFIGS:
    /// every operation on a topic.
    pub const ALL_TOPIC: i32 =
        1 << 3 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 7 | 1 << 8 | 1 << 10 | 1 << 11;
    /// READ, DELETE and DESCRIBE: every operation on a group.
    pub const ALL_GROUP: i32 = 1 << 3 | 1 << 6 | 1 << 8;
}
