//! DescribeCluster (key 60): the cluster id, the controller and the brokers.
//!
//! This is a broker endpoint (KIP-919): v1 requests for endpoint type 1 (brokers) are
//! answered; type 2 (controllers) is MISMATCHED_ENDPOINT_TYPE and any other type
//! UNSUPPORTED_ENDPOINT_TYPE, as Kafka answers on a broker listener. The controller is this
//! node. With no authorizer, Kafka reports every operation the cluster resource supports
//! when authorized operations are asked for; so does this broker until ACLs exist.

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::describe_cluster_request::DescribeClusterRequest;
use streambus_protocol::messages::describe_cluster_response::{
    DescribeClusterBroker, DescribeClusterResponse,
};

use crate::Broker;
use crate::context::RequestContext;
use crate::context::operations;

/// Kafka's `EndpointType` ids.
const ENDPOINT_BROKER: i8 = 1;
const ENDPOINT_CONTROLLER: i8 = 2;

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    // v0 has no endpoint type and decodes it as the default, 1.
    let refusal = match request.endpoint_type {
        ENDPOINT_BROKER => None,
        ENDPOINT_CONTROLLER => Some((
            ErrorCode::MismatchedEndpointType,
            "the request was sent to an endpoint of type broker, but we wanted an endpoint of type controller"
                .to_string(),
        )),
        other => Some((
            ErrorCode::UnsupportedEndpointType,
            format!("unsupported endpoint type {other}"),
        )),
    };
    if let Some((code, message)) = refusal {
        return DescribeClusterResponse {
            error_code: code.code(),
            error_message: Some(message),
            endpoint_type: request.endpoint_type,
            ..Default::default()
        };
    }
    let image = broker.image();
    let brokers: Vec<DescribeClusterBroker> = image
        .brokers()
        .map(|b| DescribeClusterBroker {
            broker_id: b.node_id,
            host: b.host.clone(),
            port: i32::from(b.port),
            rack: b.rack.clone(),
        })
        .collect();
    let node = broker.controller_id();
    // As Kafka: a controller the client cannot find among the brokers is reported as -1.
    let controller_id = if brokers.iter().any(|b| b.broker_id == node) {
        node
    } else {
        -1
    };
    DescribeClusterResponse {
        error_code: ErrorCode::None.code(),
        error_message: None,
        endpoint_type: ENDPOINT_BROKER,
        cluster_id: broker.cluster_id.clone(),
        controller_id,
        brokers,
        cluster_authorized_operations: if request.include_cluster_authorized_operations {
            operations::ALL_CLUSTER
        } else {
            operations::NOT_REQUESTED
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use streambus_protocol::ApiKey;

    use super::*;
    use crate::handlers::testing;

    #[tokio::test]
    async fn describes_this_node_and_refuses_other_endpoints() {
        let (_dir, broker) = testing::broker();
        let ctx = testing::ctx(ApiKey::DescribeCluster, 1);
        let response = handle(&broker, &ctx, DescribeClusterRequest::default()).await;
        assert_eq!(response.error_code, 0);
        assert_eq!(response.cluster_id, broker.cluster_id());
        assert_eq!(response.controller_id, 1);
        assert_eq!(response.brokers.len(), 1);
        assert_eq!(response.brokers[0].port, 9092);
        assert_eq!(response.cluster_authorized_operations, i32::MIN);
        let asked = DescribeClusterRequest {
            include_cluster_authorized_operations: true,
            endpoint_type: 1,
        };
        let response = handle(&broker, &ctx, asked).await;
        assert_eq!(response.cluster_authorized_operations, 8096);
        for (endpoint_type, code) in [
            (2, ErrorCode::MismatchedEndpointType),
            (0, ErrorCode::UnsupportedEndpointType),
            (3, ErrorCode::UnsupportedEndpointType),
        ] {
            let request = DescribeClusterRequest {
                include_cluster_authorized_operations: false,
                endpoint_type,
            };
            let response = handle(&broker, &ctx, request).await;
            assert_eq!(response.error_code, code.code());
            assert!(response.brokers.is_empty());
        }
    }
}
