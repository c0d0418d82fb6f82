//! The classic consumer group protocol as a pure state machine.
//!
//! A [`Group`] is one consumer group. The runtime (the broker's group coordinator, a later
//! session) feeds it [`Event`]s — JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
//! OffsetFetch, OffsetDelete, DeleteGroups and timer ticks — together with the current time in milliseconds,
//! and gets back [`Effect`]s to carry out in order:
//!
//! - [`Effect::Persist`]: write a [`Record`] to `__consumer_offsets` (ARCHITECTURE decision 6).
//!   Responses that follow a `Persist` in the same batch must only be sent once it is written.
//! - [`Effect::Respond`]: answer the request with that [`RequestId`]. JoinGroup and SyncGroup
//!   requests are parked inside the group while a rebalance runs and answered by a later
//!   `handle` call, so the runtime only routes responses to the waiting connections.
//! - [`Effect::ScheduleTimer`]: the group's single timer; replace any earlier one and send
//!   [`Event::Tick`] when it fires.
//!
//! No I/O, no clock, no randomness: the same events at the same times give the same effects,
//! which is what the tests assert.

mod config;
mod delete;
mod effect;
pub mod errors;
mod event;
mod group;
mod heartbeat;
mod join;
mod leave;
mod member;
mod offsets;
mod restore;
pub mod runtime;
mod state;
pub mod stored;
mod subscription;
mod sync;
mod timers;

pub use config::{ConfigError, GroupConfig};
pub use effect::{
    CommitResponse, DeleteOffsetsResponse, Effect, FetchResponse, FetchedOffset, GroupMetadata,
    HeartbeatResponse, JoinResponse, JoinedMember, LeaveResponse, MemberMetadata, MemberResponse,
    PartitionError, Record, Response, SyncResponse,
};
pub use event::{
    CommitOffsets, DeleteOffsets, Event, FetchOffsets, Heartbeat, Join, Leave, LeavingMember,
    OffsetToCommit, RequestId, Sync, TopicPartition,
};
pub use group::Group;
pub use member::Member;
pub use offsets::CommittedOffset;
pub use runtime::{GroupCoordinator, NotServed, OFFSETS_TOPIC};
pub use state::GroupState;
pub use subscription::subscribed_topics;
