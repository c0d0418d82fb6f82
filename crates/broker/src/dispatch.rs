//! Routing a decoded request to its handler, one file per Kafka API under `handlers/`.

use std::pin::Pin;
use std::sync::Arc;

use streambus_protocol::{ApiKey, Request, Response, supported_versions};

use crate::Broker;
use crate::context::RequestContext;
use crate::handlers;

/// Whether the broker serves `version` of `api`.
pub(crate) fn supports(api: ApiKey, version: i16) -> bool {
    handled(api)
        && supported_versions()
            .iter()
            .any(|(key, range)| *key == api && range.contains(version))
}

/// The APIs with a handler; ApiVersions advertises only these.
pub(crate) fn handled(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::ApiVersions
            | ApiKey::Metadata
            | ApiKey::Produce
            | ApiKey::Fetch
            | ApiKey::ListOffsets
            | ApiKey::CreateTopics
            | ApiKey::DeleteTopics
            | ApiKey::DeleteRecords
            | ApiKey::InitProducerId
            | ApiKey::OffsetForLeaderEpoch
            | ApiKey::DescribeConfigs
            | ApiKey::AlterConfigs
            | ApiKey::CreatePartitions
            | ApiKey::IncrementalAlterConfigs
            | ApiKey::DescribeCluster
            | ApiKey::DescribeProducers
            | ApiKey::FindCoordinator
            | ApiKey::JoinGroup
            | ApiKey::SyncGroup
            | ApiKey::Heartbeat
            | ApiKey::LeaveGroup
            | ApiKey::OffsetCommit
            | ApiKey::OffsetFetch
            | ApiKey::OffsetDelete
            | ApiKey::ListGroups
            | ApiKey::DescribeGroups
            | ApiKey::DeleteGroups
            | ApiKey::ElectLeaders
            | ApiKey::AlterPartitionReassignments
            | ApiKey::ListPartitionReassignments
    )
}

/// The reply to a request whose version the broker does not serve: for ApiVersions, the v0
/// response with UNSUPPORTED_VERSION and the supported ranges, so that the client can pick
/// a version (KIP-511); for any other API, none (the connection is closed, as Kafka does).
pub(crate) fn unsupported_version(api: ApiKey, _version: i16) -> Option<(i16, Response)> {
    (api == ApiKey::ApiVersions).then(|| {
        (
            0,
            Response::ApiVersions(handlers::api_versions::unsupported()),
        )
    })
}

/// Runs the handler of `request` and counts it in the metrics. `None` means no response
/// is sent (Produce with acks=0).
pub(crate) async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: Request,
) -> Option<Response> {
    let api = request.api_key();
    let started = std::time::Instant::now();
    let response = route(broker, ctx, request).await;
    broker
        .metrics
        .record_request(api, started.elapsed(), response.as_ref());
    response
}

/// What a connection gets from [`handle_in_order`].
pub(crate) enum InOrder {
    /// The answer (`None`: no response is sent).
    Ready(Option<Response>),
    /// A Produce whose appends are done: its answer once they are committed.
    Committing(Pin<Box<dyn Future<Output = Option<Response>> + Send>>),
}

/// Runs the handler of `request` as far as the connection must wait before it reads its
/// next request: all of it for every API but Produce, whose wait for its appends to be
/// committed is returned. Counted in the metrics when the answer is ready.
pub(crate) async fn handle_in_order(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: Request,
) -> InOrder {
    match request {
        Request::Produce(produce) => {
            let started = std::time::Instant::now();
            let committing = handlers::produce::append_all(broker, ctx, produce).await;
            let broker = Arc::clone(broker);
            InOrder::Committing(Box::pin(async move {
                let response = committing.await.map(|mut produce| {
                    handlers::produce::add_leader_hints(&broker, &mut produce);
                    Response::Produce(produce)
                });
                broker.metrics.record_request(
                    ApiKey::Produce,
                    started.elapsed(),
                    response.as_ref(),
                );
                response
            }))
        }
        other => InOrder::Ready(handle(broker, ctx, other).await),
    }
}

/// Links the span of `request` to the trace its client sent, for the APIs that carry one:
/// Produce, in the headers of its first record. Called before the span is entered.
pub(crate) fn continue_trace(span: &tracing::Span, request: &Request) {
    if let Request::Produce(produce) = request {
        handlers::produce_trace::continue_trace(span, produce);
    }
}

