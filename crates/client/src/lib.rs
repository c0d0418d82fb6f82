//! The StreamBus Rust client: a producer, a consumer and an admin client over the Kafka
//! protocol, for any Kafka-compatible broker and for StreamBus's own tools.
//!
//! - [`Cluster`] holds what every client needs: bootstrap, cached metadata, one pipelined
//!   [`Connection`] per broker, reconnects with backoff and a circuit breaker per broker
//!   ([`backoff`]).
//! - [`Error`] says what happened and what to do about it; [`Error::is_retriable`] drives the
//!   retry loops.
//!
//! It depends on `streambus-protocol` for the wire codec and on `streambus-records` for the
//! record batch format, nothing of the broker.

pub mod admin;
pub mod backoff;
mod call;
mod cluster;
mod config;
mod connection;
pub mod consumer;
mod error;
pub mod offsets;
pub mod producer;

pub use call::Call;
pub use cluster::{BrokerInfo, Cluster, PartitionInfo, TopicInfo};
pub use config::ClientConfig;
pub use connection::Connection;
pub use error::{Error, Result};
pub use offsets::{ListedOffset, OffsetSpec, TopicPartition, list_offsets};
pub use streambus_protocol::ErrorCode;
