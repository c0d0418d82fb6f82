//! The log of the `streambus` binary as a process: `--log-format json` writes one JSON
//! object per line (every line, from startup to the clean stop), lines logged while a
//! request is served carry that request's connection, client id and correlation id,
//! `--log-level` filters by level, `STREAMBUS_LOG` replaces it, and the format and level
//! come from the flag, the file, then the environment. Bad values are refused at startup,
//! and a start that fails in a JSON log says why in a JSON line.
//!
//! `STREAMBUS_TEST_ECHO=1` echoes the broker's log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;
use support::{Launch, START_TIMEOUT, block_on, poll};

/// The client id and correlation id of the hand-made ApiVersions request.
const RAW_CLIENT_ID: &str = "logs-raw-client";
const RAW_CORRELATION_ID: i32 = 424_242;
/// The client id of the admin client that creates the topic.
const ADMIN_CLIENT_ID: &str = "logs-admin";

const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A loopback address with a port that was free a moment ago.
fn free_addr() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let timeout = Duration::from_secs(5);
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

/// Creates `topic` with an admin client whose client id is [`ADMIN_CLIENT_ID`].
fn create_topic(bootstrap: &str, topic: &str) -> Result<()> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", ADMIN_CLIENT_ID);
    support::create_topic_with(&config, topic, 1)
}

/// Produces one record to `topic` and waits for its acknowledgement.
fn produce(bootstrap: &str, topic: &str) -> Result<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "logs-producer")
        .set("message.timeout.ms", "10000")
        .create()?;
    block_on(producer.send(
        FutureRecord::to(topic).key("k").payload("v"),
        Duration::from_secs(10),
    ))
    .map_err(|(error, _)| anyhow::anyhow!("produce to {topic}: {error}"))?;
    Ok(())
}

/// Sends an ApiVersions v3 request by hand, with a known client id and correlation id, and
/// checks the broker answered it. v3 carries the client's software name, which the broker
/// logs at debug level while serving the request.
fn api_versions_v3(addr: SocketAddr) -> Result<()> {
    let mut request = Vec::new();
    request.extend_from_slice(&18i16.to_be_bytes()); // ApiVersions
    request.extend_from_slice(&3i16.to_be_bytes());
    request.extend_from_slice(&RAW_CORRELATION_ID.to_be_bytes());
    request.extend_from_slice(&(RAW_CLIENT_ID.len() as i16).to_be_bytes());
    request.extend_from_slice(RAW_CLIENT_ID.as_bytes());
    request.push(0); // no tagged fields in the header
    for text in ["streambus-logs-test", "1.0"] {
        request.push(text.len() as u8 + 1); // compact string: length + 1
        request.extend_from_slice(text.as_bytes());
    }
    request.push(0); // no tagged fields in the body
    let mut stream = connect(addr)?;
    stream.write_all(&(request.len() as i32).to_be_bytes())?;
    stream.write_all(&request)?;
    let mut size = [0; 4];
    stream.read_exact(&mut size)?;
    let size = usize::try_from(i32::from_be_bytes(size))?;
    ensure!(
        (6..1 << 20).contains(&size),
        "ApiVersions response of {size} bytes"
    );
    let mut response = vec![0; size];
    stream.read_exact(&mut response)?;
    ensure!(
        response[..4] == RAW_CORRELATION_ID.to_be_bytes(),
        "the response has another correlation id"
    );
    ensure!(response[4..6] == [0, 0], "ApiVersions failed: {response:?}");
    Ok(())
}

/// Sends a frame too short to hold a request header: the broker closes the connection and
/// logs a warning.
fn send_a_malformed_frame(addr: SocketAddr) -> Result<()> {
    let mut stream = connect(addr)?;
    stream.write_all(&[0, 0, 0, 3, 0, 18, 0])?;
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => ensure!(rest.is_empty(), "the broker answered a malformed frame"),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => bail!("the broker did not close the connection: {e}"),
    }
    Ok(())
}

/// Every line of `stderr` as a JSON object, checking the keys every line must have.
fn parse_json_lines(stderr: &str) -> Result<Vec<Value>> {
    let mut lines = Vec::new();
    for (n, line) in stderr.lines().enumerate() {
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("line {} is not JSON: {line:?}", n + 1))?;
        for key in ["timestamp", "level", "target", "message"] {
            ensure!(
                value.get(key).is_some_and(Value::is_string),
                "line {} has no string {key:?}: {line}",
                n + 1
            );
        }
        let level = value["level"].as_str().unwrap_or_default();
        ensure!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level),
            "line {} has level {level:?}",
            n + 1
        );
        lines.push(value);
    }
    ensure!(!lines.is_empty(), "nothing was logged");
    Ok(lines)
}

/// The first line whose message is `message` and that satisfies `check`.
fn find<'a>(
    lines: &'a [Value],
    message: &str,
    check: impl Fn(&Value) -> bool,
) -> Option<&'a Value> {
    lines
        .iter()
        .find(|line| line["message"] == message && check(line))
}

