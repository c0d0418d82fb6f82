//! `LeaderEpochCache`: the offset at which each leader epoch began in one replica's log.
//!
//! It owns the ordered `(epoch, start_offset)` entries of Kafka's `LeaderEpochFileCache`
//! (KIP-101) and answers OffsetForLeaderEpoch (KIP-279). Invariant: entries are strictly
//! increasing in epoch *and* in start offset. `assign` keeps it by removing, from the end,
//! every entry whose epoch or start offset is not below the new entry's, as Kafka does; that
//! is also what happens when a replica re-learns an epoch at a lower offset after a
//! truncation. The cache is in memory: a runtime rebuilds it from the batch epochs of its log
//! on open.

use super::error::StateError;
use super::{UNDEFINED_EPOCH, UNDEFINED_OFFSET};

/// One leader epoch and the first offset written in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: i32,
    /// The offset of its first record.
    pub start_offset: i64,
}

/// An OffsetForLeaderEpoch answer: the largest epoch at or below the one asked for, and the
/// offset where it ends (the start of the next epoch, or the log end for the latest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    /// The epoch, or [`UNDEFINED_EPOCH`].
    pub epoch: i32,
    /// Its end offset (exclusive), or [`UNDEFINED_OFFSET`].
    pub end_offset: i64,
}

impl EpochEndOffset {
    /// Kafka's `(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)`.
    pub const UNDEFINED: EpochEndOffset = EpochEndOffset {
        epoch: UNDEFINED_EPOCH,
        end_offset: UNDEFINED_OFFSET,
    };

    /// An answer.
    pub fn new(epoch: i32, end_offset: i64) -> Self {
        EpochEndOffset { epoch, end_offset }
    }

    /// Whether this is the undefined answer.
    pub fn is_undefined(&self) -> bool {
        self.end_offset == UNDEFINED_OFFSET
    }
}

