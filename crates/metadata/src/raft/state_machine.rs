//! The Raft state machine: openraft's [`RaftStateMachine`] over a [`MetadataImage`], and the
//! published image that [`RaftMetadataLog`](crate::RaftMetadataLog) readers see.
//!
//! Applying an entry: a batch is applied with [`MetadataImage::apply_batch`], whole or not
//! at all, and a refused batch is a no-op whose refusal becomes the entry's
//! [`ApplyOutcome`]. Blank and membership entries change nothing but the offset. After
//! every apply call the image's offset is the Raft index of the last applied entry, of any
//! kind, so offsets are Raft log indexes.
//!
//! Durability: the image lives in memory and is rebuilt on open from the newest snapshot
//! (the file `snapshot`, one checksummed frame of its metadata and the image's records),
//! after which openraft replays the log entries the snapshot does not cover. A snapshot is
//! fsynced before openraft hears of it, built or installed.
//!
//! Invariant: every node applies the same entries to the same image in the same order, so
//! images, outcomes and refusals are equal on every node at every index.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, Snapshot, StorageIOError};
use serde::{Deserialize, Serialize};

use super::disk;
use super::types::{
    ApplyOutcome, Entry, LogId, Membership, Refusal, SnapshotMeta, StorageError, TypeConfig,
};
use crate::error::{CommitError, MetadataError};
use crate::image::MetadataImage;
use crate::record::MetadataRecord;

const SNAPSHOT: &str = "snapshot";
/// Refusals remembered for forwarded writes (see `write.rs`).
const REFUSALS_KEPT: usize = 1024;

/// What readers see: the published image and the refusals of recent entries.
#[derive(Debug, Default)]
pub(crate) struct Published {
    image: Mutex<Arc<MetadataImage>>,
    changed: Condvar,
    refusals: Mutex<BTreeMap<u64, Refusal>>,
}

impl Published {
    /// The latest image.
    pub fn image(&self) -> Arc<MetadataImage> {
        // The guarded value is a single `Arc`, always whole: a poisoned lock is harmless.
        Arc::clone(&self.image.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Blocks until the image's offset reaches `offset`, or until `deadline`.
    pub fn wait_for(
        &self,
        offset: u64,
        deadline: Option<std::time::Instant>,
    ) -> Option<Arc<MetadataImage>> {
        let mut image = self.image.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if image.offset() >= offset {
                return Some(Arc::clone(&image));
            }
            image = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.changed
                        .wait_timeout(image, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(image)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }

    /// The refusal of the batch at `index`, if it was refused and is still remembered.
    pub fn refusal(&self, index: u64) -> Option<Refusal> {
        self.refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&index)
            .cloned()
    }

    fn publish(&self, image: Arc<MetadataImage>, refusals: Vec<(u64, Refusal)>) {
        if !refusals.is_empty() {
            let mut kept = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
            kept.extend(refusals);
            while kept.len() > REFUSALS_KEPT {
                kept.pop_first();
            }
        }
        *self.image.lock().unwrap_or_else(PoisonError::into_inner) = image;
        self.changed.notify_all();
    }
}

/// The state machine; clones share one state.
#[derive(Debug, Clone)]
pub(crate) struct StateMachine {
    dir: PathBuf,
    state: Arc<Mutex<State>>,
    published: Arc<Published>,
}

#[derive(Debug)]
struct State {
    applied: Option<LogId>,
    membership: Membership,
    image: Arc<MetadataImage>,
    /// The newest snapshot: its metadata and data.
    snapshot: Option<(SnapshotMeta, Vec<u8>)>,
}

/// The snapshot file's content.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta,
    records: Vec<MetadataRecord>,
}

impl StateMachine {
    /// Opens the state machine from the snapshot in `dir`, if any, and publishes its image.
    pub fn open(dir: &Path, published: Arc<Published>) -> Result<StateMachine, MetadataError> {
        let mut state = State {
            applied: None,
            membership: Membership::default(),
            image: Arc::new(MetadataImage::new()),
            snapshot: None,
        };
        if let Some(file) = disk::read_value::<SnapshotFile>(dir, SNAPSHOT)? {
            let image = rebuild(&file.meta, &file.records)
                .map_err(|reason| disk::corrupt(&dir.join(SNAPSHOT), reason))?;
            let data = serde_json::to_vec(&file.records)
                .map_err(|source| MetadataError::Encode { source })?;
            state.applied = file.meta.last_log_id;
            state.membership = file.meta.last_membership.clone();
            state.image = Arc::new(image);
            state.snapshot = Some((file.meta, data));
        }
        published.publish(Arc::clone(&state.image), Vec::new());
        Ok(StateMachine {
            dir: dir.to_path_buf(),
            state: Arc::new(Mutex::new(state)),
            published,
        })
    }

