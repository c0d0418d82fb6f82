//! The consumer: reads records from partitions assigned by hand ([`Consumer::assign`]) or by
//! a consumer group ([`Consumer::subscribe`]), and commits how far it got.
//!
//! [`Consumer::poll`] does all the work, as the Java consumer's does: it drives the group
//! (joins, the leader's assignment, rebalances, auto-commits), looks up the starting position
//! of new partitions (the committed offset, else `auto_offset_reset`), keeps one Fetch in
//! flight per partition leader, and returns the records that arrived before its timeout. A
//! background task heartbeats while the member is stable, so that records may take a while to
//! process between polls (up to the rebalance timeout).
//!
//! Invariants:
//! - a partition's position is the offset of the next record `poll` returns; it only moves
//!   when records are handed out, or by a seek or a reset;
//! - a fetch response is applied only if its partition is still assigned, not paused, and
//!   still at the offset the fetch asked for (a seek or a rebalance meanwhile discards it);
//! - an eager member revokes everything (committing first, with auto-commit) before it
//!   rejoins; a cooperative member (KIP-429) keeps its partitions through the rebalance and
//!   revokes, after committing, only those assigned elsewhere, then rejoins once more so
//!   they can move;
//! - partitions of a lost membership are dropped without a commit, since another member may
//!   own them already.

mod assignor;
mod commit;
mod config;
pub(crate) mod consumer_protocol;
mod coordinator;
mod fetch;
mod fetcher;
mod group;
mod membership;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{Stream, StreamExt};
use streambus_protocol::messages::fetch_response::FetchResponse;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use config::{AssignorKind, ConsumerConfig, OffsetReset, Seek};
pub use fetch::ConsumerRecord;

use crate::backoff::Backoff;
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::offsets::{OffsetSpec, TopicPartition};
use commit::Committer;
use coordinator::GroupClient;
use membership::{Joined, Membership, Shared, lock};

/// How long one turn of [`Consumer::stream`] polls.
const STREAM_POLL: Duration = Duration::from_secs(1);

/// A consumer of records.
pub struct Consumer {
    config: ConsumerConfig,
    cluster: Arc<Cluster>,
    /// The group's coordinator, when `group_id` is set.
    group: Option<Arc<GroupClient>>,
    membership: Shared,
    wake: Arc<Notify>,
    heartbeat: Option<JoinHandle<()>>,
    mode: Mode,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    /// In-flight fetches, one per leader in `fetching`. Behind a mutex only so that the
    /// consumer is `Sync`; it is reached through `&mut self` without locking.
    fetches: Mutex<FuturesUnordered<BoxFuture<'static, FetchDone>>>,
    fetching: HashSet<i32>,
    /// The rebalance in flight, driven by `poll` (behind a mutex for `Sync`, as `fetches`).
    rebalance: Mutex<Option<InFlight>>,
    /// As group leader: the partition counts the last assignment used.
    leader_topics: Option<BTreeMap<String, i32>>,
    next_metadata_check: Instant,
    next_auto_commit: Instant,
    /// The last offset committed per partition, to skip auto-commits that change nothing.
    committed: HashMap<TopicPartition, i64>,
    /// Records fetched but not handed out yet (by [`Consumer::stream`]).
    buffer: VecDeque<ConsumerRecord>,
    /// An error to report at the next `poll`, found while records were ready to return.
    pending_error: Option<Error>,
    rotation: usize,
    closed: bool,
}

/// How partitions are assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// Not yet.
    Idle,
    /// By hand ([`Consumer::assign`]).
    Manual,
    /// By the group, for these topics (sorted).
    Subscribed(Vec<String>),
}

/// One assigned partition.
#[derive(Debug)]
struct PartitionState {
    /// The next offset to return, `None` until looked up.
    position: Option<i64>,
    /// Look the position up by `auto_offset_reset`, not the committed offset.
    reset: bool,
    paused: bool,
    /// No fetch or lookup before this, after an error.
    retry_at: Option<Instant>,
    backoff: Backoff,
}

