//! ElectLeaders (key 43): move partitions' leadership to their preferred replica, or give a
//! leaderless partition a leader from outside the ISR (unclean, v1+).
//!
//! As Kafka's controller answers it: with no partitions named, every partition is
//! considered and only those that needed an election appear in the response; a named
//! partition that does not exist is UNKNOWN_TOPIC_OR_PARTITION; one that needs nothing is
//! ELECTION_NOT_NEEDED. The rules are in [`crate::partition_moves`]. An unclean election
//! needs to know which brokers are live, which only the node leading the quorum (the
//! controller Metadata names) knows: elsewhere it is NOT_CONTROLLER, and the client asks
//! the controller. Each partition is committed on its own, so one refusal holds up no other.

use std::collections::BTreeMap;

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::elect_leaders_request::ElectLeadersRequest;
use streambus_protocol::messages::elect_leaders_response::{
    ElectLeadersResponse, PartitionResult, ReplicaElectionResult,
};

use crate::Broker;
use crate::context::RequestContext;
use crate::errors::KafkaError;
use crate::partition_commit::Change;
use crate::partition_moves::{elect_preferred, elect_unclean};
use crate::replication_metrics::ElectionReason;

const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: ElectLeadersRequest,
) -> ElectLeadersResponse {
    let refuse = |code: ErrorCode| ElectLeadersResponse {
        error_code: code.code(),
        ..Default::default()
    };
    let unclean = match request.election_type {
        PREFERRED => false,
        UNCLEAN => true,
        _ => return refuse(ErrorCode::InvalidRequest),
    };
    let live = broker.live_brokers();
    if unclean && live.is_none() {
        return refuse(ErrorCode::NotController);
    }
    let all = request.topic_partitions.is_none();
    let mut by_topic: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    for (topic, partition) in wanted(broker, request.topic_partitions) {
        let elected = broker.commit_partition_change(&topic, partition, |_, p| {
            if unclean {
                elect_unclean(p, live.as_ref().unwrap_or(&Default::default())).map(Some)
            } else {
                elect_preferred(p, live.as_ref()).map(Some)
            }
        });
        if let Ok(Some(Change { before, after })) = &elected {
            let reason = if unclean && !before.isr.contains(&after.leader) {
                ElectionReason::unclean
            } else {
                ElectionReason::preferred
            };
            broker.metrics().replication.leader_elected(reason);
            tracing::info!(%topic, partition, leader = after.leader,
                leader_epoch = after.leader_epoch, ?reason, "elected a leader on request");
        }
        let result = elected.map(|_| ());
        if all
            && result
                .as_ref()
                .is_err_and(|e| e.code == ErrorCode::ElectionNotNeeded)
        {
            continue;
        }
        let (error_code, error_message) = KafkaError::fields(result);
        by_topic.entry(topic).or_default().push(PartitionResult {
            partition_id: partition,
            error_code,
            error_message,
        });
    }
    ElectLeadersResponse {
        replica_election_results: by_topic
            .into_iter()
            .map(|(topic, partition_result)| ReplicaElectionResult {
                topic,
                partition_result,
            })
            .collect(),
        ..Default::default()
    }
}

/// The partitions the request names, each once, or every partition when it names none.
fn wanted(
    broker: &Broker,
    named: Option<Vec<streambus_protocol::messages::elect_leaders_request::TopicPartitions>>,
) -> Vec<(String, i32)> {
    let mut partitions: Vec<(String, i32)> = match named {
        Some(topics) => topics
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic;
                t.partitions.into_iter().map(move |p| (topic.clone(), p))
            })
            .collect(),
        None => broker
            .image()
            .topics()
            .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.partition)))
            .collect(),
    };
    partitions.sort();
    partitions.dedup();
    partitions
}

#[cfg(test)]
mod tests {
    use streambus_protocol::ApiKey;
    use streambus_protocol::messages::elect_leaders_request::TopicPartitions;

    use super::*;
    use crate::handlers::testing;

    fn request(election_type: i8, named: Option<&[(&str, &[i32])]>) -> ElectLeadersRequest {
        ElectLeadersRequest {
            election_type,
            topic_partitions: named.map(|named| {
                named
                    .iter()
                    .map(|(topic, partitions)| TopicPartitions {
                        topic: (*topic).into(),
                        partitions: partitions.to_vec(),
                    })
                    .collect()
            }),
            timeout_ms: 1000,
        }
    }

    fn codes(response: &ElectLeadersResponse) -> Vec<(String, i32, i16)> {
        response
            .replica_election_results
            .iter()
            .flat_map(|t| {
                t.partition_result
                    .iter()
                    .map(|p| (t.topic.clone(), p.partition_id, p.error_code))
            })
            .collect()
    }

    #[tokio::test]
    async fn a_single_node_needs_no_election_and_names_unknown_partitions() {
        let (_dir, broker) = testing::broker();
        testing::create_topic(&broker, "t", 2, &[]).await;
        let ctx = testing::ctx(ApiKey::ElectLeaders, 2);
        for election_type in [PREFERRED, UNCLEAN] {
            let named = [("t", &[1, 0, 1][..]), ("nope", &[0][..])];
            let response = handle(&broker, &ctx, request(election_type, Some(&named))).await;
            assert_eq!(response.error_code, 0);
            assert_eq!(
                codes(&response),
                vec![
                    ("nope".into(), 0, ErrorCode::UnknownTopicOrPartition.code()),
                    ("t".into(), 0, ErrorCode::ElectionNotNeeded.code()),
                    ("t".into(), 1, ErrorCode::ElectionNotNeeded.code()),
                ],
                "type {election_type}"
            );
            let all = handle(&broker, &ctx, request(election_type, None)).await;
            assert_eq!(codes(&all), vec![], "nothing needed an election");
        }
        let bad = handle(&broker, &ctx, request(2, None)).await;
        assert_eq!(bad.error_code, ErrorCode::InvalidRequest.code());
    }
}
