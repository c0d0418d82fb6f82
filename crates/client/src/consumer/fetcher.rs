//! Fetching for the consumer: one Fetch in flight per partition leader, applying the
//! responses to the partitions' positions, and looking up starting positions (the committed
//! offset, else `auto_offset_reset`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use futures_util::FutureExt;
use streambus_protocol::ErrorCode;

use super::{Consumer, ConsumerRecord, FetchDone, OffsetReset, commit, fetch};
use crate::error::{Error, Result};
use crate::offsets::{OffsetSpec, TopicPartition, list_offsets};

impl Consumer {
    /// Sends a fetch to each leader that has fetchable partitions and none in flight.
    pub(super) async fn send_fetches(&mut self) {
        let now = Instant::now();
        let candidates: Vec<(TopicPartition, i64)> = self
            .partitions
            .iter()
            .filter(|(_, s)| !s.paused && s.ready(now))
            .filter_map(|(tp, s)| s.position.map(|p| (tp.clone(), p)))
            .collect();
        if candidates.is_empty() {
            return;
        }
        let mut leaders: HashMap<String, Result<Vec<i32>>> = HashMap::new();
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        for (tp, offset) in candidates {
            if !leaders.contains_key(&tp.0) {
                let found = self
                    .cluster
                    .topic(&tp.0, false)
                    .await
                    .map(|info| info.partitions.iter().map(|p| p.leader).collect::<Vec<_>>());
                leaders.insert(tp.0.clone(), found);
            }
            let leader = match leaders.get(&tp.0) {
                Some(Ok(by_partition)) => usize::try_from(tp.1)
                    .ok()
                    .and_then(|i| by_partition.get(i).copied())
                    .filter(|leader| *leader >= 0),
                _ => None,
            };
            let Some(leader) = leader else {
                tracing::debug!(topic = %tp.0, partition = tp.1, "no leader known; retrying");
                self.cluster.invalidate(&tp.0);
                if let Some(state) = self.partitions.get_mut(&tp) {
                    state.back_off();
                }
                continue;
            };
            if !self.fetching.contains(&leader) {
                by_leader.entry(leader).or_default().push((tp, offset));
            }
        }
        let limits = fetch::FetchLimits {
            max_wait_ms: i32::try_from(self.config.fetch_max_wait.as_millis()).unwrap_or(i32::MAX),
            min_bytes: self.config.fetch_min_bytes,
            max_bytes: self.config.fetch_max_bytes,
            partition_max_bytes: self.config.max_partition_fetch_bytes,
            read_committed: self.config.read_committed,
        };
        for (leader, mut asked) in by_leader {
            // The broker fills the response in request order up to max_bytes: rotating the
            // order lets every partition come first in turn.
            let len = asked.len();
            asked.rotate_left(self.rotation % len);
            self.rotation = self.rotation.wrapping_add(1);
            let request = fetch::request(&asked, limits);
            let cluster = self.cluster.clone();
            self.fetching.insert(leader);
            self.fetches_mut().push(
                async move {
                    let result = cluster.call_node(leader, request).await;
                    FetchDone {
                        leader,
                        asked,
                        result,
                    }
                }
                .boxed(),
            );
        }
    }

