//! One link per leader broker that a follower fetches from, shared by all the partitions it
//! follows there (Kafka's replica fetcher): their fetches go out together, as one Fetch
//! request carrying every partition, on one connection.
//!
//! Each partition keeps its own task and [`FollowerState`](crate::state::FollowerState)
//! machine (see `fetcher`); where it used to send its own Fetch, it hands its fetch
//! position to the link ([`LeaderLink::fetch`]) and waits for its part of the answer. The
//! link's task gathers the positions, sends them in one request (which the leader holds
//! until one of the partitions has data, or the wait runs out), and hands each partition its
//! data or its error. So a follower of a thousand partitions on one leader holds one
//! long-polling request there, not a thousand, and one connection for fetches plus one for
//! the quick OffsetForLeaderEpoch questions ([`LeaderLink::control`]).
//!
//! Invariants:
//! - a round waits for the partitions of the previous round to come back with their next
//!   position: those that got records (they append them first) at most [`GATHER_BUSY`],
//!   the others at most [`GATHER`]. A partition that is catching up is thus never left out
//!   of a round that the leader then holds for its whole wait, and one that stopped
//!   following delays the others once, and for a bounded time;
//! - a position is answered exactly once: with its partition's data, its partition's error,
//!   the request's error, or "missing" when the response leaves the partition out;
//! - a failed request drops the connection; the next round opens a new one. The link lives
//!   as long as a partition holds it ([`LeaderLinks`] keeps only weak references).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use streambus_client::Connection;
use streambus_protocol::ErrorCode;
use streambus_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use streambus_protocol::messages::fetch_response::PartitionData;
use streambus_storage::TopicPartition;
use tokio::sync::{mpsc, oneshot};

use crate::state::ReplicaId;

/// How long a follower's fetch waits at the leader for new data.
const FETCH_MAX_WAIT_MS: i32 = 500;
/// Bytes asked for per partition, and per request.
const PARTITION_MAX_BYTES: i32 = 8 << 20;
const FETCH_MAX_BYTES: i32 = 32 << 20;
/// Connect and request timeouts (a request also waits up to `FETCH_MAX_WAIT_MS`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a round waits for the previous round's partitions that got nothing to ask
/// again, and for those that got records (and append them first).
const GATHER: Duration = Duration::from_millis(2);
const GATHER_BUSY: Duration = Duration::from_millis(500);

/// Why a partition's fetch through the link got no data.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum LinkError {
    /// The request failed (connection, timeout, decoding).
    #[error("fetch from {addr} failed: {reason}")]
    Request { addr: String, reason: String },
    /// The leader answered the whole request with an error.
    #[error("the leader answered the fetch with {0}")]
    Refused(ErrorCode),
    /// The response left the partition out.
    #[error("the leader's response lacks the partition")]
    Missing,
    /// The link's task is gone (the runtime is stopping).
    #[error("the fetch link to {0} is closed")]
    Closed(String),
}

/// One partition's fetch position, waiting for its answer.
struct Ask {
    tp: TopicPartition,
    current_leader_epoch: i32,
    fetch_offset: i64,
    reply: oneshot::Sender<Result<PartitionData, LinkError>>,
}

/// The fetch link to one leader, for one follower replica id.
pub(crate) struct LeaderLink {
    addr: String,
    asks: mpsc::UnboundedSender<Ask>,
    control: tokio::sync::Mutex<Option<Arc<Connection>>>,
    task: tokio::task::AbortHandle,
}

impl Drop for LeaderLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LeaderLink {
    fn start(runtime: &tokio::runtime::Handle, addr: String, replica_id: ReplicaId) -> LeaderLink {
        let (asks, rx) = mpsc::unbounded_channel();
        let task = runtime
            .spawn(run(addr.clone(), replica_id, rx))
            .abort_handle();
        LeaderLink {
            addr,
            asks,
            control: tokio::sync::Mutex::new(None),
            task,
        }
    }

    /// Fetches `tp` from `fetch_offset` in the next round: its data, or why there is none.
    pub(crate) async fn fetch(
        &self,
        tp: &TopicPartition,
        current_leader_epoch: i32,
        fetch_offset: i64,
    ) -> Result<PartitionData, LinkError> {
        let (reply, answer) = oneshot::channel();
        let ask = Ask {
            tp: tp.clone(),
            current_leader_epoch,
            fetch_offset,
            reply,
        };
        let closed = || LinkError::Closed(self.addr.clone());
        self.asks.send(ask).map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// The connection for requests that the leader answers at once (OffsetForLeaderEpoch),
    /// pipelined for every partition of the link; opened again after it failed.
    pub(crate) async fn control(&self) -> Result<Arc<Connection>, streambus_client::Error> {
        let mut slot = self.control.lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(connection));
        }
        let connection = Arc::new(open(&self.addr).await?);
        *slot = Some(Arc::clone(&connection));
        Ok(connection)
    }
}

async fn open(addr: &str) -> Result<Connection, streambus_client::Error> {
    Connection::open(addr, "streambus-replica", CONNECT_TIMEOUT, REQUEST_TIMEOUT).await
}

