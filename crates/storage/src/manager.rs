//! `LogManager`: every partition log of one data directory.
//!
//! It owns the directory: an exclusive lock on `<data dir>/.lock` (so two processes can
//! never write the same logs), one subdirectory per partition named `<topic>-<partition>`,
//! the logs opened in parallel at start, and the background maintenance (interval flushes,
//! retention, compaction, recovery-point checkpoints). Topic configs live in the cluster
//! metadata, not here: the broker hands them over with [`LogManager::set_topic_config`]
//! before it starts maintenance.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::LogConfig;
use crate::error::{IoContext, Result, StorageError};
use crate::log::{PartitionLog, RecoveryReport};

/// Name of the lock file in the data directory.
const LOCK_FILE: &str = ".lock";
/// Suffix of a partition directory being deleted.
const DELETING_SUFFIX: &str = ".deleting";
/// Kafka's limit on topic name length.
const MAX_TOPIC_NAME: usize = 249;

/// A topic name and partition number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// Parses a partition directory name, `<topic>-<partition>`.
    pub fn from_dir_name(name: &str) -> Option<Self> {
        let (topic, partition) = name.rsplit_once('-')?;
        let partition: i32 = partition.parse().ok()?;
        (is_legal_topic_name(topic) && partition >= 0)
            .then(|| TopicPartition::new(topic, partition))
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Kafka's rule: 1 to 249 of `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub fn is_legal_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOPIC_NAME
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// How to open a data directory.
#[derive(Debug, Clone)]
pub struct LogManagerConfig {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Config of logs whose topic has no config of its own.
    pub defaults: LogConfig,
    /// Threads that open (and recover) logs at start.
    pub recovery_threads: usize,
}

impl LogManagerConfig {
    /// Defaults for `data_dir`, with one recovery thread per core.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        LogManagerConfig {
            data_dir: data_dir.into(),
            defaults: LogConfig::default(),
            recovery_threads: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

/// What opening a data directory found.
#[derive(Debug, Default)]
pub struct OpenReport {
    /// Logs opened.
    pub opened: usize,
    /// Logs whose recovery cut a torn or corrupt tail.
    pub recovered: Vec<(TopicPartition, RecoveryReport)>,
    /// Logs that could not be opened; they are not served.
    pub failed: Vec<(TopicPartition, StorageError)>,
}

/// What one maintenance pass did over all logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Segments deleted by retention.
    pub segments_deleted: usize,
    /// Segments rewritten by compaction.
    pub segments_compacted: usize,
    /// Operations that failed (each is logged).
    pub errors: usize,
}

/// How often the maintenance thread writes each log's recovery-point checkpoint (and its
/// producer-state snapshot): Kafka's `log.flush.offset.checkpoint.interval.ms` default. A
/// checkpoint is a small file rewritten and fsynced twice, per partition whose durable
/// offset moved, so with many busy partitions a checkpoint every flush check (a second) was
/// most of the broker's background I/O; an unclean start instead scans what was written
/// since the last one (at most this long), and a clean stop checkpoints every log anyway.
pub const RECOVERY_CHECKPOINT_EVERY: Duration = Duration::from_secs(60);

/// What one maintenance pass does besides interval flushes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Chores {
    /// Retention and compaction.
    pub cleanup: bool,
    /// Recovery-point checkpoints and producer-state snapshots.
    pub checkpoint: bool,
}

/// All partition logs of a data directory.
pub struct LogManager {
    data_dir: PathBuf,
    _lock: File,
    defaults: LogConfig,
    logs: RwLock<HashMap<TopicPartition, Arc<PartitionLog>>>,
    topic_configs: RwLock<HashMap<String, LogConfig>>,
}

impl LogManager {
    /// Locks the data directory (creating it if needed) and opens every log in it in
    /// parallel. Logs that fail to open are reported and left out, so one damaged partition
    /// does not keep the others offline.
    pub fn open(config: LogManagerConfig) -> Result<(LogManager, OpenReport)> {
        config.defaults.validate()?;
        let dir = config.data_dir;
        fs::create_dir_all(&dir).at("create", &dir)?;
        let lock = lock_data_dir(&dir)?;
        let names = partition_dirs(&dir)?;
        let (logs, report) = open_all(names, &config.defaults, config.recovery_threads.max(1));
        let manager = LogManager {
            data_dir: dir,
            _lock: lock,
            defaults: config.defaults,
            logs: RwLock::new(logs),
            topic_configs: RwLock::new(HashMap::new()),
        };
        Ok((manager, report))
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The log of a partition, if it exists.
    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<PartitionLog>> {
        self.read_logs().get(tp).cloned()
    }

    /// Every partition with a log, sorted.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        let mut partitions: Vec<_> = self.read_logs().keys().cloned().collect();
        partitions.sort();
        partitions
    }

