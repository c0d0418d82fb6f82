//! CreatePartitions (key 37): grow topics to a larger partition count, with or without
//! manual replica assignments for the new partitions, or only validate that.
//!
//! Checks follow Kafka's controller, in its order: a topic named twice in the request is
//! INVALID_REQUEST; an unknown topic UNKNOWN_TOPIC_OR_PARTITION; a count that is not an
//! increase INVALID_PARTITIONS; then each assignment must name registered brokers, each once,
//! as many as the topic's existing partitions have (INVALID_REPLICA_ASSIGNMENT). New
//! partitions are led by this broker, so an assignment must also be exactly this node
//! (the only registered broker of a single node).

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::create_partitions_request::{
    CreatePartitionsRequest, CreatePartitionsTopic,
};
use streambus_protocol::messages::create_partitions_response::{
    CreatePartitionsResponse, CreatePartitionsTopicResult,
};

use crate::Broker;
use crate::context::RequestContext;
use crate::errors::KafkaError;

pub(crate) async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let duplicates = super::repeated(request.topics.iter().map(|t| t.name.clone()));
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let result = if duplicates.contains(&topic.name) {
            Err(KafkaError::new(
                ErrorCode::InvalidRequest,
                "duplicate topic in request",
            ))
        } else {
            create(broker, &topic, request.validate_only).await
        };
        let (error_code, error_message) = match result {
            Ok(()) => (ErrorCode::None.code(), None),
            Err(e) => (e.code.code(), e.message),
        };
        results.push(CreatePartitionsTopicResult {
            name: topic.name,
            error_code,
            error_message,
        });
    }
    CreatePartitionsResponse {
        results,
        ..Default::default()
    }
}

async fn create(
    broker: &Broker,
    topic: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), KafkaError> {
    if let Some(assignments) = &topic.assignments {
        // Only when the count is an increase: otherwise `create_partitions` gives the
        // count's error first, as Kafka does.
        let image = broker.image();
        if let Some(existing) = image.topic(&topic.name)
            && i64::from(topic.count) > existing.partitions.len() as i64
        {
            let added = i64::from(topic.count) - existing.partitions.len() as i64;
            let replication_factor = existing.partitions.first().map_or(1, |p| p.replicas.len());
            let lists: Vec<&[i32]> = assignments.iter().map(|a| &a.broker_ids[..]).collect();
            check_assignments(
                &lists,
                added,
                replication_factor,
                |id| image.broker(id).is_some(),
                broker.config.node_id,
            )?;
        }
    }
    broker
        .create_partitions(&topic.name, topic.count, validate_only)
        .await
}

