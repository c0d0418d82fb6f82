//! Topic and config administration through librdkafka's `AdminClient` (and raw requests
//! where rdkafka has no call): CreateTopics with partitions, configs and validate_only and
//! its refusals (existing topic, invalid names, replication factor), DeleteTopics,
//! CreatePartitions, DescribeConfigs, AlterConfigs, IncrementalAlterConfigs, Metadata for
//! all and for unknown topics, auto-creation on and off, DescribeCluster, InitProducerId and
//! DescribeProducers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use rdkafka::admin::{
    AlterConfig, ConfigSource, NewPartitions, NewTopic, OwnedResourceSpecifier, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::consumer::Consumer;
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use streambus_protocol::messages::alter_configs_request::{self, AlterConfigsRequest};
use streambus_protocol::messages::describe_cluster_request::DescribeClusterRequest;
use streambus_protocol::messages::describe_configs_request::{
    DescribeConfigsRequest, DescribeConfigsResource,
};
use streambus_protocol::messages::describe_producers_request::{
    DescribeProducersRequest, TopicRequest,
};
use streambus_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
};
use streambus_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use streambus_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use streambus_protocol::messages::metadata_response::MetadataResponse;
use streambus_protocol::{Request, Response};
use streambus_storage::records::BatchBuilder;
use streambus_testkit::TestBroker;
use support::{TIMEOUT, TestRecord, Wire};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// A topic's partition count from librdkafka's Metadata, or its error.
fn partitions_of(broker: &TestBroker, topic: &str) -> Result<usize, RDKafkaRespErr> {
    let consumer = support::consumer(broker, &[("allow.auto.create.topics", "false")]);
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT).unwrap();
    assert_eq!(metadata.topics().len(), 1);
    let found = &metadata.topics()[0];
    assert_eq!(found.name(), topic);
    match found.error() {
        Some(e) => Err(e),
        None => {
            for (i, p) in found.partitions().iter().enumerate() {
                assert_eq!(p.id(), i as i32);
                assert_eq!(p.leader(), 1);
                assert_eq!(p.error(), None);
            }
            Ok(found.partitions().len())
        }
    }
}