/// The leader epochs of one replica's log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// An empty cache (an empty log).
    pub fn new() -> Self {
        LeaderEpochCache::default()
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The newest entry.
    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// The newest epoch.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.latest().map(|e| e.epoch)
    }

    /// The epoch of the record at `offset`: that of the last entry starting at or before it.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.start_offset <= offset)
            .map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`. Returns whether the cache changed.
    ///
    /// Nothing changes when the latest entry already has this epoch at or below this offset
    /// (every later batch of the epoch calls this). Otherwise entries with an epoch or start
    /// offset at or above the new one are dropped first, so the entries stay monotone.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> Result<bool, StateError> {
        if epoch < 0 || start_offset < 0 {
            return Err(StateError::InvalidEpochEntry {
                epoch,
                start_offset,
            });
        }
        if let Some(latest) = self.latest()
            && latest.epoch == epoch
            && latest.start_offset <= start_offset
        {
            return Ok(false);
        }
        while let Some(last) = self.entries.last() {
            if last.epoch >= epoch || last.start_offset >= start_offset {
                self.entries.pop();
            } else {
                break;
            }
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        Ok(true)
    }

    /// The OffsetForLeaderEpoch answer for `requested` in a log ending at `log_end_offset`,
    /// as Kafka's `LeaderEpochFileCache.endOffsetFor`:
    ///
    /// - undefined for [`UNDEFINED_EPOCH`], an empty cache, or an epoch above the latest;
    /// - `(requested, log_end_offset)` for the latest epoch;
    /// - below the first epoch, `(requested, first start offset)`: the history before it is
    ///   gone (retention), and the follower must not keep anything past what remains;
    /// - otherwise the largest epoch at or below `requested` and the start of the next one.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> EpochEndOffset {
        if requested == UNDEFINED_EPOCH {
            return EpochEndOffset::UNDEFINED;
        }
        match self.latest_epoch() {
            None => return EpochEndOffset::UNDEFINED,
            Some(latest) if latest == requested => {
                return EpochEndOffset::new(requested, log_end_offset);
            }
            Some(_) => {}
        }
        let Some(higher) = self.entries.iter().find(|e| e.epoch > requested) else {
            return EpochEndOffset::UNDEFINED;
        };
        match self.entries.iter().rev().find(|e| e.epoch <= requested) {
            None => EpochEndOffset::new(requested, higher.start_offset),
            Some(floor) => EpochEndOffset::new(floor.epoch, higher.start_offset),
        }
    }

    /// Forgets epochs that start at or after `end_offset` (the log was truncated to it).
    pub fn truncate_from_end(&mut self, end_offset: i64) {
        if end_offset < 0 {
            return;
        }
        self.entries.retain(|e| e.start_offset < end_offset);
    }

    /// Forgets epochs wholly below `start_offset` (the log start moved to it); the epoch that
    /// holds `start_offset` now starts there.
    pub fn truncate_from_start(&mut self, start_offset: i64) {
        let removed = self
            .entries
            .iter()
            .take_while(|e| e.start_offset <= start_offset)
            .count();
        if removed == 0 {
            return;
        }
        let holder = self.entries[removed - 1].epoch;
        self.entries.drain(..removed);
        self.entries.insert(
            0,
            EpochEntry {
                epoch: holder,
                start_offset,
            },
        );
    }

    /// Empties the cache (the log was deleted and restarted).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        let mut c = LeaderEpochCache::new();
        for &(e, o) in entries {
            c.assign(e, o).unwrap();
        }
        c
    }

    fn pairs(c: &LeaderEpochCache) -> Vec<(i32, i64)> {
        c.entries()
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect()
    }

    #[test]
    fn assign_is_idempotent_within_an_epoch() {
        let mut c = cache(&[(0, 0), (2, 5)]);
        assert!(!c.assign(2, 5).unwrap());
        assert!(!c.assign(2, 9).unwrap());
        assert_eq!(pairs(&c), vec![(0, 0), (2, 5)]);
    }

    #[test]
    fn assign_removes_entries_that_break_monotonicity() {
        // A later epoch starting below existing starts removes them (Kafka's
        // maybeTruncateNonMonotonicEntries).
        let mut c = cache(&[(0, 0), (1, 5), (2, 8)]);
        assert!(c.assign(3, 6).unwrap());
        assert_eq!(pairs(&c), vec![(0, 0), (1, 5), (3, 6)]);
        // The same epoch at a lower offset replaces it.
        assert!(c.assign(3, 5).unwrap());
        assert_eq!(pairs(&c), vec![(0, 0), (3, 5)]);
        // An older epoch drops every newer one.
        assert!(c.assign(1, 7).unwrap());
        assert_eq!(pairs(&c), vec![(0, 0), (1, 7)]);
        assert_eq!(
            c.assign(-1, 0),
            Err(StateError::InvalidEpochEntry {
                epoch: -1,
                start_offset: 0
            })
        );
    }

    #[test]
    fn end_offset_for_follows_kafka() {
        let c = cache(&[(1, 0), (3, 10), (5, 20)]);
        assert_eq!(c.end_offset_for(5, 27), EpochEndOffset::new(5, 27));
        assert_eq!(c.end_offset_for(3, 27), EpochEndOffset::new(3, 20));
        // 4 is unknown: the largest epoch below it, ending where 5 starts.
        assert_eq!(c.end_offset_for(4, 27), EpochEndOffset::new(3, 20));
        assert_eq!(c.end_offset_for(2, 27), EpochEndOffset::new(1, 10));
        // Below the first epoch: the requested epoch, ending at the first start.
        assert_eq!(c.end_offset_for(0, 27), EpochEndOffset::new(0, 0));
        assert_eq!(c.end_offset_for(6, 27), EpochEndOffset::UNDEFINED);
        assert_eq!(
            c.end_offset_for(UNDEFINED_EPOCH, 27),
            EpochEndOffset::UNDEFINED
        );
        assert_eq!(
            LeaderEpochCache::new().end_offset_for(0, 0),
            EpochEndOffset::UNDEFINED
        );
    }

    #[test]
    fn truncation_from_either_end() {
        let mut c = cache(&[(1, 0), (3, 10), (5, 20)]);
        c.truncate_from_end(21);
        assert_eq!(pairs(&c), vec![(1, 0), (3, 10), (5, 20)]);
        c.truncate_from_end(20);
        assert_eq!(pairs(&c), vec![(1, 0), (3, 10)]);
        c.truncate_from_start(12);
        assert_eq!(pairs(&c), vec![(3, 12)]);
        c.truncate_from_start(12);
        assert_eq!(pairs(&c), vec![(3, 12)]);
        c.truncate_from_start(3);
        assert_eq!(pairs(&c), vec![(3, 12)]);
        assert_eq!(c.epoch_for_offset(11), None);
        assert_eq!(c.epoch_for_offset(40), Some(3));
        c.truncate_from_end(0);
        assert!(c.entries().is_empty());
    }
}
