//! StreamBus cluster metadata (ARCHITECTURE.md, decision 4).
//!
//! Everything the cluster agrees on (brokers, topics, partitions and their leaders, config
//! overrides, producer-id blocks, and later ACLs, credentials and quotas) changes only by a
//! [`MetadataRecord`] committed to an ordered log. Every node builds the same
//! [`MetadataImage`] by applying the committed records in order, and serves queries from it.
//!
//! This crate owns:
//! - the records, [`MetadataRecord`], and their serde form, which is the on-disk format;
//! - the image and the checks that keep it consistent ([`MetadataImage::apply`]);
//! - the interface to the log, [`MetadataLog`], and its single-node implementation,
//!   [`LocalMetadataLog`]: a checksummed, fsynced record log with snapshots, recovered after
//!   a crash;
//! - its quorum implementation, [`RaftMetadataLog`]: the same trait over an openraft quorum
//!   of controller voters, with its durable log store, state machine and TCP transport. No
//!   openraft type appears in this crate's API.
//!
//! It depends on no other StreamBus crate.

mod apply;
mod config;
mod error;
mod frame;
mod image;
mod local;
mod log;
mod raft;
mod record;
mod snapshot;

pub use config::MetadataConfig;
pub use error::{ApplyError, CommitError, ConfigError, MetadataError, QuorumConfigError};
pub use frame::MAX_FRAME_BYTES;
pub use image::{BrokerRegistration, MetadataImage, PartitionImage, TopicImage};
pub use local::{LOCK_FILE, LOG_FILE, LocalMetadataLog, OpenReport, SkippedSnapshot};
pub use log::MetadataLog;
pub use raft::{MAX_BATCH_BYTES, QuorumConfig, QuorumRole, QuorumStatus, RaftMetadataLog, Voter};
pub use record::{ConfigResource, MetadataRecord};
pub use uuid::Uuid;
