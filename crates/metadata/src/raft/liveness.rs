//! Node liveness through the quorum: every node tells the quorum leader it is alive, and
//! the leader answers "which nodes are live" for the controller (ARCHITECTURE.md decision 5:
//! the controller acts when a broker's session expires).
//!
//! Every node runs [`run`]: each heartbeat interval it sends a [`Request::Heartbeat`] with
//! its node id to the leader it knows of, over connections of its own (so a slow forwarded
//! write never delays a heartbeat, nor a heartbeat a vote). Whichever node receives one
//! records when it heard from the sender ([`Liveness::heard_from`]); only the leader's
//! record is ever read.
//!
//! Invariants of [`Liveness::live`]:
//! - it answers only on the leader (`None` elsewhere), and the answer always holds the
//!   leader itself;
//! - a node is live if the leader heard from it within the session timeout;
//! - for one session timeout after this node became leader (of its current term), every
//!   member counts as live, voters and the observers the membership names: a new leader has
//!   no history, and declaring everyone dead at once would move every partition for nothing
//!   (Kafka gives the same grace).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use openraft::ServerState;

use super::network::Peers;
use super::rpc::{Request, Response};
use super::types::Raft;

/// What the leader knows of the other nodes' sessions.
#[derive(Debug)]
pub(crate) struct Liveness {
    node_id: u64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The term this node leads, and since when; `None` when it does not lead.
    leading: Option<(u64, Instant)>,
    /// When a heartbeat last arrived from each node.
    last_heard: HashMap<u64, Instant>,
    /// The members a new leader counts live during its grace: the voters, and the
    /// observers once the membership names them.
    members: BTreeSet<u64>,
}

impl Liveness {
    pub fn new(node_id: u64, voters: impl IntoIterator<Item = u64>) -> Liveness {
        Liveness {
            node_id,
            state: Mutex::new(State {
                members: voters.into_iter().collect(),
                ..State::default()
            }),
        }
    }

