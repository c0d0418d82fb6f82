//! The admin client: topics, configs, consumer groups, the cluster and where partitions
//! live, over the Kafka admin APIs, for `streambus topic|group|cluster` and for programs
//! that manage a cluster.
//!
//! [`Admin`] is a thin layer on a [`Cluster`]: each method builds one kind of request, sends
//! it where Kafka's own admin client would (topic changes to the controller, group requests
//! to the group's coordinator, broker configs to that broker), and turns the response into
//! plain types. Every per-item error in a response (a topic that exists, a group that is not
//! empty) comes back as [`Error::Kafka`] with a context naming the topic or group, so the
//! caller never inspects error codes inside response structs.
//!
//! Requests fill the fields of every version they may go out at (the connection picks the
//! highest version both sides speak), and responses are read from whichever version's
//! fields came back, so the admin client works against brokers of any supported version.

mod cluster;
mod configs;
mod groups;
mod plans;
mod reassignments;
mod topics;

use std::sync::Arc;

use crate::backoff::Backoff;
use crate::cluster::Cluster;
use crate::config::ClientConfig;
use crate::error::{Error, Result};

pub use cluster::ClusterDescription;
pub use configs::{AlterConfig, ConfigEntry, ConfigResource, ConfigSource};
pub use groups::{
    GroupDescription, GroupListing, GroupOffset, MemberDescription, OffsetResetPlan, ResetTarget,
};
pub use plans::{BrokerMove, DrainPlan, Placement, plan_decommission, plan_drain};
pub use reassignments::{ElectionType, OngoingReassignment, PartitionMove, PartitionOutcome};
pub use topics::{CreatedTopic, NewTopic, TopicDescription, TopicListing};

/// How many times a group request is tried while the coordinator moves or loads.
const COORDINATOR_ATTEMPTS: usize = 5;

/// The admin client of one cluster.
#[derive(Clone)]
pub struct Admin {
    cluster: Arc<Cluster>,
}

impl Admin {
    /// Connects to the cluster the `config`'s bootstrap addresses belong to.
    pub async fn connect(config: ClientConfig) -> Result<Admin> {
        Ok(Admin {
            cluster: Cluster::connect(config).await?,
        })
    }

    /// An admin client sharing an existing cluster view (and its connections).
    pub fn from_cluster(cluster: Arc<Cluster>) -> Admin {
        Admin { cluster }
    }

    /// The cluster view underneath.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// The `timeout_ms` sent in requests that wait for the controller: the request
    /// timeout, so that the broker gives up before the client does.
    fn operation_timeout_ms(&self) -> i32 {
        let timeout = self.cluster.config().request_timeout;
        i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX)
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(self.cluster.config().backoff)
    }

    /// Runs `attempt` until it succeeds, fails with an error a retry cannot fix, or has been
    /// tried [`COORDINATOR_ATTEMPTS`] times: for group requests, whose coordinator may be
    /// loading or may have moved.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut backoff = self.backoff();
        let mut tries = 0;
        loop {
            tries += 1;
            match attempt().await {
                Err(e) if tries < COORDINATOR_ATTEMPTS && coordinator_retriable(&e) => {
                    backoff.wait().await;
                }
                result => return result,
            }
        }
    }
}

/// Errors after which the group's coordinator should be looked up again and the request
/// repeated.
fn coordinator_retriable(error: &Error) -> bool {
    use crate::ErrorCode::{CoordinatorLoadInProgress, CoordinatorNotAvailable, NotCoordinator};
    matches!(
        error.code(),
        Some(CoordinatorLoadInProgress | CoordinatorNotAvailable | NotCoordinator)
    )
}