impl PartitionState {
    fn new(config: &ConsumerConfig) -> PartitionState {
        PartitionState {
            position: None,
            reset: false,
            paused: false,
            retry_at: None,
            backoff: Backoff::new(config.client.backoff),
        }
    }

    fn ready(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|at| at <= now)
    }

    fn back_off(&mut self) {
        self.retry_at = Some(Instant::now() + self.backoff.next_delay());
    }

    fn succeeded(&mut self, backoff: crate::backoff::BackoffConfig) {
        if self.retry_at.take().is_some() {
            self.backoff = Backoff::new(backoff);
        }
    }
}

struct FetchDone {
    leader: i32,
    asked: Vec<(TopicPartition, i64)>,
    result: Result<FetchResponse>,
}

struct InFlight {
    /// The subscription the rebalance joined with.
    topics: Vec<String>,
    future: BoxFuture<'static, Result<Joined>>,
}

/// What ended a wait in `poll`.
enum Event {
    Fetched(FetchDone),
    Rebalanced(Result<Joined>),
    Woken,
    Deadline,
}

impl Consumer {
    /// Connects to the cluster. Nothing is assigned until [`Consumer::assign`] or
    /// [`Consumer::subscribe`].
    pub async fn new(config: ConsumerConfig) -> Result<Consumer> {
        config.validate()?;
        let cluster = Cluster::connect(config.client.clone()).await?;
        let group = config.group_id.as_ref().map(|group_id| {
            Arc::new(GroupClient::new(
                cluster.clone(),
                group_id.clone(),
                config.rebalance_timeout,
            ))
        });
        let now = Instant::now();
        Ok(Consumer {
            next_auto_commit: now + config.auto_commit_interval,
            next_metadata_check: now + config.client.metadata_max_age,
            config,
            cluster,
            group,
            membership: Arc::new(Mutex::new(Membership::new())),
            wake: Arc::new(Notify::new()),
            heartbeat: None,
            mode: Mode::Idle,
            partitions: BTreeMap::new(),
            fetches: Mutex::new(FuturesUnordered::new()),
            fetching: HashSet::new(),
            rebalance: Mutex::new(None),
            leader_topics: None,
            committed: HashMap::new(),
            buffer: VecDeque::new(),
            pending_error: None,
            rotation: 0,
            closed: false,
        })
    }

    /// Assigns `partitions` by hand, replacing any earlier manual assignment (committing
    /// the positions of partitions given up, with auto-commit). Each new partition starts
    /// at the group's committed offset when `group_id` is set and one exists, else by
    /// `auto_offset_reset`; lookups that fail now are retried by `poll`, which reports
    /// errors. An empty list unassigns everything.
    pub async fn assign(&mut self, partitions: &[(String, i32)]) -> Result<()> {
        self.ensure_open()?;
        if matches!(self.mode, Mode::Subscribed(_)) {
            return Err(Error::Invalid(
                "assign on a subscribed consumer: subscribe(&[]) first".into(),
            ));
        }
        for (topic, partition) in partitions {
            if topic.is_empty() || *partition < 0 {
                return Err(Error::Invalid(format!(
                    "{topic:?}-{partition} is not a topic partition"
                )));
            }
        }
        let wanted: BTreeSet<TopicPartition> = partitions.iter().cloned().collect();
        let removed: Vec<TopicPartition> = self
            .partitions
            .keys()
            .filter(|tp| !wanted.contains(*tp))
            .cloned()
            .collect();
        if self.config.auto_commit() && !removed.is_empty() {
            let offsets = self.consumed(&removed);
            if let Err(e) = self.commit_as(&Committer::simple(), &offsets).await {
                tracing::warn!(error = %e, "commit of unassigned partitions failed");
            }
        }
        self.revoke(&removed);
        for tp in wanted {
            if !self.partitions.contains_key(&tp) {
                self.partitions
                    .insert(tp, PartitionState::new(&self.config));
            }
        }
        self.mode = if self.partitions.is_empty() {
            Mode::Idle
        } else {
            Mode::Manual
        };
        if let Err(e) = self.init_positions().await {
            tracing::debug!(error = %e, "starting positions not found yet; poll retries");
        }
        Ok(())
    }

