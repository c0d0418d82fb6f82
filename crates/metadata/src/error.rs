//! The errors of this crate: records the image refuses ([`ApplyError`]), commits that fail
//! ([`CommitError`]), failures of the durable log itself ([`MetadataError`]) and refused
//! settings ([`ConfigError`], [`QuorumConfigError`]).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;
use uuid::Uuid;

/// Why the image refused a record. The image is unchanged when a record is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// A topic name that Kafka does not allow.
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName {
        /// The name refused.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The nil UUID, which Kafka reserves for "no topic id".
    #[error("topic {name:?} has the nil topic id")]
    NilTopicId {
        /// The topic's name.
        name: String,
    },
    /// The topic name is held by a live topic.
    #[error("topic name {name:?} is already used by topic id {existing}")]
    TopicNameInUse {
        /// The name.
        name: String,
        /// The id of the topic that holds it.
        existing: Uuid,
    },
    /// The topic id is held by a live topic.
    #[error("topic id {topic_id} is already used by topic {existing:?}")]
    TopicIdInUse {
        /// The id.
        topic_id: Uuid,
        /// The name of the topic that holds it.
        existing: String,
    },
    /// No live topic has this id.
    #[error("unknown topic id {topic_id}")]
    UnknownTopicId {
        /// The id.
        topic_id: Uuid,
    },
    /// No live topic has this name.
    #[error("unknown topic {name:?}")]
    UnknownTopic {
        /// The name.
        name: String,
    },
    /// A partition record that does not describe a valid partition state.
    #[error("invalid partition {partition} of topic {topic:?}: {reason}")]
    InvalidPartition {
        /// The topic's name.
        topic: String,
        /// The partition index.
        partition: i32,
        /// What is wrong.
        reason: &'static str,
    },
    /// A new partition that would leave a hole in the topic's partition numbers.
    #[error(
        "partition {partition} of topic {topic:?} leaves a gap: the topic has {count} partitions"
    )]
    PartitionGap {
        /// The topic's name.
        topic: String,
        /// The partition index.
        partition: i32,
        /// How many partitions the topic has.
        count: usize,
    },
    /// A leader epoch that goes back (a partition epoch that does is a
    /// [`ApplyError::StalePartitionEpoch`]).
    #[error(
        "{epoch} of partition {partition} of topic {topic:?} goes back from {current} to {proposed}"
    )]
    EpochRegression {
        /// The topic's name.
        topic: String,
        /// The partition index.
        partition: i32,
        /// The epoch that goes back: `leader_epoch`.
        epoch: &'static str,
        /// The epoch in the image.
        current: i32,
        /// The epoch in the record.
        proposed: i32,
    },
    /// A change of an existing partition whose partition epoch is not the current one plus
    /// one: it was made from a stale image (or repeats a change already applied).
    #[error(
        "partition {partition} of topic {topic:?} is at partition epoch {current}: a change must carry {current} + 1, not {proposed}"
    )]
    StalePartitionEpoch {
        /// The topic's name.
        topic: String,
        /// The partition index.
        partition: i32,
        /// The partition epoch in the image.
        current: i32,
        /// The partition epoch in the record.
        proposed: i32,
    },
    /// A broker registration that is not usable.
    #[error("invalid registration of broker {node_id}: {reason}")]
    InvalidBroker {
        /// The node id.
        node_id: i32,
        /// What is wrong.
        reason: &'static str,
    },
    /// A config record with an empty name or a negative broker id.
    #[error("invalid config {name:?}: {reason}")]
    InvalidConfig {
        /// The config name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A producer id block that does not start at the next free producer id.
    #[error(
        "producer id block for broker {node_id} starts at {first}, not at the next free id {expected}"
    )]
    ProducerIdBlockMismatch {
        /// The broker the block was for.
        node_id: i32,
        /// The next free producer id in the image.
        expected: i64,
        /// The block's first id.
        first: i64,
    },
    /// A producer id block that is empty or runs past `i64::MAX`.
    #[error("invalid producer id block for broker {node_id}: {first} + {size}")]
    InvalidProducerIdBlock {
        /// The broker the block was for.
        node_id: i32,
        /// The block's first id.
        first: i64,
        /// The block's size.
        size: i64,
    },
}

