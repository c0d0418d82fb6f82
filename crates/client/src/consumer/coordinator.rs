//! The coordinator of one group: finding it (FindCoordinator, key type 0) and calling it
//! with the retries its errors ask for.
//!
//! Group requests go over two connections of their own to the coordinator, as the Java
//! client keeps a coordinator connection apart from its fetch connections: brokers answer a
//! connection's requests in order, so a JoinGroup or SyncGroup the coordinator parks until
//! the rebalance completes must not hold up heartbeats, commits or fetches behind it. One
//! connection carries JoinGroup and SyncGroup (with a timeout covering the rebalance
//! timeout), the other everything else.
//!
//! NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE and lost connections forget the coordinator
//! and find it again; COORDINATOR_LOAD_IN_PROGRESS waits. Both retry with backoff within the
//! request timeout, after which the caller sees the last answer.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::find_coordinator_request::FindCoordinatorRequest;

use crate::backoff::Backoff;
use crate::call::Call;
use crate::cluster::Cluster;
use crate::connection::Connection;
use crate::error::{Error, Result};

/// Group request types whose responses can say the coordinator moved.
pub(crate) trait GroupResponse {
    /// Calls `f` with every error code in the response.
    fn error_codes(&self, f: &mut dyn FnMut(i16));
}

macro_rules! group_responses {
    ($($module:ident :: $response:ident),* $(,)?) => {$(
        impl GroupResponse for streambus_protocol::messages::$module::$response {
            fn error_codes(&self, f: &mut dyn FnMut(i16)) {
                self.visit_error_codes(f);
            }
        }
    )*};
}

group_responses!(
    join_group_response::JoinGroupResponse,
    sync_group_response::SyncGroupResponse,
    heartbeat_response::HeartbeatResponse,
    leave_group_response::LeaveGroupResponse,
    offset_commit_response::OffsetCommitResponse,
    offset_fetch_response::OffsetFetchResponse,
);

/// The first coordinator error in `response`, if any.
fn coordinator_error(response: &impl GroupResponse) -> Option<ErrorCode> {
    let mut found = None;
    response.error_codes(&mut |code| {
        let code = ErrorCode::from_code(code);
        if found.is_none()
            && matches!(
                code,
                Some(
                    ErrorCode::NotCoordinator
                        | ErrorCode::CoordinatorNotAvailable
                        | ErrorCode::CoordinatorLoadInProgress
                )
            )
        {
            found = code;
        }
    });
    found
}

/// A lazily opened connection to the coordinator, replaced when it fails or the coordinator
/// moves.
#[derive(Default)]
struct Slot(tokio::sync::Mutex<Option<Arc<Connection>>>);

/// Which of the coordinator connections a request takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Heartbeats, commits, offset fetches, leaving.
    Prompt,
    /// JoinGroup and SyncGroup, which the coordinator parks until the rebalance completes.
    Parked,
}

/// Calls to one group's coordinator.
pub(crate) struct GroupClient {
    cluster: Arc<Cluster>,
    group_id: String,
    coordinator: Mutex<Option<String>>,
    prompt: Slot,
    parked: Slot,
    /// The request timeout of the parked lane: the rebalance timeout and some.
    parked_timeout: Duration,
}

impl GroupClient {
    /// A client for `group_id`, whose rebalances may take up to `rebalance_timeout`.
    pub(crate) fn new(
        cluster: Arc<Cluster>,
        group_id: String,
        rebalance_timeout: Duration,
    ) -> GroupClient {
        let parked_timeout =
            (rebalance_timeout + Duration::from_secs(5)).max(cluster.config().request_timeout);
        GroupClient {
            cluster,
            group_id,
            coordinator: Mutex::new(None),
            prompt: Slot::default(),
            parked: Slot::default(),
            parked_timeout,
        }
    }

    /// The group id.
    pub(crate) fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The coordinator's address, found if not known.
    pub(crate) async fn coordinator(&self) -> Result<String> {
        if let Some(addr) = self.lock().clone() {
            return Ok(addr);
        }
        let request = FindCoordinatorRequest {
            key: self.group_id.clone(),
            key_type: 0,
            coordinator_keys: vec![self.group_id.clone()],
        };
        let response = self.cluster.call_any(request).await?;
        let (code, message, host, port) = match response.coordinators.first() {
            Some(c) => (
                c.error_code,
                c.error_message.clone(),
                c.host.clone(),
                c.port,
            ),
            None => (
                response.error_code,
                response.error_message.clone(),
                response.host.clone(),
                response.port,
            ),
        };
        Error::check_with_message(code, message.as_deref(), || {
            format!("finding the coordinator of group {}", self.group_id)
        })?;
        let addr = format!("{host}:{port}");
        tracing::debug!(group = %self.group_id, coordinator = %addr, "found the group coordinator");
        *self.lock() = Some(addr.clone());
        Ok(addr)
    }

    /// Forgets the coordinator, so that the next call finds it again.
    pub(crate) fn forget_coordinator(&self) {
        self.lock().take();
    }

    /// Sends `request` to the coordinator on `lane`, retrying coordinator errors and lost
    /// connections with backoff within the request timeout.
    pub(crate) async fn call<R>(&self, lane: Lane, request: R) -> Result<R::Response>
    where
        R: Call + Clone,
        R::Response: GroupResponse,
    {
        let config = self.cluster.config();
        let deadline = Instant::now() + config.request_timeout;
        let mut backoff = Backoff::new(config.backoff);
        loop {
            let result = self.call_once(lane, request.clone()).await;
            let retry = match &result {
                Ok(response) => match coordinator_error(response) {
                    Some(ErrorCode::CoordinatorLoadInProgress) => true,
                    Some(_) => {
                        self.forget_coordinator();
                        true
                    }
                    None => false,
                },
                Err(e) if e.is_retriable() => {
                    self.forget_coordinator();
                    true
                }
                Err(_) => false,
            };
            if !retry || Instant::now() >= deadline {
                return result;
            }
            backoff.wait().await;
        }
    }

    async fn call_once<R: Call>(&self, lane: Lane, request: R) -> Result<R::Response> {
        let addr = self.coordinator().await?;
        let connection = self.connection(lane, &addr).await?;
        connection.call(request).await
    }

    async fn connection(&self, lane: Lane, addr: &str) -> Result<Arc<Connection>> {
        let (slot, timeout) = match lane {
            Lane::Prompt => (&self.prompt, self.cluster.config().request_timeout),
            Lane::Parked => (&self.parked, self.parked_timeout),
        };
        let mut open = slot.0.lock().await;
        if let Some(connection) = open.as_ref()
            && connection.addr() == addr
            && !connection.is_closed()
        {
            return Ok(connection.clone());
        }
        let config = self.cluster.config();
        let connection = Arc::new(
            Connection::open(addr, &config.client_id, config.connect_timeout, timeout).await?,
        );
        *open = Some(connection.clone());
        Ok(connection)
    }

    fn lock(&self) -> MutexGuard<'_, Option<String>> {
        self.coordinator.lock().unwrap_or_else(|e| e.into_inner())
    }
}
