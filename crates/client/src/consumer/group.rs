//! The consumer's side of its group: commits, starting and applying rebalances, noticing
//! changed topics as leader, and leaving.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use streambus_protocol::ErrorCode;

use super::commit::{self, Committer};
use super::coordinator::GroupClient;
use super::membership::{self, JoinInput, Joined, Membership, Settings, lock};
use super::{Consumer, InFlight, Mode, PartitionState};
use crate::error::{Error, Result};
use crate::offsets::TopicPartition;

// Commits.
impl Consumer {
    pub(super) fn group_for(&self, what: &str) -> Result<&Arc<GroupClient>> {
        self.group.as_ref().ok_or_else(|| {
            Error::Invalid(format!("{what} needs a group_id in the consumer config"))
        })
    }

    pub(super) fn committer_of(&self, m: &Membership) -> Committer {
        Committer {
            generation: m.generation,
            member_id: m.member_id.clone(),
            instance_id: self.config.group_instance_id.clone(),
        }
    }

    /// Who commits now: the member of the current generation, or a simple consumer. A
    /// subscribed consumer in the middle of a rebalance cannot commit (its partitions may
    /// be moving): REBALANCE_IN_PROGRESS, as the Java consumer says.
    pub(super) fn committer(&mut self) -> Result<Committer> {
        if !matches!(self.mode, Mode::Subscribed(_)) {
            return Ok(Committer::simple());
        }
        let rebalancing = self.rebalancing();
        let m = lock(&self.membership);
        if rebalancing || !m.stable {
            return Err(Error::Kafka {
                code: ErrorCode::RebalanceInProgress,
                context: format!(
                    "commit for group {}: the group is rebalancing; poll to complete it",
                    self.config.group_id.as_deref().unwrap_or_default()
                ),
                message: None,
            });
        }
        Ok(self.committer_of(&m))
    }

    pub(super) async fn commit_offsets_inner(
        &mut self,
        offsets: &[(TopicPartition, i64)],
    ) -> Result<()> {
        self.group_for("commit")?;
        let committer = self.committer()?;
        self.commit_as(&committer, offsets).await
    }

    /// Commits as `committer`, and acts on what the coordinator says about the membership.
    pub(super) async fn commit_as(
        &mut self,
        committer: &Committer,
        offsets: &[(TopicPartition, i64)],
    ) -> Result<()> {
        let group = self.group_for("commit")?.clone();
        match commit::commit(&group, committer, offsets).await {
            Ok(()) => {
                for (tp, offset) in offsets {
                    self.committed.insert(tp.clone(), *offset);
                }
                Ok(())
            }
            Err(e) => {
                if matches!(self.mode, Mode::Subscribed(_)) && committer.generation >= 0 {
                    let mut m = lock(&self.membership);
                    if m.generation == committer.generation {
                        match e.code() {
                            Some(ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration) => {
                                m.reset()
                            }
                            Some(ErrorCode::RebalanceInProgress) => m.rejoin = true,
                            _ => {}
                        }
                    }
                }
                Err(e)
            }
        }
    }

    pub(super) async fn maybe_auto_commit(&mut self) {
        if !self.config.auto_commit() || Instant::now() < self.next_auto_commit {
            return;
        }
        let committer = match self.mode {
            Mode::Idle => return,
            Mode::Manual => Committer::simple(),
            Mode::Subscribed(_) => match self.committer() {
                Ok(committer) => committer,
                Err(_) => return, // after the rebalance
            },
        };
        self.next_auto_commit = Instant::now() + self.config.auto_commit_interval;
        let partitions: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        let offsets: Vec<(TopicPartition, i64)> = self
            .consumed(&partitions)
            .into_iter()
            .filter(|(tp, offset)| self.committed.get(tp) != Some(offset))
            .collect();
        if let Err(e) = self.commit_as(&committer, &offsets).await {
            tracing::warn!(error = %e, "auto-commit failed");
        }
    }
}

// The group.
impl Consumer {
    pub(super) fn settings(&self) -> Settings {
        Settings {
            instance_id: self.config.group_instance_id.clone(),
            session_timeout: self.config.session_timeout,
            rebalance_timeout: self.config.rebalance_timeout,
            heartbeat_interval: self.config.heartbeat_interval,
            assignors: self.config.assignors.clone(),
            backoff: self.config.client.backoff,
        }
    }

    /// Acts on membership events and starts a rebalance when one is due.
    pub(super) async fn drive_group(&mut self) -> Result<()> {
        let Mode::Subscribed(topics) = &self.mode else {
            return Ok(());
        };
        let topics = topics.clone();
        let Some(group) = self.group.clone() else {
            return Ok(());
        };
        let (fatal, lost, due) = {
            let mut m = lock(&self.membership);
            let due = m.rejoin || !m.stable;
            (m.fatal.take(), std::mem::take(&mut m.lost), due)
        };
        if let Some(e) = fatal {
            return Err(e);
        }
        if lost {
            let all: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
            if !all.is_empty() {
                tracing::info!(
                    partitions = all.len(),
                    "membership lost; dropping its partitions"
                );
            }
            self.revoke(&all);
        }
        if !due || self.rebalancing() {
            return Ok(());
        }
        // Before rejoining: an eager member gives up everything; a cooperative one only the
        // partitions of topics it no longer subscribes to. Either commits them first.
        let give_up: Vec<TopicPartition> = self
            .partitions
            .keys()
            .filter(|tp| !self.config.cooperative() || !topics.contains(&tp.0))
            .cloned()
            .collect();
        if !give_up.is_empty() {
            if self.config.auto_commit() {
                let committer = self.committer_of(&lock(&self.membership));
                let offsets = self.consumed(&give_up);
                if let Err(e) = self.commit_as(&committer, &offsets).await {
                    tracing::warn!(error = %e, "commit before the rebalance failed");
                }
            }
            self.revoke(&give_up);
        }
        let lost = {
            let mut m = lock(&self.membership);
            m.stable = false;
            m.rejoin = false;
            // The commit above may have found the membership gone.
            std::mem::take(&mut m.lost)
        };
        if lost {
            let all: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
            self.revoke(&all);
        }
        let input = JoinInput {
            topics: topics.clone(),
            owned: self.partitions.keys().cloned().collect(),
        };
        let future = membership::rebalance(
            group,
            self.cluster.clone(),
            self.membership.clone(),
            self.settings(),
            input,
        )
        .boxed();
        *self.rebalance_slot() = Some(InFlight { topics, future });
        Ok(())
    }

