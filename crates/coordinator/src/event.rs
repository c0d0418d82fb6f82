//! The events a [`crate::Group`] handles: one per group request, plus timer ticks.
//!
//! These are domain types, not wire types: the broker's handlers fill them from the decoded
//! requests (empty strings where Kafka sends null or an empty member id) and give each
//! request a [`RequestId`] the answering [`crate::Effect::Respond`] carries back.

/// Identifies a request so its response can be routed to the connection waiting for it.
pub type RequestId = u64;

/// A topic partition, as offsets are keyed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

/// Something that happens to a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A JoinGroup request.
    Join(Join),
    /// A SyncGroup request.
    Sync(Sync),
    /// A Heartbeat request.
    Heartbeat(Heartbeat),
    /// A LeaveGroup request.
    Leave(Leave),
    /// An OffsetCommit request for this group.
    CommitOffsets(CommitOffsets),
    /// An OffsetFetch request for this group.
    FetchOffsets(FetchOffsets),
    /// An OffsetDelete request for this group.
    DeleteOffsets(DeleteOffsets),
    /// A DeleteGroups request naming this group.
    DeleteGroup {
        /// Where the response goes.
        request_id: RequestId,
    },
    /// These topics were deleted: their committed offsets go too, as in Kafka. No response.
    TopicsDeleted(Vec<String>),
    /// The timer from the last [`crate::Effect::ScheduleTimer`] fired (early or spurious
    /// ticks are harmless).
    Tick,
}

/// JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    /// Where the response goes.
    pub request_id: RequestId,
    /// The member id, empty for a member joining for the first time.
    pub member_id: String,
    /// `group.instance.id` of a static member (KIP-345).
    pub group_instance_id: Option<String>,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// Session timeout the member asks for.
    pub session_timeout_ms: u32,
    /// How long the member may take to rejoin in a rebalance (JoinGroup v1+; v0 sends the
    /// session timeout here).
    pub rebalance_timeout_ms: u32,
    /// The protocol type, `consumer` for Kafka consumers.
    pub protocol_type: String,
    /// Supported protocols (assignors) with their metadata, most preferred first.
    pub protocols: Vec<(String, Vec<u8>)>,
    /// KIP-394: JoinGroup v4+ — a new dynamic member first gets `MEMBER_ID_REQUIRED` and an
    /// id to rejoin with.
    pub require_known_member_id: bool,
}

/// SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sync {
    /// Where the response goes.
    pub request_id: RequestId,
    /// The member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The generation the member joined.
    pub generation: i32,
    /// SyncGroup v5+: the protocol type the member expects.
    pub protocol_type: Option<String>,
    /// SyncGroup v5+: the protocol name the member expects.
    pub protocol_name: Option<String>,
    /// The leader's assignment, member id to assignment bytes; empty from followers.
    pub assignments: Vec<(String, Vec<u8>)>,
}

/// Heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Where the response goes.
    pub request_id: RequestId,
    /// The member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The member's generation.
    pub generation: i32,
}

/// One member leaving, as LeaveGroup v3+ lists them (v0-2 send one member without instance id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingMember {
    /// The member id; may be empty when `group_instance_id` is given.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
}

/// LeaveGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leave {
    /// Where the response goes.
    pub request_id: RequestId,
    /// The members leaving.
    pub members: Vec<LeavingMember>,
}

/// One partition's offset in an OffsetCommit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetToCommit {
    /// The partition.
    pub partition: TopicPartition,
    /// The next offset to consume.
    pub offset: i64,
    /// Leader epoch of the last consumed record, -1 if unknown.
    pub leader_epoch: i32,
    /// The client's metadata string, kept with the offset.
    pub metadata: Option<String>,
}

/// OffsetCommit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOffsets {
    /// Where the response goes.
    pub request_id: RequestId,
    /// The member id; empty for a simple (standalone) commit.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The member's generation; -1 for a simple commit.
    pub generation: i32,
    /// The offsets.
    pub offsets: Vec<OffsetToCommit>,
}

/// OffsetFetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOffsets {
    /// Where the response goes.
    pub request_id: RequestId,
    /// The partitions asked for; `None` for all the group has offsets for.
    pub partitions: Option<Vec<TopicPartition>>,
}

/// OffsetDelete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteOffsets {
    /// Where the response goes.
    pub request_id: RequestId,
    /// The partitions whose offsets to delete.
    pub partitions: Vec<TopicPartition>,
}
