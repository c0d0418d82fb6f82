//! The group coordinator's runtime: the thin I/O shell around the [`Group`] state machines.
//!
//! [`GroupCoordinator`] owns every group of the `__consumer_offsets` partitions this broker
//! leads (ARCHITECTURE decision 6). For each request it feeds the group an [`Event`] and
//! carries out the effects in order: a [`Effect::Persist`] is appended to the group's
//! partition and must be committed before the responses after it are released; a
//! [`Effect::Respond`] goes to the request waiting on that id, which may be another request
//! than the one being handled (parked JoinGroups and SyncGroups); a
//! [`Effect::ScheduleTimer`] replaces the group's timer.
//!
//! Invariants: one event at a time per group (its async lock is held from `handle` until
//! the effects are carried out, so the records of a group reach the log in the order the
//! state machine made them); a response is never released before the records the state
//! machine wrote ahead of it are committed; if such a write fails, those responses carry
//! `COORDINATOR_NOT_AVAILABLE` instead, so no client is told of a commit that is not durable.

mod load;
mod write;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use streambus_replication::Partition;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::GroupConfig;
use crate::effect::{Effect, Response};
use crate::errors;
use crate::event::{Event, RequestId};
use crate::group::Group;
use crate::state::GroupState;

pub use load::LoadError;

/// The internal topic that stores groups and offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Kafka's `offsets.topic.num.partitions` default.
pub const DEFAULT_OFFSETS_PARTITIONS: i32 = 50;

/// One group and its timer.
struct Slot {
    group: tokio::sync::Mutex<Group>,
    /// The sleeper that will send the next tick; replaced (and aborted) on every reschedule.
    /// Only the sleep is aborted: the tick itself runs in a task of its own.
    timer: Mutex<Option<JoinHandle<()>>>,
}

/// Every group this broker coordinates.
pub struct GroupCoordinator {
    config: GroupConfig,
    num_partitions: i32,
    /// The `__consumer_offsets` partitions loaded here, by index.
    partitions: Mutex<HashMap<i32, Arc<Partition>>>,
    groups: Mutex<HashMap<String, Arc<Slot>>>,
    waiters: Mutex<HashMap<RequestId, oneshot::Sender<Response>>>,
    next_request: AtomicU64,
    stopping: AtomicBool,
}

/// What `handle` could not do for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotServed {
    /// The group's `__consumer_offsets` partition is not led by this broker (or not loaded).
    NotCoordinator,
    /// The coordinator is stopping, or the request was dropped before it was answered.
    Unavailable,
}

impl NotServed {
    /// The Kafka error code for it.
    pub fn error_code(self) -> i16 {
        match self {
            NotServed::NotCoordinator => errors::NOT_COORDINATOR,
            NotServed::Unavailable => errors::COORDINATOR_NOT_AVAILABLE,
        }
    }
}

impl GroupCoordinator {
    /// A coordinator for groups spread over `num_partitions` partitions of
    /// `__consumer_offsets`; it serves none until their partitions are [loaded](Self::load).
    pub fn new(config: GroupConfig, num_partitions: i32) -> Arc<Self> {
        Arc::new(GroupCoordinator {
            config,
            num_partitions: num_partitions.max(1),
            partitions: Mutex::new(HashMap::new()),
            groups: Mutex::new(HashMap::new()),
            waiters: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
            stopping: AtomicBool::new(false),
        })
    }

    /// The settings groups are created with.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// How many partitions `__consumer_offsets` has (or will have when created).
    pub fn num_partitions(&self) -> i32 {
        self.num_partitions
    }