    /// Takes the assignment of a completed rebalance.
    pub(super) async fn apply_rebalance(
        &mut self,
        result: Result<Joined>,
        joined_with: Option<Vec<String>>,
    ) -> Result<()> {
        let joined = match result {
            Ok(joined) => joined,
            Err(e) => {
                lock(&self.membership).rejoin = true;
                return Err(e);
            }
        };
        if joined.lost {
            let all: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
            self.revoke(&all);
        }
        let assigned: BTreeSet<TopicPartition> = joined.assigned.iter().cloned().collect();
        let revoked: Vec<TopicPartition> = self
            .partitions
            .keys()
            .filter(|tp| !assigned.contains(*tp))
            .cloned()
            .collect();
        let committer = Committer {
            generation: joined.generation,
            member_id: joined.member_id.clone(),
            instance_id: self.config.group_instance_id.clone(),
        };
        if !revoked.is_empty() {
            if self.config.auto_commit() {
                let offsets = self.consumed(&revoked);
                if let Err(e) = self.commit_as(&committer, &offsets).await {
                    tracing::warn!(error = %e, "commit of revoked partitions failed");
                }
            }
            self.revoke(&revoked);
        }
        for tp in &assigned {
            if !self.partitions.contains_key(tp) {
                self.partitions
                    .insert(tp.clone(), PartitionState::new(&self.config));
            }
        }
        let subscription_changed = match &self.mode {
            Mode::Subscribed(topics) => joined_with.is_some_and(|t| t != *topics),
            _ => false,
        };
        {
            let mut m = lock(&self.membership);
            if m.generation == joined.generation && m.member_id == joined.member_id {
                m.stable = true;
            }
            // KIP-429: partitions revoked by a cooperative member move in a second round.
            if (self.config.cooperative() && !revoked.is_empty()) || subscription_changed {
                m.rejoin = true;
            }
        }
        tracing::info!(
            generation = joined.generation,
            assigned = assigned.len(),
            revoked = revoked.len(),
            "assignment taken"
        );
        self.leader_topics = joined.leader_topics;
        self.next_metadata_check = Instant::now() + self.config.client.metadata_max_age;
        self.wake.notify_one();
        Ok(())
    }

    /// As leader, rebalances when a subscribed topic's partition count changed (a topic
    /// created or grown).
    pub(super) async fn maybe_check_metadata(&mut self) {
        if Instant::now() < self.next_metadata_check || self.rebalancing() {
            return;
        }
        let Some(known) = &self.leader_topics else {
            return;
        };
        let topics: Vec<String> = known.keys().cloned().collect();
        self.next_metadata_check = Instant::now() + self.config.client.metadata_max_age;
        let Ok(metadata) = self.cluster.refresh(Some(&topics), false).await else {
            return;
        };
        let mut now: BTreeMap<String, i32> = topics.iter().map(|t| (t.clone(), 0)).collect();
        for topic in metadata.topics {
            if let Some(name) = topic.name
                && topic.error_code == 0
            {
                now.insert(
                    name,
                    i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX),
                );
            }
        }
        if Some(&now) != self.leader_topics.as_ref() {
            tracing::info!("subscribed topics changed; rebalancing");
            lock(&self.membership).rejoin = true;
        }
    }

    /// Commits (with auto-commit), revokes everything and leaves the group.
    pub(super) async fn leave_group(&mut self) -> Result<()> {
        self.rebalance_slot().take();
        if self.config.auto_commit() {
            let committer = {
                let m = lock(&self.membership);
                m.stable.then(|| self.committer_of(&m))
            };
            if let Some(committer) = committer {
                let partitions: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
                let offsets = self.consumed(&partitions);
                if let Err(e) = self.commit_as(&committer, &offsets).await {
                    tracing::warn!(error = %e, "commit before leaving failed");
                }
            }
        }
        let all: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        self.revoke(&all);
        let result = self.leave_only().await;
        let mut m = lock(&self.membership);
        m.member_id.clear();
        m.generation = -1;
        m.stable = false;
        m.rejoin = false;
        result
    }

    /// Sends LeaveGroup for a dynamic member that has a member id.
    pub(super) async fn leave_only(&mut self) -> Result<()> {
        let member_id = {
            let mut m = lock(&self.membership);
            m.stable = false;
            m.member_id.clone()
        };
        let Some(group) = self.group.clone() else {
            return Ok(());
        };
        if member_id.is_empty() || self.config.group_instance_id.is_some() {
            return Ok(());
        }
        membership::leave(&group, &member_id, None).await
    }

    pub(super) fn stop_heartbeat(&mut self) {
        lock(&self.membership).closed = true;
        if let Some(task) = self.heartbeat.take() {
            task.abort();
        }
    }
}
