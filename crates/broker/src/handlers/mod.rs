//! One module per Kafka API, named as the protocol names it. Each has a `handle` function
//! that takes the broker, the request context and the decoded request, and returns the
//! response to encode at the request's version.

pub(crate) mod api_versions;
pub(crate) mod create_topics;
pub(crate) mod delete_topics;
pub(crate) mod fetch;
pub(crate) mod list_offsets;
pub(crate) mod metadata;
pub(crate) mod produce;
