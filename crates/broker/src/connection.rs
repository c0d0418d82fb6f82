//! One client connection: frames in, responses out, in request order.
//!
//! A connection reads a frame, decodes it, runs its handler and writes the response before
//! it reads the next one, as Kafka does; requests a client pipelines wait in the socket
//! buffer. Frame sizes are checked before anything is allocated, and the read buffer grows
//! only as bytes arrive, so a client claiming a huge frame costs nothing until it sends it.
//! Anything that does not parse closes this connection only, logged once. A request's
//! handler runs in a `request` span (connection, client id, correlation id, API, version),
//! so that what it logs says which request it was about. When spans are exported
//! (`BrokerConfig::trace_context`), that span is also an OpenTelemetry server span named for
//! the API, and a Produce request's span continues the producer's trace
//! (`handlers::produce_trace`); otherwise those fields stay empty and cost nothing.

use std::sync::Arc;

use bytes::BytesMut;
use streambus_protocol::frame::{self, FrameStatus};
use streambus_protocol::{ApiKey, RequestHeader, decode_request, encode_response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::Instrument;
use tracing::field::Empty;

use crate::Broker;
use crate::context::{ConnectionInfo, RequestContext};
use crate::dispatch;

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 64 << 10;

/// Why a connection ends.
enum Close {
    /// The client closed it, or the broker is stopping.
    Normal,
    /// The client sent something that cannot be served; logged once.
    Refused(String),
    /// The client went away while a response was on its way (a consumer closing with a
    /// fetch outstanding): normal for clients, so logged at debug level only.
    Gone(String),
}

/// How a failed socket read or write ends the connection: a peer that closed or reset it
/// is gone; anything else is worth a warning.
fn socket_failed(what: &str, e: &std::io::Error) -> Close {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    let reason = format!("{what} failed: {e}");
    match e.kind() {
        BrokenPipe | ConnectionReset | ConnectionAborted => Close::Gone(reason),
        _ => Close::Refused(reason),
    }
}

/// Serves one connection until the client closes it, it misbehaves, or `stop` turns true.
pub(crate) async fn run(
    mut stream: TcpStream,
    broker: Arc<Broker>,
    info: ConnectionInfo,
    mut stop: watch::Receiver<bool>,
) {
    tracing::debug!(connection = info.id, peer = %info.peer, "connection opened");
    let outcome = serve(&mut stream, &broker, &info, &mut stop).await;
    match outcome {
        Close::Normal => tracing::debug!(connection = info.id, "connection closed"),
        Close::Gone(reason) => tracing::debug!(
            connection = info.id,
            peer = %info.peer,
            %reason,
            "connection closed by the client"
        ),
        Close::Refused(reason) => tracing::warn!(
            connection = info.id,
            peer = %info.peer,
            %reason,
            "closing connection"
        ),
    }
    let _ = stream.shutdown().await;
}

async fn serve(
    stream: &mut TcpStream,
    broker: &Broker,
    info: &ConnectionInfo,
    stop: &mut watch::Receiver<bool>,
) -> Close {
    let max = broker.config.socket_request_max_bytes;
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut output = BytesMut::new();
    loop {
        let payload = loop {
            match frame::split(&mut input, max) {
                Ok(Some(payload)) => break payload,
                Ok(None) => {}
                Err(e) => return Close::Refused(format!("bad frame: {e}")),
            }
            let wanted = match frame::check(&input, max) {
                Ok(FrameStatus::Incomplete { needed }) => needed.clamp(1, READ_CHUNK),
                _ => READ_CHUNK,
            };
            input.reserve(wanted);
            tokio::select! {
                read = stream.read_buf(&mut input) => match read {
                    Ok(0) if input.is_empty() => return Close::Normal,
                    Ok(0) => return Close::Refused(format!("connection closed mid-frame after {} bytes", input.len())),
                    Ok(_) => {}
                    Err(e) => return socket_failed("read", &e),
                },
                _ = stop.wait_for(|stopping| *stopping) => return Close::Normal,
            }
        };
        let mut body = payload;
        let header = match RequestHeader::decode_frame(&mut body) {
            Ok(header) => header,
            Err(e) => return Close::Refused(format!("request header does not parse: {e}")),
        };
        let ctx = RequestContext {
            connection: info.clone(),
            api_key: header.api_key,
            api_version: header.api_version,
            correlation_id: header.correlation_id,
            client_id: header.client_id.clone(),
        };
        let Some(api) = ApiKey::from_i16(header.api_key) else {
            return Close::Refused(format!("unknown api key {}", header.api_key));
        };
        let (version, response) = if !dispatch::supports(api, header.api_version) {
            match dispatch::unsupported_version(api, header.api_version) {
                Some(reply) => reply,
                None => {
                    return Close::Refused(format!(
                        "unsupported version {} of {api:?}",
                        header.api_version
                    ));
                }
            }
        } else {
            let request = match decode_request(&header, body) {
                Ok(request) => request,
                Err(e) => {
                    return Close::Refused(format!(
                        "{api:?} v{} does not parse: {e}",
                        header.api_version
                    ));
                }
            };
            // Every line logged while the request is served carries who asked and for
            // what. The fields are recorded only if a subscriber enables the span; the
            // OpenTelemetry ones stay empty (and out of the log) unless spans are exported.
            let span = tracing::info_span!(
                "request",
                connection = info.id,
                client_id = header.client_id.as_deref(),
                correlation_id = header.correlation_id,
                api = ?api,
                version = header.api_version,
                otel.name = Empty,
                otel.kind = Empty,
                messaging.system = Empty,
                messaging.operation.name = Empty,
                messaging.operation.type = Empty,
            );
            if broker.config.trace_context {
                describe_for_export(&span, api);
                dispatch::continue_trace(&span, &request);
            }
            match dispatch::handle(broker, &ctx, request)
                .instrument(span)
                .await
            {
                Some(response) => (header.api_version, response),
                None => continue,
            }
        };
        output.clear();
        if let Err(e) = encode_response(&mut output, version, header.correlation_id, &response) {
            tracing::error!(connection = info.id, ?api, version, error = %e, "response does not encode");
            return Close::Refused(format!("internal error encoding the {api:?} response"));
        }
        if let Err(e) = stream.write_all(&output).await {
            return socket_failed("write", &e);
        }
    }
}

/// Names the request span as OpenTelemetry's messaging conventions have a broker's side of
/// a Kafka request: a server span named for the operation, which for Kafka is the API name
/// (`Produce`, `Metadata`), with `messaging.system` and the operation's name and, for the
/// two APIs that move records, its type. Only static strings: nothing is formatted here.
fn describe_for_export(span: &tracing::Span, api: ApiKey) {
    let name = api.name();
    span.record("otel.name", name);
    span.record("otel.kind", "server");
    span.record("messaging.system", "kafka");
    span.record("messaging.operation.name", name);
    let operation_type = match api {
        ApiKey::Produce => Some("send"),
        ApiKey::Fetch => Some("receive"),
        _ => None,
    };
    if let Some(operation_type) = operation_type {
        span.record("messaging.operation.type", operation_type);
    }
}
