//! The broker's own view of its health, by component, for `GET /health`: whether its
//! storage, metadata and consumer groups can serve, and why not when they cannot.
//! (The HTTP surface adds the listeners; replication joins with the cluster.)

use streambus_coordinator::OFFSETS_TOPIC;
use streambus_protocol::ErrorCode;
use streambus_storage::TopicPartition;

use crate::Broker;
use crate::errors::KafkaError;

/// How well a component serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HealthStatus {
    /// Everything works.
    Healthy,
    /// It serves, but not everything: some data is unavailable.
    Degraded,
    /// It does not serve.
    Unhealthy,
}

/// One component's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentHealth {
    /// `storage`, `metadata`, `groups`.
    pub name: &'static str,
    /// Its status.
    pub status: HealthStatus,
    /// What is wrong, when it is not healthy; what it holds, when it is.
    pub detail: String,
}

impl Broker {
    /// The error for a partition this broker does not serve: KAFKA_STORAGE_ERROR if its log
    /// is damaged (clients retry elsewhere or report it), NOT_LEADER_OR_FOLLOWER if another
    /// node leads it (clients refresh their metadata and go there), LEADER_NOT_AVAILABLE if
    /// none does, else UNKNOWN_TOPIC_OR_PARTITION.
    pub(crate) fn not_hosted(&self, tp: &TopicPartition) -> KafkaError {
        if self.damaged.contains(tp) {
            KafkaError::new(
                ErrorCode::KafkaStorageError,
                format!("the log of {tp} is damaged and not served"),
            )
        } else {
            match self
                .image()
                .partition(&tp.topic, tp.partition)
                .map(|p| p.leader)
            {
                Some(leader) if leader < 0 => {
                    KafkaError::new(ErrorCode::LeaderNotAvailable, format!("{tp} has no leader"))
                }
                Some(leader) if leader != self.config.node_id => KafkaError::new(
                    ErrorCode::NotLeaderOrFollower,
                    format!("{tp} is led by node {leader}"),
                ),
                _ => KafkaError::new(
                    ErrorCode::UnknownTopicOrPartition,
                    format!("{tp} does not exist"),
                ),
            }
        }
    }

    /// Each component's health now.
    pub fn health(&self) -> Vec<ComponentHealth> {
        let image = self.image();
        let hosted = self.replicas.partitions().len();
        let storage = if self.damaged.is_empty() {
            ComponentHealth {
                name: "storage",
                status: HealthStatus::Healthy,
                detail: format!("{hosted} partitions served"),
            }
        } else {
            let names: Vec<String> = self.damaged.iter().map(ToString::to_string).collect();
            ComponentHealth {
                name: "storage",
                status: HealthStatus::Degraded,
                detail: format!(
                    "{} partition logs are damaged and not served: {}",
                    names.len(),
                    names.join(", ")
                ),
            }
        };
        let held = format!(
            "{} topics, {} brokers",
            image.topics().count(),
            image.brokers().len()
        );
        let metadata = match self.quorum_status() {
            None => ComponentHealth {
                name: "metadata",
                status: HealthStatus::Healthy,
                detail: held,
            },
            Some(quorum) => ComponentHealth {
                name: "metadata",
                status: if quorum.leader.is_some() {
                    HealthStatus::Healthy
                } else {
                    HealthStatus::Degraded
                },
                detail: format!(
                    "{held}; quorum {}, term {}, this node {:?}, applied {}",
                    quorum.leader.map_or_else(
                        || "has no leader".to_string(),
                        |l| format!("led by node {l}")
                    ),
                    quorum.term,
                    quorum.role,
                    quorum.last_applied
                ),
            },
        };
        // The partitions this node should serve; on a quorum, the others lead the rest.
        let offsets: Vec<i32> = image.topic(OFFSETS_TOPIC).map_or_else(Vec::new, |t| {
            t.partitions
                .iter()
                .filter(|p| p.leader == self.config.node_id)
                .map(|p| p.partition)
                .collect()
        });
        let offsets_partitions = offsets.len();
        let unloaded = offsets
            .iter()
            .filter(|p| {
                let tp = TopicPartition::new(OFFSETS_TOPIC, **p);
                self.replicas.partition(&tp).is_none()
            })
            .count();
        let groups = if unloaded == 0 {
            ComponentHealth {
                name: "groups",
                status: HealthStatus::Healthy,
                detail: format!("{offsets_partitions} {OFFSETS_TOPIC} partitions loaded"),
            }
        } else {
            ComponentHealth {
                name: "groups",
                status: HealthStatus::Degraded,
                detail: format!(
                    "{unloaded} of {offsets_partitions} {OFFSETS_TOPIC} partitions are not served"
                ),
            }
        };
        vec![storage, metadata, groups, self.replication_health()]
    }

