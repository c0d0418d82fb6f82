//! ListPartitionReassignments (key 46): the moves still in progress, with each partition's
//! whole replica set and the replicas being added and removed. Null topics means every
//! topic; topics and partitions that do not exist, or are not moving, are left out, as
//! Kafka's controller does.

use streambus_metadata::TopicImage;
use streambus_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsRequest;
use streambus_protocol::messages::list_partition_reassignments_response::{
    ListPartitionReassignmentsResponse, OngoingPartitionReassignment, OngoingTopicReassignment,
};

use crate::Broker;
use crate::context::RequestContext;

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let image = broker.image();
    let topics: Vec<OngoingTopicReassignment> = match request.topics {
        None => image.topics().filter_map(|t| ongoing(t, None)).collect(),
        Some(named) => named
            .iter()
            .filter_map(|n| ongoing(image.topic(&n.name)?, Some(&n.partition_indexes)))
            .collect(),
    };
    ListPartitionReassignmentsResponse {
        topics,
        ..Default::default()
    }
}

/// The moving partitions of `topic` (among `only`, if given); `None` if there are none.
fn ongoing(topic: &TopicImage, only: Option<&[i32]>) -> Option<OngoingTopicReassignment> {
    let partitions: Vec<OngoingPartitionReassignment> = topic
        .partitions
        .iter()
        .filter(|p| p.is_reassigning() && only.is_none_or(|only| only.contains(&p.partition)))
        .map(|p| OngoingPartitionReassignment {
            partition_index: p.partition,
            replicas: p.replicas.clone(),
            adding_replicas: p.adding_replicas.clone(),
            removing_replicas: p.removing_replicas.clone(),
        })
        .collect();
    (!partitions.is_empty()).then(|| OngoingTopicReassignment {
        name: topic.name.clone(),
        partitions,
    })
}
