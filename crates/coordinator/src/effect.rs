//! What a [`crate::Group`] asks its runtime to do: respond, persist, schedule its timer.
//!
//! Effects are returned in the order they must be carried out. A [`Record`] is what the
//! runtime writes to `__consumer_offsets`; these are plain structs, the key/value encoding
//! belongs to the runtime.

use crate::event::{RequestId, TopicPartition};
use crate::offsets::CommittedOffset;

/// One thing for the runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send this response to the request with this id.
    Respond {
        /// The request being answered.
        request_id: RequestId,
        /// The response.
        response: Response,
    },
    /// Write this record to `__consumer_offsets` before sending the responses that follow.
    Persist(Record),
    /// Replace the group's timer: send [`crate::Event::Tick`] at this time (milliseconds on
    /// the same clock as the `now` given to `handle`).
    ScheduleTimer {
        /// When to tick.
        deadline_ms: u64,
    },
}

/// A response to one group request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// JoinGroup.
    Join(JoinResponse),
    /// SyncGroup.
    Sync(SyncResponse),
    /// Heartbeat.
    Heartbeat(HeartbeatResponse),
    /// LeaveGroup.
    Leave(LeaveResponse),
    /// OffsetCommit.
    Commit(CommitResponse),
    /// OffsetFetch.
    Fetch(FetchResponse),
    /// OffsetDelete.
    DeleteOffsets(DeleteOffsetsResponse),
    /// DeleteGroups: the error code for this group.
    Delete(i16),
}

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    /// The member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The member's metadata for the selected protocol.
    pub metadata: Vec<u8>,
}

/// JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    /// Error code from [`crate::errors`].
    pub error_code: i16,
    /// The generation, -1 on error.
    pub generation: i32,
    /// The group's protocol type (JoinGroup v7+).
    pub protocol_type: Option<String>,
    /// The selected protocol.
    pub protocol_name: Option<String>,
    /// The leader's member id, empty on error.
    pub leader: String,
    /// JoinGroup v9+: the leader must not compute a new assignment (static leader rejoined
    /// without a rebalance). Handlers for older versions send an empty member list instead.
    pub skip_assignment: bool,
    /// The member's id (the new one after the KIP-394 handshake or a static replacement).
    pub member_id: String,
    /// All members with their metadata for the leader, empty for followers.
    pub members: Vec<JoinedMember>,
}

/// SyncGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    /// Error code from [`crate::errors`].
    pub error_code: i16,
    /// The group's protocol type (SyncGroup v5+).
    pub protocol_type: Option<String>,
    /// The selected protocol (SyncGroup v5+).
    pub protocol_name: Option<String>,
    /// The member's assignment, empty on error.
    pub assignment: Vec<u8>,
}

/// Heartbeat response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatResponse {
    /// Error code from [`crate::errors`].
    pub error_code: i16,
}

/// The result for one member in a LeaveGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberResponse {
    /// The member id as the request gave it.
    pub member_id: String,
    /// `group.instance.id` as the request gave it.
    pub group_instance_id: Option<String>,
    /// Error code from [`crate::errors`].
    pub error_code: i16,
}

/// LeaveGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveResponse {
    /// Top-level error code (v0-2 clients see only this one).
    pub error_code: i16,
    /// One result per member of the request, in request order.
    pub members: Vec<MemberResponse>,
}

/// An error code for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionError {
    /// The partition.
    pub partition: TopicPartition,
    /// Error code from [`crate::errors`].
    pub error_code: i16,
}

/// OffsetCommit response: one result per partition, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitResponse {
    /// The partitions' results.
    pub partitions: Vec<PartitionError>,
}

/// One partition in an OffsetFetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    /// The partition.
    pub partition: TopicPartition,
    /// The committed offset, -1 if none.
    pub offset: i64,
    /// The committed leader epoch, -1 if none.
    pub leader_epoch: i32,
    /// The committed metadata string.
    pub metadata: Option<String>,
    /// Error code from [`crate::errors`].
    pub error_code: i16,
}

/// OffsetFetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    /// Top-level error code.
    pub error_code: i16,
    /// The partitions, in request order or sorted when all were asked for.
    pub partitions: Vec<FetchedOffset>,
}

/// OffsetDelete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteOffsetsResponse {
    /// Top-level error code.
    pub error_code: i16,
    /// One result per partition, in request order.
    pub partitions: Vec<PartitionError>,
}

/// A member as stored in `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    /// The member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// The member's rebalance timeout.
    pub rebalance_timeout_ms: u32,
    /// The member's session timeout.
    pub session_timeout_ms: u32,
    /// The member's metadata for the selected protocol.
    pub subscription: Vec<u8>,
    /// The member's assignment.
    pub assignment: Vec<u8>,
}

/// A snapshot of a group's membership, the value of its group metadata record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadata {
    /// The group's protocol type, `None` for a group only used to store offsets.
    pub protocol_type: Option<String>,
    /// The generation.
    pub generation: i32,
    /// The selected protocol.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// When the group entered its current state.
    pub current_state_timestamp_ms: u64,
    /// The members.
    pub members: Vec<MemberMetadata>,
}

/// A record for `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The group's metadata.
    Group(GroupMetadata),
    /// The group is gone (Dead): a tombstone for its metadata key.
    GroupTombstone,
    /// Committed offsets.
    Offsets(Vec<(TopicPartition, CommittedOffset)>),
    /// Offsets removed (deleted or expired): tombstones for their keys.
    OffsetTombstones(Vec<TopicPartition>),
}

impl Response {
    /// The same response failed with `error_code` everywhere it carries one, for a response
    /// whose records could not be written: the client retries instead of trusting it.
    pub fn with_error(self, error_code: i16) -> Response {
        match self {
            Response::Join(r) => Response::Join(JoinResponse::error(error_code, &r.member_id)),
            Response::Sync(_) => Response::Sync(SyncResponse::error(error_code)),
            Response::Heartbeat(_) => Response::Heartbeat(HeartbeatResponse { error_code }),
            Response::Leave(r) => Response::Leave(LeaveResponse {
                error_code,
                members: r.members,
            }),
            Response::Commit(r) => Response::Commit(CommitResponse {
                partitions: r
                    .partitions
                    .into_iter()
                    .map(|p| PartitionError {
                        partition: p.partition,
                        error_code,
                    })
                    .collect(),
            }),
            Response::Fetch(_) => Response::Fetch(FetchResponse {
                error_code,
                partitions: Vec::new(),
            }),
            Response::DeleteOffsets(_) => Response::DeleteOffsets(DeleteOffsetsResponse {
                error_code,
                partitions: Vec::new(),
            }),
            Response::Delete(_) => Response::Delete(error_code),
        }
    }
}