    /// Creates an empty log for a partition with its topic's config.
    pub fn create(&self, tp: &TopicPartition) -> Result<Arc<PartitionLog>> {
        if !is_legal_topic_name(&tp.topic) || tp.partition < 0 {
            return Err(StorageError::Log {
                name: tp.to_string(),
                problem: "is not a legal topic partition",
            });
        }
        let mut logs = self.write_logs();
        if logs.contains_key(tp) {
            return Err(StorageError::Log {
                name: tp.to_string(),
                problem: "already exists",
            });
        }
        let log = Arc::new(PartitionLog::open(
            &self.data_dir.join(tp.to_string()),
            self.topic_config(&tp.topic),
        )?);
        logs.insert(tp.clone(), Arc::clone(&log));
        Ok(log)
    }

    /// The partition's log, created if missing.
    pub fn get_or_create(&self, tp: &TopicPartition) -> Result<Arc<PartitionLog>> {
        match self.get(tp) {
            Some(log) => Ok(log),
            None => match self.create(tp) {
                Err(StorageError::Log {
                    problem: "already exists",
                    ..
                }) => self.get(tp).ok_or_else(|| StorageError::Log {
                    name: tp.to_string(),
                    problem: "does not exist",
                }),
                other => other,
            },
        }
    }

    /// Deletes a partition's log and its directory. The directory is first renamed, so a
    /// crash mid-delete leaves nothing that looks like a log.
    pub fn delete(&self, tp: &TopicPartition) -> Result<()> {
        let Some(log) = self.write_logs().remove(tp) else {
            return Err(StorageError::Log {
                name: tp.to_string(),
                problem: "does not exist",
            });
        };
        let doomed = self.data_dir.join(format!("{tp}{DELETING_SUFFIX}"));
        fs::rename(log.dir(), &doomed).at("rename", &doomed)?;
        crate::checkpoint::sync_dir(&self.data_dir)?;
        log.delete_renamed(&doomed)
    }

    /// Sets a topic's config and applies it to the topic's existing logs.
    pub fn set_topic_config(&self, topic: &str, config: LogConfig) -> Result<()> {
        config.validate()?;
        for (tp, log) in self.read_logs().iter() {
            if tp.topic == topic {
                log.set_config(config.clone())?;
            }
        }
        self.topic_configs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(topic.to_string(), config);
        Ok(())
    }

    /// The config a topic's logs get: its own, or the defaults.
    pub fn topic_config(&self, topic: &str) -> LogConfig {
        self.topic_configs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(topic)
            .cloned()
            .unwrap_or_else(|| self.defaults.clone())
    }

    /// One pass over every log: interval flushes, and the `chores` asked for. Errors are
    /// logged and counted; one log's failure does not stop the pass.
    pub fn run_maintenance(&self, now_ms: i64, chores: Chores) -> MaintenanceReport {
        let logs: Vec<_> = self
            .read_logs()
            .iter()
            .map(|(tp, log)| (tp.clone(), Arc::clone(log)))
            .collect();
        let mut report = MaintenanceReport::default();
        for (tp, log) in logs {
            let mut failed = |op: &str, e: StorageError| {
                if !matches!(e, StorageError::Closed { .. }) {
                    tracing::error!(log = %tp, op, error = %e, "log maintenance failed");
                    report.errors += 1;
                }
            };
            if let Err(e) = log.flush_if_due() {
                failed("flush", e);
            }
            if chores.cleanup {
                match log.enforce_retention(now_ms) {
                    Ok(outcome) => report.segments_deleted += outcome.segments_deleted,
                    Err(e) => failed("retention", e),
                }
                match log.compact(now_ms) {
                    Ok(outcome) => report.segments_compacted += outcome.segments_cleaned,
                    Err(e) => failed("compaction", e),
                }
            }
            if chores.checkpoint
                && let Err(e) = log.checkpoint_recovery_point()
            {
                failed("checkpoint", e);
            }
        }
        report
    }

