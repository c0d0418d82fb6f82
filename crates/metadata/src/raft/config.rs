//! [`QuorumConfig`]: the settings of a node of the metadata quorum, and the parser of the
//! command-line voter list (`1@127.0.0.1:9093,2@127.0.0.1:9094,3@127.0.0.1:9095`).
//!
//! Invariants checked by [`QuorumConfig::validate`]: the voters are not empty, their ids and
//! their addresses are each unique, this node is one of them or an observer with an address
//! of its own (a usable one, distinct from the voters'), and the timeouts are ordered
//! `0 < heartbeat < election_min < election_max` so that a follower hears a heartbeat
//! before it starts an election.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::error::QuorumConfigError;

/// One voter of the metadata quorum: its node id and the address its quorum listener binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Voter {
    /// The node id.
    pub id: u64,
    /// Where the node listens for quorum traffic.
    pub addr: SocketAddr,
}

impl Voter {
    /// Parses a comma-separated voter list, `<id>@<ip>:<port>,...` (spaces around entries
    /// are allowed). An empty list is refused; duplicates are left to
    /// [`QuorumConfig::validate`].
    pub fn parse_list(text: &str) -> Result<Vec<Voter>, QuorumConfigError> {
        if text.trim().is_empty() {
            return Err(QuorumConfigError::NoVoters);
        }
        text.split(',').map(|entry| entry.trim().parse()).collect()
    }
}

impl FromStr for Voter {
    type Err = QuorumConfigError;

    fn from_str(entry: &str) -> Result<Voter, QuorumConfigError> {
        let syntax = |reason| QuorumConfigError::VoterSyntax {
            entry: entry.to_owned(),
            reason,
        };
        let (id, addr) = entry
            .split_once('@')
            .ok_or_else(|| syntax("expected <id>@<ip>:<port>"))?;
        let id = id
            .parse::<u64>()
            .map_err(|_| syntax("the node id is not a non-negative integer"))?;
        let addr = addr
            .parse::<SocketAddr>()
            .map_err(|_| syntax("the address is not <ip>:<port>"))?;
        if addr.port() == 0 {
            return Err(syntax("the port is 0"));
        }
        Ok(Voter { id, addr })
    }
}

/// Settings of a [`RaftMetadataLog`](crate::RaftMetadataLog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumConfig {
    /// This node's id: one of `voters`, or an observer's.
    pub node_id: u64,
    /// Every voter of the quorum. All nodes are given the same list.
    pub voters: Vec<Voter>,
    /// For a node that is not a voter, an observer (a broker that follows the metadata log
    /// without a vote): where its quorum listener is reached, which it asks the leader to
    /// replicate to. `None` for a voter.
    pub observer_addr: Option<SocketAddr>,
    /// The directory holding this node's Raft log, vote and snapshots.
    pub dir: PathBuf,
    /// How often the leader sends heartbeats.
    pub heartbeat_interval: Duration,
    /// The shortest time a follower waits without hearing from a leader before it stands
    /// for election.
    pub election_timeout_min: Duration,
    /// The longest such time; each wait is drawn between the two.
    pub election_timeout_max: Duration,
    /// Log entries applied since the last snapshot that trigger a new one.
    pub snapshot_threshold: u64,
    /// Log entries kept below a snapshot, so that a follower a little behind catches up
    /// from the log rather than by a snapshot transfer.
    pub logs_kept_after_snapshot: u64,
    /// How long a commit waits for a leader and for the answer before it gives up.
    pub commit_timeout: Duration,
}

impl QuorumConfig {
    /// A config with the default timeouts and snapshot settings.
    pub fn new(node_id: u64, voters: Vec<Voter>, dir: impl Into<PathBuf>) -> QuorumConfig {
        QuorumConfig {
            node_id,
            voters,
            observer_addr: None,
            dir: dir.into(),
            heartbeat_interval: Duration::from_millis(150),
            election_timeout_min: Duration::from_millis(500),
            election_timeout_max: Duration::from_millis(1000),
            snapshot_threshold: 10_000,
            logs_kept_after_snapshot: 1_000,
            commit_timeout: Duration::from_secs(10),
        }
    }

    /// The address of this node's voter entry, or its observer address.
    pub fn own_addr(&self) -> Option<SocketAddr> {
        self.voters
            .iter()
            .find(|v| v.id == self.node_id)
            .map(|v| v.addr)
            .or(self.observer_addr)
    }

    /// Whether this node is one of the voters (else it is an observer).
    pub fn is_voter(&self) -> bool {
        self.voters.iter().any(|v| v.id == self.node_id)
    }

    /// Checks every setting.
    pub fn validate(&self) -> Result<(), QuorumConfigError> {
        if self.voters.is_empty() {
            return Err(QuorumConfigError::NoVoters);
        }
        let mut ids = HashSet::new();
        let mut addrs = HashSet::new();
        for voter in &self.voters {
            if !ids.insert(voter.id) {
                return Err(QuorumConfigError::DuplicateId { node_id: voter.id });
            }
            if !addrs.insert(voter.addr) {
                return Err(QuorumConfigError::DuplicateAddr { addr: voter.addr });
            }
        }
        if !ids.contains(&self.node_id) {
            let Some(addr) = self.observer_addr else {
                return Err(QuorumConfigError::NotAVoter {
                    node_id: self.node_id,
                });
            };
            if addr.ip().is_unspecified() || addr.port() == 0 {
                return Err(QuorumConfigError::ObserverAddr { addr });
            }
            if addrs.contains(&addr) {
                return Err(QuorumConfigError::DuplicateAddr { addr });
            }
        }
        let invalid = |name, reason| Err(QuorumConfigError::Invalid { name, reason });
        if self.heartbeat_interval.as_millis() == 0 {
            return invalid("heartbeat_interval", "must be at least 1 ms");
        }
        if self.election_timeout_min <= self.heartbeat_interval {
            return invalid(
                "election_timeout_min",
                "must be longer than heartbeat_interval",
            );
        }
        if self.election_timeout_max <= self.election_timeout_min {
            return invalid(
                "election_timeout_max",
                "must be longer than election_timeout_min",
            );
        }
        if self.snapshot_threshold == 0 {
            return invalid("snapshot_threshold", "must be at least 1");
        }
        if self.commit_timeout.is_zero() {
            return invalid("commit_timeout", "must not be zero");
        }
        Ok(())
    }

    /// The openraft settings these stand for.
    pub(crate) fn raft_config(&self) -> Result<openraft::Config, QuorumConfigError> {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let config = openraft::Config {
            cluster_name: "streambus-metadata".to_owned(),
            heartbeat_interval: millis(self.heartbeat_interval),
            election_timeout_min: millis(self.election_timeout_min),
            election_timeout_max: millis(self.election_timeout_max),
            install_snapshot_timeout: millis(self.election_timeout_max).saturating_mul(4),
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_threshold),
            max_in_snapshot_log_to_keep: self.logs_kept_after_snapshot,
            // Keeps an AppendEntries request well under the frame limit (see `MAX_BATCH_BYTES`).
            max_payload_entries: super::MAX_PAYLOAD_ENTRIES,
            snapshot_max_chunk_size: 1 << 20,
            ..openraft::Config::default()
        };
        config.validate().map_err(|e| QuorumConfigError::Raft {
            reason: e.to_string(),
        })
    }
}
