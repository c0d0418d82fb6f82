//! The admin client against a real broker: topics, configs, groups made by a real
//! librdkafka consumer, offset resets and the cluster description, with the exact values
//! and the error codes a user sees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::config::ClientConfig as RdConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use streambus_client::admin::{
    Admin, AlterConfig, ConfigResource, ConfigSource, ElectionType, NewTopic, OffsetResetPlan,
    PartitionMove, ResetTarget,
};
use streambus_client::{ClientConfig, Error, ErrorCode};
use streambus_testkit::TestBroker;
use support::{block_on, group_broker as broker};

mod support;

async fn admin(broker: &TestBroker) -> Admin {
    let mut config = ClientConfig::new(&broker.bootstrap());
    config.request_timeout = Duration::from_secs(10);
    Admin::connect(config).await.unwrap()
}

/// Topic, partition, committed offset, log end offset, lag.
type OffsetRow<'a> = (&'a str, i32, i64, Option<i64>, Option<i64>);

fn code(error: &Error) -> ErrorCode {
    error
        .code()
        .unwrap_or_else(|| panic!("not a Kafka error: {error:?}"))
}

#[test]
fn topics_are_created_listed_described_grown_and_deleted() {
    let broker = broker();
    let node = broker.broker().config().node_id;
    block_on(async {
        let admin = admin(&broker).await;
        let orders = NewTopic::new("orders")
            .partitions(3)
            .replication_factor(1)
            .config("retention.ms", "3600000");

        // Validating creates nothing.
        let validated = admin.validate_topic(&orders).await.unwrap();
        assert_eq!(validated.name, "orders");
        assert_eq!(validated.partitions, 3);
        assert!(admin.list_topics().await.unwrap().is_empty());

        let created = admin.create_topic(&orders).await.unwrap();
        assert_eq!(
            (created.partitions, created.replication_factor),
            (3, 1),
            "{created:?}"
        );
        assert_ne!(created.id, [0; 16]);
        let retention = created
            .configs
            .iter()
            .find(|c| c.name == "retention.ms")
            .unwrap();
        assert_eq!(retention.value.as_deref(), Some("3600000"));
        assert_eq!(retention.source, ConfigSource::Topic);

        let again = admin.create_topic(&orders).await.unwrap_err();
        assert_eq!(code(&again), ErrorCode::TopicAlreadyExists);
        assert!(again.to_string().contains("orders"), "{again}");
        let zero = NewTopic::new("zero").partitions(0);
        let refused = admin.create_topic(&zero).await.unwrap_err();
        assert_eq!(code(&refused), ErrorCode::InvalidPartitions, "{refused}");
        let bad_config = NewTopic::new("bad")
            .partitions(1)
            .config("retention.ms", "soon");
        let refused = admin.create_topic(&bad_config).await.unwrap_err();
        assert_eq!(code(&refused), ErrorCode::InvalidConfig, "{refused}");
        assert!(
            refused.to_string().contains("cannot create topic bad"),
            "{refused}"
        );

        admin
            .create_topic(&NewTopic::new("audit").partitions(1))
            .await
            .unwrap();
        let listed = admin.list_topics().await.unwrap();
        let names: Vec<(&str, usize, bool)> = listed
            .iter()
            .map(|t| (t.name.as_str(), t.partitions, t.internal))
            .collect();
        assert_eq!(names, [("audit", 1, false), ("orders", 3, false)]);

        let described = admin.describe_topic("orders").await.unwrap();
        assert_eq!(described.id, created.id);
        assert!(!described.internal);
        let partitions: Vec<(i32, i32, Vec<i32>, Vec<i32>)> = described
            .partitions
            .iter()
            .map(|p| (p.id, p.leader, p.replicas.clone(), p.isr.clone()))
            .collect();
        assert_eq!(
            partitions,
            (0..3)
                .map(|p| (p, node, vec![node], vec![node]))
                .collect::<Vec<_>>()
        );
        let config = |name: &str| {
            described
                .configs
                .iter()
                .find(|c| c.name == name)
                .cloned()
                .unwrap_or_else(|| panic!("no {name} in {:?}", described.configs))
        };
        let retention = config("retention.ms");
        assert_eq!(retention.value.as_deref(), Some("3600000"));
        assert_eq!(retention.source, ConfigSource::Topic);
        assert!(!retention.is_default && !retention.sensitive);
        let cleanup = config("cleanup.policy");
        assert_eq!(cleanup.value.as_deref(), Some("delete"));
        assert_eq!(cleanup.source, ConfigSource::Default);
        assert!(cleanup.is_default);

        admin.create_partitions("orders", 5).await.unwrap();
        let grown = admin.describe_topic("orders").await.unwrap();
        assert_eq!(grown.partitions.len(), 5);
        let shrink = admin.create_partitions("orders", 2).await.unwrap_err();
        assert_eq!(code(&shrink), ErrorCode::InvalidPartitions);
        assert!(shrink.to_string().contains("orders"), "{shrink}");
        let missing = admin.create_partitions("nope", 2).await.unwrap_err();
        assert_eq!(code(&missing), ErrorCode::UnknownTopicOrPartition);

        admin.delete_topic("orders").await.unwrap();
        let gone = admin.describe_topic("orders").await.unwrap_err();
        assert_eq!(code(&gone), ErrorCode::UnknownTopicOrPartition);
        assert!(
            gone.to_string()
                .starts_with("topic orders: UNKNOWN_TOPIC_OR_PARTITION"),
            "{gone}"
        );
        let twice = admin.delete_topic("orders").await.unwrap_err();
        assert_eq!(code(&twice), ErrorCode::UnknownTopicOrPartition);
        assert!(
            twice.to_string().contains("cannot delete topic orders"),
            "{twice}"
        );
        let names: Vec<String> = admin
            .list_topics()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["audit"]);
    });
}

