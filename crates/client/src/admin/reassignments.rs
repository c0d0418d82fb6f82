//! Where partitions live and who leads them: leader elections (ElectLeaders) and moves of
//! partitions to new replica sets (AlterPartitionReassignments, ListPartitionReassignments,
//! KIP-455).
//!
//! All three go to the controller. An unclean election needs the controller's view of
//! which brokers are alive, so a broker that is not the controller answers NOT_CONTROLLER;
//! the request is then repeated after fresh metadata names the controller. Per-partition
//! outcomes come back as a [`Result`] each, an error being [`Error::Kafka`] naming the
//! partition.

use std::collections::BTreeMap;

use streambus_protocol::messages::alter_partition_reassignments_request::{
    AlterPartitionReassignmentsRequest, ReassignablePartition, ReassignableTopic,
};
use streambus_protocol::messages::elect_leaders_request::{ElectLeadersRequest, TopicPartitions};
use streambus_protocol::messages::list_partition_reassignments_request::{
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsTopics,
};

use super::Admin;
use crate::ErrorCode;
use crate::call::Call;
use crate::error::{Error, Result};
use crate::offsets::TopicPartition;

/// How many times a request is sent while the controller moves.
const CONTROLLER_ATTEMPTS: usize = 5;

/// Which replica an election makes leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// The first replica of the partition's list, if it is in sync.
    Preferred,
    /// For a partition without a leader: a live replica even if it is not in sync, which
    /// may lose the records only the old leader had.
    Unclean,
}

impl ElectionType {
    fn id(self) -> i8 {
        match self {
            ElectionType::Preferred => 0,
            ElectionType::Unclean => 1,
        }
    }
}

/// What a request did to one partition.
#[derive(Debug)]
pub struct PartitionOutcome {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// `Ok`, or the broker's error for this partition.
    pub result: Result<()>,
}

/// A move of one partition, as AlterPartitionReassignments takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMove {
    /// The topic and partition.
    pub partition: TopicPartition,
    /// The new replicas, preferred leader first; `None` cancels the move in progress.
    pub replicas: Option<Vec<i32>>,
}

/// A move still in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingReassignment {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Every replica while the move runs: the target's, then the ones leaving.
    pub replicas: Vec<i32>,
    /// Replicas being added (catching up).
    pub adding: Vec<i32>,
    /// Replicas that leave once the added ones are in sync.
    pub removing: Vec<i32>,
}

