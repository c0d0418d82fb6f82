//! Node liveness through the quorum, on real parts (TCP on 127.0.0.1, temp dirs): the
//! leader's view of which nodes sent it a heartbeat within the session timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use streambus_metadata::{MetadataLog, QuorumConfig, RaftMetadataLog, Voter};
use tempfile::TempDir;

const PATIENCE: Duration = Duration::from_secs(30);
const SESSION: Duration = Duration::from_millis(1000);

fn config(node_id: u64, voters: &[Voter], dir: &Path) -> QuorumConfig {
    let mut config = QuorumConfig::new(node_id, voters.to_vec(), dir);
    config.heartbeat_interval = Duration::from_millis(100);
    config.election_timeout_min = Duration::from_millis(400);
    config.election_timeout_max = Duration::from_millis(800);
    config.commit_timeout = PATIENCE;
    config
}

fn set(nodes: &[u64]) -> BTreeSet<u64> {
    nodes.iter().copied().collect()
}

/// Polls `probe` until it returns `Some` or the deadline passes.
fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Cluster {
    dirs: Vec<TempDir>,
    voters: Vec<Voter>,
    nodes: Vec<Option<RaftMetadataLog>>,
}

impl Cluster {
    fn start(n: u64) -> Cluster {
        let listeners: Vec<TcpListener> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let voters: Vec<Voter> = listeners
            .iter()
            .zip(1..)
            .map(|(l, id)| Voter {
                id,
                addr: l.local_addr().unwrap(),
            })
            .collect();
        let dirs: Vec<TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let nodes = listeners
            .into_iter()
            .zip(&dirs)
            .zip(1..)
            .map(|((listener, dir), id)| {
                let config = config(id, &voters, dir.path());
                Some(RaftMetadataLog::open_with_listener(config, listener).unwrap())
            })
            .collect();
        Cluster {
            dirs,
            voters,
            nodes,
        }
    }

    /// The running node that reports itself leader, and its view of the live nodes.
    fn leader_view(&self) -> Option<(u64, BTreeSet<u64>)> {
        self.nodes
            .iter()
            .flatten()
            .find_map(|n| Some((n.config().node_id, n.live_nodes(SESSION)?)))
    }

    fn stop(&mut self, id: u64) {
        let node = self.nodes[(id - 1) as usize].take().unwrap();
        node.close().unwrap();
    }

    fn restart(&mut self, id: u64) {
        let config = config(id, &self.voters, self.dirs[(id - 1) as usize].path());
        self.nodes[(id - 1) as usize] = Some(RaftMetadataLog::open(config).unwrap());
    }
}

#[test]
fn the_leader_sees_a_stopped_node_expire_and_a_restarted_one_return() {
    let mut cluster = Cluster::start(3);
    let (leader, live) = eventually("a leader", || cluster.leader_view());
    assert_eq!(live, set(&[1, 2, 3]));
    // Only the leader answers.
    for node in cluster.nodes.iter().flatten() {
        if node.config().node_id != leader {
            assert_eq!(node.live_nodes(SESSION), None);
        }
    }
    let down = if leader == 3 { 2 } else { 3 };
    cluster.stop(down);
    // Once its session expires (necessarily past the leader's grace period), the stopped
    // node is gone from the set and the other follower, which heartbeats, is still in it.
    let expected: BTreeSet<u64> = set(&[1, 2, 3]).into_iter().filter(|&n| n != down).collect();
    eventually("the stopped node to expire", || {
        cluster.leader_view().filter(|(_, live)| *live == expected)
    });

    cluster.restart(down);
    eventually("the restarted node to be live again", || {
        cluster
            .leader_view()
            .filter(|(_, live)| *live == set(&[1, 2, 3]))
    });
    for node in cluster.nodes.iter().flatten() {
        node.close().unwrap();
    }
    assert!(
        cluster
            .nodes
            .iter()
            .flatten()
            .all(|n| n.live_nodes(SESSION).is_none())
    );
}

#[test]
fn a_single_voter_is_its_own_leader_and_always_live() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let voters = [Voter {
        id: 7,
        addr: listener.local_addr().unwrap(),
    }];
    let dir = tempfile::tempdir().unwrap();
    let node =
        RaftMetadataLog::open_with_listener(config(7, &voters, dir.path()), listener).unwrap();
    let live = eventually("leadership", || node.live_nodes(Duration::from_millis(1)));
    assert_eq!(live, set(&[7]));
}
