//! The command-line tools as a user runs them: the real `streambus` binary against a real
//! `streambus serve` on port 0. Every command, each output format (JSON parsed, YAML and
//! tables compared as text), the errors for a missing broker, an unknown topic and bad
//! arguments, and the examples of `docs/cli.md`, run as written.
//!
//! Every command runs with a deadline; waits poll with one. `STREAMBUS_TEST_ECHO=1` echoes
//! the brokers' logs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "cli/bench.rs"]
mod bench;
#[path = "cli/docs.rs"]
mod docs;
#[path = "cli/groups.rs"]
mod groups;
#[path = "cli/harness.rs"]
mod harness;
mod support;

use std::time::{Duration, Instant};

use harness::*;
use serde_json::{Value, json};

#[test]
fn topics_are_created_listed_described_altered_and_deleted_in_every_format() {
    let broker = Broker::start();
    assert_eq!(
        broker.ok(&[
            "topic",
            "create",
            "orders",
            "--partitions",
            "3",
            "--config",
            "retention.ms=3600000"
        ]),
        "created topic orders (3 partitions, replication factor 1)\n"
    );
    assert_eq!(
        broker.ok(&[
            "topic",
            "create",
            "probe",
            "--partitions",
            "2",
            "--validate-only"
        ]),
        "topic can be created: probe (2 partitions, replication factor 1)\n"
    );
    let created = broker.json(&["topic", "create", "audit"]);
    assert_eq!(created["name"], "audit");
    assert_eq!(created["partitions"], 1, "the broker's default");
    assert_eq!(created["replication_factor"], 1);
    assert_eq!(created["validate_only"], false);
    assert_eq!(created["id"].as_str().unwrap().len(), 22, "{created}");
    assert!(
        created["configs"].as_array().unwrap().len() > 5,
        "{created}"
    );

    assert_eq!(
        broker.ok(&["topic", "list"]),
        "NAME    PARTITIONS  INTERNAL\n\
         audit   1           false\n\
         orders  3           false\n"
    );
    assert_eq!(
        broker.json(&["topic", "list"]),
        json!([
            {"name": "audit", "partitions": 1, "internal": false},
            {"name": "orders", "partitions": 3, "internal": false},
        ])
    );
    assert_eq!(
        broker.ok(&["topic", "list", "--output", "yaml"]),
        "- internal: false\n  name: audit\n  partitions: 1\n\
         - internal: false\n  name: orders\n  partitions: 3\n"
    );

    let described = broker.json(&["topic", "describe", "orders"]);
    let id = described["id"].as_str().unwrap().to_owned();
    assert_eq!(described["name"], "orders");
    assert_eq!(described["internal"], false);
    let partitions = described["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 3);
    for (i, p) in partitions.iter().enumerate() {
        assert_eq!(p["partition"], i as i64);
        assert_eq!(p["leader"], 1);
        assert_eq!(p["replicas"], json!([1]));
        assert_eq!(p["isr"], json!([1]));
        assert!(p["leader_epoch"].is_i64(), "{p}");
    }
    let config = |value: &Value, name: &str| {
        value["configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {value}"))
    };
    assert_eq!(
        config(&described, "retention.ms"),
        json!({"name": "retention.ms", "value": "3600000", "source": "TOPIC_CONFIG",
               "is_default": false, "read_only": false, "sensitive": false})
    );
    assert_eq!(
        config(&described, "cleanup.policy")["source"],
        "DEFAULT_CONFIG"
    );
    assert_eq!(config(&described, "cleanup.policy")["is_default"], true);

    let table = broker.ok(&["topic", "describe", "orders"]);
    let expected_head = format!(
        "Topic: orders  Id: {id}  Partitions: 3  Internal: false\n\n\
         PARTITION  LEADER  REPLICAS  ISR\n\
         0          1       1         1\n\
         1          1       1         1\n\
         2          1       1         1\n\n"
    );
    assert!(table.starts_with(&expected_head), "{table}");
    let rows: Vec<Vec<&str>> = table[expected_head.len()..]
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["CONFIG", "VALUE", "SOURCE"]);
    assert!(
        rows.contains(&vec!["retention.ms", "3600000", "TOPIC_CONFIG"]),
        "{table}"
    );
    assert!(
        rows.contains(&vec!["cleanup.policy", "delete", "DEFAULT_CONFIG"]),
        "{table}"
    );

    let yaml = broker.ok(&["topic", "describe", "orders", "--output", "yaml"]);
    assert!(yaml.starts_with("configs:\n  - is_default: true\n    name: cleanup.policy\n    read_only: false\n    sensitive: false\n    source: DEFAULT_CONFIG\n    value: delete\n"), "{yaml}");
    assert!(
        yaml.contains(&format!("\nid: {id}\n")) || yaml.contains(&format!("\nid: \"{id}\"\n")),
        "{yaml}"
    );
    assert!(
        yaml.contains(
            "\ninternal: false\nname: orders\npartitions:\n  - isr:\n      - 1\n    leader: 1\n"
        ),
        "{yaml}"
    );
    assert!(yaml.contains("    name: retention.ms\n    read_only: false\n    sensitive: false\n    source: TOPIC_CONFIG\n    value: \"3600000\"\n"), "{yaml}");

    assert_eq!(
        broker.ok(&[
            "topic",
            "alter-config",
            "orders",
            "--set",
            "retention.ms=5000",
            "--set",
            "cleanup.policy=compact",
            "--delete",
            "segment.bytes"
        ]),
        "altered topic orders: set retention.ms=5000, cleanup.policy=compact; deleted segment.bytes\n"
    );
    let described = broker.json(&["topic", "describe", "orders"]);
    assert_eq!(config(&described, "retention.ms")["value"], "5000");
    assert_eq!(config(&described, "cleanup.policy")["value"], "compact");
    assert_eq!(
        config(&described, "cleanup.policy")["source"],
        "TOPIC_CONFIG"
    );
    assert_eq!(
        broker.json(&[
            "topic",
            "alter-config",
            "orders",
            "--delete",
            "cleanup.policy"
        ]),
        json!({"name": "orders", "set": {}, "deleted": ["cleanup.policy"]})
    );
    let described = broker.json(&["topic", "describe", "orders"]);
    assert_eq!(
        config(&described, "cleanup.policy")["source"],
        "DEFAULT_CONFIG"
    );

    let refused = broker.fails(&[
        "topic",
        "alter-config",
        "orders",
        "--set",
        "retention.ms=soon",
    ]);
    assert!(
        refused.starts_with("error: cannot alter the configs of topic orders: INVALID_CONFIG ("),
        "{refused}"
    );
    assert_eq!(refused.lines().count(), 1, "{refused}");
    assert_eq!(
        broker.fails(&["topic", "alter-config", "orders"]),
        "error: nothing to change: give --set KEY=VALUE or --delete KEY\n"
    );
    let exists = broker.fails(&["topic", "create", "orders"]);
    assert!(
        exists.starts_with("error: cannot create topic orders: TOPIC_ALREADY_EXISTS ("),
        "{exists}"
    );
    let bad = broker.fails(&["topic", "create", "bad", "--config", "retention.ms=soon"]);
    assert!(
        bad.starts_with("error: cannot create topic bad: INVALID_CONFIG ("),
        "{bad}"
    );

    assert_eq!(
        broker.ok(&["topic", "delete", "audit"]),
        "deleted topic audit\n"
    );
    assert_eq!(
        broker.json(&["topic", "delete", "orders"]),
        json!({"name": "orders", "deleted": true})
    );
    assert_eq!(
        broker.fails(&["topic", "describe", "audit"]),
        "error: topic audit: UNKNOWN_TOPIC_OR_PARTITION (the topic or partition does not exist)\n"
    );
    let gone = broker.fails(&["topic", "delete", "audit"]);
    assert!(
        gone.starts_with("error: cannot delete topic audit: UNKNOWN_TOPIC_OR_PARTITION"),
        "{gone}"
    );
    assert_eq!(broker.json(&["topic", "list"]), json!([]));
    assert_eq!(
        broker.ok(&["topic", "list"]),
        "NAME  PARTITIONS  INTERNAL\n"
    );
}

