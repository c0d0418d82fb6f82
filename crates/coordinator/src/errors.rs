//! Kafka error codes the group coordinator answers with.
//!
//! Plain `i16` constants with the values of the Kafka protocol, so the broker's handlers can
//! copy them into responses without a mapping table. Only the codes this crate produces are
//! listed.

/// No error.
pub const NONE: i16 = 0;
/// The server hit an unexpected error.
pub const UNKNOWN_SERVER_ERROR: i16 = -1;
/// The topic or partition is not known.
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// The committed offset's metadata string is longer than `offset_metadata_max_bytes`.
pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
/// The coordinator is still loading the group from `__consumer_offsets`.
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
/// The group is dead here (unloaded or expired); the client looks up its coordinator again.
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
/// This broker is not the group's coordinator.
pub const NOT_COORDINATOR: i16 = 16;
/// The request's generation is not the group's current generation.
pub const ILLEGAL_GENERATION: i16 = 22;
/// The member's protocol type or protocols do not match the group's.
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
/// The group id is empty or otherwise invalid.
pub const INVALID_GROUP_ID: i16 = 24;
/// The member id is not a member of the group.
pub const UNKNOWN_MEMBER_ID: i16 = 25;
/// The session timeout is outside the configured bounds.
pub const INVALID_SESSION_TIMEOUT: i16 = 26;
/// A rebalance is running; the member must rejoin.
pub const REBALANCE_IN_PROGRESS: i16 = 27;
/// The group has members, so the operation is not allowed.
pub const NON_EMPTY_GROUP: i16 = 68;
/// The group does not exist.
pub const GROUP_ID_NOT_FOUND: i16 = 69;
/// KIP-394: a new member must rejoin with the member id given in the response.
pub const MEMBER_ID_REQUIRED: i16 = 79;
/// The group already has `group_max_size` members.
pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
/// KIP-345: another member with the same `group.instance.id` replaced this member id.
pub const FENCED_INSTANCE_ID: i16 = 82;
/// OffsetDelete: the group is still subscribed to the topic.
pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