    /// Applies a fetch response: records of the partitions it still applies to, resets,
    /// retries and errors.
    pub(super) fn handle_fetch(&mut self, done: FetchDone) -> Vec<ConsumerRecord> {
        self.fetching.remove(&done.leader);
        let asked: HashMap<TopicPartition, i64> = done.asked.iter().cloned().collect();
        let response = match done.result.and_then(|r| {
            Error::check(r.error_code, || {
                format!("fetch from broker {}", done.leader)
            })?;
            Ok(r)
        }) {
            Ok(response) => response,
            Err(e) => {
                tracing::debug!(leader = done.leader, error = %e, "fetch failed");
                for (tp, _) in &done.asked {
                    if e.invalidates_metadata() {
                        self.cluster.invalidate(&tp.0);
                    }
                    if let Some(state) = self.partitions.get_mut(tp) {
                        state.back_off();
                    }
                }
                if !e.is_retriable() {
                    self.pending_error.get_or_insert(e);
                }
                return Vec::new();
            }
        };
        let mut records = Vec::new();
        for topic in response.responses {
            for p in topic.partitions {
                let tp = (topic.topic.clone(), p.partition_index);
                let Some(&offset) = asked.get(&tp) else {
                    continue;
                };
                let read_committed = self.config.read_committed;
                let backoff = self.config.client.backoff;
                let reset = self.config.auto_offset_reset;
                let Some(state) = self.partitions.get_mut(&tp) else {
                    continue;
                };
                if state.position != Some(offset) || state.paused {
                    continue;
                }
                let code =
                    ErrorCode::from_code(p.error_code).unwrap_or(ErrorCode::UnknownServerError);
                match code {
                    ErrorCode::None => {
                        state.succeeded(backoff);
                        let Some(data) = &p.records else { continue };
                        match fetch::decode(
                            &tp.0,
                            tp.1,
                            offset,
                            data,
                            p.aborted_transactions.as_deref(),
                            read_committed,
                        ) {
                            Ok(decoded) => {
                                if let Some(next) = decoded.next_offset {
                                    state.position = Some(next);
                                }
                                records.extend(decoded.records);
                            }
                            Err(e) => {
                                self.pending_error.get_or_insert(e);
                            }
                        }
                    }
                    ErrorCode::OffsetOutOfRange if reset != OffsetReset::None => {
                        tracing::info!(topic = %tp.0, partition = tp.1, offset, "offset out of range; resetting");
                        state.position = None;
                        state.reset = true;
                    }
                    ErrorCode::OffsetOutOfRange => {
                        self.pending_error.get_or_insert(Error::Kafka {
                            code,
                            context: format!(
                                "fetch of {}-{} at offset {offset} (auto_offset_reset is None: seek to go on)",
                                tp.0, tp.1
                            ),
                            message: None,
                        });
                    }
                    code if code.is_retriable() => {
                        tracing::debug!(topic = %tp.0, partition = tp.1, code = code.name(), "fetch error; retrying");
                        self.cluster.invalidate(&tp.0);
                        state.back_off();
                    }
                    code => {
                        self.pending_error.get_or_insert(Error::Kafka {
                            code,
                            context: format!("fetch of {}-{} at offset {offset}", tp.0, tp.1),
                            message: None,
                        });
                    }
                }
            }
        }
        records
    }

