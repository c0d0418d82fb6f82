//! AlterPartitionReassignments (key 45): start, replace or cancel moves of partitions to
//! new replica sets (KIP-455).
//!
//! Per partition, as Kafka's controller answers: a partition that does not exist is
//! UNKNOWN_TOPIC_OR_PARTITION; a target that is empty, names a broker twice or names one
//! that is not registered is INVALID_REPLICA_ASSIGNMENT; a cancel (null replicas) with no
//! move in progress is NO_REASSIGNMENT_IN_PROGRESS. A move that needs no data copied (a
//! new order, or fewer replicas that are in sync) is done when the answer comes; any other
//! is started, and the controller finishes it once the new replicas are in sync (see
//! [`crate::partition_moves`]); ListPartitionReassignments shows it meanwhile.

use streambus_protocol::messages::alter_partition_reassignments_request::AlterPartitionReassignmentsRequest;
use streambus_protocol::messages::alter_partition_reassignments_response::{
    AlterPartitionReassignmentsResponse, ReassignablePartitionResponse, ReassignableTopicResponse,
};

use crate::Broker;
use crate::context::RequestContext;
use crate::errors::KafkaError;
use crate::partition_commit::Change;
use crate::partition_moves::{cancel, reassign};
use crate::replication_metrics::ElectionReason;

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let live = broker.live_brokers();
    let mut responses = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in topic.partitions {
            let index = p.partition_index;
            let changed = broker.commit_partition_change(&topic.name, index, |image, current| {
                match &p.replicas {
                    Some(target) => reassign(
                        current,
                        target,
                        |id| image.broker(id).is_some(),
                        live.as_ref(),
                    ),
                    None => cancel(current).map(Some),
                }
            });
            if let Ok(Some(Change { before, after })) = &changed {
                if before.leader != after.leader {
                    broker
                        .metrics()
                        .replication
                        .leader_elected(ElectionReason::reassignment);
                }
                tracing::info!(topic = %topic.name, partition = index, replicas = ?after.replicas,
                    adding = ?after.adding_replicas, removing = ?after.removing_replicas,
                    leader = after.leader, "reassignment changed");
            }
            let (error_code, error_message) = KafkaError::fields(changed.map(|_| ()));
            partitions.push(ReassignablePartitionResponse {
                partition_index: index,
                error_code,
                error_message,
            });
        }
        responses.push(ReassignableTopicResponse {
            name: topic.name,
            partitions,
        });
    }
    AlterPartitionReassignmentsResponse {
        responses,
        ..Default::default()
    }
}
