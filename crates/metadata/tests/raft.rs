//! The Raft metadata log on real parts: real TCP on 127.0.0.1, real files in temp dirs.
//! One voter, three voters in one process, leader loss, catch-up by snapshot, the config
//! parser, the transport's frame limit, and the `MetadataLog` conformance checks that both
//! implementations pass.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use streambus_metadata::{
    ApplyError, CommitError, LocalMetadataLog, MetadataConfig, MetadataError, MetadataImage,
    MetadataLog, MetadataRecord, QuorumConfig, QuorumConfigError, QuorumRole, RaftMetadataLog,
    Uuid, Voter,
};
use tempfile::TempDir;

const PATIENCE: Duration = Duration::from_secs(30);

/// Topic `topic-<n>` with one partition on node 1: two records.
fn create(n: u64) -> Vec<MetadataRecord> {
    MetadataRecord::topic_with_partitions(format!("topic-{n}"), Uuid::from_u128(n.into()), 1, 1)
}

/// Polls `condition` until it holds or the deadline passes.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What an image holds, without its offset.
fn content(image: &MetadataImage) -> Vec<MetadataRecord> {
    image.to_records()
}

/// `n` listeners on free ports of 127.0.0.1, and the voters at their addresses.
fn listeners(n: u64) -> (Vec<TcpListener>, Vec<Voter>) {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let voters = listeners
        .iter()
        .zip(1..)
        .map(|(l, id)| Voter {
            id,
            addr: l.local_addr().unwrap(),
        })
        .collect();
    (listeners, voters)
}

fn config(node_id: u64, voters: &[Voter], dir: &Path) -> QuorumConfig {
    let mut config = QuorumConfig::new(node_id, voters.to_vec(), dir);
    config.heartbeat_interval = Duration::from_millis(100);
    config.election_timeout_min = Duration::from_millis(400);
    config.election_timeout_max = Duration::from_millis(800);
    config.commit_timeout = PATIENCE;
    config
}

/// Voters in one process, each with its own directory; a stopped node is `None`.
struct Cluster {
    dirs: Vec<TempDir>,
    voters: Vec<Voter>,
    nodes: Vec<Option<RaftMetadataLog>>,
    tune: fn(&mut QuorumConfig),
}

impl Cluster {
    fn start(n: u64, tune: fn(&mut QuorumConfig)) -> Cluster {
        let (listeners, voters) = listeners(n);
        let dirs: Vec<TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let nodes = listeners
            .into_iter()
            .zip(&dirs)
            .zip(1..)
            .map(|((listener, dir), id)| {
                let mut config = config(id, &voters, dir.path());
                tune(&mut config);
                Some(RaftMetadataLog::open_with_listener(config, listener).unwrap())
            })
            .collect();
        Cluster {
            dirs,
            voters,
            nodes,
            tune,
        }
    }

    fn node(&self, id: u64) -> &RaftMetadataLog {
        self.nodes[(id - 1) as usize].as_ref().unwrap()
    }

    fn running(&self) -> impl Iterator<Item = &RaftMetadataLog> {
        self.nodes.iter().flatten()
    }

    /// The leader every running node agrees on, once they do.
    fn leader(&self) -> u64 {
        let mut leader = None;
        eventually("an agreed leader", || {
            let seen: Vec<Option<u64>> = self.running().map(|n| n.status().leader).collect();
            leader = seen[0];
            leader.is_some() && seen.iter().all(|l| *l == leader)
        });
        leader.unwrap()
    }

    fn stop(&mut self, id: u64) {
        let node = self.nodes[(id - 1) as usize].take().unwrap();
        node.close().unwrap();
    }

    /// Reopens a stopped node from its directory, binding its voter address again.
    fn restart(&mut self, id: u64) {
        let mut config = config(id, &self.voters, self.dirs[(id - 1) as usize].path());
        (self.tune)(&mut config);
        self.nodes[(id - 1) as usize] = Some(RaftMetadataLog::open(config).unwrap());
    }

    /// Waits until every running node applied `offset`, and checks that they agree.
    fn converge(&self, offset: u64) -> Vec<MetadataRecord> {
        let images: Vec<_> = self
            .running()
            .map(|n| n.wait_for_offset(offset, PATIENCE).expect("node caught up"))
            .collect();
        for image in &images[1..] {
            assert_eq!(content(image), content(&images[0]));
        }
        content(&images[0])
    }
}