    /// Looks up the starting position of partitions without one: the committed offset (with
    /// a group), else by `auto_offset_reset`.
    pub(super) async fn init_positions(&mut self) -> Result<()> {
        let now = Instant::now();
        let needed: Vec<(TopicPartition, bool)> = self
            .partitions
            .iter()
            .filter(|(_, s)| s.position.is_none() && s.ready(now))
            .map(|(tp, s)| (tp.clone(), s.reset))
            .collect();
        if needed.is_empty() {
            return Ok(());
        }
        let mut to_reset: Vec<TopicPartition> = Vec::new();
        let lookup: Vec<TopicPartition> = needed
            .iter()
            .filter(|(_, reset)| !reset)
            .map(|(tp, _)| tp.clone())
            .collect();
        to_reset.extend(needed.iter().filter(|(_, r)| *r).map(|(tp, _)| tp.clone()));
        match self.group.clone() {
            Some(group) if !lookup.is_empty() => {
                let found = commit::fetch(
                    &group,
                    &lookup,
                    true,
                    self.config.client.backoff,
                    self.config.client.request_timeout,
                )
                .await;
                match found {
                    Ok(found) => {
                        for tp in lookup {
                            match found.get(&tp).copied().flatten() {
                                Some(offset) => self.set_initial(&tp, offset),
                                None => to_reset.push(tp),
                            }
                        }
                    }
                    Err(e) if e.is_retriable() => {
                        tracing::debug!(error = %e, "committed offsets not fetched; retrying");
                        self.back_off_all(&lookup);
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => to_reset.extend(lookup),
        }
        if to_reset.is_empty() {
            return Ok(());
        }
        let spec = match self.config.auto_offset_reset {
            OffsetReset::Earliest => OffsetSpec::Earliest,
            OffsetReset::Latest => OffsetSpec::Latest,
            OffsetReset::None => {
                let names: Vec<String> = to_reset.iter().map(|(t, p)| format!("{t}-{p}")).collect();
                let group = self
                    .config
                    .group_id
                    .as_deref()
                    .map_or_else(|| "without a group".to_owned(), |g| format!("in group {g}"));
                return Err(Error::Invalid(format!(
                    "no committed offset for {} {group} and auto_offset_reset is None: seek first",
                    names.join(", ")
                )));
            }
        };
        let asked: Vec<(TopicPartition, OffsetSpec)> =
            to_reset.iter().map(|tp| (tp.clone(), spec)).collect();
        match list_offsets(&self.cluster, &asked, self.config.read_committed).await {
            Ok(found) => {
                for tp in &to_reset {
                    if let Some(listed) = found.get(tp) {
                        self.set_initial(tp, listed.offset);
                    }
                }
                Ok(())
            }
            Err(e) if e.is_retriable() => {
                tracing::debug!(error = %e, "offsets not listed; retrying");
                for tp in &to_reset {
                    self.cluster.invalidate(&tp.0);
                }
                self.back_off_all(&to_reset);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Sets a looked-up position, unless the partition went or got one meanwhile.
    pub(super) fn set_initial(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(state) = self.partitions.get_mut(tp)
            && state.position.is_none()
        {
            state.position = Some(offset);
            state.reset = false;
            state.succeeded(self.config.client.backoff);
        }
    }

    pub(super) fn back_off_all(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            if let Some(state) = self.partitions.get_mut(tp) {
                state.back_off();
            }
        }
    }

    pub(super) async fn look_up(&self, tp: &TopicPartition, spec: OffsetSpec) -> Result<i64> {
        let found = list_offsets(
            &self.cluster,
            &[(tp.clone(), spec)],
            self.config.read_committed,
        )
        .await?;
        found
            .get(tp)
            .map(|listed| listed.offset)
            .ok_or_else(|| Error::Invalid(format!("no offset listed for {}-{}", tp.0, tp.1)))
    }

    /// The next offset to hand out of each partition: the first buffered record's, else the
    /// position.
    pub(super) fn consumed_position(&self, tp: &TopicPartition) -> Option<i64> {
        self.buffer
            .iter()
            .find(|r| r.topic == tp.0 && r.partition == tp.1)
            .map(|r| r.offset)
            .or_else(|| self.partitions.get(tp).and_then(|s| s.position))
    }

    /// `(partition, position)` of those of `partitions` with a known position.
    pub(super) fn consumed(&self, partitions: &[TopicPartition]) -> Vec<(TopicPartition, i64)> {
        partitions
            .iter()
            .filter_map(|tp| self.consumed_position(tp).map(|o| (tp.clone(), o)))
            .collect()
    }

    /// Drops buffered records of the partitions `which` selects, moving their positions
    /// back to the first one dropped.
    pub(super) fn unbuffer(&mut self, which: impl Fn(&TopicPartition) -> bool) {
        let mut rewind: HashMap<TopicPartition, i64> = HashMap::new();
        self.buffer.retain(|r| {
            let tp = (r.topic.clone(), r.partition);
            if which(&tp) {
                rewind.entry(tp).or_insert(r.offset);
                false
            } else {
                true
            }
        });
        for (tp, offset) in rewind {
            if let Some(state) = self.partitions.get_mut(&tp) {
                state.position = Some(offset);
            }
        }
    }

    /// Forgets `partitions`: positions, buffered records, what was committed of them (others
    /// may commit before they come back).
    pub(super) fn revoke(&mut self, partitions: &[TopicPartition]) {
        let gone: HashSet<&TopicPartition> = partitions.iter().collect();
        self.buffer
            .retain(|r| !gone.contains(&(r.topic.clone(), r.partition)));
        for tp in partitions {
            self.partitions.remove(tp);
            self.committed.remove(tp);
        }
    }
}
