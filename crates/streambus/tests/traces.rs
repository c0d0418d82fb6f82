//! OpenTelemetry traces of the `streambus` binary as a process, against a tiny OTLP/HTTP
//! collector run by the test: with `--otlp-endpoint`, every request is a SERVER span named for
//! its API, posted as protobuf to `/v1/traces` by the clean stop at the latest; a Produce
//! span continues the trace of the `traceparent` header of its first record (and a malformed
//! one is ignored, not refused); the resource is `service.name = "streambus"`. A collector
//! that cannot be reached is a warning in the log, and the broker still stops cleanly. Without
//! the setting nothing is posted, even with the standard `OTEL_EXPORTER_OTLP_ENDPOINT` set.
//!
//! `STREAMBUS_TEST_ECHO=1` echoes the broker's log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use support::{Launch, block_on, create_topic};

/// The producer's trace, as its instrumentation would stamp it on a record.
const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const SPAN_ID: &str = "b7ad6b7169203331";

const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the collector waits for the next bytes of a request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request body the collector reads.
const MAX_BODY: usize = 16 << 20;

/// What the collector was sent: one entry per POST, decoded or why not.
type Received = Arc<Mutex<Vec<Result<ExportTraceServiceRequest, String>>>>;

/// An OTLP/HTTP collector on a loopback port: it answers every `POST /v1/traces` with 200
/// and keeps the decoded body. Stops accepting when dropped.
struct Collector {
    addr: SocketAddr,
    received: Received,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Collector {
    fn start() -> Result<Collector> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let received = Received::default();
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let received = Arc::clone(&received);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let received = Arc::clone(&received);
                            std::thread::spawn(move || serve_connection(stream, &received));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        Err(_) => return,
                    }
                }
            })
        };
        Ok(Collector {
            addr,
            received,
            stop,
            acceptor: Some(acceptor),
        })
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every POST so far, each decoded or failing the test.
    fn requests(&self) -> Result<Vec<ExportTraceServiceRequest>> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .map(|request| request.clone().map_err(|e| anyhow::anyhow!(e)))
            .collect()
    }

    fn posts(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Serves one keep-alive HTTP/1.1 connection: each request's body is read by its
/// Content-Length, recorded, then answered with 200 and an empty (valid) protobuf body.
fn serve_connection(stream: TcpStream, received: &Received) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut writer = writer;
    let mut reader = BufReader::new(stream);
    loop {
        match read_request(&mut reader) {
            Ok(Some((target, body))) => {
                let entry = if target == "POST /v1/traces" {
                    ExportTraceServiceRequest::decode(body.as_slice())
                        .map_err(|e| format!("the body does not decode: {e}"))
                } else {
                    Err(format!("unexpected request {target:?}"))
                };
                // Recorded before the answer, so that a broker that has exited was heard.
                received.lock().unwrap().push(entry);
                let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                              content-length: 0\r\n\r\n";
                if writer.write_all(answer.as_bytes()).is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                received.lock().unwrap().push(Err(e.to_string()));
                return;
            }
        }
    }
}

/// One request: `METHOD PATH` and its body; `None` when the client closed the connection.
fn read_request(reader: &mut impl BufRead) -> Result<Option<(String, Vec<u8>)>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let target = format!(
        "{} {}",
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default()
    );
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            bail!("the connection closed in the headers of {target}");
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse()?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                bail!("{target} is sent with transfer-encoding {value}, not a length");
            }
        }
    }
    ensure!(length <= MAX_BODY, "{target} has a body of {length} bytes");
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some((target, body)))
}

fn producer(bootstrap: &str) -> Result<FutureProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "traces-producer")
        .set("message.timeout.ms", "10000")
        .create()?)
}

/// Produces one record with these headers and waits for its acknowledgement.
fn produce(producer: &FutureProducer, topic: &str, headers: OwnedHeaders) -> Result<()> {
    block_on(
        producer.send(
            FutureRecord::to(topic)
                .key("k")
                .payload("v")
                .headers(headers),
            Duration::from_secs(10),
        ),
    )
    .map_err(|(error, _)| anyhow::anyhow!("produce to {topic}: {error}"))?;
    Ok(())
}