/// The behaviour every `MetadataLog` shares: commits, refusals, images, waiting, closing.
fn conformance(log: &dyn MetadataLog) {
    let start = log.last_offset();
    let before = log.image();
    let a = log.commit(create(1)).unwrap();
    let b = log.commit(create(2)).unwrap();
    assert!(start < a && a < b, "offsets increase: {start} {a} {b}");
    assert!(log.last_offset() >= b);
    let image = log.image();
    assert!(image.offset() >= b);
    assert_eq!(image.partition("topic-2", 0).unwrap().leader, 1);
    assert_eq!(before.topics().len(), 0, "published images never change");
    assert!(matches!(log.commit(Vec::new()), Err(CommitError::Empty)));

    let mut batch = create(3);
    batch.push(MetadataRecord::RemoveTopic {
        topic_id: Uuid::from_u128(99),
    });
    match log.commit(batch) {
        Err(CommitError::Rejected {
            index: 2,
            kind: "remove_topic",
            source: ApplyError::UnknownTopicId { .. },
        }) => {}
        other => panic!("unexpected {other:?}"),
    }
    let same_name = MetadataRecord::topic_with_partitions("topic-1", Uuid::from_u128(7), 1, 1);
    assert!(matches!(
        log.commit(same_name),
        Err(CommitError::Rejected {
            index: 0,
            source: ApplyError::TopicNameInUse { .. },
            ..
        })
    ));
    assert_eq!(
        content(&log.image()),
        content(&image),
        "refusals change nothing"
    );
    let c = log.commit(create(3)).unwrap();
    assert!(c > b);

    assert!(
        log.wait_for_offset(c, Duration::ZERO)
            .unwrap()
            .topic("topic-3")
            .is_some()
    );
    let waited = Instant::now();
    assert!(
        log.wait_for_offset(c + 1_000, Duration::from_millis(50))
            .is_none()
    );
    assert!(waited.elapsed() >= Duration::from_millis(50));

    log.close().unwrap();
    assert!(matches!(
        log.commit(create(9)),
        Err(CommitError::Log(MetadataError::Closed { .. }))
    ));
    log.close().unwrap();
}

#[test]
fn conformance_of_the_local_log() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&LocalMetadataLog::open(dir.path(), MetadataConfig::default()).unwrap());
}

#[test]
fn conformance_of_a_one_voter_quorum() {
    let cluster = Cluster::start(1, |_| {});
    conformance(cluster.node(1));
}

#[test]
fn conformance_of_a_follower_of_three() {
    let cluster = Cluster::start(3, |_| {});
    let leader = cluster.leader();
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    conformance(cluster.node(follower));
}

#[test]
fn one_voter_commits_and_recovers_after_a_restart() {
    let mut cluster = Cluster::start(1, |_| {});
    let log = cluster.node(1);
    let mut offsets = Vec::new();
    for n in 1..=5 {
        offsets.push(log.commit(create(n)).unwrap());
    }
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
    assert_eq!(log.image().topics().len(), 5);
    let status = log.status();
    assert_eq!(
        (status.node_id, status.leader, status.role),
        (1, Some(1), QuorumRole::Leader)
    );
    assert!(status.term >= 1 && status.last_applied >= offsets[4]);
    let before = content(&log.image());

    cluster.stop(1);
    cluster.restart(1);
    let log = cluster.node(1);
    let image = log.wait_for_offset(offsets[4], PATIENCE).unwrap();
    assert_eq!(content(&image), before);
    let next = log.commit(create(6)).unwrap();
    assert!(next > offsets[4]);
    assert_eq!(log.image().topics().len(), 6);
}

#[test]
fn one_voter_recovers_from_its_snapshot_and_the_log_after_it() {
    let mut cluster = Cluster::start(1, |c| {
        c.snapshot_threshold = 3;
        c.logs_kept_after_snapshot = 1;
    });
    let mut last = 0;
    for n in 1..=10 {
        last = cluster.node(1).commit(create(n)).unwrap();
    }
    let dir = cluster.dirs[0].path().to_path_buf();
    eventually("a snapshot and a purge", || {
        dir.join("snapshot").exists() && purged_index(&dir).is_some()
    });
    let before = content(&cluster.node(1).image());
    cluster.stop(1);
    cluster.restart(1);
    let image = cluster.node(1).wait_for_offset(last, PATIENCE).unwrap();
    assert_eq!(content(&image), before);
    assert!(cluster.node(1).commit(create(11)).unwrap() > last);
}

