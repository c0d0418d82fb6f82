//! The broker's metrics move with what clients do: requests and their errors by API and
//! error code, records and bytes in and out by topic, partitions and their offsets, and
//! consumer group lag; rendered as OpenMetrics text. (The HTTP endpoint and a third-party
//! parser are exercised in `tests/compat/`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{CommitMode, Consumer};
use streambus_testkit::TestBroker;
use support::TestRecord;

/// Every sample line of the text, `name{labels}` to value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in {samples:#?}"))
}

/// What the tests measure: 10 records of 100 B produced to partition 0 of a 2-partition
/// topic `measured` and read back, offset 4 committed by group `measuring` (a lag of 6), and
/// a produce to a topic that does not exist.
fn traffic(broker: &TestBroker) {
    support::create_topic(broker, "measured", 2, &[]);
    let producer = support::producer(broker, &[("linger.ms", "0")]);
    let records: Vec<TestRecord> = (0..10)
        .map(|i| TestRecord::kv(format!("k{i}"), vec![b'x'; 100]))
        .collect();
    support::produce_ok(&producer, "measured", Some(0), &records);
    let consumed = support::consume_partition(broker, "measured", 0, 10);
    assert_eq!(consumed.len(), 10);

    // A group member commits offset 4 of 10: a lag of 6.
    let consumer = support::consumer(broker, &[("group.id", "measuring")]);
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("measured", 0, Offset::Offset(4))
        .unwrap();
    consumer.commit(&offsets, CommitMode::Sync).unwrap();

    // A request that fails: a topic that does not exist, per partition.
    let missing = support::producer(broker, &[("message.timeout.ms", "1000")]);
    let failed = support::produce(&missing, "absent", Some(0), &records[..1]);
    assert!(failed[0].is_err());
}