impl Admin {
    /// Elects leaders for `partitions`, or for every partition when `None`. A partition
    /// whose leader is already the one the election would pick is left out of the
    /// answer when `partitions` is `None`, and is ELECTION_NOT_NEEDED otherwise.
    pub async fn elect_leaders(
        &self,
        election: ElectionType,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<Vec<PartitionOutcome>> {
        let request = ElectLeadersRequest {
            election_type: election.id(),
            topic_partitions: partitions.map(|partitions| {
                by_topic(partitions)
                    .into_iter()
                    .map(|(topic, partitions)| TopicPartitions { topic, partitions })
                    .collect()
            }),
            timeout_ms: self.operation_timeout_ms(),
        };
        let response = self.call_controller_retrying(request).await?;
        Error::check(response.error_code, || "the leader election".to_owned())?;
        let mut outcomes = Vec::new();
        for topic in response.replica_election_results {
            for p in topic.partition_result {
                outcomes.push(outcome(
                    &topic.topic,
                    p.partition_id,
                    p.error_code,
                    p.error_message,
                    "cannot elect a leader for",
                ));
            }
        }
        sort_outcomes(&mut outcomes);
        Ok(outcomes)
    }

    /// Starts, replaces or cancels moves of partitions to new replica sets.
    pub async fn alter_partition_reassignments(
        &self,
        moves: &[PartitionMove],
    ) -> Result<Vec<PartitionOutcome>> {
        let mut topics: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
        for m in moves {
            topics
                .entry(m.partition.0.as_str())
                .or_default()
                .push(ReassignablePartition {
                    partition_index: m.partition.1,
                    replicas: m.replicas.clone(),
                });
        }
        let request = AlterPartitionReassignmentsRequest {
            timeout_ms: self.operation_timeout_ms(),
            topics: topics
                .into_iter()
                .map(|(name, partitions)| ReassignableTopic {
                    name: name.to_owned(),
                    partitions,
                })
                .collect(),
        };
        let response = self.call_controller_retrying(request).await?;
        Error::check_with_message(
            response.error_code,
            response.error_message.as_deref(),
            || "the partition reassignment".to_owned(),
        )?;
        let mut outcomes = Vec::new();
        for topic in response.responses {
            self.cluster.invalidate(&topic.name);
            for p in topic.partitions {
                outcomes.push(outcome(
                    &topic.name,
                    p.partition_index,
                    p.error_code,
                    p.error_message,
                    "cannot reassign",
                ));
            }
        }
        sort_outcomes(&mut outcomes);
        Ok(outcomes)
    }

    /// The moves in progress among `partitions`, or all of them when `None`, sorted by
    /// topic and partition.
    pub async fn list_partition_reassignments(
        &self,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<Vec<OngoingReassignment>> {
        let request = ListPartitionReassignmentsRequest {
            timeout_ms: self.operation_timeout_ms(),
            topics: partitions.map(|partitions| {
                by_topic(partitions)
                    .into_iter()
                    .map(
                        |(name, partition_indexes)| ListPartitionReassignmentsTopics {
                            name,
                            partition_indexes,
                        },
                    )
                    .collect()
            }),
        };
        let response = self.call_controller_retrying(request).await?;
        Error::check_with_message(
            response.error_code,
            response.error_message.as_deref(),
            || "the list of partition reassignments".to_owned(),
        )?;
        let mut ongoing: Vec<OngoingReassignment> = response
            .topics
            .into_iter()
            .flat_map(|topic| {
                let name = topic.name;
                topic
                    .partitions
                    .into_iter()
                    .map(move |p| OngoingReassignment {
                        topic: name.clone(),
                        partition: p.partition_index,
                        replicas: p.replicas,
                        adding: p.adding_replicas,
                        removing: p.removing_replicas,
                    })
            })
            .collect();
        ongoing.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(ongoing)
    }

    /// Sends `request` to the controller, looking the controller up again and repeating
    /// while the answer is a top-level NOT_CONTROLLER.
    async fn call_controller_retrying<R>(&self, request: R) -> Result<R::Response>
    where
        R: Call + Clone,
        R::Response: TopLevelError,
    {
        let mut backoff = self.backoff();
        let mut tries = 0;
        loop {
            tries += 1;
            let response = self.cluster.call_controller(request.clone()).await?;
            if tries >= CONTROLLER_ATTEMPTS
                || response.top_level_error() != ErrorCode::NotController.code()
            {
                return Ok(response);
            }
            backoff.wait().await;
            self.cluster.refresh(Some(&[]), false).await?;
        }
    }
}

/// A response's top-level error code.
trait TopLevelError {
    fn top_level_error(&self) -> i16;
}

macro_rules! top_level_error {
    ($($module:ident :: $response:ident),* $(,)?) => {$(
        impl TopLevelError for streambus_protocol::messages::$module::$response {
            fn top_level_error(&self) -> i16 {
                self.error_code
            }
        }
    )*};
}

top_level_error!(
    elect_leaders_response::ElectLeadersResponse,
    alter_partition_reassignments_response::AlterPartitionReassignmentsResponse,
    list_partition_reassignments_response::ListPartitionReassignmentsResponse,
);

/// `partitions` grouped by topic, topics sorted by name.
fn by_topic(partitions: &[TopicPartition]) -> Vec<(String, Vec<i32>)> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        topics.entry(topic).or_default().push(*partition);
    }
    topics
        .into_iter()
        .map(|(topic, partitions)| (topic.to_owned(), partitions))
        .collect()
}

fn outcome(
    topic: &str,
    partition: i32,
    code: i16,
    message: Option<String>,
    action: &str,
) -> PartitionOutcome {
    PartitionOutcome {
        topic: topic.to_owned(),
        partition,
        result: Error::check_with_message(code, message.as_deref(), || {
            format!("{action} {topic}-{partition}")
        }),
    }
}

fn sort_outcomes(outcomes: &mut [PartitionOutcome]) {
    outcomes.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
}