#[test]
fn topic_configs_are_set_and_deleted_and_broker_configs_read() {
    let broker = broker();
    let node = broker.broker().config().node_id;
    block_on(async {
        let admin = admin(&broker).await;
        let topic = NewTopic::new("settings")
            .partitions(1)
            .config("retention.ms", "1000")
            .config("segment.bytes", "1048576");
        admin.create_topic(&topic).await.unwrap();
        let resource = ConfigResource::Topic("settings".into());
        admin
            .alter_configs(
                &resource,
                &[
                    AlterConfig::Set("retention.ms".into(), "5000".into()),
                    AlterConfig::Delete("segment.bytes".into()),
                    AlterConfig::Set("cleanup.policy".into(), "compact".into()),
                ],
            )
            .await
            .unwrap();
        let configs = admin.describe_configs(&resource).await.unwrap();
        let value = |name: &str| {
            let entry = configs.iter().find(|c| c.name == name).unwrap();
            (entry.value.clone().unwrap(), entry.source)
        };
        assert_eq!(value("retention.ms"), ("5000".into(), ConfigSource::Topic));
        assert_eq!(
            value("cleanup.policy"),
            ("compact".into(), ConfigSource::Topic)
        );
        let (segment_bytes, source) = value("segment.bytes");
        assert_ne!(segment_bytes, "1048576");
        assert_ne!(source, ConfigSource::Topic);
        let mut names: Vec<&str> = configs.iter().map(|c| c.name.as_str()).collect();
        let sorted = {
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted
        };
        assert_eq!(names, sorted, "configs come sorted by name");
        names.dedup();
        assert_eq!(names.len(), configs.len());

        let refused = admin
            .alter_configs(
                &resource,
                &[AlterConfig::Set("retention.ms".into(), "forever".into())],
            )
            .await
            .unwrap_err();
        assert_eq!(code(&refused), ErrorCode::InvalidConfig, "{refused}");
        assert!(
            refused
                .to_string()
                .starts_with("cannot alter the configs of topic settings: INVALID_CONFIG"),
            "{refused}"
        );
        // All or nothing: the refused change left the earlier value.
        let configs = admin.describe_configs(&resource).await.unwrap();
        let retention = configs.iter().find(|c| c.name == "retention.ms").unwrap();
        assert_eq!(retention.value.as_deref(), Some("5000"));

        let missing = admin
            .describe_configs(&ConfigResource::Topic("nope".into()))
            .await
            .unwrap_err();
        assert_eq!(code(&missing), ErrorCode::UnknownTopicOrPartition);
        assert!(missing.to_string().contains("topic nope"), "{missing}");

        let broker_configs = admin
            .describe_configs(&ConfigResource::Broker(node))
            .await
            .unwrap();
        assert!(!broker_configs.is_empty());
        assert!(
            broker_configs.iter().all(|c| c.read_only),
            "{broker_configs:?}"
        );
        assert!(
            broker_configs
                .iter()
                .all(|c| matches!(c.source, ConfigSource::Default | ConfigSource::StaticBroker)),
            "{broker_configs:?}"
        );
        assert!(
            broker_configs
                .iter()
                .all(|c| c.is_default == (c.source == ConfigSource::Default))
        );
    });
}