#[test]
fn metrics_follow_produce_fetch_errors_and_group_commits() {
    let broker = TestBroker::start_with(|c| {
        c.group.initial_rebalance_delay_ms = 0;
        c.offsets_topic_num_partitions = 2;
    });
    let before = samples(&broker.broker().render_metrics());
    assert!(!before.contains_key(r#"streambus_topic_records_in_total{topic="measured"}"#));
    assert!(before.contains_key("process_resident_memory_bytes"));
    assert!(value(&before, "process_resident_memory_bytes") > 0.0);
    assert!(value(&before, "process_open_fds") > 0.0);

    traffic(&broker);
    // A client that stays connected while the metrics are read: a raw connection, which
    // (unlike librdkafka, which may drop its bootstrap connection once it knows the broker)
    // is certainly open, with a request answered on it.
    let mut live = support::Wire::connect(broker.addr());
    let answered = live.call(
        3,
        streambus_protocol::Request::ApiVersions(Default::default()),
    );
    assert!(matches!(
        answered,
        streambus_protocol::Response::ApiVersions(_)
    ));

    let after = samples(&broker.broker().render_metrics());
    assert_eq!(
        value(
            &after,
            r#"streambus_topic_records_in_total{topic="measured"}"#
        ),
        10.0
    );
    let bytes_in = value(
        &after,
        r#"streambus_topic_bytes_in_total{topic="measured"}"#,
    );
    assert!(
        bytes_in > 1000.0,
        "{bytes_in} bytes for 10 records of 100 B"
    );
    // The consumer read every batch at least once.
    assert!(
        value(
            &after,
            r#"streambus_topic_bytes_out_total{topic="measured"}"#
        ) >= bytes_in
    );
    assert!(value(&after, r#"streambus_requests_total{api="Produce"}"#) >= 1.0);
    assert!(value(&after, r#"streambus_requests_total{api="OffsetCommit"}"#) >= 1.0);
    assert!(
        value(
            &after,
            r#"streambus_request_duration_seconds_count{api="Produce"}"#
        ) >= 1.0
    );
    assert!(
        value(
            &after,
            r#"streambus_request_errors_total{api="Metadata",error="UNKNOWN_TOPIC_OR_PARTITION"}"#
        ) >= 1.0
    );
    assert_eq!(
        value(&after, r#"streambus_topic_partitions{topic="measured"}"#),
        2.0
    );
    assert_eq!(
        value(
            &after,
            r#"streambus_partition_log_end_offset{topic="measured",partition="0"}"#
        ),
        10.0
    );
    assert_eq!(
        value(
            &after,
            r#"streambus_partition_high_watermark{topic="measured",partition="1"}"#
        ),
        0.0
    );
    assert_eq!(
        value(
            &after,
            r#"streambus_consumer_group_lag{group="measuring",topic="measured"}"#
        ),
        6.0
    );
    // A single node leads every partition, each its own only in-sync replica, and is its
    // own quorum leader.
    let led = value(&after, "streambus_partitions_led");
    assert!(led >= 2.0, "{led}");
    assert_eq!(value(&after, "streambus_under_replicated_partitions"), 0.0);
    assert_eq!(
        value(
            &after,
            r#"streambus_partition_isr_size{topic="measured",partition="0"}"#
        ),
        1.0
    );
    assert_eq!(value(&after, "streambus_quorum_leader"), 1.0);
    assert!(value(&after, "streambus_connections") >= 1.0);
    let disk = value(&after, "streambus_data_dir_size_bytes");
    assert!(disk > 0.0 && value(&after, "streambus_data_dir_free_bytes") <= disk);
    assert!(value(&after, "streambus_connections_accepted_total") >= 3.0);
    assert!(
        after
            .keys()
            .any(|k| k.starts_with("process_cpu_seconds_total"))
    );
    assert!(broker.broker().render_metrics().ends_with("# EOF\n"));

    // Deleting the topic removes its series.
    let admin = support::admin(&broker);
    support::block_on(admin.delete_topics(&["measured"], &support::admin_options())).unwrap();
    let gone = samples(&broker.broker().render_metrics());
    assert!(!gone.keys().any(|k| k.contains(r#"topic="measured""#)));
}

/// Metric families the broker exports, from the `# TYPE` lines (counters without `_total`).
fn families(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The metric names a dashboard or rule file uses, without sample suffixes.
fn names_used(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for (start, _) in text.match_indices(['s', 'p']) {
        let rest = &text[start..];
        if !(rest.starts_with("streambus_") || rest.starts_with("process_")) {
            continue;
        }
        let before = text[..start].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let family = ["_bucket", "_sum", "_count", "_total"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name);
        names.insert(family.to_string());
    }
    names
}

#[test]
fn the_dashboard_and_alert_rules_use_only_metrics_that_exist() {
    let broker = TestBroker::start_with(|c| {
        c.group.initial_rebalance_delay_ms = 0;
        c.offsets_topic_num_partitions = 2;
    });
    // Labelled families only show once they have a sample.
    traffic(&broker);
    let exported = families(&broker.broker().render_metrics());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/observability");
    let dashboard = std::fs::read_to_string(root.join("grafana-dashboard.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    assert!(parsed["panels"].as_array().is_some_and(|p| p.len() >= 10));
    let alerts = std::fs::read_to_string(root.join("alerts.yml")).unwrap();
    for (file, text) in [
        ("grafana-dashboard.json", &dashboard),
        ("alerts.yml", &alerts),
    ] {
        let used = names_used(text);
        assert!(used.len() >= 5, "{file} names {used:?}");
        let missing: Vec<_> = used.difference(&exported).collect();
        assert!(
            missing.is_empty(),
            "{file} uses metrics the broker does not export: {missing:?}"
        );
    }
    // The checker itself sees through suffixes and ignores look-alikes.
    assert_eq!(
        names_used("rate(streambus_requests_total[1m]) + x_streambus_fake + process_open_fds"),
        ["process_open_fds", "streambus_requests"]
            .map(String::from)
            .into()
    );
}

#[test]
fn with_metrics_off_the_request_path_counts_nothing_but_state_is_still_sampled() {
    let broker = TestBroker::start_with(|c| {
        c.metrics_enabled = false;
        c.group.initial_rebalance_delay_ms = 0;
        c.offsets_topic_num_partitions = 2;
    });
    traffic(&broker);
    let text = broker.broker().render_metrics();
    let off = samples(&text);
    assert!(
        !off.keys()
            .any(|k| k.starts_with("streambus_requests_total")),
        "{text}"
    );
    assert!(
        !off.keys()
            .any(|k| k.starts_with("streambus_topic_records_in_total"))
    );
    assert_eq!(
        value(
            &off,
            r#"streambus_partition_log_end_offset{topic="measured",partition="0"}"#
        ),
        10.0
    );
    assert_eq!(
        value(
            &off,
            r#"streambus_consumer_group_lag{group="measuring",topic="measured"}"#
        ),
        6.0
    );
}