    /// Runs [`run_maintenance`](Self::run_maintenance) on a background thread until the
    /// handle is dropped: flushes every `flush_every`, retention and compaction every
    /// `cleanup_every`, checkpoints every [`RECOVERY_CHECKPOINT_EVERY`].
    pub fn spawn_maintenance(
        self: &Arc<Self>,
        flush_every: Duration,
        cleanup_every: Duration,
    ) -> MaintenanceHandle {
        let (stop, stopped) = mpsc::channel::<()>();
        let manager = Arc::clone(self);
        let thread = std::thread::Builder::new()
            .name("log-maintenance".into())
            .spawn(move || {
                let mut last_cleanup = std::time::Instant::now();
                let mut last_checkpoint = std::time::Instant::now();
                let due = |last: &mut std::time::Instant, every: Duration| {
                    let due = last.elapsed() >= every;
                    if due {
                        *last = std::time::Instant::now();
                    }
                    due
                };
                loop {
                    match stopped.recv_timeout(flush_every) {
                        Err(RecvTimeoutError::Timeout) => {
                            let chores = Chores {
                                cleanup: due(&mut last_cleanup, cleanup_every),
                                checkpoint: due(&mut last_checkpoint, RECOVERY_CHECKPOINT_EVERY),
                            };
                            manager.run_maintenance(now_ms(), chores);
                        }
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            });
        match thread {
            Ok(thread) => MaintenanceHandle {
                stop: Some(stop),
                thread: Some(thread),
            },
            Err(e) => {
                tracing::error!(error = %e, "could not start the log maintenance thread");
                MaintenanceHandle {
                    stop: None,
                    thread: None,
                }
            }
        }
    }

    /// Closes every log cleanly (synced, checkpointed, marked clean).
    pub fn close(&self) -> Result<()> {
        let logs: Vec<_> = self.read_logs().values().cloned().collect();
        let mut first_error = None;
        for log in logs {
            if let Err(e) = log.close() {
                tracing::error!(log = %log.dir().display(), error = %e, "closing log failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn read_logs(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<TopicPartition, Arc<PartitionLog>>> {
        self.logs.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_logs(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<TopicPartition, Arc<PartitionLog>>> {
        self.logs.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Stops the maintenance thread when dropped.
pub struct MaintenanceHandle {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for MaintenanceHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn lock_data_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .at("open", &path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(StorageError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(e).at("lock", &path),
    }
}

/// Partition directories in the data directory; removes those left mid-deletion.
fn partition_dirs(dir: &Path) -> Result<Vec<(TopicPartition, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).at("list", dir)? {
        let entry = entry.at("list", dir)?;
        let path = entry.path();
        if !entry.file_type().at("stat", &path)?.is_dir() {
            continue;
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(DELETING_SUFFIX) {
            fs::remove_dir_all(&path).at("delete", &path)?;
            continue;
        }
        if let Some(tp) = TopicPartition::from_dir_name(name) {
            found.push((tp, path));
        }
    }
    Ok(found)
}

type Opened = (TopicPartition, Result<PartitionLog>);

fn open_all(
    names: Vec<(TopicPartition, PathBuf)>,
    defaults: &LogConfig,
    threads: usize,
) -> (HashMap<TopicPartition, Arc<PartitionLog>>, OpenReport) {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Opened>> = Mutex::new(Vec::with_capacity(names.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads.min(names.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((tp, path)) = names.get(i) else {
                        return;
                    };
                    let opened = PartitionLog::open(path, defaults.clone());
                    results
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((tp.clone(), opened));
                }
            });
        }
    });
    let mut logs = HashMap::new();
    let mut report = OpenReport::default();
    for (tp, opened) in results.into_inner().unwrap_or_else(PoisonError::into_inner) {
        match opened {
            Ok(log) => {
                let recovery = log.recovery_report();
                if recovery.truncated_bytes > 0 || recovery.segments_dropped > 0 {
                    report.recovered.push((tp.clone(), recovery.clone()));
                }
                report.opened += 1;
                logs.insert(tp, Arc::new(log));
            }
            Err(e) => {
                tracing::error!(log = %tp, error = %e, "log could not be opened and will not be served");
                report.failed.push((tp, e));
            }
        }
    }
    (logs, report)
}