/// The links of a broker's followers, one per leader address and replica id.
#[derive(Default)]
pub(crate) struct LeaderLinks {
    links: Mutex<HashMap<(String, ReplicaId), Weak<LeaderLink>>>,
}

impl LeaderLinks {
    /// The link to `addr` for `replica_id`, started on `runtime` if none is held.
    pub(crate) fn link(
        &self,
        runtime: &tokio::runtime::Handle,
        addr: &str,
        replica_id: ReplicaId,
    ) -> Arc<LeaderLink> {
        let mut links = self.links.lock().unwrap_or_else(PoisonError::into_inner);
        links.retain(|_, link| link.strong_count() > 0);
        let key = (addr.to_owned(), replica_id);
        if let Some(link) = links.get(&key).and_then(Weak::upgrade) {
            return link;
        }
        let link = Arc::new(LeaderLink::start(runtime, addr.to_owned(), replica_id));
        links.insert(key, Arc::downgrade(&link));
        link
    }
}

/// The link's task: rounds of one Fetch for every partition that asked, until every
/// holder of the link is gone.
async fn run(addr: String, replica_id: ReplicaId, mut asks: mpsc::UnboundedReceiver<Ask>) {
    let mut connection: Option<Connection> = None;
    // The partitions of the last round, and those of them that got records (which are
    // appending them now, and ask again once they are done).
    let mut expected = 0;
    let mut busy: HashSet<TopicPartition> = HashSet::new();
    while let Some(first) = asks.recv().await {
        let started = tokio::time::Instant::now();
        // The busy partitions not back yet.
        let mut awaited = std::mem::take(&mut busy);
        awaited.remove(&first.tp);
        let mut round = vec![first];
        loop {
            let deadline = if !awaited.is_empty() {
                started + GATHER_BUSY
            } else if round.len() < expected {
                started + GATHER
            } else {
                break;
            };
            match tokio::time::timeout_at(deadline, asks.recv()).await {
                Ok(Some(ask)) => {
                    awaited.remove(&ask.tp);
                    round.push(ask);
                }
                Ok(None) | Err(_) => break,
            }
        }
        while let Ok(ask) = asks.try_recv() {
            round.push(ask);
        }
        expected = round.len();
        let answers = match send(&mut connection, &addr, replica_id, &round).await {
            Ok(answers) => answers,
            Err(e) => {
                connection = None;
                round.iter().map(|_| Err(e.clone())).collect()
            }
        };
        for (ask, answer) in round.into_iter().zip(answers) {
            if answer
                .as_ref()
                .is_ok_and(|d| d.records.as_ref().is_some_and(|r| !r.is_empty()))
            {
                busy.insert(ask.tp.clone());
            }
            let _ = ask.reply.send(answer);
        }
    }
}

/// One Fetch of every position in `round`: each one's answer, in order.
async fn send(
    connection: &mut Option<Connection>,
    addr: &str,
    replica_id: ReplicaId,
    round: &[Ask],
) -> Result<Vec<Result<PartitionData, LinkError>>, LinkError> {
    let failed = |e: streambus_client::Error| LinkError::Request {
        addr: addr.to_owned(),
        reason: e.to_string(),
    };
    let live = match connection.take().filter(|c| !c.is_closed()) {
        Some(live) => live,
        None => open(addr).await.map_err(failed)?,
    };
    let response = live
        .call(request(replica_id, round))
        .await
        .map_err(failed)?;
    *connection = Some(live);
    if let Some(code) = ErrorCode::from_code(response.error_code).filter(|c| *c != ErrorCode::None)
    {
        return Err(LinkError::Refused(code));
    }
    let mut data: HashMap<(String, i32), PartitionData> = HashMap::new();
    for topic in response.responses {
        for partition in topic.partitions {
            data.insert((topic.topic.clone(), partition.partition_index), partition);
        }
    }
    Ok(round
        .iter()
        .map(|ask| {
            data.remove(&(ask.tp.topic.to_string(), ask.tp.partition))
                .ok_or(LinkError::Missing)
        })
        .collect())
}

/// The Fetch request of `round`, partitions grouped by topic in the order they asked.
fn request(replica_id: ReplicaId, round: &[Ask]) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for ask in round {
        let partition = FetchPartition {
            partition: ask.tp.partition,
            current_leader_epoch: ask.current_leader_epoch,
            fetch_offset: ask.fetch_offset,
            partition_max_bytes: PARTITION_MAX_BYTES,
            ..Default::default()
        };
        let at = *index.entry(&ask.tp.topic).or_insert_with(|| {
            topics.push(FetchTopic {
                topic: ask.tp.topic.to_string(),
                ..Default::default()
            });
            topics.len() - 1
        });
        topics[at].partitions.push(partition);
    }
    FetchRequest {
        replica_id,
        max_wait_ms: FETCH_MAX_WAIT_MS,
        min_bytes: 1,
        max_bytes: FETCH_MAX_BYTES,
        topics,
        ..Default::default()
    }
}