/// Why a commit did not happen. Nothing was written and the image is unchanged, except
/// after [`CommitError::Log`], where the log fences itself (see [`MetadataError::Fenced`]).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CommitError {
    /// A record of the batch was refused by the image.
    #[error("record {index} ({kind}) of the batch was refused: {source}")]
    Rejected {
        /// Its position in the batch.
        index: usize,
        /// Its kind ([`MetadataRecord::kind`](crate::MetadataRecord::kind)).
        kind: &'static str,
        /// Why.
        #[source]
        source: ApplyError,
    },
    /// An empty batch: there is nothing to commit.
    #[error("empty batch")]
    Empty,
    /// The encoded batch is larger than a log frame may be.
    #[error("batch of {bytes} bytes exceeds the frame limit of {max} bytes")]
    TooLarge {
        /// The encoded size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The log could not persist the batch.
    #[error(transparent)]
    Log(#[from] MetadataError),
    /// No leader of the metadata quorum was known, or none answered, within the commit
    /// timeout. Nothing was committed.
    #[error("no metadata quorum leader within {waited:?}")]
    NoLeader {
        /// How long the commit waited.
        waited: Duration,
    },
    /// The batch was handed to the quorum but no answer came back in time (the leader
    /// stopped or the network failed): it may or may not be committed. Read the image
    /// before retrying.
    #[error(
        "no answer from metadata quorum leader {leader}: the batch may or may not be committed"
    )]
    OutcomeUnknown {
        /// The node the batch was handed to.
        leader: u64,
    },
    /// The leader refused the batch at apply time, but this node could not recover the
    /// typed refusal (it caught up by snapshot); `message` is the leader's text of it.
    #[error("the batch at offset {offset} was refused: {message}")]
    RejectedByLeader {
        /// The Raft log index of the refused batch.
        offset: u64,
        /// The refusal as the leader reported it.
        message: String,
    },
}

/// A failure of the durable metadata log.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("open", "write", "fsync", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Another process (or another open in this one) holds the metadata directory.
    #[error("metadata directory {path} is locked by another process")]
    Locked {
        /// The metadata directory.
        path: PathBuf,
    },
    /// The stored metadata does not check out and cannot be recovered automatically.
    #[error("corrupt metadata in {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Records could not be encoded.
    #[error("encode metadata records: {source}")]
    Encode {
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// A config was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The log was closed.
    #[error("metadata log {path} is closed")]
    Closed {
        /// The metadata directory.
        path: PathBuf,
    },
    /// A quorum config was refused.
    #[error(transparent)]
    QuorumConfig(#[from] QuorumConfigError),
    /// The quorum's listener could not be bound.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The voter address of this node.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The Raft quorum failed (could not start, or stopped on a fatal error).
    #[error("metadata quorum: {reason}")]
    Raft {
        /// What went wrong.
        reason: String,
    },
    /// An earlier write or fsync failed, so what is on disk is unknown; the log refuses
    /// commits until it is reopened, which recovers it.
    #[error("metadata log {path} is fenced after a failed write")]
    Fenced {
        /// The metadata directory.
        path: PathBuf,
    },
}

/// A refused [`MetadataConfig`](crate::MetadataConfig).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting out of range.
    #[error("invalid metadata config {name}: {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// A refused [`QuorumConfig`](crate::QuorumConfig) or voter list.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum QuorumConfigError {
    /// The voter list is empty.
    #[error("the voter list is empty")]
    NoVoters,
    /// A voter entry that does not parse as `<id>@<ip>:<port>`.
    #[error("voter {entry:?}: {reason}")]
    VoterSyntax {
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two voters with the same node id.
    #[error("node id {node_id} appears twice among the voters")]
    DuplicateId {
        /// The id.
        node_id: u64,
    },
    /// Two voters with the same address.
    #[error("address {addr} appears twice among the voters")]
    DuplicateAddr {
        /// The address.
        addr: SocketAddr,
    },
    /// This node is not one of the voters, and has no observer address.
    #[error(
        "node {node_id} is not among the voters; to follow the quorum as an observer it needs \
         the address the voters reach its quorum listener at"
    )]
    NotAVoter {
        /// This node's id.
        node_id: u64,
    },
    /// An observer address the voters could not connect to.
    #[error(
        "observer address {addr}: the voters must be able to connect to it (no 0.0.0.0, no port 0)"
    )]
    ObserverAddr {
        /// The address.
        addr: SocketAddr,
    },
    /// A setting out of range.
    #[error("invalid quorum config {name}: {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// openraft refused the settings derived from the config.
    #[error("raft refused the quorum config: {reason}")]
    Raft {
        /// openraft's reason.
        reason: String,
    },
}

/// Attaches an operation and a path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn at(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T, MetadataError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T, MetadataError> {
        self.map_err(|source| MetadataError::Io {
            op,
            path: path.into(),
            source,
        })
    }
}
