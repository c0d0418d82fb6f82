//! How an observer (a node outside the voter list) joins the quorum: it asks for a place as
//! a learner, which receives the log and snapshots like a follower but never votes or leads.
//!
//! [`run`] sends a [`Request::Join`] with this node's address to the leader it knows of,
//! else to each voter in turn (a voter that is not the leader names the one it knows), every
//! half second until the membership this node has received names it. The membership is in
//! the log, so a restarted observer is a learner already; asking again is harmless.

use std::time::Duration;

use super::network::Peers;
use super::rpc::{JoinReply, Request, Response};
use super::types::Raft;

/// How long between two join attempts, and how long one may take.
const RETRY: Duration = Duration::from_millis(500);

/// Asks to join until this node is a member, or the runtime stops.
pub(crate) async fn run(raft: Raft, peers: Peers, node_id: u64, addr: String, voters: Vec<u64>) {
    let mut next_voter = voters.iter().copied().cycle();
    let mut named: Option<u64> = None;
    loop {
        let (member, leader) = {
            let metrics = raft.metrics();
            let metrics = metrics.borrow();
            let membership = metrics.membership_config.membership();
            (
                membership.get_node(&node_id).is_some(),
                metrics.current_leader,
            )
        };
        if member {
            tracing::info!(node_id, "following the metadata quorum as an observer");
            return;
        }
        let Some(target) = named.take().or(leader).or_else(|| next_voter.next()) else {
            return; // No voters: the config refuses that.
        };
        let request = Request::Join {
            node_id,
            addr: addr.clone(),
        };
        match peers.call(target, &request, RETRY).await {
            Ok(Response::Join(JoinReply::Added)) => {
                tracing::debug!(node_id, target, "join accepted; waiting for the membership");
            }
            Ok(Response::Join(JoinReply::NotLeader { leader })) => named = leader,
            Ok(Response::Join(JoinReply::Refused { reason })) => {
                tracing::warn!(node_id, target, %reason, "the quorum refused this observer");
            }
            Ok(_) => tracing::debug!(target, "join answered with another kind"),
            Err(e) => tracing::debug!(target, error = %e, "join not delivered"),
        }
        if named.is_none() {
            tokio::time::sleep(RETRY).await;
        }
    }
}