async fn route(broker: &Broker, ctx: &RequestContext, request: Request) -> Option<Response> {
    let response = match request {
        Request::ApiVersions(r) => Response::ApiVersions(handlers::api_versions::handle(ctx, r)),
        Request::Metadata(r) => {
            Response::Metadata(handlers::metadata::handle(broker, ctx, r).await)
        }
        Request::Produce(r) => {
            return handlers::produce::handle(broker, ctx, r)
                .await
                .map(Response::Produce);
        }
        Request::Fetch(r) => Response::Fetch(handlers::fetch::handle(broker, ctx, r).await),
        Request::ListOffsets(r) => {
            Response::ListOffsets(handlers::list_offsets::handle(broker, ctx, r).await)
        }
        Request::CreateTopics(r) => {
            Response::CreateTopics(handlers::create_topics::handle(broker, ctx, r).await)
        }
        Request::DeleteTopics(r) => {
            Response::DeleteTopics(handlers::delete_topics::handle(broker, ctx, r).await)
        }
        Request::DeleteRecords(r) => {
            Response::DeleteRecords(handlers::delete_records::handle(broker, ctx, r).await)
        }
        Request::InitProducerId(r) => {
            Response::InitProducerId(handlers::init_producer_id::handle(broker, ctx, r).await)
        }
        Request::OffsetForLeaderEpoch(r) => Response::OffsetForLeaderEpoch(
            handlers::offset_for_leader_epoch::handle(broker, ctx, r).await,
        ),
        Request::DescribeConfigs(r) => {
            Response::DescribeConfigs(handlers::describe_configs::handle(broker, ctx, r).await)
        }
        Request::AlterConfigs(r) => {
            Response::AlterConfigs(handlers::alter_configs::handle(broker, ctx, r).await)
        }
        Request::CreatePartitions(r) => {
            Response::CreatePartitions(handlers::create_partitions::handle(broker, ctx, r).await)
        }
        Request::IncrementalAlterConfigs(r) => Response::IncrementalAlterConfigs(
            handlers::incremental_alter_configs::handle(broker, ctx, r).await,
        ),
        Request::DescribeCluster(r) => {
            Response::DescribeCluster(handlers::describe_cluster::handle(broker, ctx, r).await)
        }
        Request::DescribeProducers(r) => {
            Response::DescribeProducers(handlers::describe_producers::handle(broker, ctx, r).await)
        }
        Request::FindCoordinator(r) => {
            Response::FindCoordinator(handlers::find_coordinator::handle(broker, ctx, r).await)
        }
        Request::JoinGroup(r) => {
            Response::JoinGroup(handlers::join_group::handle(broker, ctx, r).await)
        }
        Request::SyncGroup(r) => {
            Response::SyncGroup(handlers::sync_group::handle(broker, ctx, r).await)
        }
        Request::Heartbeat(r) => {
            Response::Heartbeat(handlers::heartbeat::handle(broker, ctx, r).await)
        }
        Request::LeaveGroup(r) => {
            Response::LeaveGroup(handlers::leave_group::handle(broker, ctx, r).await)
        }
        Request::OffsetCommit(r) => {
            Response::OffsetCommit(handlers::offset_commit::handle(broker, ctx, r).await)
        }
        Request::OffsetFetch(r) => {
            Response::OffsetFetch(handlers::offset_fetch::handle(broker, ctx, r).await)
        }
        Request::OffsetDelete(r) => {
            Response::OffsetDelete(handlers::offset_delete::handle(broker, ctx, r).await)
        }
        Request::ListGroups(r) => {
            Response::ListGroups(handlers::list_groups::handle(broker, ctx, r).await)
        }
        Request::DescribeGroups(r) => {
            Response::DescribeGroups(handlers::describe_groups::handle(broker, ctx, r).await)
        }
        Request::DeleteGroups(r) => {
            Response::DeleteGroups(handlers::delete_groups::handle(broker, ctx, r).await)
        }
        Request::ElectLeaders(r) => {
            Response::ElectLeaders(handlers::elect_leaders::handle(broker, ctx, r).await)
        }
        Request::AlterPartitionReassignments(r) => Response::AlterPartitionReassignments(
            handlers::alter_partition_reassignments::handle(broker, ctx, r).await,
        ),
        Request::ListPartitionReassignments(r) => Response::ListPartitionReassignments(
            handlers::list_partition_reassignments::handle(broker, ctx, r).await,
        ),
    };
    Some(response)
}

