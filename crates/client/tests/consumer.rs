//! The consumer against a real broker, with librdkafka as the other side: records produced
//! by librdkafka read back byte for byte under every codec, seeks, resets, pause and
//! resume (`consumer/reading.rs`); groups of our consumers, mixed groups with librdkafka,
//! commits both can read, cooperative and static membership (`consumer/groups.rs`).
//!
//! Every broker is started and dropped outside any tokio runtime; every wait polls with a
//! deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "consumer/groups.rs"]
mod groups;
#[path = "consumer/reading.rs"]
mod reading;
mod support;