    // The error is openraft's, the one its storage traits return.
    #[allow(clippy::result_large_err)]
    fn lock(&self) -> Result<MutexGuard<'_, State>, StorageError> {
        self.state.lock().map_err(|_| {
            StorageIOError::read_state_machine(openraft::AnyError::error("state machine poisoned"))
                .into()
        })
    }

    /// Writes the snapshot file and makes it the current snapshot, unless a newer one is.
    // The error is openraft's, the one its storage traits return.
    #[allow(clippy::result_large_err)]
    fn store_snapshot(
        &self,
        state: &mut State,
        meta: SnapshotMeta,
        records: Vec<MetadataRecord>,
        data: Vec<u8>,
    ) -> Result<(), StorageError> {
        let index = |m: &SnapshotMeta| m.last_log_id.map(|l| l.index);
        if let Some((current, _)) = &state.snapshot
            && index(current) > index(&meta)
        {
            return Ok(());
        }
        let file = SnapshotFile { meta, records };
        disk::write_value(&self.dir, SNAPSHOT, &file)
            .map_err(|e| StorageIOError::write_snapshot(None, openraft::AnyError::new(&e)))?;
        state.snapshot = Some((file.meta, data));
        Ok(())
    }
}

/// The image a snapshot's records rebuild, at the snapshot's index.
fn rebuild(meta: &SnapshotMeta, records: &[MetadataRecord]) -> Result<MetadataImage, String> {
    let mut image = MetadataImage::new();
    for (index, record) in records.iter().enumerate() {
        image
            .apply(record)
            .map_err(|e| format!("snapshot record {index} does not apply: {e}"))?;
    }
    image.set_offset(meta.last_log_id.map_or(0, |l| l.index));
    Ok(image)
}

fn read_error(reason: String) -> StorageError {
    StorageIOError::read_snapshot(None, openraft::AnyError::error(reason)).into()
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let mut state = self.lock()?;
        let records = state.image.to_records();
        let data = serde_json::to_vec(&records).map_err(|e| read_error(e.to_string()))?;
        let snapshot_id = match state.applied {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.leader_id.node_id, l.index),
            None => "empty".to_owned(),
        };
        let meta = SnapshotMeta {
            last_log_id: state.applied,
            last_membership: state.membership.clone(),
            snapshot_id,
        };
        self.store_snapshot(&mut state, meta.clone(), records, data.clone())?;
        tracing::debug!(index = ?meta.last_log_id, "built a metadata snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), StorageError> {
        let state = self.lock()?;
        Ok((state.applied, state.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ApplyOutcome>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut state = self.lock()?;
        let mut outcomes = Vec::new();
        let mut refusals = Vec::new();
        let mut image = Arc::clone(&state.image);
        for entry in entries {
            let index = entry.log_id.index;
            let mut outcome = ApplyOutcome::default();
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Membership(m) => {
                    state.membership = Membership::new(Some(entry.log_id), m);
                }
                EntryPayload::Normal(batch) => match image.apply_batch(index, &batch.0) {
                    Ok(next) => image = Arc::new(next),
                    Err(CommitError::Rejected {
                        index: at,
                        kind,
                        source,
                    }) => {
                        let refusal = Refusal {
                            index: at,
                            kind,
                            source,
                        };
                        outcome.refused = Some(refusal.clone().into_error().to_string());
                        refusals.push((index, refusal.clone()));
                        outcome.refusal = Some(refusal);
                    }
                    Err(other) => outcome.refused = Some(other.to_string()),
                },
            }
            state.applied = Some(entry.log_id);
            outcomes.push(outcome);
        }
        let last = state.applied.map_or(0, |l| l.index);
        if image.offset() != last {
            let mut moved = (*image).clone();
            moved.set_offset(last);
            image = Arc::new(moved);
        }
        state.image = Arc::clone(&image);
        self.published.publish(image, refusals);
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> StateMachine {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let records: Vec<MetadataRecord> =
            serde_json::from_slice(&data).map_err(|e| read_error(e.to_string()))?;
        let image = Arc::new(rebuild(meta, &records).map_err(read_error)?);
        let mut state = self.lock()?;
        self.store_snapshot(&mut state, meta.clone(), records, data)?;
        state.applied = meta.last_log_id;
        state.membership = meta.last_membership.clone();
        state.image = Arc::clone(&image);
        self.published.publish(image, Vec::new());
        tracing::info!(index = ?meta.last_log_id, "installed a metadata snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let state = self.lock()?;
        Ok(state.snapshot.as_ref().map(|(meta, data)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(data.clone())),
        }))
    }
}
