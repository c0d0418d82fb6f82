//! Producers' appends to the partitions this broker leads, a request's worth at a time.
//!
//! A Produce request can carry batches for hundreds of partitions. Handing each append, and
//! then each fsync, to a blocking thread of its own costs a thread wake-up and a context
//! switch apiece, which with small batches over many partitions is most of the broker's
//! work. So a request's appends run in one blocking task, one partition after another (each
//! is a `pwrite` into the page cache). The fsyncs the flush policy calls for are shared
//! among at most [`SYNC_TASKS`] blocking tasks, enough at once for the filesystem to commit
//! several partitions' fsyncs in one journal transaction; from [`SYNCFS_FROM`] partitions
//! on, one `syncfs` of the data directory's filesystem makes them all durable at once
//! ([`PartitionLog::sync_together`]), made by one thread for every request waiting at the
//! time; should it fail, each partition falls back to its own fsync, which reports its own
//! error. A partition whose policy needs no fsync now
//! (`flush=os`, an interval not yet due) costs no blocking task at all.
//!
//! Appends keep the order of the calls: a connection awaits [`Partition::append_all`]
//! before it reads its next request; only the waits for the commits overlap.

use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use streambus_storage::{AppendInfo, PartitionLog, StorageError, now_ms};
use tokio::sync::oneshot;

use crate::manager::ReplicationError;
use crate::partition::{Partition, Role};

/// Blocking tasks that share one request's fsyncs.
const SYNC_TASKS: usize = 8;

/// Partitions to sync in one request from which one `syncfs` replaces their fsyncs.
const SYNCFS_FROM: usize = 16;

/// One append's commit: resolves once it is durable here as the flush policy promises and,
/// with `acks=all`, on every in-sync replica.
pub type Commit = std::pin::Pin<Box<dyn Future<Output = Result<(), ReplicationError>> + Send>>;

/// An fsync one blocking task is to make, and where its outcome goes.
type SyncJob = (
    Arc<PartitionLog>,
    i64,
    oneshot::Sender<Result<(), StorageError>>,
);

impl Partition {
    /// Appends validated producer batches to several led partitions at once (one Produce
    /// request's), returning as soon as they have their offsets: for each, in the order
    /// given, its offsets and the future of its commit, or why it was refused. `acks_all`
    /// is how long a commit waits for the in-sync replicas, if it does.
    pub async fn append_all(
        appends: Vec<(Arc<Partition>, Bytes)>,
        acks_all: Option<Duration>,
    ) -> Vec<Result<(AppendInfo, Commit), ReplicationError>> {
        let count = appends.len();
        let appended = tokio::task::spawn_blocking(move || {
            appends
                .into_iter()
                .map(|(partition, records)| {
                    let appended = partition.append_as_leader(&records);
                    (partition, appended)
                })
                .collect::<Vec<_>>()
        })
        .await;
        let Ok(appended) = appended else {
            return (0..count)
                .map(|_| Err(ReplicationError::TaskFailed))
                .collect();
        };
        let mut syncs = Vec::new();
        let results = appended
            .into_iter()
            .map(|(partition, appended)| {
                let info = appended?;
                let end = info.last_offset + 1;
                let synced = partition.log.sync_due(end).then(|| {
                    let (done, synced) = oneshot::channel();
                    syncs.push((Arc::clone(&partition.log), end, done));
                    synced
                });
                let commit: Commit = Box::pin(partition.commit(end, synced, acks_all));
                Ok((info, commit))
            })
            .collect();
        spawn_syncs(syncs);
        results
    }

    /// One partition's share of [`append_all`](Self::append_all), on a blocking thread.
    fn append_as_leader(&self, records: &Bytes) -> Result<AppendInfo, ReplicationError> {
        // Under the role lock: a broker that stopped leading writes nothing more.
        let role = self.lock_role();
        if !matches!(&*role, Role::Leader(_)) {
            return Err(self.not_leader());
        }
        let epoch = self.leader_epoch();
        Ok(self.log.append_unsynced(records, epoch, now_ms())?)
    }