#[test]
fn records_are_produced_from_stdin_and_files_and_consumed_in_every_format() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "events", "--partitions", "2"]);
    let produced: Value = serde_json::from_str(&broker.ok_with(
        &[
            "produce",
            "events",
            "--key-separator",
            ":",
            "--header",
            "source=test",
            "--header",
            "n=1",
            "--partition",
            "0",
            "--output",
            "json",
        ],
        "k1:v1\nk2:v:2\r\nk3:\n",
    ))
    .unwrap();
    assert_eq!(
        produced,
        json!({"topic": "events", "count": 3,
               "partitions": [{"partition": 0, "count": 3, "first_offset": 0, "last_offset": 2}]})
    );
    std::fs::write(broker.dir.path().join("values.txt"), "a\nb\n").unwrap();
    assert_eq!(
        broker.ok(&[
            "produce",
            "events",
            "--partition",
            "1",
            "--file",
            "values.txt"
        ]),
        "produced 2 records to events\n\n\
         PARTITION  RECORDS  FIRST-OFFSET  LAST-OFFSET\n\
         1          2        0             1\n"
    );

    // Every record, in each format.
    let template = "{topic}/{partition}@{offset} {key}={value} [{headers}]";
    assert_eq!(
        sorted_lines(&broker.ok(&["consume", "events", "--format", template])),
        [
            "events/0@0 k1=v1 [source=test,n=1]",
            "events/0@1 k2=v:2 [source=test,n=1]",
            "events/0@2 k3= [source=test,n=1]",
            "events/1@0 =a []",
            "events/1@1 =b []",
        ]
    );
    assert_eq!(
        sorted_lines(&broker.ok(&["consume", "events"])),
        ["", "a", "b", "v1", "v:2"]
    );
    let records = broker.records(&["events", "--partition", "0"]);
    assert_eq!(records.len(), 3);
    let first = &records[0];
    assert!(
        first["timestamp"].as_i64().unwrap() > 1_600_000_000_000,
        "{first}"
    );
    assert_eq!(
        first,
        &json!({"topic": "events", "partition": 0, "offset": 0, "timestamp": first["timestamp"],
                "timestamp_type": "CreateTime", "key": "k1", "value": "v1",
                "headers": [{"key": "source", "value": "test"}, {"key": "n", "value": "1"}]})
    );
    assert_eq!(records[2]["value"], "");
    let yaml = broker.ok(&["consume", "events", "--partition", "1", "--output", "yaml"]);
    assert_eq!(yaml.matches("---\n").count(), 2, "{yaml}");
    assert!(
        yaml.starts_with("---\nheaders: []\nkey: null\noffset: 0\npartition: 1\ntimestamp: "),
        "{yaml}"
    );
    assert!(
        yaml.ends_with("timestamp_type: CreateTime\ntopic: events\nvalue: b\n"),
        "{yaml}"
    );

    // Positions and counts.
    let from = |args: &[&str]| -> Vec<(i64, i64, String)> { values(&broker.records(args)) };
    assert_eq!(
        from(&["events", "--partition", "0", "--from", "1"]),
        [(0, 1, "v:2".into()), (0, 2, String::new())]
    );
    assert_eq!(
        from(&["events", "--partition", "0", "--count", "1"]),
        [(0, 0, "v1".into())]
    );
    assert_eq!(from(&["events", "--from", "end"]), []);
    assert_eq!(from(&["events", "--from", "@0"]).len(), 5);
    assert_eq!(from(&["events", "--from", "@99999999999999"]), []);
    let stamp = records[2]["timestamp"].as_i64().unwrap();
    let since = broker.records(&["events", "--partition", "0", "--from", &format!("@{stamp}")]);
    assert!(
        since
            .iter()
            .all(|r| r["timestamp"].as_i64().unwrap() >= stamp),
        "{since:?}"
    );
    assert_eq!(since.last().unwrap()["offset"], 2);

    // --follow waits for new records.
    let bootstrap = broker.bootstrap();
    let follower = spawn(
        &[
            "consume",
            "events",
            "--partition",
            "1",
            "--follow",
            "--count",
            "3",
            "--bootstrap",
            &bootstrap,
        ],
        &[],
        None,
    );
    broker.ok_with(&["produce", "events", "--partition", "1"], "c\n");
    let followed = finish(follower, "", COMMAND_TIMEOUT);
    assert_eq!(
        (followed.code, followed.stdout.as_str()),
        (Some(0), "a\nb\nc\n"),
        "{followed:?}"
    );

    // Acks and keys.
    broker.ok(&["topic", "create", "loose", "--partitions", "1"]);
    let leader: Value = serde_json::from_str(&broker.ok_with(
        &[
            "produce",
            "loose",
            "--acks",
            "1",
            "--key-separator",
            "=",
            "--output",
            "json",
        ],
        "x=1\ny=2\n",
    ))
    .unwrap();
    assert_eq!(
        leader["partitions"],
        json!([{"partition": 0, "count": 2, "first_offset": 0, "last_offset": 1}])
    );
    let none: Value = serde_json::from_str(&broker.ok_with(
        &["produce", "loose", "--acks", "0", "--output", "json"],
        "z\n",
    ))
    .unwrap();
    assert_eq!(none["count"], 1);
    assert_eq!(none["partitions"][0]["first_offset"], Value::Null);
    // acks=0: the command is done once the request is written, which the broker may not
    // have appended yet.
    let deadline = Instant::now() + Duration::from_secs(10);
    let loose = loop {
        let loose = broker.records(&["loose"]);
        if loose.len() >= 3 || Instant::now() >= deadline {
            break loose;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let keys: Vec<&Value> = loose.iter().map(|r| &r["key"]).collect();
    assert_eq!(keys, [&json!("x"), &json!("y"), &Value::Null]);

    // A line without the separator stops the command after the lines before it.
    let ran = broker.run_with(
        &["produce", "loose", "--key-separator", ":"],
        "a:1\nnone\nb:2\n",
    );
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert_eq!(
        ran.stderr,
        "error: line 2 has no key separator \":\" (records written before it: 1)\n"
    );
    assert_eq!(broker.records(&["loose"]).len(), 4);

    for args in [&["consume", "nope"][..], &["produce", "nope"][..]] {
        assert_eq!(
            broker.fails(args),
            "error: topic nope: UNKNOWN_TOPIC_OR_PARTITION (the topic or partition does not exist)\n",
            "{args:?}"
        );
    }
    assert_eq!(
        broker.fails(&["consume", "events", "--partition", "5"]),
        "error: topic events has no partition 5 (it has 2)\n"
    );
    let ran = broker.run_with(&["produce", "events", "--partition", "5"], "x\n");
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stderr
            .starts_with("error: partition 5 of events (it has 2): UNKNOWN_TOPIC_OR_PARTITION"),
        "{ran:?}"
    );
}