#[test]
fn three_voters_commit_on_any_node_and_agree() {
    let cluster = Cluster::start(3, |_| {});
    let leader = cluster.leader();
    let mut last = 0;
    for (n, id) in (1..=6).zip([1, 2, 3, 1, 2, 3]) {
        let offset = cluster.node(id).commit(create(n)).unwrap();
        assert!(offset > last, "offsets increase");
        last = offset;
        // The committing node's image includes its batch when commit returns.
        assert!(
            cluster
                .node(id)
                .image()
                .topic(&format!("topic-{n}"))
                .is_some()
        );
    }
    let agreed = cluster.converge(last);
    for id in 1..=3 {
        assert_eq!(cluster.node(id).image().topics().len(), 6);
        let status = cluster.node(id).status();
        assert_eq!(status.leader, Some(leader));
        let role = if id == leader {
            QuorumRole::Leader
        } else {
            QuorumRole::Follower
        };
        assert_eq!(status.role, role);
    }

    // A refused batch: refused on every node alike, changing no image.
    for id in 1..=3 {
        let taken = MetadataRecord::topic_with_partitions("topic-1", Uuid::from_u128(77), 1, 1);
        match cluster.node(id).commit(taken) {
            Err(CommitError::Rejected {
                index: 0,
                kind: "topic",
                source: ApplyError::TopicNameInUse { existing, .. },
            }) => assert_eq!(existing, Uuid::from_u128(1)),
            other => panic!("node {id}: unexpected {other:?}"),
        }
    }
    let after = cluster.node(leader).commit(create(7)).unwrap();
    let mut expected = MetadataImage::new();
    for record in agreed.iter().chain(&create(7)) {
        expected.apply(record).unwrap();
    }
    assert_eq!(cluster.converge(after), content(&expected));
}

#[test]
fn a_new_leader_takes_over_and_the_old_one_catches_up() {
    let mut cluster = Cluster::start(3, |_| {});
    let old = cluster.leader();
    let first = cluster.node(old).commit(create(1)).unwrap();
    cluster.converge(first);

    cluster.stop(old);
    let others: Vec<u64> = (1..=3).filter(|&id| id != old).collect();
    let mut last = 0;
    for (n, &id) in (2..=5).zip(others.iter().cycle()) {
        last = cluster.node(id).commit(create(n)).unwrap();
    }
    let new = cluster.leader();
    assert_ne!(new, old);
    assert!(others.contains(&new));

    cluster.restart(old);
    let agreed = cluster.converge(last);
    assert_eq!(agreed.len(), 10, "five topics of two records");
    assert!(cluster.node(old).commit(create(6)).is_ok());
}

/// Opens observer `id` (not among the cluster's voters) on `dir`, listening at `addr`.
fn open_observer(cluster: &Cluster, id: u64, dir: &Path, addr: SocketAddr) -> RaftMetadataLog {
    let listener = TcpListener::bind(addr).unwrap();
    let mut config = config(id, &cluster.voters, dir);
    config.observer_addr = Some(listener.local_addr().unwrap());
    RaftMetadataLog::open_with_listener(config, listener).unwrap()
}

