//! The producer's background task: it owns every partition's queue, fills batches, sends
//! the ready ones to their leaders, and settles each record when its batch is answered.
//!
//! One task, so no locks: `enqueue` hands it records over a channel, and it waits on three
//! things at once: new commands, the responses of requests in flight, and the next moment a
//! batch's linger, a backoff or a delivery timeout runs out.
//!
//! Ordering and retries. A partition's batches are written to its leader's connection in
//! queue order, at most `max_in_flight` at a time, and Kafka answers a connection in order.
//! A batch that fails with a retriable error (or a lost connection) goes back to the front
//! of its queue, keeping its sequence number and its encoded bytes, and the partition backs
//! off; until the re-sent batches are through, the partition sends one batch at a time. With
//! idempotence the broker drops a re-sent batch it already has (it answers with the original
//! offsets), so a retry after a lost response neither duplicates nor reorders.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use streambus_protocol::ErrorCode;
use streambus_protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use streambus_protocol::messages::produce_response::{PartitionProduceResponse, ProduceResponse};
use tokio::sync::{mpsc, oneshot};

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::producer::batch::{Batch, PartitionQueue, PendingRecord};
use crate::producer::config::{Acks, ProducerConfig};
use crate::producer::partitioner::StickyPartitions;

/// What `Producer` asks of the task.
pub enum Command {
    /// A record for `topic`: to `partition`, or to the sticky partition of a topic with
    /// `partitions` partitions when `None`.
    Append {
        topic: String,
        partition: Option<i32>,
        partitions: i32,
        record: PendingRecord,
        size: usize,
    },
    /// Answer once everything enqueued before is settled.
    Flush(oneshot::Sender<()>),
}

/// The producer id and epoch of an idempotent producer.
#[derive(Debug, Clone, Copy)]
pub struct ProducerId {
    pub id: i64,
    pub epoch: i16,
}

type TopicPartition = (String, i32);

/// A Produce request in flight, with the batches it carries.
type InFlight =
    Pin<Box<dyn Future<Output = (Vec<(TopicPartition, Batch)>, Result<ProduceResponse>)> + Send>>;

/// Why a batch was not written: what to say, the broker's error if it sent one, whether to
/// try again, and whether the cached metadata is stale.
struct Failure {
    reason: String,
    kafka: Option<Error>,
    retriable: bool,
    stale_metadata: bool,
}

impl Failure {
    fn of(error: Error, retriable: bool) -> Failure {
        Failure {
            reason: error.to_string(),
            stale_metadata: error.invalidates_metadata(),
            retriable,
            kafka: matches!(error, Error::Kafka { .. }).then_some(error),
        }
    }

    /// The error each record of a batch refused for good is failed with: the broker's own,
    /// code and message included, where it sent one.
    fn error(&self) -> Error {
        match &self.kafka {
            Some(Error::Kafka {
                code,
                context,
                message,
            }) => Error::Kafka {
                code: *code,
                context: context.clone(),
                message: message.clone(),
            },
            _ => Error::Invalid(self.reason.clone()),
        }
    }
}

/// The task's state.
pub struct Sender {
    config: Arc<ProducerConfig>,
    cluster: Arc<Cluster>,
    producer_id: Option<ProducerId>,
    queues: BTreeMap<TopicPartition, PartitionQueue>,
    partition_counts: HashMap<String, i32>,
    sticky: StickyPartitions,
    in_flight: FuturesUnordered<InFlight>,
    flushes: Vec<oneshot::Sender<()>>,
    /// Set while a flush (or the final drain) is waiting: linger is ignored.
    flushing: bool,
    /// A numbered batch was given up without knowing whether the broker has it: take a
    /// new producer id (and number from 0) before sending more.
    new_producer_id: bool,
}