#[test]
fn cluster_info_names_the_cluster_the_controller_and_the_brokers() {
    let broker = Broker::start();
    let port = broker.port();
    let info = broker.json(&["cluster", "info"]);
    let id = info["cluster_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 22, "{info}");
    assert_eq!(
        info,
        json!({"cluster_id": id, "controller": 1,
               "brokers": [{"id": 1, "host": "127.0.0.1", "port": port, "rack": null}]})
    );
    let port_column = format!("{:<5}", "PORT");
    assert_eq!(
        broker.ok(&["cluster", "info"]),
        format!(
            "Cluster: {id}  Controller: 1\n\n\
             BROKER  HOST       {port_column}  RACK\n\
             1       127.0.0.1  {port}  -\n"
        )
    );
    let yaml = broker.ok(&["cluster", "info", "--output", "yaml"]);
    let head = format!(
        "brokers:\n  - host: \"127.0.0.1\"\n    id: 1\n    port: {port}\n    rack: null\ncluster_id: "
    );
    assert!(yaml.starts_with(&head), "{yaml}");
    let rest = &yaml[head.len()..];
    let (id_text, tail) = rest.split_once('\n').unwrap();
    assert_eq!(id_text.trim_matches('"'), id, "{yaml}");
    assert_eq!(tail, "controller: 1\n");

    // STREAMBUS_BROKERS is the default for --bootstrap.
    let bootstrap = broker.bootstrap();
    let ran = run(
        &["cluster", "info", "--output", "json"],
        "",
        &[("STREAMBUS_BROKERS", &bootstrap)],
        None,
    );
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(serde_json::from_str::<Value>(&ran.stdout).unwrap(), info);
}

#[test]
fn leaders_and_reassignments_answer_in_json_and_fail_on_bad_targets() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "moves", "--partitions", "2"]);
    assert_eq!(
        broker.json(&["cluster", "elect-leaders", "--topic", "moves"]),
        json!([
            {"topic": "moves", "partition": 0, "error": "ELECTION_NOT_NEEDED",
             "message": "the preferred replica already leads"},
            {"topic": "moves", "partition": 1, "error": "ELECTION_NOT_NEEDED",
             "message": "the preferred replica already leads"},
        ])
    );
    assert_eq!(
        broker.json(&["cluster", "elect-leaders", "--unclean"]),
        json!([])
    );
    // An unknown partition is a failed election: the table, then exit code 1.
    let ran = broker.run(&[
        "cluster",
        "elect-leaders",
        "--topic",
        "moves",
        "--partition",
        "5",
    ]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert_eq!(
        ran.stdout,
        "TOPIC  PARTITION  RESULT\n\
         moves  5          UNKNOWN_TOPIC_OR_PARTITION: moves-5 does not exist\n"
    );
    assert_eq!(ran.stderr, "error: 1 of 1 elections failed\n");

    assert_eq!(
        broker.json(&["cluster", "reassign", "moves", "1", "--replicas", "1"]),
        json!({"topic": "moves", "partition": 1, "target": [1], "ongoing": null})
    );
    assert_eq!(
        broker.fails(&["cluster", "reassign", "moves", "1", "--replicas", "1,1"]),
        "error: cannot reassign moves-1: INVALID_REPLICA_ASSIGNMENT (broker 1 is named twice (at 1))\n"
    );
    assert_eq!(
        broker.fails(&["cluster", "reassign", "nope", "0", "--replicas", "1"]),
        "error: cannot reassign nope-0: UNKNOWN_TOPIC_OR_PARTITION (nope-0 does not exist)\n"
    );
    assert_eq!(broker.json(&["cluster", "reassignments"]), json!([]));

    // Arguments that cannot make a request never reach the broker.
    for args in [
        &["cluster", "reassign", "moves", "0"][..],
        &[
            "cluster",
            "reassign",
            "moves",
            "0",
            "--replicas",
            "1",
            "--cancel",
        ],
        &["cluster", "reassign", "moves", "0", "--replicas", "x"],
        &["cluster", "elect-leaders", "--partition", "0"],
    ] {
        let ran = broker.run(args);
        assert_eq!(ran.code, Some(2), "{args:?}: {ran:?}");
        assert!(ran.stderr.starts_with("error: "), "{args:?}: {ran:?}");
    }
}