#[test]
fn the_cluster_describes_its_id_controller_and_brokers() {
    let broker = broker();
    let node = broker.broker().config().node_id;
    let cluster_id = broker.broker().cluster_id().to_owned();
    block_on(async {
        let admin = admin(&broker).await;
        let described = admin.describe_cluster().await.unwrap();
        assert_eq!(described.cluster_id.as_deref(), Some(cluster_id.as_str()));
        assert_eq!(described.controller, Some(node));
        assert_eq!(described.brokers.len(), 1);
        assert_eq!(described.brokers[0].node_id, node);
        assert_eq!(described.brokers[0].addr, broker.bootstrap());
        assert_eq!(described.brokers[0].rack, None);
    });
}

#[test]
fn leaders_are_elected_and_partitions_reassigned_on_one_node() {
    let broker = broker();
    let node = broker.broker().config().node_id;
    block_on(async {
        let admin = admin(&broker).await;
        admin
            .create_topic(&NewTopic::new("moves").partitions(2).replication_factor(1))
            .await
            .unwrap();
        let p0 = vec![("moves".to_owned(), 0)];

        // The only replica already leads: nothing to elect, for either kind.
        for election in [ElectionType::Preferred, ElectionType::Unclean] {
            let outcomes = admin.elect_leaders(election, Some(&p0)).await.unwrap();
            assert_eq!(outcomes.len(), 1);
            assert_eq!(
                (outcomes[0].topic.as_str(), outcomes[0].partition),
                ("moves", 0)
            );
            let error = outcomes[0].result.as_ref().unwrap_err();
            assert_eq!(code(error), ErrorCode::ElectionNotNeeded, "{election:?}");
        }
        // Over every partition, the ones that need nothing are left out.
        let all = admin
            .elect_leaders(ElectionType::Preferred, None)
            .await
            .unwrap();
        assert!(all.is_empty(), "{all:?}");
        let unknown = vec![("nope".to_owned(), 0), ("moves".to_owned(), 7)];
        let outcomes = admin
            .elect_leaders(ElectionType::Preferred, Some(&unknown))
            .await
            .unwrap();
        let codes: Vec<(&str, i32, ErrorCode)> = outcomes
            .iter()
            .map(|o| {
                (
                    o.topic.as_str(),
                    o.partition,
                    code(o.result.as_ref().unwrap_err()),
                )
            })
            .collect();
        assert_eq!(
            codes,
            vec![
                ("moves", 7, ErrorCode::UnknownTopicOrPartition),
                ("nope", 0, ErrorCode::UnknownTopicOrPartition),
            ]
        );

        // A move onto the replica it already has is done at once; bad targets are refused.
        let to = |replicas: Option<Vec<i32>>| PartitionMove {
            partition: ("moves".to_owned(), 1),
            replicas,
        };
        let outcomes = admin
            .alter_partition_reassignments(&[to(Some(vec![node]))])
            .await
            .unwrap();
        assert!(outcomes[0].result.is_ok(), "{outcomes:?}");
        assert!(
            admin
                .list_partition_reassignments(None)
                .await
                .unwrap()
                .is_empty()
        );
        let bad = [
            to(Some(vec![node + 98])),
            to(Some(Vec::new())),
            to(Some(vec![node, node])),
        ];
        for m in bad {
            let outcomes = admin
                .alter_partition_reassignments(std::slice::from_ref(&m))
                .await
                .unwrap();
            let error = outcomes[0].result.as_ref().unwrap_err();
            assert_eq!(code(error), ErrorCode::InvalidReplicaAssignment, "{m:?}");
        }
        let outcomes = admin
            .alter_partition_reassignments(&[to(None)])
            .await
            .unwrap();
        let error = outcomes[0].result.as_ref().unwrap_err();
        assert_eq!(code(error), ErrorCode::NoReassignmentInProgress);
        let listed = admin.list_partition_reassignments(Some(&p0)).await.unwrap();
        assert!(listed.is_empty(), "{listed:?}");

        // Nothing moved: the partition still has its one replica, led by this node.
        let described = admin.describe_topic("moves").await.unwrap();
        assert_eq!(described.partitions[1].replicas, vec![node]);
        assert_eq!(described.partitions[1].leader, node);
    });
}

fn rd_config(broker: &TestBroker) -> RdConfig {
    let mut config = RdConfig::new();
    config.set("bootstrap.servers", broker.bootstrap());
    config
}

