//! The producer: `enqueue` a record and get a [`Delivery`] that resolves to its offset once
//! the broker has it; or `send` and wait for that in one call.
//!
//! Records are batched per partition by `linger` and `batch_size` in a background task
//! ([`sender`]), compressed by the configured codec, and sent to each partition's leader,
//! several batches in flight at a time. Partitions are chosen as the Java client chooses
//! them ([`partitioner`]). With idempotence (the default) the producer takes a producer id
//! at start and numbers every batch, so that retries after errors or lost connections
//! neither duplicate nor reorder records. `buffer_memory` bounds what waits to be sent:
//! `enqueue` waits for room rather than growing without limit.

mod batch;
mod config;
pub mod partitioner;
mod record;
mod sender;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use streambus_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

pub use config::{Acks, Compression, ProducerConfig};
pub use record::{ProducerRecord, RecordMetadata};

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use batch::PendingRecord;
use sender::{Command, ProducerId, Sender};

/// A producer. Cheap to share by reference across tasks; `close` flushes it.
pub struct Producer {
    config: Arc<ProducerConfig>,
    cluster: Arc<Cluster>,
    commands: mpsc::UnboundedSender<Command>,
    buffer: Arc<Semaphore>,
    task: JoinHandle<()>,
}

/// The outcome of one enqueued record: where it was written, or why it was not.
pub struct Delivery(oneshot::Receiver<Result<RecordMetadata>>);

impl Future for Delivery {
    type Output = Result<RecordMetadata>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|outcome| outcome.unwrap_or(Err(Error::Closed)))
    }
}

impl Producer {
    /// Connects, and takes a producer id when idempotent.
    pub async fn new(config: ProducerConfig) -> Result<Producer> {
        config.validate()?;
        let cluster = Cluster::connect(config.client.clone()).await?;
        let producer_id = if config.idempotence {
            Some(init_producer_id(&cluster).await?)
        } else {
            None
        };
        let config = Arc::new(config);
        let (commands, received) = mpsc::unbounded_channel();
        let sender = Sender::new(config.clone(), cluster.clone(), producer_id);
        let task = tokio::spawn(sender.run(received));
        let buffer = Arc::new(Semaphore::new(config.buffer_memory));
        Ok(Producer {
            config,
            cluster,
            commands,
            buffer,
            task,
        })
    }

    /// The cluster this producer talks to.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Sends `record` and waits until the broker has it.
    pub async fn send(&self, record: ProducerRecord) -> Result<RecordMetadata> {
        self.enqueue(record).await?.await
    }

    /// Hands `record` to the producer and returns its [`Delivery`] without waiting for the
    /// broker; waits only for metadata (the first time a topic is used) and for room in
    /// the buffer. Records of one partition are written in the order they are enqueued.
    pub async fn enqueue(&self, mut record: ProducerRecord) -> Result<Delivery> {
        let size = record.estimated_size();
        if size > self.config.max_request_size {
            return Err(Error::Invalid(format!(
                "a record of about {size} bytes is larger than max_request_size ({} bytes)",
                self.config.max_request_size
            )));
        }
        let partitions = match self.cluster.cached_partition_count(&record.topic) {
            Some(count) => count,
            None => {
                let topic = self.topic_metadata(&record.topic).await?;
                i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX)
            }
        };
        if partitions == 0 {
            return Err(Error::Invalid(format!(
                "topic {} has no partitions",
                record.topic
            )));
        }
        let partition = match (record.partition, &record.key) {
            (Some(p), _) if !(0..partitions).contains(&p) => {
                return Err(Error::Kafka {
                    code: crate::ErrorCode::UnknownTopicOrPartition,
                    context: format!("partition {p} of {} (it has {partitions})", record.topic),
                    message: None,
                });
            }
            (Some(p), _) => Some(p),
            (None, Some(key)) => Some(partitioner::partition_for_key(key, partitions)),
            (None, None) => None,
        };
        let permits = u32::try_from(size).unwrap_or(u32::MAX);
        let permit = self
            .buffer
            .clone()
            .acquire_many_owned(permits)
            .await
            .map_err(|_| Error::Closed)?;
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let topic_name = std::mem::take(&mut record.topic);
        let (delivery, outcome) = oneshot::channel();
        let command = Command::Append {
            topic: topic_name,
            partition,
            partitions,
            record: PendingRecord::new(record, timestamp, delivery, permit),
            size,
        };
        self.commands.send(command).map_err(|_| Error::Closed)?;
        Ok(Delivery(outcome))
    }

    /// The topic's partitions. While no broker answers, waits (with backoff, up to the
    /// delivery timeout) as the Java client blocks for metadata; an unknown topic fails at
    /// once.
    async fn topic_metadata(&self, topic: &str) -> Result<crate::TopicInfo> {
        let deadline = tokio::time::Instant::now() + self.config.delivery_timeout;
        let mut backoff = crate::backoff::Backoff::new(self.config.client.backoff);
        loop {
            match self
                .cluster
                .topic(topic, self.config.auto_create_topics)
                .await
            {
                Err(e)
                    if e.is_retriable()
                        && e.code().is_none()
                        && tokio::time::Instant::now() < deadline =>
                {
                    backoff.wait().await;
                }
                outcome => return outcome,
            }
        }
    }

    /// Waits until every record enqueued so far is acknowledged or has failed.
    pub async fn flush(&self) -> Result<()> {
        let (done, flushed) = oneshot::channel();
        self.commands
            .send(Command::Flush(done))
            .map_err(|_| Error::Closed)?;
        flushed.await.map_err(|_| Error::Closed)
    }

    /// Flushes, then stops the background task.
    pub async fn close(self) -> Result<()> {
        self.flush().await?;
        drop(self.commands);
        self.task.await.map_err(|_| Error::Closed)
    }
}

/// Takes a producer id and epoch for an idempotent producer (InitProducerId without a
/// transactional id), retrying while the broker's coordinator is loading.
async fn init_producer_id(cluster: &Cluster) -> Result<ProducerId> {
    let mut backoff = crate::backoff::Backoff::new(cluster.config().backoff);
    for attempt in 0.. {
        let request = InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: -1,
            producer_id: -1,
            producer_epoch: -1,
        };
        let response = cluster.call_any(request).await?;
        match Error::check(response.error_code, || "InitProducerId".to_owned()) {
            Ok(()) => {
                return Ok(ProducerId {
                    id: response.producer_id,
                    epoch: response.producer_epoch,
                });
            }
            Err(e) if e.is_retriable() && attempt < 10 => backoff.wait().await,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