#[test]
fn an_observer_follows_the_log_commits_through_the_leader_and_never_votes() {
    let mut cluster = Cluster::start(3, |_| {});
    let leader = cluster.leader();
    let first = cluster.node(leader).commit(create(1)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let observer = open_observer(&cluster, 4, dir.path(), addr);

    // It catches up on what was committed before it joined, and learns the leader.
    let image = observer
        .wait_for_offset(first, PATIENCE)
        .expect("caught up");
    assert_eq!(content(&image), cluster.converge(first));
    eventually("the observer to know the leader as a learner", || {
        let status = observer.status();
        status.role == QuorumRole::Learner && status.leader == Some(leader)
    });
    // Its commits go through the leader, and reach everyone.
    let second = observer.commit(create(2)).unwrap();
    let agreed = cluster.converge(second);
    assert_eq!(
        content(&observer.wait_for_offset(second, PATIENCE).unwrap()),
        agreed
    );

    // The leader goes: a voter takes over, never the observer, which follows the new one.
    cluster.stop(leader);
    let third = loop {
        let voter = (1..=3).find(|&id| id != leader).unwrap();
        match cluster.node(voter).commit(create(3)) {
            Ok(offset) => break offset,
            Err(CommitError::NoLeader { .. } | CommitError::OutcomeUnknown { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    };
    let new = cluster.leader();
    assert_ne!(new, 4);
    assert_ne!(new, leader);
    observer
        .wait_for_offset(third, PATIENCE)
        .expect("the observer follows the new leader");
    assert_eq!(observer.status().role, QuorumRole::Learner);

    // Stopped and reopened on its directory, it is a member already and catches up.
    observer.close().unwrap();
    drop(observer);
    let fourth = cluster.node(new).commit(create(4)).unwrap();
    let observer = open_observer(&cluster, 4, dir.path(), addr);
    let image = observer
        .wait_for_offset(fourth, PATIENCE)
        .expect("caught up again");
    assert_eq!(content(&image).len(), 8, "four topics of two records");
    assert_eq!(
        observer.live_nodes(Duration::from_secs(3)),
        None,
        "only the leader answers"
    );
    let live = cluster
        .node(new)
        .live_nodes(Duration::from_secs(3))
        .unwrap();
    assert!(
        live.contains(&4),
        "the leader counts the observer live: {live:?}"
    );
}

/// The index in a `purged` file: one frame of a JSON log id.
fn purged_index(dir: &Path) -> Option<u64> {
    let bytes = std::fs::read(dir.join("purged")).ok()?;
    let id: serde_json::Value = serde_json::from_slice(&bytes[8..]).unwrap();
    id["index"].as_u64()
}

#[test]
fn a_node_far_behind_catches_up_by_snapshot() {
    let mut cluster = Cluster::start(3, |c| {
        c.snapshot_threshold = 4;
        c.logs_kept_after_snapshot = 0;
    });
    let leader = cluster.leader();
    let lagging = (1..=3).find(|&id| id != leader).unwrap();
    let first = cluster.node(leader).commit(create(1)).unwrap();
    cluster.converge(first);
    cluster.stop(lagging);

    let mut last = 0;
    for n in 2..=20 {
        last = cluster.node(leader).commit(create(n)).unwrap();
    }
    // The leader no longer has the entries the stopped node lacks: only a snapshot helps.
    let leader_dir = cluster.dirs[(leader - 1) as usize].path().to_path_buf();
    eventually("the leader to purge its log", || {
        purged_index(&leader_dir).is_some_and(|p| p > first + 1)
    });

    cluster.restart(lagging);
    let agreed = cluster.converge(last);
    assert_eq!(agreed.len(), 40);
    let lagging_dir = cluster.dirs[(lagging - 1) as usize].path();
    assert!(
        lagging_dir.join("snapshot").exists(),
        "the snapshot was installed"
    );
}

#[test]
fn an_oversized_frame_closes_only_its_connection() {
    let cluster = Cluster::start(1, |_| {});
    let addr: SocketAddr = cluster.voters[0].addr;
    cluster.node(1).commit(create(1)).unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut header = u32::MAX.to_be_bytes().to_vec();
    header.extend([0u8; 4]);
    stream.write_all(&header).unwrap();
    let mut buf = [0u8; 16];
    // The node hangs up without waiting for the 4 GiB it was promised.
    match stream.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("unexpected {other:?}"),
    }
    assert!(cluster.node(1).commit(create(2)).is_ok());
}

#[test]
fn voter_lists_parse_with_clear_errors() {
    let voters = Voter::parse_list("1@127.0.0.1:9093, 2@127.0.0.1:9094,3@[::1]:9095").unwrap();
    assert_eq!(voters.len(), 3);
    assert_eq!(voters[0].id, 1);
    assert_eq!(voters[1].addr, "127.0.0.1:9094".parse().unwrap());
    assert_eq!(voters[2].addr, "[::1]:9095".parse().unwrap());

    assert_eq!(Voter::parse_list(" "), Err(QuorumConfigError::NoVoters));
    let reason = |text: &str| match Voter::parse_list(text) {
        Err(QuorumConfigError::VoterSyntax { entry, reason }) => (entry, reason),
        other => panic!("{text}: unexpected {other:?}"),
    };
    assert_eq!(
        reason("1@127.0.0.1:9093,127.0.0.1:9094").0,
        "127.0.0.1:9094"
    );
    assert!(reason("127.0.0.1:9094").1.contains("<id>@"));
    assert!(reason("x@127.0.0.1:9094").1.contains("node id"));
    assert!(reason("-1@127.0.0.1:9094").1.contains("node id"));
    assert!(reason("1@localhost:9094").1.contains("<ip>:<port>"));
    assert!(reason("1@127.0.0.1").1.contains("<ip>:<port>"));
    assert!(reason("1@127.0.0.1:0").1.contains("port"));
    assert!(reason("1@127.0.0.1:9093,").1.contains("<id>@"));
    let message = Voter::parse_list("x@1").unwrap_err().to_string();
    assert!(message.starts_with("voter \"x@1\""), "{message}");
}

#[test]
fn configs_are_validated() {
    let voters = Voter::parse_list("1@127.0.0.1:9093,2@127.0.0.1:9094").unwrap();
    let good = QuorumConfig::new(1, voters.clone(), "/tmp/x");
    good.validate().unwrap();

    let mut c = good.clone();
    c.voters.clear();
    assert_eq!(c.validate(), Err(QuorumConfigError::NoVoters));
    let mut c = good.clone();
    c.node_id = 3;
    assert_eq!(
        c.validate(),
        Err(QuorumConfigError::NotAVoter { node_id: 3 })
    );
    // Outside the voters, a node with an address of its own is an observer.
    c.observer_addr = Some("127.0.0.1:9095".parse().unwrap());
    c.validate().unwrap();
    assert!(!c.is_voter());
    assert_eq!(c.own_addr(), c.observer_addr);
    for bad in ["0.0.0.0:9095", "127.0.0.1:0"] {
        c.observer_addr = Some(bad.parse().unwrap());
        assert_eq!(
            c.validate(),
            Err(QuorumConfigError::ObserverAddr {
                addr: bad.parse().unwrap()
            })
        );
    }
    c.observer_addr = Some(voters[1].addr);
    assert_eq!(
        c.validate(),
        Err(QuorumConfigError::DuplicateAddr {
            addr: voters[1].addr
        })
    );
    let mut c = good.clone();
    c.voters[1].id = 1;
    assert_eq!(
        c.validate(),
        Err(QuorumConfigError::DuplicateId { node_id: 1 })
    );
    let mut c = good.clone();
    c.voters[1].addr = voters[0].addr;
    assert_eq!(
        c.validate(),
        Err(QuorumConfigError::DuplicateAddr {
            addr: voters[0].addr
        })
    );
    let invalid = |c: &QuorumConfig| match c.validate() {
        Err(QuorumConfigError::Invalid { name, .. }) => name,
        other => panic!("unexpected {other:?}"),
    };
    let mut c = good.clone();
    c.election_timeout_min = c.heartbeat_interval;
    assert_eq!(invalid(&c), "election_timeout_min");
    let mut c = good.clone();
    c.election_timeout_max = c.election_timeout_min;
    assert_eq!(invalid(&c), "election_timeout_max");
    let mut c = good.clone();
    c.heartbeat_interval = Duration::ZERO;
    assert_eq!(invalid(&c), "heartbeat_interval");
    let mut c = good.clone();
    c.snapshot_threshold = 0;
    assert_eq!(invalid(&c), "snapshot_threshold");

    // Opening refuses a bad config before touching the directory.
    let dir = tempfile::tempdir().unwrap();
    let mut c = good;
    c.node_id = 9;
    c.dir = dir.path().join("quorum");
    assert!(matches!(
        RaftMetadataLog::open(c),
        Err(MetadataError::QuorumConfig(QuorumConfigError::NotAVoter {
            node_id: 9
        }))
    ));
    assert!(!dir.path().join("quorum").exists());
}

#[test]
fn the_directory_is_locked() {
    let cluster = Cluster::start(1, |_| {});
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = config(1, &cluster.voters, cluster.dirs[0].path());
    assert!(matches!(
        RaftMetadataLog::open_with_listener(config, listener),
        Err(MetadataError::Locked { .. })
    ));
}

#[test]
fn a_commit_within_a_short_wait_gives_up_when_no_majority_is_left() {
    let mut cluster = Cluster::start(3, |_| {});
    let leader = cluster.leader();
    let first = cluster.node(leader).commit(create(1)).unwrap();
    cluster.converge(first);
    let last = (1..=3).find(|&id| id != leader).unwrap();
    for id in (1..=3).filter(|&id| id != last) {
        cluster.stop(id);
    }
    // Alone, the node cannot commit: within 300 ms it says so, although its own commit
    // timeout (PATIENCE) is far longer.
    let wait = Duration::from_millis(300);
    match cluster.node(last).commit_within(create(2), wait) {
        Err(CommitError::NoLeader { waited }) => {
            assert!(waited >= wait && waited < PATIENCE, "{waited:?}");
        }
        Err(CommitError::OutcomeUnknown { .. }) => {}
        other => panic!("committed without a majority: {other:?}"),
    }
    assert_eq!(
        cluster.node(last).image().topics().count(),
        1,
        "nothing was applied"
    );
}