    /// Moves the position of an assigned partition.
    pub async fn seek(&mut self, topic: &str, partition: i32, to: Seek) -> Result<()> {
        self.ensure_open()?;
        let tp = (topic.to_owned(), partition);
        if !self.partitions.contains_key(&tp) {
            return Err(Error::Invalid(format!(
                "seek on {topic}-{partition}, which is not assigned to this consumer"
            )));
        }
        let offset = match to {
            Seek::Offset(offset) if offset < 0 => {
                return Err(Error::Invalid(format!(
                    "seek of {topic}-{partition} to negative offset {offset}"
                )));
            }
            Seek::Offset(offset) => offset,
            Seek::Beginning => self.look_up(&tp, OffsetSpec::Earliest).await?,
            Seek::End => self.look_up(&tp, OffsetSpec::Latest).await?,
            Seek::Timestamp(ms) => match self.look_up(&tp, OffsetSpec::Timestamp(ms)).await? {
                offset if offset >= 0 => offset,
                _ => self.look_up(&tp, OffsetSpec::Latest).await?,
            },
        };
        self.unbuffer(|t| *t == tp);
        if let Some(state) = self.partitions.get_mut(&tp) {
            state.position = Some(offset);
            state.reset = false;
            state.retry_at = None;
        }
        Ok(())
    }

    /// Subscribes to `topics` in the consumer group; `poll` joins the group and consumes
    /// what it is assigned. A new list replaces the old one (the group rebalances); an empty
    /// list unsubscribes and leaves the group. Needs `group_id`.
    pub async fn subscribe(&mut self, topics: &[String]) -> Result<()> {
        self.ensure_open()?;
        if self.group.is_none() {
            return Err(Error::Invalid(
                "subscribe needs a group_id in the consumer config".into(),
            ));
        }
        if self.mode == Mode::Manual {
            return Err(Error::Invalid(
                "subscribe on a consumer with a manual assignment: assign(&[]) first".into(),
            ));
        }
        if topics.iter().any(String::is_empty) {
            return Err(Error::Invalid("a topic name is empty".into()));
        }
        if topics.is_empty() {
            if matches!(self.mode, Mode::Subscribed(_)) {
                let result = self.leave_group().await;
                self.mode = Mode::Idle;
                return result;
            }
            return Ok(());
        }
        let mut sorted = topics.to_vec();
        sorted.sort();
        sorted.dedup();
        if self.mode == Mode::Subscribed(sorted.clone()) {
            return Ok(());
        }
        self.mode = Mode::Subscribed(sorted);
        lock(&self.membership).rejoin = true;
        if self.heartbeat.is_none()
            && let Some(group) = &self.group
        {
            let task = membership::heartbeat_loop(
                group.clone(),
                self.membership.clone(),
                self.wake.clone(),
                self.settings(),
            );
            self.heartbeat = Some(tokio::spawn(task));
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Waits up to `timeout` for records and returns those that arrived (none at the
    /// timeout). Drives fetches, heartbeat events, rebalances and auto-commits meanwhile.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        self.ensure_open()?;
        self.touch();
        let deadline = tokio::time::Instant::now() + timeout;
        let result = self.poll_until(deadline).await;
        self.touch();
        result
    }

    /// The records as a stream, polling as needed; it ends when the consumer is closed.
    /// Records fetched but not yet taken stay in the consumer when the stream is dropped.
    pub fn stream(&mut self) -> impl Stream<Item = Result<ConsumerRecord>> + '_ {
        futures_util::stream::unfold(self, |consumer| async move {
            loop {
                if let Some(record) = consumer.buffer.pop_front() {
                    return Some((Ok(record), consumer));
                }
                if consumer.closed {
                    return None;
                }
                match consumer.poll(STREAM_POLL).await {
                    Ok(records) => consumer.buffer.extend(records),
                    Err(e) => return Some((Err(e), consumer)),
                }
            }
        })
    }

    /// Commits the position of every assigned partition, and waits for the coordinator.
    pub async fn commit(&mut self) -> Result<()> {
        self.ensure_open()?;
        let partitions: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        let offsets = self.consumed(&partitions);
        self.commit_offsets_inner(&offsets).await
    }

    /// Commits the given offsets (each the next offset to consume of its partition).
    pub async fn commit_offsets(&mut self, offsets: &[((String, i32), i64)]) -> Result<()> {
        self.ensure_open()?;
        if let Some(((topic, partition), offset)) = offsets.iter().find(|(_, o)| *o < 0) {
            return Err(Error::Invalid(format!(
                "commit of negative offset {offset} for {topic}-{partition}"
            )));
        }
        self.commit_offsets_inner(offsets).await
    }

    /// The group's committed offset of each partition, `None` where it has none.
    pub async fn committed(
        &self,
        partitions: &[(String, i32)],
    ) -> Result<Vec<((String, i32), Option<i64>)>> {
        let group = self.group_for("committed")?;
        let found = commit::fetch(
            group,
            partitions,
            true,
            self.config.client.backoff,
            self.config.client.request_timeout,
        )
        .await?;
        Ok(partitions
            .iter()
            .map(|tp| (tp.clone(), found.get(tp).copied().flatten()))
            .collect())
    }

    /// Stops fetching `partitions` (assigned ones; others are ignored) until resumed.
    /// Records fetched for them and not yet returned are dropped and fetched again later.
    pub fn pause(&mut self, partitions: &[(String, i32)]) {
        let paused: HashSet<&TopicPartition> = partitions
            .iter()
            .filter(|tp| self.partitions.contains_key(*tp))
            .collect();
        let paused: HashSet<TopicPartition> = paused.into_iter().cloned().collect();
        self.unbuffer(|tp| paused.contains(tp));
        for tp in &paused {
            if let Some(state) = self.partitions.get_mut(tp) {
                state.paused = true;
            }
        }
    }

    /// Fetches `partitions` again.
    pub fn resume(&mut self, partitions: &[(String, i32)]) {
        for tp in partitions {
            if let Some(state) = self.partitions.get_mut(tp) {
                state.paused = false;
            }
        }
        self.wake.notify_one();
    }

    /// The assigned partitions, sorted.
    pub fn assignment(&self) -> Vec<(String, i32)> {
        self.partitions.keys().cloned().collect()
    }

    /// The offset of the next record `poll` returns for the partition, `None` if it is not
    /// assigned or its position is not known yet.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        let tp = (topic.to_owned(), partition);
        self.consumed_position(&tp)
    }