#[test]
fn json_logs_are_one_object_per_line_with_the_request_context() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut launch = Launch::new(&dir.path().join("data"));
    launch
        .extra
        .extend(["--log-format", "json"].map(String::from));
    // STREAMBUS_LOG, the per-module filter, replaces --log-level: debug lines appear.
    launch
        .extra
        .extend(["--log-level", "error"].map(String::from));
    launch.env.push(("STREAMBUS_LOG".into(), "debug".into()));
    let server = launch.start()?;
    create_topic(&server.bootstrap(), "logs")?;
    produce(&server.bootstrap(), "logs")?;
    api_versions_v3(server.kafka)?;
    send_a_malformed_frame(server.kafka)?;
    let kafka = server.kafka.to_string();
    let (status, stderr) = server.terminate(STOP_TIMEOUT)?;
    ensure!(status.success(), "exit {status} after SIGTERM:\n{stderr}");

    let lines = parse_json_lines(&stderr)?;
    find(&lines, "streambus is serving", |line| {
        line["kafka"] == kafka.as_str()
    })
    .with_context(|| format!("no startup line with kafka={kafka}:\n{stderr}"))?;
    ensure!(
        lines
            .last()
            .is_some_and(|l| l["message"] == "stopped cleanly"),
        "the last line is not the clean stop:\n{stderr}"
    );
    ensure!(
        lines.iter().any(|line| line["level"] == "DEBUG"),
        "STREAMBUS_LOG=debug did not replace --log-level error:\n{stderr}"
    );

    // A line logged while serving the hand-made request: its span is that request.
    let served = find(&lines, "client software", |line| {
        line["span"]["correlation_id"] == RAW_CORRELATION_ID
    })
    .with_context(|| format!("no line of request {RAW_CORRELATION_ID}:\n{stderr}"))?;
    let span = &served["span"];
    ensure!(span["name"] == "request", "{served}");
    ensure!(span["client_id"] == RAW_CLIENT_ID, "{served}");
    ensure!(
        span["api"] == "ApiVersions" && span["version"] == 3,
        "{served}"
    );
    ensure!(span["connection"].is_u64(), "{served}");
    // Without trace export the OpenTelemetry fields of the span stay out of the log.
    ensure!(
        span.get("otel.name").is_none() && span.get("messaging.system").is_none(),
        "{served}"
    );
    ensure!(
        served["spans"]
            .as_array()
            .is_some_and(|spans| spans.iter().any(|s| s == span)),
        "the span list does not hold the request span: {served}"
    );

    // An info line from a real client's request carries its client id.
    let created = find(&lines, "created topic", |line| line["topic"] == "logs")
        .with_context(|| format!("no created topic line:\n{stderr}"))?;
    let span = &created["span"];
    ensure!(span["client_id"] == ADMIN_CLIENT_ID, "{created}");
    ensure!(span["api"] == "CreateTopics", "{created}");
    ensure!(span["correlation_id"].is_i64(), "{created}");

    // The refused connection is a warning, a JSON line like any other.
    find(&lines, "closing connection", |line| {
        line["level"] == "WARN"
            && line["reason"]
                .as_str()
                .is_some_and(|r| r.contains("request header"))
    })
    .with_context(|| format!("no warning for the malformed frame:\n{stderr}"))?;
    Ok(())
}

#[test]
fn log_level_warn_hides_info_lines() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut launch = Launch::new(&dir.path().join("data"));
    // Without the startup line the ports must be known in advance.
    launch.kafka_addr = free_addr()?;
    launch.http_addr = free_addr()?;
    launch
        .extra
        .extend(["--log-level", "warn"].map(String::from));
    // An empty STREAMBUS_LOG is unset, so the level decides; the flag beats the environment.
    launch.env.push(("STREAMBUS_LOG".into(), String::new()));
    launch
        .env
        .push(("STREAMBUS_LOG_LEVEL".into(), "debug".into()));
    let server = launch.spawn()?;
    poll("/health/ready", START_TIMEOUT, || {
        matches!(server.http_get("/health/ready"), Ok((200, _))).then_some(())
    })
    .with_context(|| format!("stderr:\n{}", server.stderr()))?;
    create_topic(&server.bootstrap(), "quiet")?;
    send_a_malformed_frame(server.kafka)?;
    let (status, stderr) = server.terminate(STOP_TIMEOUT)?;
    ensure!(status.success(), "exit {status} after SIGTERM:\n{stderr}");
    ensure!(
        stderr
            .lines()
            .any(|l| l.contains(" WARN ") && l.contains("closing connection")),
        "no warning for the malformed frame:\n{stderr}"
    );
    for hidden in [" INFO ", " DEBUG ", "streambus is serving", "created topic"] {
        ensure!(
            !stderr.contains(hidden),
            "{hidden:?} logged at --log-level warn:\n{stderr}"
        );
    }
    Ok(())
}

/// Whether the first line of `stderr` is a JSON object.
fn is_json(stderr: &str) -> bool {
    stderr
        .lines()
        .next()
        .is_some_and(|line| serde_json::from_str::<Value>(line).is_ok_and(|v| v.is_object()))
}

