//! Test parts for StreamBus's own tests (a dev-dependency only).
//!
//! - [`TestBroker`]: a real broker in the test process, on its own thread and tokio runtime,
//!   listening on 127.0.0.1 port 0 with a temporary data directory, so tests can use
//!   blocking or async clients alike and run in parallel. It can be stopped cleanly and
//!   restarted on the same directory and port, to test persistence.
//! - [`FaultProxy`]: a TCP proxy on loopback that can cut the path it carries (connections
//!   reset, new ones refused) or black-hole it (nothing passes, nothing is refused, as in a
//!   network partition) and heal it again, for tests of what crosses a network.
#![allow(clippy::expect_used)] // A test harness that cannot start has nothing better to do.

mod broker;
mod proxy;

pub use broker::TestBroker;
pub use proxy::{FaultProxy, Link};