#[cfg(test)]
mod tests {
    use streambus_protocol::messages::{
        create_partitions_request, delete_records_request, describe_cluster_request,
        describe_configs_request, describe_producers_request, incremental_alter_configs_request,
        init_producer_id_request, offset_for_leader_epoch_request,
    };
    use streambus_protocol::{encode_response, supported_versions};

    use super::*;
    use crate::handlers::testing;

    /// Every new handler is routed, and its answers encode at every version advertised.
    #[tokio::test]
    async fn admin_handlers_answer_at_every_supported_version() {
        let (_dir, broker) = testing::broker();
        testing::create_topic(&broker, "t", 1, &[("retention.ms", "1000")]).await;
        let requests = vec![
            Request::DescribeConfigs(describe_configs_request::DescribeConfigsRequest {
                resources: vec![
                    describe_configs_request::DescribeConfigsResource {
                        resource_type: 2,
                        resource_name: "t".into(),
                        configuration_keys: None,
                    },
                    describe_configs_request::DescribeConfigsResource {
                        resource_type: 4,
                        resource_name: "1".into(),
                        configuration_keys: None,
                    },
                ],
                include_synonyms: true,
                include_documentation: true,
            }),
            Request::IncrementalAlterConfigs(
                incremental_alter_configs_request::IncrementalAlterConfigsRequest {
                    resources: vec![incremental_alter_configs_request::AlterConfigsResource {
                        resource_type: 2,
                        resource_name: "t".into(),
                        configs: vec![incremental_alter_configs_request::AlterableConfig {
                            name: "retention.ms".into(),
                            config_operation: 0,
                            value: Some("2000".into()),
                        }],
                    }],
                    validate_only: true,
                },
            ),
            Request::CreatePartitions(create_partitions_request::CreatePartitionsRequest {
                topics: vec![create_partitions_request::CreatePartitionsTopic {
                    name: "t".into(),
                    count: 2,
                    assignments: None,
                }],
                timeout_ms: 1000,
                validate_only: true,
            }),
            Request::DeleteRecords(delete_records_request::DeleteRecordsRequest {
                topics: vec![delete_records_request::DeleteRecordsTopic {
                    name: "t".into(),
                    partitions: vec![delete_records_request::DeleteRecordsPartition {
                        partition_index: 0,
                        offset: -1,
                    }],
                }],
                timeout_ms: 1000,
            }),
            Request::DescribeCluster(describe_cluster_request::DescribeClusterRequest::default()),
            Request::OffsetForLeaderEpoch(
                offset_for_leader_epoch_request::OffsetForLeaderEpochRequest {
                    replica_id: -1,
                    topics: vec![offset_for_leader_epoch_request::OffsetForLeaderTopic {
                        topic: "t".into(),
                        partitions: vec![
                            offset_for_leader_epoch_request::OffsetForLeaderPartition {
                                partition: 0,
                                current_leader_epoch: -1,
                                leader_epoch: 0,
                            },
                        ],
                    }],
                },
            ),
            Request::InitProducerId(init_producer_id_request::InitProducerIdRequest {
                transactional_id: None,
                transaction_timeout_ms: 1000,
                producer_id: -1,
                producer_epoch: -1,
            }),
            Request::DescribeProducers(describe_producers_request::DescribeProducersRequest {
                topics: vec![describe_producers_request::TopicRequest {
                    name: "t".into(),
                    partition_indexes: vec![0, 3],
                }],
            }),
        ];
        for request in requests {
            let api = request.api_key();
            assert!(handled(api), "{api:?} is not handled");
            let (_, range) = supported_versions()
                .iter()
                .find(|(key, _)| *key == api)
                .unwrap();
            for version in range.min..=range.max {
                let ctx = testing::ctx(api, version);
                let response = handle(&broker, &ctx, request.clone()).await.unwrap();
                let mut out = streambus_protocol::Output::new();
                encode_response(&mut out, version, 1, &response)
                    .unwrap_or_else(|e| panic!("{api:?} v{version}: {e}"));
            }
        }
    }
}