    /// Waits for the fsync (if one was due), then for the in-sync replicas (with
    /// `acks_all`).
    async fn commit(
        self: Arc<Self>,
        end: i64,
        synced: Option<oneshot::Receiver<Result<(), StorageError>>>,
        acks_all: Option<Duration>,
    ) -> Result<(), ReplicationError> {
        if let Some(synced) = synced {
            synced.await.map_err(|_| ReplicationError::TaskFailed)??;
        }
        self.on_local_commit(end)?;
        match acks_all {
            Some(timeout) => self.wait_replicated(end, timeout).await,
            None => Ok(()),
        }
    }
}

/// Makes `syncs` on at most [`SYNC_TASKS`] blocking tasks, each reporting to its waiter.
fn spawn_syncs(syncs: Vec<SyncJob>) {
    if syncs.is_empty() {
        return;
    }
    if syncs.len() >= SYNCFS_FROM
        && let Some(queue) = SyncfsQueue::get()
    {
        queue.submit(syncs);
        return;
    }
    let per_task = syncs.len().div_ceil(SYNC_TASKS);
    let mut syncs = syncs.into_iter().peekable();
    while syncs.peek().is_some() {
        let share: Vec<SyncJob> = syncs.by_ref().take(per_task).collect();
        tokio::task::spawn_blocking(move || {
            for (log, end, done) in share {
                let _ = done.send(log.sync_per_policy(end));
            }
        });
    }
}

/// The syncs waiting for the next `syncfs`, and the one thread that makes them: while one
/// `syncfs` runs, the requests that arrive meanwhile queue up and share the next, so that
/// many requests over many partitions cost one `syncfs` at a time (group commit across
/// requests as well as partitions).
struct SyncfsQueue {
    waiting: Mutex<Vec<SyncJob>>,
    arrived: Condvar,
}

impl SyncfsQueue {
    /// The process's queue; its thread starts with the first use. `None` if the thread
    /// could not start: the syncs are then made one partition at a time.
    fn get() -> Option<&'static SyncfsQueue> {
        static QUEUE: OnceLock<Option<&'static SyncfsQueue>> = OnceLock::new();
        *QUEUE.get_or_init(|| {
            let queue: &'static SyncfsQueue = Box::leak(Box::new(SyncfsQueue {
                waiting: Mutex::new(Vec::new()),
                arrived: Condvar::new(),
            }));
            let started = std::thread::Builder::new()
                .name("streambus-syncfs".into())
                .spawn(move || queue.run());
            match started {
                Ok(_) => Some(queue),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the syncfs thread; partitions sync one by one");
                    None
                }
            }
        })
    }

    fn submit(&self, jobs: Vec<SyncJob>) {
        self.lock().extend(jobs);
        self.arrived.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SyncJob>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self) {
        loop {
            let jobs = {
                let mut waiting = self.lock();
                while waiting.is_empty() {
                    waiting = self
                        .arrived
                        .wait(waiting)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                std::mem::take(&mut *waiting)
            };
            sync_jobs_together(jobs);
        }
    }
}

/// One `syncfs` for all of `jobs`, or, should it fail, each partition's own fsync.
fn sync_jobs_together(jobs: Vec<SyncJob>) {
    let logs: Vec<(Arc<PartitionLog>, i64)> = jobs
        .iter()
        .map(|(log, end, _)| (Arc::clone(log), *end))
        .collect();
    let together = PartitionLog::sync_together(&logs);
    if let Err(e) = &together {
        tracing::warn!(error = %e, partitions = logs.len(), "syncfs failed; syncing each partition");
    }
    for (log, end, done) in jobs {
        let synced = match &together {
            Ok(()) => Ok(()),
            Err(_) => log.sync_per_policy(end),
        };
        let _ = done.send(synced);
    }
}
