//! Fetch sessions (KIP-227): the broker remembers a consumer's partitions and what it last
//! sent for each, so that incremental fetches name only the partitions that changed and
//! responses carry only partitions with news.
//!
//! A full fetch with epoch 0 opens a session (its id is returned); each incremental fetch
//! must carry the session's next epoch, adds or updates the partitions it names and drops
//! the forgotten ones. Epoch -1 is a sessionless full fetch (closing the session named).
//! The cache is bounded: the least recently used session is evicted, and its client gets
//! FETCH_SESSION_ID_NOT_FOUND and starts over with a full fetch, as the protocol intends.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use streambus_protocol::ErrorCode;

/// Sessions kept at most (Kafka's `max.incremental.fetch.session.cache.slots`).
pub(crate) const MAX_SESSIONS: usize = 1000;
/// A sessionless full fetch.
pub(crate) const FINAL_EPOCH: i32 = -1;

/// A partition as a session knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionPartition {
    pub topic_id: [u8; 16],
    pub fetch_offset: i64,
    pub max_bytes: i32,
    pub current_leader_epoch: i32,
    /// What the last response said, to tell whether there is news.
    pub last_high_watermark: Option<i64>,
    pub last_log_start: Option<i64>,
}

/// Partitions of a session, by topic name and partition, in a stable order.
pub(crate) type SessionPartitions = BTreeMap<(String, i32), SessionPartition>;

struct Session {
    next_epoch: i32,
    partitions: SessionPartitions,
    last_used: Instant,
}

/// The broker's fetch sessions.
#[derive(Default)]
pub(crate) struct FetchSessions {
    sessions: HashMap<i32, Session>,
    next_id: i32,
}

/// What a fetch request is, as far as sessions go.
pub(crate) enum SessionRequest {
    /// A full fetch, opening a session with this id (0 when none could be opened).
    Full { new_session: i32 },
    /// An incremental fetch in an existing session.
    Incremental { session_id: i32 },
}

impl FetchSessions {
    /// Decides what a request with `session_id` and `epoch` is, closing or checking
    /// sessions as the protocol says. An error is the fetch's top-level error code.
    pub fn begin(&mut self, session_id: i32, epoch: i32) -> Result<SessionRequest, ErrorCode> {
        match (session_id, epoch) {
            (0, FINAL_EPOCH) => Ok(SessionRequest::Full { new_session: 0 }),
            (id, FINAL_EPOCH) => {
                self.sessions.remove(&id);
                Ok(SessionRequest::Full { new_session: 0 })
            }
            (id, 0) => {
                self.sessions.remove(&id);
                Ok(SessionRequest::Full {
                    new_session: self.open(),
                })
            }
            (0, _) => Err(ErrorCode::InvalidFetchSessionEpoch),
            (id, epoch) => match self.sessions.get_mut(&id) {
                None => Err(ErrorCode::FetchSessionIdNotFound),
                Some(session) if session.next_epoch != epoch => {
                    Err(ErrorCode::InvalidFetchSessionEpoch)
                }
                Some(session) => {
                    session.next_epoch = next_epoch(epoch);
                    session.last_used = Instant::now();
                    Ok(SessionRequest::Incremental { session_id: id })
                }
            },
        }
    }

    fn open(&mut self) -> i32 {
        if self.sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| *id)
        {
            self.sessions.remove(&oldest);
        }
        loop {
            self.next_id = self
                .next_id
                .checked_add(1)
                .filter(|id| *id > 0)
                .unwrap_or(1);
            if !self.sessions.contains_key(&self.next_id) {
                break;
            }
        }
        self.sessions.insert(
            self.next_id,
            Session {
                next_epoch: 1,
                partitions: BTreeMap::new(),
                last_used: Instant::now(),
            },
        );
        self.next_id
    }

    /// The partitions of a session, to update and then store back with `store`.
    pub fn partitions(&self, session_id: i32) -> Option<SessionPartitions> {
        self.sessions.get(&session_id).map(|s| s.partitions.clone())
    }

    /// Stores a session's partitions after a fetch.
    pub fn store(&mut self, session_id: i32, partitions: SessionPartitions) {
        if let Some(session) = self.sessions.get_mut(&session_id) {
            session.partitions = partitions;
        }
    }

    /// Number of open sessions.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.sessions.len()
    }
}

/// Epochs count up from 1 and wrap back to 1.
fn next_epoch(epoch: i32) -> i32 {
    epoch.checked_add(1).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_advance_and_close() {
        let mut cache = FetchSessions::default();
        let SessionRequest::Full { new_session } = cache.begin(0, 0).unwrap() else {
            panic!("a full fetch")
        };
        assert!(new_session > 0);
        assert!(matches!(
            cache.begin(new_session, 1),
            Ok(SessionRequest::Incremental { .. })
        ));
        assert_eq!(
            cache.begin(new_session, 1).err(),
            Some(ErrorCode::InvalidFetchSessionEpoch)
        );
        assert!(cache.begin(new_session, 2).is_ok());
        assert!(matches!(
            cache.begin(new_session, FINAL_EPOCH),
            Ok(SessionRequest::Full { new_session: 0 })
        ));
        assert_eq!(
            cache.begin(new_session, 3).err(),
            Some(ErrorCode::FetchSessionIdNotFound)
        );
        assert!(matches!(
            cache.begin(0, FINAL_EPOCH),
            Ok(SessionRequest::Full { new_session: 0 })
        ));
        assert_eq!(
            cache.begin(0, 5).err(),
            Some(ErrorCode::InvalidFetchSessionEpoch)
        );
    }

    #[test]
    fn the_least_recently_used_session_is_evicted() {
        let mut cache = FetchSessions::default();
        let mut first = 0;
        for i in 0..MAX_SESSIONS + 1 {
            let SessionRequest::Full { new_session } = cache.begin(0, 0).unwrap() else {
                panic!("a full fetch")
            };
            if i == 0 {
                first = new_session;
            }
        }
        assert_eq!(cache.len(), MAX_SESSIONS);
        assert_eq!(
            cache.begin(first, 1).err(),
            Some(ErrorCode::FetchSessionIdNotFound)
        );
    }
}