    /// Adds the members the membership names (observers joining) to those given grace.
    pub fn add_members(&self, members: impl IntoIterator<Item = u64>) {
        self.state().members.extend(members);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A heartbeat from `node` arrived at `now`.
    pub fn heard_from(&self, node: u64, now: Instant) {
        self.state().last_heard.insert(node, now);
    }

    /// This node leads term `leading` (or leads nothing) as of `now`. A new term of
    /// leadership starts a new grace period.
    pub fn observe(&self, leading: Option<u64>, now: Instant) {
        let mut state = self.state();
        match (leading, state.leading) {
            (Some(term), Some((known, _))) if term == known => {}
            (Some(term), _) => state.leading = Some((term, now)),
            (None, _) => state.leading = None,
        }
    }

    /// The live nodes as of `now` if this node leads term `leading`, else `None`.
    pub fn live(
        &self,
        leading: Option<u64>,
        session_timeout: Duration,
        now: Instant,
    ) -> Option<BTreeSet<u64>> {
        self.observe(leading, now);
        let state = self.state();
        let (_, since) = state.leading?;
        let fresh = |at: &Instant| now.saturating_duration_since(*at) < session_timeout;
        let mut live: BTreeSet<u64> = state
            .last_heard
            .iter()
            .filter(|(_, at)| fresh(at))
            .map(|(node, _)| *node)
            .collect();
        live.insert(self.node_id);
        if fresh(&since) {
            live.extend(state.members.iter().copied());
        }
        Some(live)
    }
}

/// The leader term this node holds, if it leads.
pub(crate) fn leading(raft: &Raft) -> Option<u64> {
    let metrics = raft.metrics();
    let metrics = metrics.borrow();
    (metrics.state == ServerState::Leader).then_some(metrics.current_term)
}

/// Sends this node's heartbeat to the leader every `interval`, and notes when this node
/// becomes or stops being the leader, until the runtime stops.
pub(crate) async fn run(liveness: Arc<Liveness>, raft: Raft, peers: Peers, interval: Duration) {
    let node_id = liveness.node_id;
    let mut metrics = raft.metrics();
    // The membership entry last seen, so that members are re-read only when it changes
    // (metrics change at every replication step on a leader).
    let mut membership_seen = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let tick = tokio::select! {
            _ = ticker.tick() => true,
            changed = metrics.changed() => {
                if changed.is_err() {
                    return; // Raft stopped.
                }
                false
            }
        };
        let (state, leader, term) = {
            let m = metrics.borrow_and_update();
            let membership = m.membership_config.log_id();
            if membership_seen != Some(*membership) {
                membership_seen = Some(*membership);
                liveness.add_members(m.membership_config.membership().nodes().map(|(id, _)| *id));
            }
            (m.state, m.current_leader, m.current_term)
        };
        let is_leader = state == ServerState::Leader;
        liveness.observe(is_leader.then_some(term), Instant::now());
        let Some(leader) = leader.filter(|&l| tick && !is_leader && l != node_id) else {
            continue;
        };
        // One interval at most, so that a dead leader does not hold up the next beat.
        match peers
            .call(leader, &Request::Heartbeat { node_id }, interval)
            .await
        {
            Ok(Response::Heartbeat) => {}
            Ok(_) => tracing::debug!(leader, "heartbeat answered with another kind"),
            Err(e) => tracing::debug!(leader, error = %e, "heartbeat not delivered"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(3);

    fn set(nodes: &[u64]) -> Option<BTreeSet<u64>> {
        Some(nodes.iter().copied().collect())
    }

    #[test]
    fn only_the_leader_answers() {
        let l = Liveness::new(1, [1, 2, 3]);
        let t0 = Instant::now();
        assert_eq!(l.live(None, TIMEOUT, t0), None);
        assert_eq!(l.live(Some(4), TIMEOUT, t0), set(&[1, 2, 3]));
        assert_eq!(l.live(None, TIMEOUT, t0), None);
    }

    #[test]
    fn a_new_leader_gives_a_grace_period_then_counts_heartbeats() {
        let l = Liveness::new(1, [1, 2, 3]);
        let t0 = Instant::now();
        l.observe(Some(2), t0);
        l.heard_from(2, t0 + Duration::from_secs(2));
        assert_eq!(l.live(Some(2), TIMEOUT, t0 + TIMEOUT / 2), set(&[1, 2, 3]));
        // Grace over: 3 was never heard from; 2 was, 2 s ago.
        assert_eq!(l.live(Some(2), TIMEOUT, t0 + TIMEOUT), set(&[1, 2]));
        // 2's session expires too; the leader is always live.
        assert_eq!(
            l.live(Some(2), TIMEOUT, t0 + Duration::from_secs(5)),
            set(&[1])
        );
        l.heard_from(3, t0 + Duration::from_secs(5));
        assert_eq!(
            l.live(Some(2), TIMEOUT, t0 + Duration::from_secs(6)),
            set(&[1, 3])
        );
    }

    #[test]
    fn observers_named_by_the_membership_get_the_grace_too() {
        let l = Liveness::new(1, [1, 2, 3]);
        let t0 = Instant::now();
        l.add_members([4]);
        assert_eq!(l.live(Some(2), TIMEOUT, t0), set(&[1, 2, 3, 4]));
        l.heard_from(4, t0 + Duration::from_secs(2));
        assert_eq!(l.live(Some(2), TIMEOUT, t0 + TIMEOUT), set(&[1, 4]));
    }

    #[test]
    fn a_new_term_of_leadership_restarts_the_grace() {
        let l = Liveness::new(1, [1, 2]);
        let t0 = Instant::now();
        l.observe(Some(2), t0);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(l.live(Some(2), TIMEOUT, later), set(&[1]));
        l.observe(None, later);
        assert_eq!(l.live(Some(5), TIMEOUT, later), set(&[1, 2]));
        // Observing the same term again keeps its start.
        l.observe(Some(5), later + TIMEOUT);
        assert_eq!(l.live(Some(5), TIMEOUT, later + TIMEOUT), set(&[1]));
    }
}
