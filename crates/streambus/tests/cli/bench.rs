//! `streambus bench` against a real broker process: every workload completes its count and
//! reports what it did in its JSON, the human report has its lines, and bad arguments are
//! refused.

use serde_json::Value;

use super::harness::{Broker, run};

/// `streambus bench ARGS --bootstrap ADDR --json`: the report.
fn bench(broker: &Broker, args: &[&str]) -> Value {
    let mut all = vec!["bench"];
    all.extend(args);
    all.push("--json");
    let stdout = broker.ok(&all);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"))
}

#[test]
fn produce_consume_and_e2e_report_exactly_what_they_did() {
    let broker = Broker::start();
    let produced = bench(
        &broker,
        &[
            "produce",
            "--topic",
            "b",
            "--partitions",
            "3",
            "--count",
            "5000",
            "--message-size",
            "200",
            "--producers",
            "2",
            "--compression",
            "lz4",
        ],
    );
    assert_eq!(produced["workload"], "produce");
    assert_eq!(produced["records"], 5000);
    assert_eq!(produced["bytes"], 5000 * 200);
    assert_eq!(produced["errors"], 0);
    assert_eq!(produced["settings"]["partitions"], 3);
    assert_eq!(produced["settings"]["producer"]["compression"], "lz4");
    assert!(produced["records_per_second"].as_f64().unwrap() > 0.0);
    let latency = &produced["latency"];
    for field in ["p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"] {
        assert!(
            latency[field].as_f64().unwrap() > 0.0,
            "{field} in {latency}"
        );
    }
    assert!(latency["p50_ms"].as_f64() <= latency["p99_ms"].as_f64());
    assert!(latency["p99_ms"].as_f64() <= latency["max_ms"].as_f64());

    // Reading everything back: all 5000, by two consumers.
    let consumed = bench(&broker, &["consume", "--topic", "b", "--consumers", "2"]);
    assert_eq!(consumed["records"], 5000);
    assert_eq!(consumed["bytes"], 5000 * 200);
    assert!(consumed.get("latency").is_none());
    // A count below what is there stops at the count.
    let some = bench(&broker, &["consume", "--topic", "b", "--count", "1000"]);
    assert_eq!(some["records"], 1000);

    let e2e = bench(
        &broker,
        &[
            "e2e",
            "--topic",
            "latency",
            "--rate",
            "400",
            "--count",
            "400",
            "--linger-ms",
            "0",
        ],
    );
    assert_eq!(e2e["records"], 400);
    assert_eq!(e2e["errors"], 0, "every sent record arrived");
    assert_eq!(e2e["settings"]["sent"], 400);
    assert!(e2e["latency"]["p50_ms"].as_f64().unwrap() > 0.0);
    // 400 records at 400/s take about a second.
    assert!(e2e["seconds"].as_f64().unwrap() >= 0.99, "{e2e}");
}

#[test]
fn the_human_bench_report_and_bad_bench_arguments() {
    let broker = Broker::start();
    let stdout = broker.ok(&["bench", "produce", "--count", "100"]);
    assert!(
        stdout.starts_with("produce streambus-bench: 100 records, 10000 bytes"),
        "{stdout}"
    );
    for line in ["throughput", "p50", "p99.9", "max"] {
        assert!(stdout.contains(line), "{line} in {stdout}");
    }

    let refused = |args: &[&str], code: i32, expected: &str| {
        let mut all = vec!["bench"];
        all.extend(args);
        let ran = broker.run(&all);
        assert_eq!(ran.code, Some(code), "{args:?}: {ran:?}");
        assert!(ran.stderr.contains(expected), "{args:?}: {ran:?}");
    };
    refused(
        &["produce", "--count", "5", "--duration", "1s"],
        2,
        "cannot be used with",
    );
    refused(
        &["produce", "--duration", "5h"],
        2,
        "the unit must be ms, s or m",
    );
    refused(&["produce", "--acks", "2"], 2, "acks is all, 1 or 0");
    refused(
        &["e2e", "--message-size", "4", "--count", "1"],
        1,
        "at least 8 bytes",
    );

    // No broker: the one-line reason.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let ran = run(
        &["bench", "produce", "--count", "1", "--bootstrap", &addr],
        "",
        &[],
        None,
    );
    assert_eq!(ran.code, Some(1));
    assert_eq!(
        ran.stderr.trim(),
        format!("error: no broker at {addr}: is `streambus serve` running?")
    );
}