    /// The partitions this broker leads whose ISR lacks some of their replicas.
    fn replication_health(&self) -> ComponentHealth {
        let mut led = 0;
        let mut under: Vec<String> = Vec::new();
        for partition in self.replicas.partitions() {
            if !partition.is_leader() {
                continue;
            }
            led += 1;
            let tp = partition.topic_partition();
            let replicas = self
                .image()
                .partition(&tp.topic, tp.partition)
                .map_or(1, |p| p.replicas.len());
            if partition.isr().len() < replicas {
                under.push(tp.to_string());
            }
        }
        if under.is_empty() {
            return ComponentHealth {
                name: "replication",
                status: HealthStatus::Healthy,
                detail: format!("{led} partitions led, all fully in sync"),
            };
        }
        under.sort();
        ComponentHealth {
            name: "replication",
            status: HealthStatus::Degraded,
            detail: format!(
                "{} of {led} partitions led here are under-replicated: {}",
                under.len(),
                under.join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::testing;

    #[tokio::test]
    async fn a_fresh_broker_is_healthy_and_says_what_it_holds() {
        let (_dir, broker) = testing::broker();
        testing::create_topic(&broker, "t", 3, &[]).await;
        let health = broker.health();
        let names: Vec<_> = health.iter().map(|c| c.name).collect();
        assert_eq!(names, ["storage", "metadata", "groups", "replication"]);
        assert!(
            health.iter().all(|c| c.status == HealthStatus::Healthy),
            "{health:?}"
        );
        assert_eq!(health[0].detail, "3 partitions served");
        assert_eq!(health[1].detail, "1 topics, 1 brokers");
        assert_eq!(health[3].detail, "3 partitions led, all fully in sync");
    }

    #[tokio::test]
    async fn a_partition_led_elsewhere_is_not_led_here_and_one_without_a_leader_is_unavailable() {
        let (_dir, broker) = testing::broker();
        // Partition 0 led by node 2, partition 1 by nobody; neither by this node (1).
        testing::led_elsewhere(&broker, "elsewhere", 7, &[(2, 0), (-1, 0)]);
        let error = |p| broker.not_hosted(&TopicPartition::new("elsewhere", p));
        assert_eq!(error(0).code, ErrorCode::NotLeaderOrFollower);
        assert_eq!(
            error(0).message.as_deref(),
            Some("elsewhere-0 is led by node 2")
        );
        assert_eq!(error(1).code, ErrorCode::LeaderNotAvailable);
        assert_eq!(error(2).code, ErrorCode::UnknownTopicOrPartition);
        assert!(
            broker.replicas.partitions().is_empty(),
            "node 1 hosts none of them"
        );
        let groups = &broker.health()[2];
        assert_eq!(groups.status, HealthStatus::Healthy, "{groups:?}");
    }

    #[tokio::test]
    async fn a_damaged_log_degrades_storage() {
        let dir = tempfile::tempdir().unwrap();
        let broker = testing::open(dir.path());
        testing::create_topic(&broker, "t", 1, &[]).await;
        testing::produce(&broker, "t", 0, None, 3).await;
        broker.close().unwrap();
        drop(broker);
        // A log directory whose segment cannot be read as a file fails to open.
        let segment = dir.path().join("t-0").join("00000000000000000000.log");
        std::fs::remove_file(&segment).unwrap();
        std::fs::create_dir(&segment).unwrap();
        let broker = testing::open(dir.path());
        let storage = &broker.health()[0];
        assert_eq!(storage.status, HealthStatus::Degraded, "{storage:?}");
        assert!(storage.detail.contains("t-0"), "{}", storage.detail);
        // The broker serves on, and says why the partition is not there.
        let tp = TopicPartition::new("t", 0);
        assert_eq!(broker.not_hosted(&tp).code, ErrorCode::KafkaStorageError);
        let other = TopicPartition::new("t", 1);
        assert_eq!(
            broker.not_hosted(&other).code,
            ErrorCode::UnknownTopicOrPartition
        );
    }
}