    /// The member id in the group, once joined.
    pub fn member_id(&self) -> Option<String> {
        let m = lock(&self.membership);
        (!m.member_id.is_empty()).then(|| m.member_id.clone())
    }

    /// The group generation, once joined.
    pub fn generation(&self) -> Option<i32> {
        let m = lock(&self.membership);
        (m.generation >= 0).then_some(m.generation)
    }

    /// Commits the positions (with auto-commit) and leaves the group. A static member does
    /// not leave, so that its restart within the session timeout keeps its partitions.
    pub async fn close(mut self) -> Result<()> {
        self.closed = true;
        self.rebalance_slot().take();
        self.fetches_mut().clear();
        let mut first_error = None;
        if self.config.auto_commit() {
            let partitions: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
            let offsets = self.consumed(&partitions);
            let committer = match self.mode {
                Mode::Subscribed(_) => {
                    let m = lock(&self.membership);
                    m.stable.then(|| self.committer_of(&m))
                }
                _ => Some(Committer::simple()),
            };
            if let Some(committer) = committer
                && let Err(e) = self.commit_as(&committer, &offsets).await
            {
                first_error = Some(e);
            }
        }
        if matches!(self.mode, Mode::Subscribed(_))
            && let Err(e) = self.leave_only().await
        {
            first_error.get_or_insert(e);
        }
        self.stop_heartbeat();
        first_error.map_or(Ok(()), Err)
    }
}

