//! This package holds StreamBus's cross-crate integration tests, in `tests/`: a real broker
//! (from `streambus-testkit`) driven by real Kafka clients. It has no code of its own.