/// Writes `count` records to each of `partitions`, record `i` stamped `(i + 1) * 1000` ms.
fn produce(broker: &TestBroker, topic: &str, partitions: i32, count: i64) {
    let producer: BaseProducer = rd_config(broker).create().unwrap();
    for partition in 0..partitions {
        for i in 0..count {
            let value = format!("{partition}-{i}");
            let record = BaseRecord::<(), String>::to(topic)
                .partition(partition)
                .payload(&value)
                .timestamp((i + 1) * 1000);
            producer.send(record).map_err(|(e, _)| e).unwrap();
        }
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

/// A librdkafka consumer in `group` that has read `records` records and committed
/// `commits`; it stays in the group (heartbeating) until dropped.
fn member(
    broker: &TestBroker,
    group: &str,
    topic: &str,
    records: usize,
    commits: &[(i32, i64)],
) -> BaseConsumer {
    let consumer: BaseConsumer = rd_config(broker)
        .set("group.id", group)
        .set("client.id", "member-a")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "range")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "200")
        .set("fetch.wait.max.ms", "100")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut read = 0;
    while read < records {
        assert!(
            Instant::now() < deadline,
            "read {read} of {records} records"
        );
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            message.unwrap();
            read += 1;
        }
    }
    let mut offsets = TopicPartitionList::new();
    for (partition, offset) in commits {
        offsets
            .add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .unwrap();
    }
    consumer.commit(&offsets, CommitMode::Sync).unwrap();
    consumer
}

/// Polls the group's state until it is `state`, for at most 20 s.
async fn wait_for_state(admin: &Admin, group: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match admin.describe_group(group).await {
            Ok(described) if described.state == state => return,
            Ok(_) | Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("group {group} never became {state}: {other:?}"),
        }
    }
}