#[test]
fn the_log_format_comes_from_the_flag_then_the_file_then_the_environment() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("streambus.toml");
    std::fs::write(&config, "log_format = \"json\"\n")?;
    let cases: [(&str, &[&str], &str, bool); 3] = [
        ("the environment", &[], "json", true),
        ("the file over the environment", &["--config"], "text", true),
        (
            "the flag over the file",
            &["--config", "--log-format", "text"],
            "json",
            false,
        ),
    ];
    for (case, flags, env, json) in cases {
        let mut launch = Launch::new(&dir.path().join("data"));
        for flag in flags {
            launch.extra.push(flag.to_string());
            if *flag == "--config" {
                launch.extra.push(config.display().to_string());
            }
        }
        launch
            .env
            .push(("STREAMBUS_LOG_FORMAT".into(), env.to_string()));
        let server = launch.start().with_context(|| case.to_string())?;
        let (status, stderr) = server.terminate(STOP_TIMEOUT)?;
        ensure!(status.success(), "{case}: exit {status}:\n{stderr}");
        ensure!(
            is_json(&stderr) == json,
            "{case}: expected {} lines:\n{stderr}",
            if json { "JSON" } else { "text" }
        );
        if json {
            parse_json_lines(&stderr).with_context(|| case.to_string())?;
        }
    }
    Ok(())
}

#[test]
fn unknown_log_settings_are_refused_with_the_reason() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("streambus.toml");
    std::fs::write(&config, "log_format = \"yaml\"\n")?;
    let config = config.display().to_string();
    /// A start that must be refused, and the words its error must contain.
    struct Refused<'a> {
        case: &'a str,
        flags: &'a [&'a str],
        env: Option<(&'a str, &'a str)>,
        named: &'a [&'a str],
    }
    let cases = [
        Refused {
            case: "--log-format yaml",
            flags: &["--log-format", "yaml"],
            env: None,
            named: &["yaml", "text", "json"],
        },
        Refused {
            case: "STREAMBUS_LOG_FORMAT=yaml",
            flags: &[],
            env: Some(("STREAMBUS_LOG_FORMAT", "yaml")),
            named: &["STREAMBUS_LOG_FORMAT", "text, json"],
        },
        Refused {
            case: "log_format = yaml in the file",
            flags: &["--config", &config],
            env: None,
            named: &["log_format", "yaml"],
        },
        Refused {
            case: "--log-level loud",
            flags: &["--log-level", "loud"],
            env: None,
            named: &["loud", "warn"],
        },
        Refused {
            case: "STREAMBUS_LOG with a bad level",
            flags: &[],
            env: Some(("STREAMBUS_LOG", "info,streambus_broker=loud")),
            named: &["STREAMBUS_LOG", "streambus_broker=loud"],
        },
    ];
    for Refused {
        case,
        flags,
        env,
        named,
    } in cases
    {
        let mut launch = Launch::new(&dir.path().join("data"));
        launch.extra.extend(flags.iter().map(|f| f.to_string()));
        if let Some((name, value)) = env {
            launch.env.push((name.into(), value.into()));
        }
        let (status, stderr) = launch
            .run_to_exit(STOP_TIMEOUT)
            .with_context(|| format!("{case}: started anyway"))?;
        ensure!(!status.success(), "{case}: exit {status}:\n{stderr}");
        ensure!(
            !stderr.contains("streambus is serving"),
            "{case}: served:\n{stderr}"
        );
        for word in named {
            ensure!(
                stderr.contains(word),
                "{case}: the error does not name {word:?}:\n{stderr}"
            );
        }
    }
    Ok(())
}

#[test]
fn a_failed_start_is_a_json_line_in_a_json_log() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let taken = TcpListener::bind("127.0.0.1:0")?;
    let mut launch = Launch::new(&dir.path().join("data"));
    launch.kafka_addr = taken.local_addr()?;
    launch
        .extra
        .extend(["--log-format", "json"].map(String::from));
    let (status, stderr) = launch.run_to_exit(STOP_TIMEOUT)?;
    ensure!(!status.success(), "started on a busy port:\n{stderr}");
    let lines = parse_json_lines(&stderr)?;
    let expected = format!("cannot listen for Kafka clients on {}", launch.kafka_addr);
    find(&lines, "streambus failed", |line| {
        line["level"] == "ERROR"
            && line["error"]
                .as_str()
                .is_some_and(|e| e.contains(&expected))
    })
    .with_context(|| format!("no error line with {expected:?}:\n{stderr}"))?;
    Ok(())
}

#[test]
fn serve_help_lists_the_log_flags() -> Result<()> {
    let output = std::process::Command::new(support::BIN)
        .args(["serve", "--help"])
        .output()?;
    ensure!(output.status.success(), "serve --help: {}", output.status);
    let help = String::from_utf8(output.stdout)?;
    for flag in ["--log-format", "--log-level", "json", "STREAMBUS_LOG"] {
        ensure!(
            help.contains(flag),
            "serve --help does not name {flag}:\n{help}"
        );
    }
    Ok(())
}
