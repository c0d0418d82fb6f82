//! The cluster as a whole: its id, its controller and its brokers (DescribeCluster, or
//! Metadata from brokers that do not have it).

use streambus_protocol::messages::describe_cluster_request::DescribeClusterRequest;

use super::Admin;
use crate::cluster::BrokerInfo;
use crate::error::{Error, Result};

/// Kafka's `EndpointType` of brokers.
const ENDPOINT_BROKER: i8 = 1;

/// What the cluster says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// The cluster id, if the broker has one.
    pub cluster_id: Option<String>,
    /// The controller's node id, if one is known.
    pub controller: Option<i32>,
    /// The brokers, by node id.
    pub brokers: Vec<BrokerInfo>,
}

impl Admin {
    /// The cluster id, the controller and the brokers.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let request = DescribeClusterRequest {
            include_cluster_authorized_operations: false,
            endpoint_type: ENDPOINT_BROKER,
        };
        let response = match self.cluster.call_any(request).await {
            Ok(response) => response,
            Err(Error::UnsupportedVersion { .. }) => return self.describe_from_metadata().await,
            Err(e) => return Err(e),
        };
        Error::check_with_message(
            response.error_code,
            response.error_message.as_deref(),
            || "the cluster description".to_owned(),
        )?;
        let mut brokers: Vec<BrokerInfo> = response
            .brokers
            .into_iter()
            .map(|b| BrokerInfo {
                node_id: b.broker_id,
                addr: format!("{}:{}", b.host, b.port),
                rack: b.rack,
            })
            .collect();
        brokers.sort_by_key(|b| b.node_id);
        Ok(ClusterDescription {
            cluster_id: Some(response.cluster_id).filter(|id| !id.is_empty()),
            controller: (response.controller_id >= 0).then_some(response.controller_id),
            brokers,
        })
    }

    async fn describe_from_metadata(&self) -> Result<ClusterDescription> {
        self.cluster.refresh(Some(&[]), false).await?;
        let (controller, cluster_id) = self.cluster.controller_and_id();
        Ok(ClusterDescription {
            cluster_id,
            controller,
            brokers: self.cluster.brokers(),
        })
    }
}