/// Metadata v12 for `topics` (names), asking for auto-creation or not.
fn raw_metadata(broker: &TestBroker, topics: &[&str], allow_create: bool) -> MetadataResponse {
    let mut wire = Wire::connect(broker.addr());
    let response = wire.call(
        12,
        Request::Metadata(MetadataRequest {
            topics: Some(
                topics
                    .iter()
                    .map(|name| MetadataRequestTopic {
                        name: Some(name.to_string()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            allow_auto_topic_creation: allow_create,
            ..Default::default()
        }),
    );
    let Response::Metadata(response) = response else {
        panic!("not a Metadata response: {response:?}");
    };
    response
}

/// DescribeConfigs v4 of one resource: (error code, name -> (value, config source)).
fn raw_describe_configs(
    broker: &TestBroker,
    resource_type: i8,
    name: &str,
) -> (i16, BTreeMap<String, (Option<String>, i8)>) {
    let mut wire = Wire::connect(broker.addr());
    let response = wire.call(
        4,
        Request::DescribeConfigs(DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type,
                resource_name: name.to_string(),
                configuration_keys: None,
            }],
            ..Default::default()
        }),
    );
    let Response::DescribeConfigs(response) = response else {
        panic!("not a DescribeConfigs response: {response:?}");
    };
    assert_eq!(response.results.len(), 1);
    let result = &response.results[0];
    assert_eq!(result.resource_type, resource_type);
    assert_eq!(result.resource_name, name);
    let configs = result
        .configs
        .iter()
        .map(|c| (c.name.clone(), (c.value.clone(), c.config_source)))
        .collect();
    (result.error_code, configs)
}

/// Topic configs through rdkafka's DescribeConfigs: name -> (value, source).
fn describe_topic(broker: &TestBroker, topic: &str) -> BTreeMap<String, (Option<String>, bool)> {
    let admin = support::admin(broker);
    let results = support::block_on(admin.describe_configs(
        [&ResourceSpecifier::Topic(topic)],
        &support::admin_options(),
    ))
    .unwrap();
    assert_eq!(results.len(), 1);
    let resource = results.into_iter().next().unwrap().unwrap();
    assert_eq!(
        resource.specifier,
        OwnedResourceSpecifier::Topic(topic.into())
    );
    resource
        .entries
        .into_iter()
        .map(|e| {
            let topic_override = match e.source {
                ConfigSource::DynamicTopic => true,
                ConfigSource::Default => false,
                other => panic!("{}: unexpected source {other:?}", e.name),
            };
            assert_eq!(e.is_default, !topic_override, "{}", e.name);
            (e.name, (e.value, topic_override))
        })
        .collect()
}

/// AlterConfigs v1 of one topic; returns the resource's error code.
fn raw_alter_configs(broker: &TestBroker, topic: &str, configs: &[(&str, Option<&str>)]) -> i16 {
    let mut wire = Wire::connect(broker.addr());
    let response = wire.call(
        1,
        Request::AlterConfigs(AlterConfigsRequest {
            resources: vec![alter_configs_request::AlterConfigsResource {
                resource_type: RESOURCE_TOPIC,
                resource_name: topic.into(),
                configs: configs
                    .iter()
                    .map(|(name, value)| alter_configs_request::AlterableConfig {
                        name: name.to_string(),
                        value: value.map(str::to_string),
                    })
                    .collect(),
            }],
            validate_only: false,
        }),
    );
    let Response::AlterConfigs(response) = response else {
        panic!("not an AlterConfigs response: {response:?}");
    };
    assert_eq!(response.responses.len(), 1);
    assert_eq!(response.responses[0].resource_name, topic);
    response.responses[0].error_code
}

#[test]
fn create_topics_with_partitions_and_configs() {
    let broker = TestBroker::start();
    let admin = support::admin(&broker);
    let orders = NewTopic::new("orders", 4, TopicReplication::Fixed(1))
        .set("retention.ms", "3600000")
        .set("cleanup.policy", "compact");
    let defaults = NewTopic::new("defaults", -1, TopicReplication::Fixed(-1));
    let results =
        support::block_on(admin.create_topics([&orders, &defaults], &support::admin_options()))
            .unwrap();
    assert_eq!(
        results,
        vec![Ok("orders".to_string()), Ok("defaults".to_string())]
    );
    assert_eq!(partitions_of(&broker, "orders"), Ok(4));
    // -1 takes the broker's num.partitions (1 by default).
    assert_eq!(partitions_of(&broker, "defaults"), Ok(1));

    // Every partition takes records at offset 0.
    let producer = support::producer(&broker, &[]);
    for partition in 0..4 {
        let delivered = support::produce_ok(
            &producer,
            "orders",
            Some(partition),
            &[TestRecord::kv("k", "v")],
        );
        assert_eq!(delivered, vec![(partition, 0)]);
    }
}

#[test]
fn create_topics_validate_only_creates_nothing() {
    let broker = TestBroker::start();
    let admin = support::admin(&broker);
    let validate = support::admin_options().validate_only(true);
    let topic = NewTopic::new("checked", 3, TopicReplication::Fixed(1)).set("retention.ms", "1000");
    let results = support::block_on(admin.create_topics([&topic], &validate)).unwrap();
    assert_eq!(results, vec![Ok("checked".to_string())]);
    assert_eq!(
        partitions_of(&broker, "checked"),
        Err(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    );

    // Validation still refuses what creation would refuse.
    let bad_config =
        NewTopic::new("checked", 3, TopicReplication::Fixed(1)).set("retention.ms", "soon");
    let results = support::block_on(admin.create_topics([&bad_config], &validate)).unwrap();
    assert_eq!(
        results,
        vec![Err((
            "checked".to_string(),
            RDKafkaErrorCode::InvalidConfig
        ))]
    );
    let unknown_config =
        NewTopic::new("checked", 3, TopicReplication::Fixed(1)).set("no.such.config", "1");
    let results = support::block_on(admin.create_topics([&unknown_config], &validate)).unwrap();
    assert_eq!(
        results,
        vec![Err((
            "checked".to_string(),
            RDKafkaErrorCode::InvalidConfig
        ))]
    );

    // And the real creation works afterwards.
    support::create_topic(&broker, "checked", 3, &[]);
    assert_eq!(partitions_of(&broker, "checked"), Ok(3));
}

#[test]
fn create_topics_refuses_existing_invalid_and_unreplicable_topics() {
    let broker = TestBroker::start();
    let admin = support::admin(&broker);
    let options = support::admin_options();
    support::create_topic(&broker, "taken", 2, &[]);

    let again = NewTopic::new("taken", 5, TopicReplication::Fixed(1));
    let results = support::block_on(admin.create_topics([&again], &options)).unwrap();
    assert_eq!(
        results,
        vec![Err((
            "taken".to_string(),
            RDKafkaErrorCode::TopicAlreadyExists
        ))]
    );
    assert_eq!(
        partitions_of(&broker, "taken"),
        Ok(2),
        "the topic is unchanged"
    );

    let long = "a".repeat(250);
    for name in [
        "bad name",
        "..",
        ".",
        "slash/topic",
        "ünïcödé",
        long.as_str(),
    ] {
        let topic = NewTopic::new(name, 1, TopicReplication::Fixed(1));
        let results = support::block_on(admin.create_topics([&topic], &options)).unwrap();
        assert_eq!(
            results,
            vec![Err((name.to_string(), RDKafkaErrorCode::InvalidTopic))],
            "{name:?}"
        );
    }
    // 249 characters is the longest legal name.
    let longest = "b".repeat(249);
    support::create_topic(&broker, &longest, 1, &[]);
    assert_eq!(partitions_of(&broker, &longest), Ok(1));

    let replicated = NewTopic::new("replicated", 1, TopicReplication::Fixed(3));
    let results = support::block_on(admin.create_topics([&replicated], &options)).unwrap();
    assert_eq!(
        results,
        vec![Err((
            "replicated".to_string(),
            RDKafkaErrorCode::InvalidReplicationFactor
        ))]
    );
    assert_eq!(
        partitions_of(&broker, "replicated"),
        Err(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    );
}

#[test]
fn deleted_topic_is_gone_and_comes_back_empty() {
    let broker = TestBroker::start();
    let admin = support::admin(&broker);
    let options = support::admin_options();
    support::create_topic(&broker, "doomed", 2, &[("retention.ms", "123456")]);
    let producer = support::producer(&broker, &[]);
    let records: Vec<TestRecord> = (0..10)
        .map(|i| TestRecord::kv(format!("k{i}"), format!("v{i}")))
        .collect();
    support::produce_ok(&producer, "doomed", Some(0), &records);
    support::produce_ok(&producer, "doomed", Some(1), &records);

    let results = support::block_on(admin.delete_topics(&["doomed"], &options)).unwrap();
    assert_eq!(results, vec![Ok("doomed".to_string())]);
    assert_eq!(
        partitions_of(&broker, "doomed"),
        Err(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    );
    let consumer = support::consumer(&broker, &[]);
    let all = consumer.fetch_metadata(None, TIMEOUT).unwrap();
    assert!(all.topics().iter().all(|t| t.name() != "doomed"));

    let results = support::block_on(admin.delete_topics(&["doomed"], &options)).unwrap();
    assert_eq!(
        results,
        vec![Err((
            "doomed".to_string(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))]
    );

    // Re-created, it is a new, empty topic, without the old overrides.
    support::create_topic(&broker, "doomed", 2, &[]);
    for partition in 0..2 {
        assert_eq!(
            consumer
                .fetch_watermarks("doomed", partition, TIMEOUT)
                .unwrap(),
            (0, 0),
            "partition {partition}"
        );
    }
    let delivered = support::produce_ok(
        &producer,
        "doomed",
        Some(1),
        &[TestRecord::kv("new", "life")],
    );
    assert_eq!(delivered, vec![(1, 0)]);
    let consumed = support::consume_partition(&broker, "doomed", 1, 1);
    assert_eq!(consumed.len(), 1);
    assert_eq!(consumed[0].record.value.as_deref(), Some(&b"life"[..]));
    let (code, configs) = raw_describe_configs(&broker, RESOURCE_TOPIC, "doomed");
    assert_eq!(code, 0);
    assert_eq!(configs["retention.ms"], (Some("604800000".to_string()), 5));
}

#[test]
fn create_partitions_grows_a_topic_and_never_shrinks_it() {
    let broker = TestBroker::start();
    let admin = support::admin(&broker);
    let options = support::admin_options();
    support::create_topic(&broker, "growing", 3, &[]);
    let producer = support::producer(&broker, &[]);
    support::produce_ok(&producer, "growing", Some(2), &[TestRecord::kv("a", "b")]);

    let validate = support::admin_options().validate_only(true);
    let results =
        support::block_on(admin.create_partitions([&NewPartitions::new("growing", 5)], &validate))
            .unwrap();
    assert_eq!(results, vec![Ok("growing".to_string())]);
    assert_eq!(partitions_of(&broker, "growing"), Ok(3), "validate_only");

    let results =
        support::block_on(admin.create_partitions([&NewPartitions::new("growing", 5)], &options))
            .unwrap();
    assert_eq!(results, vec![Ok("growing".to_string())]);
    assert_eq!(partitions_of(&broker, "growing"), Ok(5));
    // A new producer, so that its first metadata already shows the new partitions.
    let producer = support::producer(&broker, &[]);
    let delivered = support::produce_ok(
        &producer,
        "growing",
        Some(4),
        &[TestRecord::kv("new", "partition")],
    );
    assert_eq!(delivered, vec![(4, 0)]);
    let consumer = support::consumer(&broker, &[]);
    assert_eq!(
        consumer.fetch_watermarks("growing", 2, TIMEOUT).unwrap(),
        (0, 1),
        "old partitions keep their data"
    );

    for count in [4, 5] {
        let results = support::block_on(
            admin.create_partitions([&NewPartitions::new("growing", count)], &options),
        )
        .unwrap();
        assert_eq!(
            results,
            vec![Err((
                "growing".to_string(),
                RDKafkaErrorCode::InvalidPartitions
            ))],
            "{count} partitions"
        );
    }
    assert_eq!(partitions_of(&broker, "growing"), Ok(5));

    let results =
        support::block_on(admin.create_partitions([&NewPartitions::new("absent", 2)], &options))
            .unwrap();
    assert_eq!(
        results,
        vec![Err((
            "absent".to_string(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))]
    );
}

#[test]
fn describe_configs_shows_defaults_overrides_and_the_broker() {
    let broker = TestBroker::start_with(|c| c.num_partitions = 2);
    support::create_topic(&broker, "plain", 1, &[]);
    support::create_topic(
        &broker,
        "tuned",
        1,
        &[("retention.ms", "3600000"), ("cleanup.policy", "compact")],
    );

    let plain = describe_topic(&broker, "plain");
    assert_eq!(plain["retention.ms"], (Some("604800000".into()), false));
    assert_eq!(plain["cleanup.policy"], (Some("delete".into()), false));
    assert_eq!(plain["segment.bytes"], (Some("1073741824".into()), false));
    assert_eq!(plain["max.message.bytes"], (Some("1048588".into()), false));
    assert!(plain.values().all(|(_, overridden)| !overridden));

    let tuned = describe_topic(&broker, "tuned");
    assert_eq!(tuned["retention.ms"], (Some("3600000".into()), true));
    assert_eq!(tuned["cleanup.policy"], (Some("compact".into()), true));
    assert_eq!(tuned["segment.bytes"], (Some("1073741824".into()), false));
    assert_eq!(
        tuned.keys().collect::<Vec<_>>(),
        plain.keys().collect::<Vec<_>>()
    );

    // Raw, to see the codes rdkafka does not report: TOPIC_CONFIG is 1, DEFAULT_CONFIG 5.
    let (code, raw) = raw_describe_configs(&broker, RESOURCE_TOPIC, "tuned");
    assert_eq!(code, 0);
    assert_eq!(raw["retention.ms"], (Some("3600000".into()), 1));
    assert_eq!(raw["segment.ms"], (Some("604800000".into()), 5));
    let (code, raw) = raw_describe_configs(&broker, RESOURCE_TOPIC, "no-such-topic");
    assert_eq!(code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    assert!(raw.is_empty());
    let (code, _) = raw_describe_configs(&broker, RESOURCE_TOPIC, "bad name");
    assert_eq!(code, 17, "INVALID_TOPIC_EXCEPTION");

    // The broker's own settings, under Kafka's names.
    let (code, raw) = raw_describe_configs(&broker, RESOURCE_BROKER, "1");
    assert_eq!(code, 0);
    assert_eq!(raw["num.partitions"].0.as_deref(), Some("2"));
    assert_eq!(raw["auto.create.topics.enable"].0.as_deref(), Some("false"));
    let admin = support::admin(&broker);
    let results = support::block_on(
        admin.describe_configs([&ResourceSpecifier::Broker(1)], &support::admin_options()),
    )
    .unwrap();
    let resource = results.into_iter().next().unwrap().unwrap();
    assert_eq!(resource.specifier, OwnedResourceSpecifier::Broker(1));
    assert_eq!(
        resource
            .get("num.partitions")
            .and_then(|e| e.value.as_deref()),
        Some("2")
    );
    // Another node's id is not this broker.
    let (code, raw) = raw_describe_configs(&broker, RESOURCE_BROKER, "7");
    assert_ne!(code, 0);
    assert!(raw.is_empty());
}

#[test]
fn alter_configs_replaces_a_topics_overrides() {
    let broker = TestBroker::start();
    let admin = support::admin(&broker);
    let options = support::admin_options();
    support::create_topic(
        &broker,
        "altered",
        1,
        &[("cleanup.policy", "compact"), ("segment.ms", "100000")],
    );

    // AlterConfigs sets the whole set: what it leaves out goes back to the default.
    let alter = AlterConfig::new(ResourceSpecifier::Topic("altered"))
        .set("retention.ms", "1000")
        .set("segment.ms", "200000");
    let results = support::block_on(admin.alter_configs([&alter], &options)).unwrap();
    assert_eq!(
        results,
        vec![Ok(OwnedResourceSpecifier::Topic("altered".into()))]
    );
    let configs = describe_topic(&broker, "altered");
    assert_eq!(configs["retention.ms"], (Some("1000".into()), true));
    assert_eq!(configs["segment.ms"], (Some("200000".into()), true));
    assert_eq!(configs["cleanup.policy"], (Some("delete".into()), false));

    // validate_only changes nothing.
    let check = AlterConfig::new(ResourceSpecifier::Topic("altered")).set("retention.ms", "5");
    let results = support::block_on(
        admin.alter_configs([&check], &support::admin_options().validate_only(true)),
    )
    .unwrap();
    assert_eq!(
        results,
        vec![Ok(OwnedResourceSpecifier::Topic("altered".into()))]
    );
    assert_eq!(
        describe_topic(&broker, "altered")["retention.ms"],
        (Some("1000".into()), true)
    );

    // Refusals leave the topic as it was. (rdkafka 0.38 drops AlterConfigs' per-resource
    // errors, so these go raw.)
    let refusals = [
        ("altered", "retention.ms", Some("soon"), 40),
        ("altered", "no.such.config", Some("1"), 40),
        ("altered", "retention.ms", None, 42),
        ("absent", "retention.ms", Some("1"), 3),
    ];
    for (topic, name, value, code) in refusals {
        assert_eq!(
            raw_alter_configs(&broker, topic, &[(name, value)]),
            code,
            "{topic}: {name}={value:?}"
        );
    }
    let configs = describe_topic(&broker, "altered");
    assert_eq!(configs["retention.ms"], (Some("1000".into()), true));
    assert_eq!(configs["segment.ms"], (Some("200000".into()), true));

    // A new max.message.bytes applies to the next produce.
    let tight =
        AlterConfig::new(ResourceSpecifier::Topic("altered")).set("max.message.bytes", "2000");
    let results = support::block_on(admin.alter_configs([&tight], &options)).unwrap();
    assert_eq!(
        results,
        vec![Ok(OwnedResourceSpecifier::Topic("altered".into()))]
    );
    let producer = support::producer(&broker, &[]);
    let result = support::produce(
        &producer,
        "altered",
        Some(0),
        &[TestRecord::kv("k", vec![7u8; 5000])],
    );
    assert_eq!(
        result,
        vec![Err(rdkafka::error::KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageSizeTooLarge
        ))]
    );
}

#[test]
fn incremental_alter_configs_sets_and_deletes_single_keys() {
    let broker = TestBroker::start();
    support::create_topic(&broker, "incremental", 1, &[("segment.ms", "100000")]);
    let mut wire = Wire::connect(broker.addr());
    let mut alter = |configs: Vec<AlterableConfig>, validate_only: bool| -> i16 {
        let response = wire.call(
            1,
            Request::IncrementalAlterConfigs(IncrementalAlterConfigsRequest {
                resources: vec![AlterConfigsResource {
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "incremental".into(),
                    configs,
                }],
                validate_only,
            }),
        );
        let Response::IncrementalAlterConfigs(response) = response else {
            panic!("not an IncrementalAlterConfigs response: {response:?}");
        };
        assert_eq!(response.responses.len(), 1);
        assert_eq!(response.responses[0].resource_name, "incremental");
        response.responses[0].error_code
    };
    let op = |name: &str, operation: i8, value: Option<&str>| AlterableConfig {
        name: name.into(),
        config_operation: operation,
        value: value.map(str::to_string),
    };
    const SET: i8 = 0;
    const DELETE: i8 = 1;
    const APPEND: i8 = 2;

    // SET adds one key and keeps the others.
    assert_eq!(alter(vec![op("retention.ms", SET, Some("7000"))], false), 0);
    let configs = describe_topic(&broker, "incremental");
    assert_eq!(configs["retention.ms"], (Some("7000".into()), true));
    assert_eq!(configs["segment.ms"], (Some("100000".into()), true));

    // DELETE goes back to the default.
    assert_eq!(alter(vec![op("segment.ms", DELETE, None)], false), 0);
    let configs = describe_topic(&broker, "incremental");
    assert_eq!(configs["segment.ms"], (Some("604800000".into()), false));
    assert_eq!(configs["retention.ms"], (Some("7000".into()), true));

    // APPEND to a list config.
    assert_eq!(
        alter(vec![op("cleanup.policy", APPEND, Some("compact"))], false),
        0
    );
    let configs = describe_topic(&broker, "incremental");
    let policy = configs["cleanup.policy"].0.clone().unwrap();
    let mut parts: Vec<&str> = policy.split(',').collect();
    parts.sort_unstable();
    assert_eq!(parts, ["compact", "delete"]);

    // validate_only and refusals change nothing.
    assert_eq!(alter(vec![op("retention.ms", SET, Some("1"))], true), 0);
    assert_eq!(
        alter(vec![op("retention.ms", SET, Some("soon"))], false),
        40
    );
    assert_eq!(alter(vec![op("no.such.config", SET, Some("1"))], false), 40);
    assert_eq!(
        describe_topic(&broker, "incremental")["retention.ms"],
        (Some("7000".into()), true)
    );
}

#[test]
fn metadata_lists_every_topic_and_flags_unknown_ones() {
    let broker = TestBroker::start();
    support::create_topic(&broker, "alpha", 1, &[]);
    support::create_topic(&broker, "beta", 3, &[]);
    support::create_topic(&broker, "gamma", 7, &[]);

    let consumer = support::consumer(&broker, &[]);
    let metadata = consumer.fetch_metadata(None, TIMEOUT).unwrap();
    assert_eq!(metadata.brokers().len(), 1);
    assert_eq!(metadata.brokers()[0].id(), 1);
    assert_eq!(metadata.brokers()[0].host(), "127.0.0.1");
    assert_eq!(
        metadata.brokers()[0].port(),
        i32::from(broker.addr().port())
    );
    // The consumer's group.id makes librdkafka look up its coordinator, which may create the
    // internal `__consumer_offsets` first; Kafka lists it too. Only the topics made here count.
    let mut topics: Vec<(String, usize)> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() != "__consumer_offsets")
        .map(|t| {
            assert_eq!(t.error(), None);
            (t.name().to_string(), t.partitions().len())
        })
        .collect();
    topics.sort();
    assert_eq!(
        topics,
        vec![
            ("alpha".to_string(), 1),
            ("beta".to_string(), 3),
            ("gamma".to_string(), 7)
        ]
    );

    assert_eq!(
        partitions_of(&broker, "missing"),
        Err(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    );

    // Raw: one known, one unknown and one invalid name in one request.
    let response = raw_metadata(&broker, &["beta", "missing", "bad name"], true);
    assert_eq!(
        response.cluster_id.as_deref(),
        Some(broker.broker().cluster_id())
    );
    assert_eq!(response.controller_id, 1);
    let codes: Vec<(Option<String>, i16, usize)> = response
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.error_code, t.partitions.len()))
        .collect();
    assert_eq!(
        codes,
        vec![
            (Some("beta".into()), 0, 3),
            (Some("missing".into()), 3, 0),
            (Some("bad name".into()), 17, 0),
        ]
    );
    let beta = &response.topics[0];
    assert_ne!(beta.topic_id, [0; 16]);
    for (i, p) in beta.partitions.iter().enumerate() {
        assert_eq!(p.partition_index, i as i32);
        assert_eq!(p.leader_id, 1);
        assert_eq!(p.replica_nodes, vec![1]);
        assert_eq!(p.isr_nodes, vec![1]);
    }
}

#[test]
fn auto_creation_follows_the_broker_setting() {
    // Off (the default): nothing is created, whatever the client allows.
    let off = TestBroker::start();
    let response = raw_metadata(&off, &["wanted"], true);
    assert_eq!(response.topics[0].error_code, 3);
    assert_eq!(
        partitions_of(&off, "wanted"),
        Err(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    );
    let producer = support::producer(&off, &[("message.timeout.ms", "2000")]);
    let result = support::produce(&producer, "wanted", None, &[TestRecord::kv("k", "v")]);
    assert!(result[0].is_err(), "{result:?}");
    assert_eq!(
        partitions_of(&off, "wanted"),
        Err(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    );

    // On: created with num.partitions when the client allows it, not when it does not.
    let on = TestBroker::start_with(|c| {
        c.auto_create_topics = true;
        c.num_partitions = 3;
    });
    let response = raw_metadata(&on, &["declined"], false);
    assert_eq!(response.topics[0].error_code, 3);
    assert_eq!(
        partitions_of(&on, "declined"),
        Err(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    );
    let response = raw_metadata(&on, &["made"], true);
    assert_eq!(response.topics[0].error_code, 0);
    assert_eq!(response.topics[0].partitions.len(), 3);
    assert_eq!(partitions_of(&on, "made"), Ok(3));

    // And librdkafka's producer creates topics as it sends.
    let producer = support::producer(&on, &[]);
    let delivered = support::produce_ok(
        &producer,
        "by-producer",
        Some(2),
        &[TestRecord::kv("k", "v")],
    );
    assert_eq!(delivered, vec![(2, 0)]);
    assert_eq!(partitions_of(&on, "by-producer"), Ok(3));
}

#[test]
fn describe_cluster_names_this_broker() {
    let broker = TestBroker::start();
    let mut wire = Wire::connect(broker.addr());
    for version in [0, 1] {
        let response = wire.call(
            version,
            Request::DescribeCluster(DescribeClusterRequest {
                include_cluster_authorized_operations: false,
                endpoint_type: 1,
            }),
        );
        let Response::DescribeCluster(response) = response else {
            panic!("not a DescribeCluster response: {response:?}");
        };
        assert_eq!(response.error_code, 0, "v{version}");
        assert_eq!(response.cluster_id, broker.broker().cluster_id());
        assert_eq!(response.controller_id, 1);
        assert_eq!(response.brokers.len(), 1);
        assert_eq!(response.brokers[0].broker_id, 1);
        assert_eq!(response.brokers[0].host, "127.0.0.1");
        assert_eq!(response.brokers[0].port, i32::from(broker.addr().port()));
    }
}

#[test]
fn init_producer_id_hands_out_distinct_ids_and_describe_producers_shows_them() {
    let broker = TestBroker::start();
    support::create_topic(&broker, "produced", 2, &[]);
    let mut wire = Wire::connect(broker.addr());
    let mut ids = Vec::new();
    for version in [0, 2, 4] {
        let response = wire.call(
            version,
            Request::InitProducerId(InitProducerIdRequest {
                transactional_id: None,
                transaction_timeout_ms: 60_000,
                producer_id: -1,
                producer_epoch: -1,
            }),
        );
        let Response::InitProducerId(response) = response else {
            panic!("not an InitProducerId response: {response:?}");
        };
        assert_eq!(response.error_code, 0, "v{version}");
        assert!(response.producer_id >= 0);
        assert_eq!(response.producer_epoch, 0);
        ids.push(response.producer_id);
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "ids {ids:?} are distinct");

    // An idempotent batch of 5 records from the first id, appended raw.
    let producer_id = ids[0];
    let mut builder = BatchBuilder::new().producer(producer_id, 0, 0);
    for i in 0..5 {
        builder.push_kv(1_000 + i, None, Some(bytes::Bytes::from("x")), Vec::new());
    }
    let batch = builder.build().unwrap().freeze();
    let code = support::raw_produce(&mut wire, "produced", 1, batch, -1).0;
    assert_eq!(code, 0);

    let response = wire.call(
        0,
        Request::DescribeProducers(DescribeProducersRequest {
            topics: vec![TopicRequest {
                name: "produced".into(),
                partition_indexes: vec![0, 1, 9],
            }],
        }),
    );
    let Response::DescribeProducers(response) = response else {
        panic!("not a DescribeProducers response: {response:?}");
    };
    assert_eq!(response.topics.len(), 1);
    let partitions = &response.topics[0].partitions;
    assert_eq!(partitions.len(), 3);
    assert_eq!(partitions[0].partition_index, 0);
    assert_eq!(partitions[0].error_code, 0);
    assert!(partitions[0].active_producers.is_empty());
    assert_eq!(partitions[1].partition_index, 1);
    assert_eq!(partitions[1].error_code, 0);
    assert_eq!(partitions[1].active_producers.len(), 1);
    let state = &partitions[1].active_producers[0];
    assert_eq!(state.producer_id, producer_id);
    assert_eq!(state.producer_epoch, 0);
    assert_eq!(state.last_sequence, 4);
    assert_eq!(state.last_timestamp, 1_004);
    assert_eq!(state.current_txn_start_offset, -1);
    assert_eq!(partitions[2].partition_index, 9);
    assert_eq!(partitions[2].error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
}
