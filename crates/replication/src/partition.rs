//! One hosted partition: its log, leader epoch and high watermark.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use streambus_storage::{AppendInfo, LogRead, PartitionLog, TopicPartition, now_ms};
use tokio::sync::watch;

use crate::manager::ReplicationError;

/// A partition this broker leads.
pub struct Partition {
    tp: TopicPartition,
    log: Arc<PartitionLog>,
    leader_epoch: AtomicI32,
    /// The high watermark; receivers are woken when it moves.
    high_watermark: watch::Sender<i64>,
}

impl Partition {
    pub(crate) fn new(tp: TopicPartition, log: Arc<PartitionLog>, leader_epoch: i32) -> Self {
        let end = log.log_end_offset();
        Partition {
            tp,
            log,
            leader_epoch: AtomicI32::new(leader_epoch),
            high_watermark: watch::Sender::new(end),
        }
    }

    /// Topic and partition number.
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    /// The underlying log.
    pub fn log(&self) -> &Arc<PartitionLog> {
        &self.log
    }

    /// The current leader epoch.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    pub(crate) fn set_leader_epoch(&self, epoch: i32) {
        self.leader_epoch.store(epoch, Ordering::Release);
    }

    /// Offset below which records are committed and visible to consumers.
    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    /// First offset held.
    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    /// Offset the next record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    /// Appends validated producer batches and returns once they are committed (durable as
    /// the log's flush policy promises); moves the high watermark and wakes waiting fetches.
    /// The blocking file work runs on tokio's blocking pool.
    pub async fn append(
        self: &Arc<Self>,
        records: bytes::Bytes,
    ) -> Result<AppendInfo, ReplicationError> {
        let (info, committed) = self.append_in_order(records).await?;
        committed.await?;
        Ok(info)
    }

    /// Appends validated producer batches, returning as soon as they have their offsets,
    /// with a future that resolves once they are committed (and the high watermark has
    /// moved past them). Appends happen in the order of the calls; only the waits for
    /// durability overlap, so that one group-commit fsync can cover the appends of several
    /// requests of one connection.
    pub async fn append_in_order(
        self: &Arc<Self>,
        records: bytes::Bytes,
    ) -> Result<
        (
            AppendInfo,
            impl Future<Output = Result<(), ReplicationError>> + Send + 'static + use<>,
        ),
        ReplicationError,
    > {
        let partition = Arc::clone(self);
        let epoch = self.leader_epoch();
        let info = tokio::task::spawn_blocking(move || {
            partition.log.append_unsynced(&records, epoch, now_ms())
        })
        .await
        .map_err(|_| ReplicationError::TaskFailed)??;
        let partition = Arc::clone(self);
        let end = info.last_offset + 1;
        let committed = async move {
            let log = Arc::clone(&partition.log);
            tokio::task::spawn_blocking(move || log.sync_per_policy(end))
                .await
                .map_err(|_| ReplicationError::TaskFailed)??;
            partition.advance_high_watermark(end);
            Ok(())
        };
        Ok((info, committed))
    }

    fn advance_high_watermark(&self, offset: i64) {
        self.high_watermark.send_if_modified(|hwm| {
            if offset > *hwm {
                *hwm = offset;
                true
            } else {
                false
            }
        });
    }

    /// Reads committed batches from `offset`, at most `max_bytes` (at least one batch).
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<LogRead, ReplicationError> {
        Ok(self
            .log
            .read(offset, max_bytes, Some(self.high_watermark()))?)
    }

    /// Removes records below `offset` (DeleteRecords); returns the new log start offset.
    pub async fn delete_records_before(
        self: &Arc<Self>,
        offset: i64,
    ) -> Result<i64, ReplicationError> {
        let hwm = self.high_watermark();
        let offset = if offset == -1 { hwm } else { offset };
        if offset > hwm || offset < 0 {
            return Err(ReplicationError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset(),
                high_watermark: hwm,
            });
        }
        let partition = Arc::clone(self);
        Ok(
            tokio::task::spawn_blocking(move || partition.log.delete_records_before(offset))
                .await
                .map_err(|_| ReplicationError::TaskFailed)??,
        )
    }

    /// A waiter that resolves when the high watermark moves past what it has seen.
    pub fn waiter(&self) -> FetchWaiter {
        let mut receiver = self.high_watermark.subscribe();
        receiver.mark_unchanged();
        FetchWaiter { receiver }
    }

    /// The end offset of `epoch` and the epoch that holds it, for OffsetForLeaderEpoch: the
    /// log end for the current epoch; `None` for an epoch this partition has not reached.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        let current = self.leader_epoch();
        (epoch <= current && epoch >= 0).then(|| (current, self.log_end_offset()))
    }
}

/// Resolves when a partition's high watermark moves.
pub struct FetchWaiter {
    receiver: watch::Receiver<i64>,
}

impl FetchWaiter {
    /// Waits for the next move of the high watermark (or the partition's removal).
    pub async fn changed(&mut self) {
        if self.receiver.changed().await.is_err() {
            // The partition is gone: never resolve, the caller's timeout ends the wait.
            std::future::pending::<()>().await;
        }
    }
}