/// Checks manual assignments of `added` new partitions, with Kafka's messages.
fn check_assignments(
    assignments: &[&[i32]],
    added: i64,
    replication_factor: usize,
    registered: impl Fn(i32) -> bool,
    node_id: i32,
) -> Result<(), KafkaError> {
    let refuse = |message: String| {
        Err(KafkaError::new(
            ErrorCode::InvalidReplicaAssignment,
            message,
        ))
    };
    if assignments.len() as i64 != added {
        return refuse(format!(
            "attempted to add {added} additional partition(s), but only {} assignment(s) were specified",
            assignments.len()
        ));
    }
    for replicas in assignments {
        if replicas.is_empty() {
            return refuse(
                "the manual partition assignment includes an empty replica list".to_string(),
            );
        }
        let mut sorted = replicas.to_vec();
        sorted.sort_unstable();
        for (i, id) in sorted.iter().enumerate() {
            if !registered(*id) {
                return refuse(format!(
                    "the manual partition assignment includes broker {id}, but no such broker is registered"
                ));
            }
            if i > 0 && sorted[i - 1] == *id {
                return refuse(format!(
                    "the manual partition assignment includes the broker {id} more than once"
                ));
            }
        }
        if replicas.len() != replication_factor {
            return refuse(format!(
                "the manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {replication_factor} replica(s)",
                replicas.len()
            ));
        }
        if *replicas != [node_id] {
            return refuse(format!(
                "new partitions can only be placed on this broker ({node_id}) for now"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use streambus_protocol::ApiKey;
    use streambus_protocol::messages::create_partitions_request::CreatePartitionsAssignment;

    use super::*;
    use crate::handlers::testing;

    fn check(assignments: &[&[i32]], added: i64) -> Result<(), KafkaError> {
        check_assignments(assignments, added, 1, |id| id == 1 || id == 2, 1)
    }

    #[test]
    fn assignments_are_checked_like_kafka() {
        assert!(check(&[&[1], &[1]], 2).is_ok());
        let cases: &[(&[&[i32]], i64, &str)] = &[
            (&[&[1]], 2, "attempted to add 2 additional partition(s)"),
            (&[&[]], 1, "empty replica list"),
            (&[&[7]], 1, "includes broker 7, but no such broker"),
            (&[&[1, 1]], 1, "includes the broker 1 more than once"),
            (&[&[1, 2]], 1, "a partition with 2 replica(s)"),
            (&[&[2]], 1, "only be placed on this broker"),
        ];
        for (assignments, added, message) in cases {
            let err = check(assignments, *added).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidReplicaAssignment);
            let text = err.message.unwrap();
            assert!(text.contains(message), "{text:?} lacks {message:?}");
        }
    }

    fn grow(name: &str, count: i32, assignments: Option<Vec<Vec<i32>>>) -> CreatePartitionsTopic {
        CreatePartitionsTopic {
            name: name.into(),
            count,
            assignments: assignments.map(|lists| {
                lists
                    .into_iter()
                    .map(|broker_ids| CreatePartitionsAssignment { broker_ids })
                    .collect()
            }),
        }
    }

    #[tokio::test]
    async fn partitions_are_added_and_errors_are_per_topic() {
        let (_dir, broker) = testing::broker();
        testing::create_topic(&broker, "a", 1, &[]).await;
        testing::create_topic(&broker, "b", 1, &[]).await;
        let ctx = testing::ctx(ApiKey::CreatePartitions, 3);
        let request = CreatePartitionsRequest {
            topics: vec![
                grow("a", 3, Some(vec![vec![1], vec![1]])),
                grow("b", 2, None),
                grow("b", 4, None),
                grow("missing", 2, None),
                grow("a", 1, None),
            ],
            timeout_ms: 1000,
            validate_only: false,
        };
        let response = handle(&broker, &ctx, request).await;
        let codes: Vec<i16> = response.results.iter().map(|r| r.error_code).collect();
        assert_eq!(
            codes,
            vec![
                ErrorCode::InvalidRequest.code(),
                ErrorCode::InvalidRequest.code(),
                ErrorCode::InvalidRequest.code(),
                ErrorCode::UnknownTopicOrPartition.code(),
                ErrorCode::InvalidRequest.code(),
            ]
        );
        let request = CreatePartitionsRequest {
            topics: vec![
                grow("a", 3, Some(vec![vec![1], vec![1]])),
                grow("b", 1, Some(vec![vec![9]])),
            ],
            timeout_ms: 1000,
            validate_only: false,
        };
        let response = handle(&broker, &ctx, request).await;
        assert_eq!(response.results[0].error_code, 0);
        assert_eq!(response.results[0].error_message, None);
        assert_eq!(
            response.results[1].error_code,
            ErrorCode::InvalidPartitions.code()
        );
        assert_eq!(broker.image().topic("a").unwrap().partitions.len(), 3);
        let request = CreatePartitionsRequest {
            topics: vec![grow("b", 2, Some(vec![vec![9]])), grow("a", 5, None)],
            timeout_ms: 1000,
            validate_only: true,
        };
        let response = handle(&broker, &ctx, request).await;
        assert_eq!(
            response.results[0].error_code,
            ErrorCode::InvalidReplicaAssignment.code()
        );
        assert_eq!(response.results[1].error_code, 0);
        assert_eq!(broker.image().topic("a").unwrap().partitions.len(), 3);
        assert_eq!(broker.image().topic("b").unwrap().partitions.len(), 1);
    }
}