fn traceparent(value: &str) -> OwnedHeaders {
    OwnedHeaders::new().insert(Header {
        key: "traceparent",
        value: Some(value),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The string value of attribute `key`, if it has one.
fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

/// A readable list of the spans, for failure messages.
fn describe(spans: &[&Span]) -> String {
    spans
        .iter()
        .map(|s| {
            format!(
                "{} kind={} trace={} parent={}",
                s.name,
                s.kind,
                hex(&s.trace_id),
                hex(&s.parent_span_id)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn request_spans_are_exported_over_otlp_and_produce_continues_the_producers_trace() -> Result<()> {
    let collector = Collector::start()?;
    let dir = tempfile::tempdir()?;
    let mut launch = Launch::new(&dir.path().join("data"));
    launch
        .extra
        .extend(["--otlp-endpoint".to_string(), collector.endpoint()]);
    let server = launch.start()?;
    create_topic(&server.bootstrap(), "traced", 1)?;
    let producer = producer(&server.bootstrap())?;
    produce(
        &producer,
        "traced",
        traceparent(&format!("00-{TRACE_ID}-{SPAN_ID}-01")),
    )?;
    // Not a trace context: the record is stored all the same, in a trace of its own.
    produce(&producer, "traced", traceparent("00-not-a-trace-01"))?;
    producer
        .client()
        .fetch_metadata(Some("traced"), Duration::from_secs(10))
        .context("metadata")?;
    drop(producer);
    let (status, stderr) = server.terminate(STOP_TIMEOUT)?;
    ensure!(status.success(), "exit {status} after SIGTERM:\n{stderr}");

    let requests = collector.requests()?;
    ensure!(
        !requests.is_empty(),
        "nothing was exported by the clean stop:\n{stderr}"
    );
    let mut spans = Vec::new();
    for resource_spans in requests.iter().flat_map(|r| &r.resource_spans) {
        let resource = resource_spans
            .resource
            .as_ref()
            .context("spans without a resource")?;
        ensure!(
            attribute(&resource.attributes, "service.name") == Some("streambus"),
            "resource {resource:?}"
        );
        spans.extend(resource_spans.scope_spans.iter().flat_map(|s| &s.spans));
    }
    let all = describe(&spans);
    for span in &spans {
        ensure!(
            span.kind == SpanKind::Server as i32,
            "{} is not a server span:\n{all}",
            span.name
        );
        ensure!(
            attribute(&span.attributes, "messaging.system") == Some("kafka")
                && attribute(&span.attributes, "messaging.operation.name")
                    == Some(span.name.as_str()),
            "{} lacks the messaging attributes: {:?}",
            span.name,
            span.attributes
        );
    }

    let produces: Vec<&Span> = spans
        .iter()
        .copied()
        .filter(|s| s.name == "Produce")
        .collect();
    ensure!(produces.len() == 2, "two Produce spans expected:\n{all}");
    let continued = produces
        .iter()
        .find(|s| hex(&s.trace_id) == TRACE_ID)
        .with_context(|| format!("no Produce span in the producer's trace:\n{all}"))?;
    ensure!(
        hex(&continued.parent_span_id) == SPAN_ID,
        "the Produce span's parent is not the producer's span:\n{all}"
    );
    ensure!(
        attribute(&continued.attributes, "messaging.operation.type") == Some("send")
            && attribute(&continued.attributes, "client_id") == Some("traces-producer"),
        "Produce attributes: {:?}",
        continued.attributes
    );
    let fresh = produces
        .iter()
        .find(|s| hex(&s.trace_id) != TRACE_ID)
        .with_context(|| format!("the malformed traceparent was not ignored:\n{all}"))?;
    ensure!(
        fresh.parent_span_id.is_empty(),
        "a Produce span with a malformed traceparent has a parent:\n{all}"
    );

    let metadata: Vec<&Span> = spans
        .iter()
        .copied()
        .filter(|s| s.name == "Metadata")
        .collect();
    ensure!(!metadata.is_empty(), "no Metadata span:\n{all}");
    for span in metadata {
        ensure!(
            span.trace_id.len() == 16
                && hex(&span.trace_id) != TRACE_ID
                && span.parent_span_id.is_empty(),
            "a Metadata span is not the root of a trace of its own:\n{all}"
        );
    }
    Ok(())
}

#[test]
fn without_an_otlp_endpoint_nothing_is_exported() -> Result<()> {
    let collector = Collector::start()?;
    let dir = tempfile::tempdir()?;
    let mut launch = Launch::new(&dir.path().join("data"));
    // The standard OpenTelemetry variable alone does not turn export on.
    launch
        .env
        .push(("OTEL_EXPORTER_OTLP_ENDPOINT".into(), collector.endpoint()));
    let server = launch.start()?;
    create_topic(&server.bootstrap(), "untraced", 1)?;
    let (status, stderr) = server.terminate(STOP_TIMEOUT)?;
    ensure!(status.success(), "exit {status} after SIGTERM:\n{stderr}");
    ensure!(
        collector.posts() == 0,
        "{} requests were posted without --otlp-endpoint",
        collector.posts()
    );
    Ok(())
}

#[test]
fn a_collector_that_cannot_be_reached_is_a_warning_not_a_failure() -> Result<()> {
    // A loopback port that nothing listens on any more.
    let closed = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let dir = tempfile::tempdir()?;
    let mut launch = Launch::new(&dir.path().join("data"));
    launch
        .extra
        .extend(["--otlp-endpoint".to_string(), format!("http://{closed}")]);
    let server = launch.start()?;
    create_topic(&server.bootstrap(), "unheard", 1)?;
    let (status, stderr) = server.terminate(STOP_TIMEOUT)?;
    ensure!(status.success(), "exit {status} after SIGTERM:\n{stderr}");
    let warnings = stderr
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("cannot export traces"))
        .count();
    ensure!(
        warnings == 1,
        "expected one warning for the unreachable collector, got {warnings}:\n{stderr}"
    );
    Ok(())
}