#[test]
fn a_single_broker_cannot_be_drained_or_decommissioned() {
    let broker = Broker::start();
    assert_eq!(
        broker.json(&["cluster", "decommission", "1"]),
        json!({"broker": 1, "moves": [], "completed": true}),
        "nothing to move yet"
    );
    assert_eq!(
        broker.ok(&["cluster", "drain", "1"]),
        "broker 1 leads no partition\n"
    );
    broker.ok(&["topic", "create", "held", "--partitions", "2"]);
    let ran = broker.run(&["cluster", "drain", "1"]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert_eq!(
        ran.stdout,
        "TOPIC  PARTITION  REPLICAS  RESULT\n\
         held   0          -         stays: no other replica in sync, or being moved\n\
         held   1          -         stays: no other replica in sync, or being moved\n"
    );
    assert_eq!(ran.stderr, "error: 2 partitions still led by broker 1\n");
    assert_eq!(
        broker.fails(&["cluster", "decommission", "1", "--wait"]),
        "error: cannot decommission broker 1: no other broker can take a replica of held-0, \
         held-1 (each has as many replicas as there are other brokers); nothing was moved\n"
    );
    assert_eq!(
        broker.fails(&["cluster", "decommission", "2"]),
        "error: broker 2 is not in the cluster (brokers: [1])\n"
    );
    // Nothing moved: the partitions are where they were.
    let described = broker.json(&["topic", "describe", "held"]);
    for partition in described["partitions"].as_array().unwrap() {
        assert_eq!(partition["replicas"], json!([1]), "{described}");
        assert_eq!(partition["leader"], 1, "{described}");
    }
    let ran = broker.run(&["cluster", "decommission", "1", "--timeout", "5"]);
    assert_eq!(ran.code, Some(2), "--timeout needs --wait: {ran:?}");
}

#[test]
fn a_missing_broker_is_named_with_how_to_start_one() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let expected = format!("error: no broker at {addr}: is `streambus serve` running?\n");
    let commands: [&[&str]; 8] = [
        &["topic", "list"],
        &["topic", "create", "t"],
        &["topic", "describe", "t"],
        &["cluster", "info"],
        &["group", "list"],
        &["group", "describe", "g"],
        &["produce", "t"],
        &["consume", "t"],
    ];
    let started = Instant::now();
    for args in commands {
        let mut all = args.to_vec();
        all.extend(["--bootstrap", &addr]);
        let ran = run(&all, "a\n", &[], None);
        assert_eq!(
            (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
            (Some(1), "", expected.as_str()),
            "{args:?}"
        );
    }
    // From the environment too, and quickly: a refused connection is not retried.
    let ran = run(
        &["topic", "list", "--output", "json"],
        "",
        &[("STREAMBUS_BROKERS", &addr)],
        None,
    );
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (Some(1), expected.as_str())
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn bad_arguments_are_usage_errors_with_exit_code_2() {
    let cases: [&[&str]; 16] = [
        &["topic"],
        &["topic", "create"],
        &["topic", "create", "x", "--partitions", "many"],
        &["topic", "create", "x", "--partitions", "0"],
        &["topic", "create", "x", "--config", "novalue"],
        &["topic", "list", "--output", "xml"],
        &["topic", "frobnicate"],
        &["group", "reset-offsets", "g", "--to", "earliest"],
        &[
            "group",
            "reset-offsets",
            "g",
            "--topic",
            "t",
            "--to",
            "first",
        ],
        &[
            "group",
            "reset-offsets",
            "g",
            "--topic",
            "t:x",
            "--to",
            "latest",
        ],
        &["produce", "t", "--acks", "2"],
        &["produce"],
        &["consume", "t", "--format", "{nope}"],
        &["consume", "t", "--from", "yesterday"],
        &["consume", "t", "--group", "g", "--partition", "0"],
        &["consume", "t", "--group", "g", "--from", "5"],
    ];
    for args in cases {
        let ran = run(args, "", &[], None);
        assert_eq!(ran.code, Some(2), "{args:?}: {ran:?}");
        assert_eq!(ran.stdout, "", "{args:?}");
        // A clap error, or (for a group without its subcommand) the group's help.
        assert!(
            ran.stderr.starts_with("error: ") || ran.stderr.contains("\nUsage: streambus "),
            "{args:?}: {}",
            ran.stderr
        );
    }
    let help = run(&["--help"], "", &[], None);
    assert_eq!(help.code, Some(0));
    for tool in ["serve", "topic", "produce", "consume", "group", "cluster"] {
        assert!(
            help.stdout.contains(&format!("  {tool} ")),
            "{tool}: {}",
            help.stdout
        );
    }
}
