//! The admin REST API under `/api/v1`, served by `streambus_http` over a real broker, with
//! records and group members from librdkafka: every endpoint's answer with exact values, and
//! bad input answered with the status that means it (400, 404, 409) and a JSON error body.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};
use streambus_http::Health;
use streambus_testkit::TestBroker;
use support::TestRecord;

/// The HTTP server of one test, over the test's broker; stops when dropped.
struct Api {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Api {
    fn serve(broker: &TestBroker) -> Api {
        let health = Health::new();
        health.set_broker(Arc::clone(broker.broker()));
        health.set_ready(true);
        Api::serve_health(health)
    }

    fn serve_health(health: Arc<Health>) -> Api {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime
                .block_on(streambus_http::serve(listener, health, async {
                    let _ = stopped.await;
                }))
                .unwrap();
        });
        Api {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Sends one request (with a JSON body when given) and returns the status and the body
    /// parsed as JSON (`Null` when empty).
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let body = body.unwrap_or("");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let json = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
        };
        (status, json)
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None)
    }

    fn send(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        self.call(method, path, Some(&body.to_string()))
    }

    /// Asserts an error answer: its status and error code.
    fn fails(&self, method: &str, path: &str, body: Option<&str>, status: u16, code: &str) {
        let (got, json) = self.call(method, path, body);
        assert_eq!(got, status, "{method} {path}: {json}");
        assert_eq!(json["error"]["code"], code, "{method} {path}: {json}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn group_broker() -> TestBroker {
    TestBroker::start_with(|c| {
        c.group.initial_rebalance_delay_ms = 0;
        c.group.min_session_timeout_ms = 1000;
        c.offsets_topic_num_partitions = 3;
    })
}

/// Produces `count` records to `partition`, with timestamps `1_000 * (i + 1)`.
fn produce(broker: &TestBroker, topic: &str, partition: i32, count: usize) {
    let producer = support::producer(broker, &[]);
    let records: Vec<TestRecord> = (0..count)
        .map(|i| TestRecord {
            timestamp: Some(1_000 * (i as i64 + 1)),
            ..TestRecord::kv(format!("k{i}"), format!("v{i}"))
        })
        .collect();
    support::produce_ok(&producer, topic, Some(partition), &records);
}

/// Polls `GET path` until `done` holds for the answer, within the test timeout.
fn wait_for(api: &Api, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + support::TIMEOUT;
    loop {
        let (status, json) = api.get(path);
        if status == 200 && done(&json) {
            return json;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: last answer {status} {json}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn cluster_and_brokers_name_this_broker() {
    let broker = TestBroker::start();
    let api = Api::serve(&broker);
    let expected =
        json!([{"id": 1, "host": "127.0.0.1", "port": broker.addr().port(), "rack": null}]);
    let (status, cluster) = api.get("/api/v1/cluster");
    assert_eq!(status, 200, "{cluster}");
    assert_eq!(cluster["cluster_id"], broker.broker().cluster_id());
    assert_eq!(cluster["controller_id"], 1);
    assert_eq!(cluster["brokers"], expected);
    assert_eq!(api.get("/api/v1/brokers"), (200, expected));
}

#[test]
fn before_the_broker_is_handed_over_the_api_answers_503() {
    let api = Api::serve_health(Health::new());
    api.fails("GET", "/api/v1/topics", None, 503, "SERVICE_UNAVAILABLE");
    let (status, doc) = api.get("/api/v1/openapi.json");
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/api/v1/topics/{name}"]["get"].is_object());
}

#[test]
fn a_topic_is_created_described_changed_grown_trimmed_and_deleted() {
    let broker = TestBroker::start();
    let api = Api::serve(&broker);
    let (status, created) = api.send(
        "POST",
        "/api/v1/topics",
        json!({"name": "orders", "partitions": 3, "configs": {"retention.ms": "3600000"}}),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "orders");
    assert_eq!(created["partitions"], 3);
    assert_eq!(created["replication_factor"], 1);
    assert_eq!(created["validate_only"], false);
    assert_eq!(created["configs"]["retention.ms"]["value"], "3600000");
    assert_eq!(
        created["configs"]["retention.ms"]["source"],
        "DYNAMIC_TOPIC_CONFIG"
    );
    assert_eq!(created["configs"]["cleanup.policy"]["default"], true);

    let (status, validated) = api.send(
        "POST",
        "/api/v1/topics",
        json!({"name": "dry-run", "partitions": 2, "validate_only": true}),
    );
    assert_eq!((status, &validated["partitions"]), (200, &json!(2)));
    let (status, topics) = api.get("/api/v1/topics");
    assert_eq!(status, 200);
    assert_eq!(
        topics,
        json!([{"name": "orders", "partitions": 3, "replication_factor": 1, "internal": false}])
    );

    produce(&broker, "orders", 0, 5);
    produce(&broker, "orders", 1, 2);
    let (status, topic) = api.get("/api/v1/topics/orders");
    assert_eq!(status, 200, "{topic}");
    assert_eq!(topic["topic_id"], created["topic_id"]);
    assert_eq!(topic["internal"], false);
    let offsets = |topic: &Value| -> Vec<(i64, i64)> {
        topic["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let offset = |k: &str| p[k].as_i64().unwrap();
                (offset("log_start_offset"), offset("high_watermark"))
            })
            .collect()
    };
    assert_eq!(offsets(&topic), vec![(0, 5), (0, 2), (0, 0)]);
    let first = &topic["partitions"][0];
    assert_eq!(first["partition"], 0);
    assert_eq!(first["leader"], 1);
    assert_eq!(first["replicas"], json!([1]));
    assert_eq!(first["isr"], json!([1]));
    let retention = &topic["configs"]["retention.ms"];
    assert_eq!(
        retention,
        &json!({"value": "3600000", "source": "DYNAMIC_TOPIC_CONFIG", "read_only": false,
                "default": false, "sensitive": false})
    );

    let (status, changed) = api.send(
        "PATCH",
        "/api/v1/topics/orders/configs",
        json!({"configs": {"retention.ms": null, "cleanup.policy": "compact"}}),
    );
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["configs"]["retention.ms"]["default"], true);
    assert_eq!(
        changed["configs"]["retention.ms"]["source"],
        "DEFAULT_CONFIG"
    );
    assert_eq!(changed["configs"]["retention.ms"]["value"], "604800000");
    assert_eq!(changed["configs"]["cleanup.policy"]["value"], "compact");
    let (_, topic) = api.get("/api/v1/topics/orders");
    assert_eq!(topic["configs"]["cleanup.policy"]["value"], "compact");

    let (status, grown) = api.send(
        "POST",
        "/api/v1/topics/orders/partitions",
        json!({"count": 5}),
    );
    assert_eq!(status, 200, "{grown}");
    assert_eq!(grown["partitions"], 5);

    let (status, trimmed) = api.send(
        "POST",
        "/api/v1/topics/orders/delete-records",
        json!({"partitions": {"0": 3, "1": -1}}),
    );
    assert_eq!(status, 200, "{trimmed}");
    assert_eq!(trimmed, json!({"partitions": {"0": 3, "1": 2}}));
    let (_, topic) = api.get("/api/v1/topics/orders");
    assert_eq!(
        offsets(&topic),
        vec![(3, 5), (2, 2), (0, 0), (0, 0), (0, 0)]
    );

    assert_eq!(
        api.call("DELETE", "/api/v1/topics/orders", None),
        (204, Value::Null)
    );
    api.fails(
        "GET",
        "/api/v1/topics/orders",
        None,
        404,
        "UNKNOWN_TOPIC_OR_PARTITION",
    );
    assert_eq!(api.get("/api/v1/topics"), (200, json!([])));
}

#[test]
fn bad_topic_input_is_answered_with_the_status_that_means_it() {
    let broker = TestBroker::start();
    let api = Api::serve(&broker);
    let (status, _) = api.send(
        "POST",
        "/api/v1/topics",
        json!({"name": "t", "partitions": 2}),
    );
    assert_eq!(status, 201);

    api.fails(
        "POST",
        "/api/v1/topics",
        Some("{\"name\": "),
        400,
        "BAD_REQUEST",
    );
    api.fails("POST", "/api/v1/topics", Some("[1, 2]"), 400, "BAD_REQUEST");
    api.fails(
        "POST",
        "/api/v1/topics",
        Some(r#"{"name": "u", "partitons": 1}"#),
        400,
        "BAD_REQUEST",
    );
    api.fails(
        "POST",
        "/api/v1/topics",
        Some(r#"{"name": "t"}"#),
        409,
        "TOPIC_ALREADY_EXISTS",
    );
    api.fails(
        "POST",
        "/api/v1/topics",
        Some(r#"{"name": "bad name!"}"#),
        400,
        "INVALID_TOPIC_EXCEPTION",
    );
    api.fails(
        "POST",
        "/api/v1/topics",
        Some(r#"{"name": "p", "partitions": 0}"#),
        400,
        "INVALID_PARTITIONS",
    );
    api.fails(
        "POST",
        "/api/v1/topics",
        Some(r#"{"name": "c", "configs": {"retention.ms": "soon"}}"#),
        400,
        "INVALID_CONFIG",
    );
    api.fails(
        "GET",
        "/api/v1/topics/nope",
        None,
        404,
        "UNKNOWN_TOPIC_OR_PARTITION",
    );
    api.fails(
        "GET",
        "/api/v1/topics/bad%20name",
        None,
        400,
        "INVALID_TOPIC_EXCEPTION",
    );
    api.fails(
        "DELETE",
        "/api/v1/topics/nope",
        None,
        404,
        "UNKNOWN_TOPIC_OR_PARTITION",
    );
    api.fails(
        "PATCH",
        "/api/v1/topics/t/configs",
        Some(r#"{"configs": {"retention.ms": "soon"}}"#),
        400,
        "INVALID_CONFIG",
    );
    api.fails(
        "PATCH",
        "/api/v1/topics/nope/configs",
        Some(r#"{"configs": {"retention.ms": "1000"}}"#),
        404,
        "UNKNOWN_TOPIC_OR_PARTITION",
    );
    api.fails(
        "PATCH",
        "/api/v1/topics/t/configs",
        Some("not json"),
        400,
        "BAD_REQUEST",
    );
    api.fails(
        "POST",
        "/api/v1/topics/t/partitions",
        Some(r#"{"count": 1}"#),
        400,
        "INVALID_PARTITIONS",
    );
    api.fails(
        "POST",
        "/api/v1/topics/nope/partitions",
        Some(r#"{"count": 3}"#),
        404,
        "UNKNOWN_TOPIC_OR_PARTITION",
    );
    api.fails(
        "POST",
        "/api/v1/topics/t/delete-records",
        Some(r#"{"partitions": {"0": 10}}"#),
        400,
        "OFFSET_OUT_OF_RANGE",
    );
    api.fails(
        "POST",
        "/api/v1/topics/t/delete-records",
        Some(r#"{"partitions": {"7": 0}}"#),
        404,
        "UNKNOWN_TOPIC_OR_PARTITION",
    );
    api.fails(
        "POST",
        "/api/v1/topics/t/delete-records",
        Some(r#"{"partitions": {"zero": 0}}"#),
        400,
        "BAD_REQUEST",
    );
    // Nothing of the failed requests was created.
    let (_, topics) = api.get("/api/v1/topics");
    assert_eq!(topics.as_array().unwrap().len(), 1, "{topics}");
}

/// A librdkafka consumer in `group`, subscribed to `topic`, once it has partitions.
fn member(broker: &TestBroker, group: &str, topic: &str) -> BaseConsumer {
    let consumer = support::consumer(
        broker,
        &[
            ("group.id", group),
            ("session.timeout.ms", "6000"),
            ("client.id", "api-test"),
        ],
    );
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + support::TIMEOUT;
    while consumer.assignment().unwrap().count() == 0 {
        assert!(Instant::now() < deadline, "the consumer got no partitions");
        let _ = consumer.poll(Duration::from_millis(50));
    }
    consumer
}

#[test]
fn a_group_is_described_with_lag_reset_and_deleted() {
    let broker = group_broker();
    let api = Api::serve(&broker);
    let (status, _) = api.send(
        "POST",
        "/api/v1/topics",
        json!({"name": "events", "partitions": 2}),
    );
    assert_eq!(status, 201);
    produce(&broker, "events", 0, 6);
    produce(&broker, "events", 1, 4);
    api.fails(
        "GET",
        "/api/v1/groups/readers",
        None,
        404,
        "GROUP_ID_NOT_FOUND",
    );
    api.fails(
        "DELETE",
        "/api/v1/groups/readers",
        None,
        404,
        "GROUP_ID_NOT_FOUND",
    );

    let consumer = member(&broker, "readers", "events");
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset("events", 0, Offset::Offset(2))
        .unwrap();
    commit
        .add_partition_offset("events", 1, Offset::Offset(4))
        .unwrap();
    consumer.commit(&commit, CommitMode::Sync).unwrap();

    let group = wait_for(&api, "/api/v1/groups/readers", "the group is stable", |g| {
        g["state"] == "Stable"
    });
    assert_eq!(group["group_id"], "readers");
    assert_eq!(group["protocol_type"], "consumer");
    assert_eq!(group["protocol"], "range");
    let members = group["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{group}");
    assert_eq!(members[0]["client_id"], "api-test");
    assert_eq!(members[0]["group_instance_id"], Value::Null);
    assert!(!members[0]["client_host"].as_str().unwrap().is_empty());
    assert_eq!(
        members[0]["assignment"],
        json!([{"topic": "events", "partitions": [0, 1]}])
    );
    assert_eq!(
        group["offsets"],
        json!([
            {"topic": "events", "partition": 0, "committed_offset": 2, "metadata": "",
             "high_watermark": 6, "lag": 4},
            {"topic": "events", "partition": 1, "committed_offset": 4, "metadata": "",
             "high_watermark": 4, "lag": 0},
        ])
    );
    let summary = json!([{"group_id": "readers", "protocol_type": "consumer",
                          "state": "Stable", "type": "classic"}]);
    assert_eq!(api.get("/api/v1/groups"), (200, summary.clone()));
    assert_eq!(api.get("/api/v1/groups?state=Stable"), (200, summary));
    assert_eq!(api.get("/api/v1/groups?state=Empty"), (200, json!([])));

    api.fails(
        "DELETE",
        "/api/v1/groups/readers",
        None,
        409,
        "NON_EMPTY_GROUP",
    );
    let reset = r#"{"topic": "events", "to": "earliest"}"#;
    let path = "/api/v1/groups/readers/reset-offsets";
    let (status, refused) = api.call("POST", path, Some(reset));
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "UNKNOWN_MEMBER_ID");
    assert_eq!(
        refused["error"]["message"],
        "the group has active members; stop them first"
    );

    drop(consumer);
    wait_for(&api, "/api/v1/groups/readers", "the group is empty", |g| {
        g["state"] == "Empty"
    });
    let lags = |api: &Api| -> Vec<(i64, i64)> {
        let (_, group) = api.get("/api/v1/groups/readers");
        group["offsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["committed_offset"].as_i64().unwrap(),
                    o["lag"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let cases = [
        (
            json!("earliest"),
            None,
            json!({"0": 0, "1": 0}),
            vec![(0, 6), (0, 4)],
        ),
        (
            json!("latest"),
            None,
            json!({"0": 6, "1": 4}),
            vec![(6, 0), (4, 0)],
        ),
        (
            json!({"offset": 3}),
            None,
            json!({"0": 3, "1": 3}),
            vec![(3, 3), (3, 1)],
        ),
        (
            json!({"offset": 100}),
            None,
            json!({"0": 6, "1": 4}),
            vec![(6, 0), (4, 0)],
        ),
        // Records carry timestamps 1000, 2000, ...: 2500 is first reached at offset 2.
        (
            json!({"timestamp": 2_500}),
            Some(json!([0])),
            json!({"0": 2}),
            vec![(2, 4), (4, 0)],
        ),
        (
            json!({"timestamp": 99_000}),
            Some(json!([1])),
            json!({"1": 4}),
            vec![(2, 4), (4, 0)],
        ),
    ];
    for (to, partitions, answered, expected) in cases {
        let mut body = json!({"topic": "events", "to": to});
        if let Some(partitions) = partitions {
            body["partitions"] = partitions;
        }
        let (status, done) = api.send("POST", path, body.clone());
        assert_eq!(status, 200, "{body}: {done}");
        assert_eq!(done["group_id"], "readers");
        assert_eq!(done["partitions"], answered, "{body}");
        assert_eq!(lags(&api), expected, "{body}");
    }
    api.fails(
        "POST",
        path,
        Some(r#"{"topic": "events", "to": "soon"}"#),
        400,
        "BAD_REQUEST",
    );
    api.fails(
        "POST",
        path,
        Some(r#"{"topic": "events", "to": {"timestamp": -5}}"#),
        400,
        "BAD_REQUEST",
    );
    api.fails(
        "POST",
        path,
        Some(r#"{"topic": "nope", "to": "latest"}"#),
        404,
        "UNKNOWN_TOPIC_OR_PARTITION",
    );
    api.fails(
        "POST",
        path,
        Some(r#"{"topic": "events", "to": "latest", "partitions": [9]}"#),
        404,
        "UNKNOWN_TOPIC_OR_PARTITION",
    );

    assert_eq!(
        api.call("DELETE", "/api/v1/groups/readers", None),
        (204, Value::Null)
    );
    api.fails(
        "GET",
        "/api/v1/groups/readers",
        None,
        404,
        "GROUP_ID_NOT_FOUND",
    );
    assert_eq!(api.get("/api/v1/groups"), (200, json!([])));
}