// The poll loop.
impl Consumer {
    async fn poll_until(&mut self, deadline: tokio::time::Instant) -> Result<Vec<ConsumerRecord>> {
        if !self.buffer.is_empty() {
            return Ok(self.buffer.drain(..).collect());
        }
        loop {
            if let Some(e) = self.pending_error.take() {
                return Err(e);
            }
            self.drive_group().await?;
            self.maybe_auto_commit().await;
            self.maybe_check_metadata().await;
            self.init_positions().await?;
            self.send_fetches().await;
            match self.wait(deadline).await {
                Event::Fetched(done) => {
                    let records = self.handle_fetch(done);
                    if !records.is_empty() {
                        return Ok(records);
                    }
                }
                Event::Rebalanced(result) => {
                    let joined_with = self.rebalance_slot().take().map(|r| r.topics);
                    self.apply_rebalance(result, joined_with).await?;
                }
                Event::Woken => {}
                Event::Deadline => {
                    return match self.pending_error.take() {
                        Some(e) => Err(e),
                        None => Ok(Vec::new()),
                    };
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return self.pending_error.take().map_or(Ok(Vec::new()), Err);
            }
        }
    }

    /// Waits for a fetch, the rebalance, a heartbeat event, a retry coming due or the
    /// deadline, whichever is first.
    async fn wait(&mut self, deadline: tokio::time::Instant) -> Event {
        let due = self.next_due().map(tokio::time::Instant::from_std);
        let until = due.map_or(deadline, |due| due.min(deadline));
        let wake = self.wake.clone();
        let fetches = self.fetches.get_mut().unwrap_or_else(|e| e.into_inner());
        let rebalance = self.rebalance.get_mut().unwrap_or_else(|e| e.into_inner());
        let rebalancing = async {
            match rebalance.as_mut() {
                Some(in_flight) => in_flight.future.as_mut().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            Some(done) = fetches.next(), if !fetches.is_empty() => Event::Fetched(done),
            result = rebalancing => Event::Rebalanced(result),
            () = wake.notified() => Event::Woken,
            () = tokio::time::sleep_until(until) => {
                if until >= deadline { Event::Deadline } else { Event::Woken }
            }
        }
    }

    /// When something other than a response is due: a partition's retry, an auto-commit,
    /// a metadata check.
    fn next_due(&self) -> Option<Instant> {
        let retries = self.partitions.values().filter_map(|s| s.retry_at);
        let commit = self
            .config
            .auto_commit()
            .then_some(self.next_auto_commit)
            .filter(|_| !self.partitions.is_empty());
        let metadata = self
            .leader_topics
            .as_ref()
            .map(|_| self.next_metadata_check);
        // Only what is still ahead: a past retry waits for its response, a past commit or
        // check for the rebalance to end; waking for them would spin.
        let now = Instant::now();
        retries
            .chain(commit)
            .chain(metadata)
            .filter(|due| *due > now)
            .min()
    }

    fn fetches_mut(&mut self) -> &mut FuturesUnordered<BoxFuture<'static, FetchDone>> {
        self.fetches.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    fn rebalance_slot(&mut self) -> &mut Option<InFlight> {
        self.rebalance.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    fn rebalancing(&mut self) -> bool {
        self.rebalance_slot().is_some()
    }

    fn touch(&self) {
        lock(&self.membership).last_poll = Instant::now();
    }

    fn ensure_open(&self) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        Ok(())
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group_id", &self.config.group_id)
            .field("mode", &self.mode)
            .field("assignment", &self.partitions.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send_sync<T: Send + Sync>() {}
    fn is_send<T: Send>(_: &T) {}

    #[test]
    fn the_consumer_and_its_futures_can_move_between_tasks() {
        is_send_sync::<Consumer>();
        // Only type-checked: the futures of every async method are Send.
        #[allow(dead_code)]
        async fn futures(mut consumer: Consumer) {
            is_send(&consumer.poll(Duration::ZERO));
            is_send(&consumer.committed(&[]));
            is_send(&consumer.commit());
            is_send(&consumer.assign(&[]));
            is_send(&consumer.seek("t", 0, Seek::End));
            is_send(&consumer.subscribe(&[]));
            is_send(&consumer.stream());
            is_send(&consumer.close());
        }
    }
}