    /// The `__consumer_offsets` partition of `group_id`, as Kafka computes it:
    /// `abs(javaStringHashCode(group_id)) % partitions`.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        partition_for(group_id, self.num_partitions)
    }

    /// Whether this broker has loaded the partition of `group_id`.
    pub fn is_coordinator(&self, group_id: &str) -> bool {
        self.partition_of(group_id).is_some()
    }

    fn partition_of(&self, group_id: &str) -> Option<Arc<Partition>> {
        let index = self.partition_for(group_id);
        lock(&self.partitions).get(&index).cloned()
    }

    /// Feeds `group_id`'s group the event `make_event` builds around a fresh request id, and
    /// waits for that request's response (which, for a parked JoinGroup or SyncGroup, comes
    /// from a later event). A group that does not exist yet is created empty.
    pub async fn handle(
        self: &Arc<Self>,
        group_id: &str,
        make_event: impl FnOnce(RequestId) -> Event,
    ) -> Result<Response, NotServed> {
        self.handle_in(group_id, true, make_event).await
    }

    /// Like [`handle`](Self::handle), but a group that does not exist is left alone and
    /// `Ok(None)` is returned (DeleteGroups, OffsetDelete, DescribeGroups of unknown ids).
    pub async fn handle_existing(
        self: &Arc<Self>,
        group_id: &str,
        make_event: impl FnOnce(RequestId) -> Event,
    ) -> Result<Option<Response>, NotServed> {
        if self.partition_of(group_id).is_some() && !lock(&self.groups).contains_key(group_id) {
            return Ok(None);
        }
        self.handle_in(group_id, false, make_event).await.map(Some)
    }

    async fn handle_in(
        self: &Arc<Self>,
        group_id: &str,
        create: bool,
        make_event: impl FnOnce(RequestId) -> Event,
    ) -> Result<Response, NotServed> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(NotServed::Unavailable);
        }
        let partition = self
            .partition_of(group_id)
            .ok_or(NotServed::NotCoordinator)?;
        let request_id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        lock(&self.waiters).insert(request_id, sender);
        let slot = match self.slot(group_id, create) {
            Some(slot) => slot,
            None => {
                lock(&self.waiters).remove(&request_id);
                return Err(NotServed::Unavailable);
            }
        };
        self.run(group_id, &slot, &partition, make_event(request_id))
            .await;
        receiver.await.map_err(|_| NotServed::Unavailable)
    }

    /// Runs one event on a group and carries out its effects, under the group's lock.
    async fn run(
        self: &Arc<Self>,
        group_id: &str,
        slot: &Arc<Slot>,
        partition: &Arc<Partition>,
        event: Event,
    ) {
        let mut group = slot.group.lock().await;
        let effects = group.handle(event, now_ms());
        let mut write_failed = false;
        for effect in effects {
            match effect {
                Effect::Persist(record) => {
                    if write_failed {
                        continue;
                    }
                    if let Err(error) = write::append(partition, group_id, &record).await {
                        tracing::error!(group = group_id, %error, "could not write group state");
                        write_failed = true;
                    }
                }
                Effect::Respond {
                    request_id,
                    response,
                } => {
                    let response = if write_failed {
                        response.with_error(errors::COORDINATOR_NOT_AVAILABLE)
                    } else {
                        response
                    };
                    self.deliver(request_id, response);
                }
                Effect::ScheduleTimer { deadline_ms } => {
                    self.schedule(group_id, slot, deadline_ms);
                }
            }
        }
        if group.state() == GroupState::Dead {
            let mut groups = lock(&self.groups);
            if groups.get(group_id).is_some_and(|s| Arc::ptr_eq(s, slot)) {
                groups.remove(group_id);
            }
            if let Some(timer) = lock(&slot.timer).take() {
                timer.abort();
            }
        }
    }

    fn deliver(&self, request_id: RequestId, response: Response) {
        if let Some(sender) = lock(&self.waiters).remove(&request_id) {
            // The client may have gone away; its response is simply dropped.
            let _ = sender.send(response);
        }
    }

    fn slot(&self, group_id: &str, create: bool) -> Option<Arc<Slot>> {
        let mut groups = lock(&self.groups);
        if let Some(slot) = groups.get(group_id) {
            return Some(Arc::clone(slot));
        }
        if !create {
            return None;
        }
        let slot = Arc::new(Slot {
            group: tokio::sync::Mutex::new(Group::new(group_id, self.config.clone(), now_ms())),
            timer: Mutex::new(None),
        });
        groups.insert(group_id.to_string(), Arc::clone(&slot));
        Some(slot)
    }

    fn schedule(self: &Arc<Self>, group_id: &str, slot: &Arc<Slot>, deadline_ms: u64) {
        let wait = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms()));
        let coordinator = Arc::downgrade(self);
        let id = group_id.to_string();
        let sleeper = tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Some(coordinator) = coordinator.upgrade() {
                tokio::spawn(async move { coordinator.tick(&id).await });
            }
        });
        if let Some(old) = lock(&slot.timer).replace(sleeper) {
            old.abort();
        }
    }

    /// The timer of `group_id` fired.
    async fn tick(self: &Arc<Self>, group_id: &str) {
        if self.stopping.load(Ordering::Acquire) {
            return;
        }
        let (Some(partition), Some(slot)) =
            (self.partition_of(group_id), self.slot(group_id, false))
        else {
            return;
        };
        self.run(group_id, &slot, &partition, Event::Tick).await;
    }

    /// Starts the timers of every loaded group (session expiry of members restored from the
    /// log, offsets retention). Call once a tokio runtime runs, after [`load`](Self::load).
    pub async fn start_timers(self: &Arc<Self>) {
        let ids: Vec<String> = lock(&self.groups).keys().cloned().collect();
        for id in ids {
            self.tick(&id).await;
        }
    }

    /// Removes the committed offsets of deleted `topics` from every group here.
    pub async fn topics_deleted(self: &Arc<Self>, topics: &[String]) {
        let slots: Vec<(String, Arc<Slot>)> = lock(&self.groups)
            .iter()
            .map(|(id, slot)| (id.clone(), Arc::clone(slot)))
            .collect();
        for (id, slot) in slots {
            if let Some(partition) = self.partition_of(&id) {
                let event = Event::TopicsDeleted(topics.to_vec());
                self.run(&id, &slot, &partition, event).await;
            }
        }
    }

    /// A read of one group's state, or `None` if there is no such group here.
    pub async fn view<R>(&self, group_id: &str, read: impl FnOnce(&Group) -> R) -> Option<R> {
        let slot = lock(&self.groups).get(group_id).cloned()?;
        let group = slot.group.lock().await;
        (group.state() != GroupState::Dead).then(|| read(&group))
    }

    /// A read of every group's state, in group id order.
    pub async fn view_all<R>(&self, mut read: impl FnMut(&Group) -> R) -> Vec<R> {
        let mut slots: Vec<(String, Arc<Slot>)> = lock(&self.groups)
            .iter()
            .map(|(id, slot)| (id.clone(), Arc::clone(slot)))
            .collect();
        slots.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = Vec::with_capacity(slots.len());
        for (_, slot) in slots {
            let group = slot.group.lock().await;
            if group.state() != GroupState::Dead {
                out.push(read(&group));
            }
        }
        out
    }

    /// Like [`view_all`](Self::view_all) but without waiting: a group busy writing its
    /// state right now is left out. For metrics scrapes, which must not block.
    pub fn try_view_all<R>(&self, mut read: impl FnMut(&Group) -> R) -> Vec<R> {
        let slots: Vec<Arc<Slot>> = lock(&self.groups).values().cloned().collect();
        slots
            .iter()
            .filter_map(|slot| slot.group.try_lock().ok())
            .filter(|group| group.state() != GroupState::Dead)
            .map(|group| read(&group))
            .collect()
    }

    /// Stops serving: parked requests are answered `COORDINATOR_NOT_AVAILABLE` (their
    /// handlers see the waiter dropped) and timers stop. Group state is all in the log.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        lock(&self.waiters).clear();
        for slot in lock(&self.groups).values() {
            if let Some(timer) = lock(&slot.timer).take() {
                timer.abort();
            }
        }
    }
}

/// Kafka's partition for a group id: `Utils.abs(groupId.hashCode()) % partitions`, with
/// Java's `String.hashCode` over UTF-16 code units and `Utils.abs` mapping `i32::MIN` to 0.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = group_id.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

/// Wall-clock milliseconds: the state machine's clock, also stored in records.
fn now_ms() -> u64 {
    u64::try_from(streambus_storage::now_ms()).unwrap_or(0)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_match_kafkas_hash() {
        // Java: "my-group".hashCode() == -1_906_497_762; abs % 50 == 12.
        assert_eq!(partition_for("my-group", 50), 12);
        // "a".hashCode() == 97.
        assert_eq!(partition_for("a", 50), 47);
        assert_eq!(partition_for("", 50), 0);
        for id in ["streambus", "consumer-group-1", "ümlaut"] {
            let p = partition_for(id, 50);
            assert!((0..50).contains(&p), "{id} -> {p}");
        }
        assert_eq!(partition_for("anything", 1), 0);
    }
}