#[test]
fn a_consumer_group_is_listed_described_reset_and_deleted() {
    let broker = broker();
    let node = broker.broker().config().node_id;
    let (topic, group) = ("events", "readers");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let admin = runtime.block_on(admin(&broker));
    runtime
        .block_on(admin.create_topic(&NewTopic::new(topic).partitions(2)))
        .unwrap();
    produce(&broker, topic, 2, 5);
    let consumer = member(&broker, group, topic, 10, &[(0, 3), (1, 5)]);

    runtime.block_on(async {
        wait_for_state(&admin, group, "Stable").await;
        let listed = admin.list_groups(&[]).await.unwrap();
        let ours = listed.iter().find(|g| g.group_id == group).unwrap();
        assert_eq!(ours.protocol_type, "consumer");
        assert_eq!(ours.state.as_deref(), Some("Stable"));
        let stable = admin.list_groups(&["stable".into()]).await.unwrap();
        assert!(stable.iter().any(|g| g.group_id == group), "{stable:?}");
        let empty = admin.list_groups(&["Empty".into()]).await.unwrap();
        assert!(empty.iter().all(|g| g.group_id != group), "{empty:?}");

        let described = admin.describe_group(group).await.unwrap();
        assert_eq!(described.state, "Stable");
        assert_eq!(described.protocol_type, "consumer");
        assert_eq!(described.protocol, "range");
        assert_eq!(described.coordinator, node);
        assert_eq!(described.members.len(), 1);
        let member = &described.members[0];
        assert_eq!(member.client_id, "member-a");
        assert!(!member.member_id.is_empty());
        assert!(member.client_host.contains("127.0.0.1"), "{member:?}");
        assert_eq!(member.subscription, [topic]);
        assert_eq!(member.assignment, [(topic.to_owned(), vec![0, 1])]);

        let offsets = admin.group_offsets(group).await.unwrap();
        let rows: Vec<OffsetRow<'_>> = offsets
            .iter()
            .map(|o| {
                (
                    o.topic.as_str(),
                    o.partition,
                    o.committed_offset,
                    o.log_end_offset,
                    o.lag,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (topic, 0, 3, Some(5), Some(2)),
                (topic, 1, 5, Some(5), Some(0))
            ]
        );

        // While the member is there, offsets cannot be reset nor the group deleted.
        let refused = admin
            .reset_offsets(group, topic, None, ResetTarget::Earliest)
            .await
            .unwrap_err();
        assert_eq!(code(&refused), ErrorCode::NonEmptyGroup);
        let message = refused.to_string();
        assert!(
            message.starts_with("cannot reset the offsets of group readers: NON_EMPTY_GROUP"),
            "{message}"
        );
        assert!(message.contains("Stable with 1 member"), "{message}");
        let refused = admin.delete_group(group).await.unwrap_err();
        assert_eq!(code(&refused), ErrorCode::NonEmptyGroup);
        assert!(refused.to_string().contains("group readers"), "{refused}");
        // A plan may still be made.
        let plan = admin
            .plan_offset_reset(group, topic, None, ResetTarget::Earliest)
            .await
            .unwrap();
        assert_eq!(
            plan,
            [
                plan_row(topic, 0, Some(3), 0),
                plan_row(topic, 1, Some(5), 0)
            ]
        );
    });

    // The member leaves; the group is empty and keeps its offsets.
    drop(consumer);
    runtime.block_on(async {
        wait_for_state(&admin, group, "Empty").await;
        let described = admin.describe_group(group).await.unwrap();
        assert!(described.members.is_empty());

        let cases = [
            (ResetTarget::ShiftBy(-2), None, [Some(1), Some(3)]),
            (ResetTarget::Offset(4), None, [Some(4), Some(4)]),
            (ResetTarget::Offset(99), Some(&[1][..]), [None, Some(5)]),
            (ResetTarget::Timestamp(2500), None, [Some(2), Some(2)]),
            (ResetTarget::Timestamp(99_000), None, [Some(5), Some(5)]),
            (ResetTarget::Earliest, Some(&[0][..]), [Some(0), None]),
            (ResetTarget::ShiftBy(-10), None, [Some(0), Some(0)]),
            (ResetTarget::Latest, None, [Some(5), Some(5)]),
        ];
        let mut committed = [3, 5];
        for (target, partitions, expected) in cases {
            let plan = admin
                .reset_offsets(group, topic, partitions, target)
                .await
                .unwrap();
            let mut want = Vec::new();
            for (partition, new) in expected.iter().enumerate() {
                if let Some(new) = new {
                    want.push(plan_row(
                        topic,
                        partition as i32,
                        Some(committed[partition]),
                        *new,
                    ));
                    committed[partition] = *new;
                }
            }
            assert_eq!(plan, want, "{target:?}");
            let now: Vec<i64> = admin
                .group_offsets(group)
                .await
                .unwrap()
                .iter()
                .map(|o| o.committed_offset)
                .collect();
            assert_eq!(now, committed, "after {target:?}");
        }
        let unknown = admin
            .reset_offsets(group, "nope", None, ResetTarget::Earliest)
            .await
            .unwrap_err();
        assert_eq!(code(&unknown), ErrorCode::UnknownTopicOrPartition);
        assert!(unknown.to_string().contains("nope"), "{unknown}");
        let bad_partition = admin
            .reset_offsets(group, topic, Some(&[7]), ResetTarget::Earliest)
            .await
            .unwrap_err();
        assert_eq!(code(&bad_partition), ErrorCode::UnknownTopicOrPartition);
        assert!(
            bad_partition.to_string().contains("partition 7 of events"),
            "{bad_partition}"
        );

        admin.delete_group(group).await.unwrap();
        let gone = admin.describe_group(group).await.unwrap_err();
        assert_eq!(code(&gone), ErrorCode::GroupIdNotFound);
        assert_eq!(
            gone.to_string(),
            "group readers: GROUP_ID_NOT_FOUND (no such group)"
        );
        let twice = admin.delete_group(group).await.unwrap_err();
        assert_eq!(code(&twice), ErrorCode::GroupIdNotFound);
        assert!(admin.group_offsets(group).await.unwrap().is_empty());
        let listed = admin.list_groups(&[]).await.unwrap();
        assert!(listed.iter().all(|g| g.group_id != group), "{listed:?}");
    });

    // A group that never existed: offsets can be set from outside, which creates it, but
    // shifting needs a committed offset.
    runtime.block_on(async {
        let shift = admin
            .reset_offsets("fresh", topic, None, ResetTarget::ShiftBy(1))
            .await
            .unwrap_err();
        assert!(matches!(shift, Error::Invalid(_)), "{shift:?}");
        assert!(shift.to_string().contains("no committed offset"), "{shift}");
        let plan = admin
            .reset_offsets("fresh", topic, None, ResetTarget::Offset(2))
            .await
            .unwrap();
        assert_eq!(
            plan,
            [plan_row(topic, 0, None, 2), plan_row(topic, 1, None, 2)]
        );
        let described = admin.describe_group("fresh").await.unwrap();
        assert_eq!(
            (described.state.as_str(), described.protocol_type.as_str()),
            ("Empty", "")
        );
        let lag: Vec<Option<i64>> = admin
            .group_offsets("fresh")
            .await
            .unwrap()
            .iter()
            .map(|o| o.lag)
            .collect();
        assert_eq!(lag, [Some(3), Some(3)]);
    });
    drop(admin);
    drop(runtime);
}

fn plan_row(topic: &str, partition: i32, current: Option<i64>, new_offset: i64) -> OffsetResetPlan {
    OffsetResetPlan {
        topic: topic.to_owned(),
        partition,
        current,
        new_offset,
    }
}
