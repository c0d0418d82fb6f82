//! `FollowerProgress`: what a leader knows of one follower, from its fetches.
//!
//! It owns Kafka's `ReplicaState` fields and the `lastCaughtUpTimeMs` rule: a fetch from at
//! or past the leader's log end *now* makes the follower caught up now; a fetch from at or
//! past the leader's log end *as of the previous fetch* makes it caught up as of that
//! previous fetch. Invariant: `last_caught_up_time_ms` never decreases.

use super::UNDEFINED_OFFSET;

/// A leader's view of one follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerProgress {
    /// The follower's log end offset: the offset of its last fetch, or [`UNDEFINED_OFFSET`]
    /// before its first fetch from this leader.
    pub log_end_offset: i64,
    /// When it was last known to have everything the leader had.
    pub last_caught_up_time_ms: i64,
    /// The leader's log end offset at the follower's previous fetch.
    pub last_fetch_leader_log_end_offset: i64,
    /// When the follower last fetched.
    pub last_fetch_time_ms: i64,
}

impl FollowerProgress {
    /// A follower of a newly elected leader: caught up "now" if it is in the ISR (so it gets
    /// a full lag window to fetch), never otherwise, with an unknown log end.
    pub(crate) fn new_leader(in_sync: bool, now_ms: i64) -> Self {
        FollowerProgress {
            log_end_offset: UNDEFINED_OFFSET,
            last_caught_up_time_ms: if in_sync { now_ms } else { 0 },
            last_fetch_leader_log_end_offset: UNDEFINED_OFFSET,
            last_fetch_time_ms: 0,
        }
    }

    /// Records a fetch from `fetch_offset` at `now_ms` while the leader's log ends at
    /// `leader_log_end_offset` (Kafka's `Replica.updateFetchState`).
    pub(crate) fn on_fetch(&mut self, fetch_offset: i64, leader_log_end_offset: i64, now_ms: i64) {
        if fetch_offset >= leader_log_end_offset {
            self.last_caught_up_time_ms = self.last_caught_up_time_ms.max(now_ms);
        } else if fetch_offset >= self.last_fetch_leader_log_end_offset {
            self.last_caught_up_time_ms = self.last_caught_up_time_ms.max(self.last_fetch_time_ms);
        }
        self.log_end_offset = fetch_offset;
        self.last_fetch_leader_log_end_offset = leader_log_end_offset;
        self.last_fetch_time_ms = now_ms;
    }

    /// Whether the follower is within the lag window (Kafka's `Replica.isCaughtUp`).
    pub fn is_caught_up(&self, leader_log_end_offset: i64, now_ms: i64, max_lag_ms: i64) -> bool {
        self.log_end_offset == leader_log_end_offset
            || now_ms - self.last_caught_up_time_ms <= max_lag_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_up_now_or_as_of_the_previous_fetch() {
        let mut p = FollowerProgress::new_leader(true, 100);
        assert_eq!(p.last_caught_up_time_ms, 100);
        // Behind the leader's end now, and no previous fetch: not caught up again.
        p.on_fetch(5, 10, 200);
        assert_eq!(p.last_caught_up_time_ms, 100);
        // Reaches the leader's end as of the previous fetch (10) but the leader moved to 15:
        // caught up as of the previous fetch time.
        p.on_fetch(10, 15, 300);
        assert_eq!(p.last_caught_up_time_ms, 200);
        // At the leader's end: caught up now.
        p.on_fetch(15, 15, 400);
        assert_eq!(p.last_caught_up_time_ms, 400);
        assert!(p.is_caught_up(15, 10_000, 0));
        assert!(!p.is_caught_up(16, 1_000, 500));
        assert!(p.is_caught_up(16, 900, 500));
    }

    #[test]
    fn out_of_sync_follower_of_a_new_leader_was_never_caught_up() {
        let p = FollowerProgress::new_leader(false, 100);
        assert_eq!(p.last_caught_up_time_ms, 0);
        assert_eq!(p.log_end_offset, UNDEFINED_OFFSET);
    }
}
