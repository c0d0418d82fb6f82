//! `GET /api/v1/cluster` and `GET /api/v1/brokers`: the cluster id, the controller and the
//! brokers with their advertised addresses, from DescribeCluster.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use streambus_broker::Broker;
use streambus_protocol::messages::describe_cluster_request::DescribeClusterRequest;

use super::{ApiError, broker, call, check};
use crate::Health;

/// What `GET /api/v1/cluster` answers.
#[derive(Serialize)]
pub(crate) struct Cluster {
    cluster_id: String,
    controller_id: i32,
    brokers: Vec<BrokerInfo>,
}

/// A broker and the address it advertises to Kafka clients.
#[derive(Serialize)]
pub(crate) struct BrokerInfo {
    id: i32,
    host: String,
    port: i32,
    rack: Option<String>,
}

async fn describe(broker: &Broker) -> Result<Cluster, ApiError> {
    let response = call!(
        broker,
        DescribeCluster,
        DescribeClusterRequest {
            include_cluster_authorized_operations: false,
            endpoint_type: 1,
        }
    );
    check(
        response.error_code,
        response.error_message,
        "cannot describe the cluster",
    )?;
    let mut brokers: Vec<BrokerInfo> = response
        .brokers
        .into_iter()
        .map(|b| BrokerInfo {
            id: b.broker_id,
            host: b.host,
            port: b.port,
            rack: b.rack,
        })
        .collect();
    brokers.sort_by_key(|b| b.id);
    Ok(Cluster {
        cluster_id: response.cluster_id,
        controller_id: response.controller_id,
        brokers,
    })
}

pub(crate) async fn cluster(State(health): State<Arc<Health>>) -> Result<Json<Cluster>, ApiError> {
    Ok(Json(describe(&*broker(&health)?).await?))
}

pub(crate) async fn brokers(
    State(health): State<Arc<Health>>,
) -> Result<Json<Vec<BrokerInfo>>, ApiError> {
    Ok(Json(describe(&*broker(&health)?).await?.brokers))
}