impl Sender {
    pub fn new(
        config: Arc<ProducerConfig>,
        cluster: Arc<Cluster>,
        producer_id: Option<ProducerId>,
    ) -> Sender {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64);
        Sender {
            config,
            cluster,
            producer_id,
            queues: BTreeMap::new(),
            partition_counts: HashMap::new(),
            sticky: StickyPartitions::new(seed),
            in_flight: FuturesUnordered::new(),
            flushes: Vec::new(),
            flushing: false,
            new_producer_id: false,
        }
    }

    /// Runs until every `Producer` handle is gone and everything enqueued is settled.
    pub async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut open = true;
        loop {
            self.expire(Instant::now());
            self.send_ready().await;
            self.answer_flushes();
            if !open && self.is_idle() {
                return;
            }
            let wake = self.next_wake();
            tokio::select! {
                command = commands.recv(), if open => match command {
                    Some(command) => {
                        self.handle(command);
                        // Take every command already waiting before looking at the queues.
                        while let Ok(command) = commands.try_recv() {
                            self.handle(command);
                        }
                    }
                    None => {
                        open = false;
                        self.flushing = true;
                    }
                },
                Some((batches, response)) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.complete(batches, response);
                }
                () = sleep_until(wake) => {}
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Append {
                topic,
                partition,
                partitions,
                record,
                size,
            } => self.append(topic, partition, partitions, record, size),
            Command::Flush(done) => {
                self.flushing = true;
                self.flushes.push(done);
            }
        }
    }

    fn append(
        &mut self,
        topic: String,
        partition: Option<i32>,
        partitions: i32,
        record: PendingRecord,
        size: usize,
    ) {
        let partition = partition.unwrap_or_else(|| self.sticky.partition(&topic, partitions));
        if self.partition_counts.get(&topic) != Some(&partitions) {
            self.partition_counts.insert(topic.clone(), partitions);
        }
        // The key is built from the record's own topic: no copy per record once the queue
        // exists.
        let key = (topic, partition);
        if !self.queues.contains_key(&key) {
            let queue = PartitionQueue::new(&key.0, self.config.client.backoff);
            self.queues.insert(key.clone(), queue);
        }
        let Some(queue) = self.queues.get_mut(&key) else {
            return;
        };
        let batch_size = self.config.batch_size;
        let needs_new = queue
            .batches
            .back()
            .is_none_or(|b| b.attempts > 0 || b.bytes + size > batch_size && !b.records.is_empty());
        if needs_new {
            let now = Instant::now();
            let deadline = now + self.config.delivery_timeout;
            queue.batches.push_back(Batch::new(now, deadline));
        }
        let Some(batch) = queue.batches.back_mut() else {
            return;
        };
        batch.records.push(record);
        batch.bytes += size;
        if batch.bytes >= batch_size {
            self.sticky.batch_completed(&key.0, partition, partitions);
        }
    }

    /// Whether the front batch of `queue` may go now.
    fn sendable(&self, queue: &PartitionQueue, now: Instant) -> bool {
        let Some(front) = queue.batches.front() else {
            return false;
        };
        if queue.backoff_until.is_some_and(|until| now < until) {
            return false;
        }
        let limit = if queue.retrying() {
            1
        } else {
            self.config.max_in_flight
        };
        if queue.in_flight >= limit {
            return false;
        }
        self.flushing
            || front.attempts > 0
            || queue.batches.len() > 1
            || front.bytes >= self.config.batch_size
            || now >= front.created + self.config.linger
    }

    /// Sends every batch that is ready, one request per leader.
    async fn send_ready(&mut self) {
        if self.new_producer_id && !self.renew_producer_id().await {
            return;
        }
        loop {
            let now = Instant::now();
            let ready: Vec<TopicPartition> = self
                .queues
                .iter()
                .filter(|(_, q)| self.sendable(q, now))
                .map(|(tp, _)| tp.clone())
                .collect();
            if ready.is_empty() {
                return;
            }
            let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, Batch)>> = BTreeMap::new();
            for tp in ready {
                let leader = match self.cluster.cached_leader(&tp.0, tp.1) {
                    Some(leader) => Ok(leader),
                    None => self.cluster.leader(&tp.0, tp.1).await,
                };
                match leader {
                    Ok(leader) => {
                        if let Some(batch) = self.take_front(&tp) {
                            by_leader.entry(leader).or_default().push((tp, batch));
                        }
                    }
                    Err(e) => self.wait_for_leader(&tp, &e, now),
                }
            }
            for (leader, batches) in by_leader {
                self.send(leader, batches).await;
            }
        }
    }

    /// Takes a new producer id once nothing numbered with the old one is in flight, and
    /// renumbers every queued batch from 0. False while that cannot happen yet.
    async fn renew_producer_id(&mut self) -> bool {
        if self.producer_id.is_none() {
            self.new_producer_id = false;
            return true;
        }
        if self.queues.values().any(|q| q.in_flight > 0) {
            return false;
        }
        match super::init_producer_id(&self.cluster).await {
            Ok(id) => {
                tracing::info!(
                    producer_id = id.id,
                    "renumbering batches under a new producer id"
                );
                self.producer_id = Some(id);
                for queue in self.queues.values_mut() {
                    queue.next_sequence = 0;
                    queue.dropped.clear();
                    for batch in &mut queue.batches {
                        batch.base_sequence = None;
                        batch.encoded = None;
                    }
                }
                self.new_producer_id = false;
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot take a new producer id yet");
                tokio::time::sleep(self.config.client.backoff.max).await;
                false
            }
        }
    }

    /// Takes the front batch of a partition for sending: stamps its sequence and encodes
    /// it. A batch that cannot be encoded fails on its own.
    fn take_front(&mut self, tp: &TopicPartition) -> Option<Batch> {
        let partitions = self.partition_counts.get(&tp.0).copied().unwrap_or(1);
        let producer = self.producer_id;
        let compression = self.config.compression;
        let queue = self.queues.get_mut(tp)?;
        let mut batch = queue.batches.pop_front()?;
        if batch.base_sequence.is_none() && producer.is_some() {
            batch.base_sequence = Some(queue.take_sequence(batch.records.len()));
        }
        let stamp = producer
            .zip(batch.base_sequence)
            .map(|(p, sequence)| (p.id, p.epoch, sequence));
        if let Err(e) = batch.encode(compression, stamp) {
            batch.fail(|| Error::Invalid(format!("records for {}-{}: {e}", tp.0, tp.1)));
            return None;
        }
        queue.in_flight += 1;
        if batch.attempts == 0 {
            self.sticky.batch_completed(&tp.0, tp.1, partitions);
        }
        batch.attempts += 1;
        Some(batch)
    }

    /// No leader is known for the partition now: back off and look again later; the
    /// delivery timeout bounds how long.
    fn wait_for_leader(&mut self, tp: &TopicPartition, error: &Error, now: Instant) {
        tracing::debug!(topic = %tp.0, partition = tp.1, %error, "no leader to produce to");
        if let Some(queue) = self.queues.get_mut(tp) {
            queue.backoff_until = Some(now + queue.backoff.next_delay());
            if let Some(front) = queue.batches.front_mut() {
                front.attempts = front.attempts.max(1);
            }
        }
    }

    async fn send(&mut self, leader: i32, batches: Vec<(TopicPartition, Batch)>) {
        let mut topics: BTreeMap<String, Vec<PartitionProduceData>> = BTreeMap::new();
        for ((topic, partition), batch) in &batches {
            topics
                .entry(topic.clone())
                .or_default()
                .push(PartitionProduceData {
                    index: *partition,
                    records: batch.encoded.clone(),
                });
        }
        let request = ProduceRequest {
            transactional_id: None,
            acks: self.config.acks.wire(),
            timeout_ms: i32::try_from(self.config.client.request_timeout.as_millis())
                .unwrap_or(i32::MAX),
            topic_data: topics
                .into_iter()
                .map(|(name, partition_data)| TopicProduceData {
                    name,
                    partition_data,
                })
                .collect(),
        };
        if self.config.acks == Acks::None {
            let sent = self.cluster.send_only(leader, request).await;
            let response = sent.map(|()| ProduceResponse::default());
            self.complete(batches, response);
            return;
        }
        match self.cluster.start_call_node(leader, request).await {
            Ok(response) => self
                .in_flight
                .push(Box::pin(async move { (batches, response.await) })),
            Err(e) => self.complete(batches, Err(e)),
        }
    }

    /// Settles the batches of one answered (or failed) request.
    fn complete(
        &mut self,
        batches: Vec<(TopicPartition, Batch)>,
        response: Result<ProduceResponse>,
    ) {
        let now = Instant::now();
        let mut answers: HashMap<(String, i32), PartitionProduceResponse> = HashMap::new();
        let response = response.map(|r| {
            for topic in r.responses {
                for p in topic.partition_responses {
                    answers.insert((topic.name.clone(), p.index), p);
                }
            }
        });
        for (tp, batch) in batches {
            self.settled(&tp);
            let outcome = match &response {
                Err(e) => Err(Failure {
                    reason: e.to_string(),
                    kafka: None,
                    retriable: e.is_retriable(),
                    stale_metadata: e.invalidates_metadata(),
                }),
                Ok(()) if self.config.acks == Acks::None => Ok((-1, -1)),
                Ok(()) => match answers.remove(&tp) {
                    None => Err(Failure {
                        reason: format!("the broker did not answer for {}-{}", tp.0, tp.1),
                        kafka: None,
                        retriable: true,
                        stale_metadata: false,
                    }),
                    Some(answer) => self.judge(&tp, &answer),
                },
            };
            match outcome {
                Ok((base_offset, append_time)) => {
                    let topic = match self.queues.get_mut(&tp) {
                        Some(queue) => {
                            queue.backoff =
                                crate::backoff::Backoff::new(self.config.client.backoff);
                            queue.topic.clone()
                        }
                        None => tp.0.as_str().into(),
                    };
                    batch.succeed(&topic, tp.1, base_offset, append_time);
                }
                Err(failure) => {
                    if failure.stale_metadata {
                        self.cluster.invalidate(&tp.0);
                    }
                    // Refused by the broker (not lost on the way): its sequences are free.
                    let refused = !failure.retriable && response.is_ok();
                    self.retry_or_fail(tp, batch, failure, refused, now);
                }
            }
        }
        for queue in self.queues.values_mut() {
            if queue.in_flight == 0 {
                queue.dropped.clear();
            }
        }
    }

    /// The outcome of one partition's answer: offsets, or why not and whether to retry.
    fn judge(
        &self,
        tp: &TopicPartition,
        answer: &PartitionProduceResponse,
    ) -> std::result::Result<(i64, i64), Failure> {
        let code = ErrorCode::from_code(answer.error_code).unwrap_or(ErrorCode::UnknownServerError);
        match code {
            ErrorCode::None => Ok((answer.base_offset, answer.log_append_time_ms)),
            // The broker has this batch already (a re-send after a lost response).
            ErrorCode::DuplicateSequenceNumber => {
                Ok((answer.base_offset, answer.log_append_time_ms))
            }
            _ => {
                let error = Error::Kafka {
                    code,
                    context: format!("produce to {}-{}", tp.0, tp.1),
                    message: answer.error_message.clone(),
                };
                // Behind a batch being re-sent, later batches are out of sequence: they go
                // again after it.
                let out_of_order_behind_retry = code == ErrorCode::OutOfOrderSequenceNumber
                    && self
                        .queues
                        .get(tp)
                        .is_some_and(|q| q.retrying() || !q.dropped.is_empty());
                let retriable = error.is_retriable() || out_of_order_behind_retry;
                Err(Failure::of(error, retriable))
            }
        }
    }

    fn retry_or_fail(
        &mut self,
        tp: TopicPartition,
        mut batch: Batch,
        failure: Failure,
        refused: bool,
        now: Instant,
    ) {
        let retriable = failure.retriable;
        let timed_out = now >= batch.deadline;
        if let Some(queue) = self.queues.get_mut(&tp) {
            if retriable && !timed_out {
                let reason = &failure.reason;
                tracing::debug!(topic = %tp.0, partition = tp.1, %reason, "retrying a batch");
                queue.renumber(&mut batch);
                queue.requeue(batch, now);
                return;
            }
            if let Some(base) = batch.base_sequence {
                if refused {
                    let records = i32::try_from(batch.records.len()).unwrap_or(i32::MAX);
                    queue.drop_sequences(base, records);
                } else {
                    // The broker may or may not have it: only a new producer id makes the
                    // following sequences unambiguous.
                    self.new_producer_id = true;
                }
            }
        }
        let timeout = self.config.delivery_timeout;
        let (topic, partition) = tp;
        if retriable {
            batch.fail(|| Error::DeliveryTimeout {
                topic: topic.clone(),
                partition,
                timeout,
                last_error: failure.reason.clone(),
            });
        } else {
            batch.fail(|| failure.error());
        }
    }

    fn settled(&mut self, tp: &TopicPartition) {
        if let Some(queue) = self.queues.get_mut(tp) {
            queue.in_flight = queue.in_flight.saturating_sub(1);
        }
    }

    /// Fails the batches waiting past their delivery timeout (those not in flight).
    fn expire(&mut self, now: Instant) {
        let timeout = self.config.delivery_timeout;
        for ((topic, partition), queue) in &mut self.queues {
            while queue.batches.front().is_some_and(|b| now >= b.deadline) {
                if let Some(batch) = queue.batches.pop_front() {
                    if batch.base_sequence.is_some() {
                        self.new_producer_id = true;
                    }
                    batch.fail(|| Error::DeliveryTimeout {
                        topic: topic.clone(),
                        partition: *partition,
                        timeout,
                        last_error: "no broker took the batch in time".into(),
                    });
                }
            }
        }
        self.queues
            .retain(|_, q| !q.batches.is_empty() || q.in_flight > 0 || q.next_sequence > 0);
    }

    fn is_idle(&self) -> bool {
        self.in_flight.is_empty()
            && self
                .queues
                .values()
                .all(|q| q.batches.is_empty() && q.in_flight == 0)
    }

    fn answer_flushes(&mut self) {
        if self.flushing && self.is_idle() {
            for done in self.flushes.drain(..) {
                let _ = done.send(());
            }
            self.flushing = false;
        }
    }

    /// The next moment something is due: a linger, a backoff or a delivery timeout.
    fn next_wake(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        self.queues
            .values()
            .filter_map(|q| {
                let front = q.batches.front()?;
                if q.in_flight >= self.config.max_in_flight || (q.retrying() && q.in_flight > 0) {
                    // A response comes first; only the delivery timeout is due meanwhile.
                    return Some(front.deadline);
                }
                let mut due = front.deadline.min(front.created + self.config.linger);
                if let Some(until) = q.backoff_until {
                    due = due.max(until).min(front.deadline);
                }
                Some(due)
            })
            .min()
            .unwrap_or(far)
    }
}

async fn sleep_until(when: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(when)).await;
}
