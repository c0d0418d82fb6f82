//! One client connection: frames in, responses out, in request order.
//!
//! A connection reads a frame, decodes it and runs its handler before it reads the next one,
//! and writes the responses in request order, as Kafka does. The one exception to waiting
//! for the whole handler: a Produce request's appends are done before the next request is
//! read (so one connection's appends keep their order), but its answer, which waits for the
//! appends to be committed (the fsync under flush=always), is awaited while the following
//! requests are served, up to [`MAX_IN_PROGRESS`] answers; so that one group-commit fsync
//! can cover several requests of the same connection. Frame sizes are checked before
//! anything is allocated, and the read buffer grows only as bytes arrive, so a client
//! claiming a huge frame costs nothing until it sends it. Answers are encoded into a
//! splicing [`Output`]: a Fetch answer's record sets stay in the buffers they were read into
//! from the log and go to the socket with the rest of the frame in one vectored write.
//! Anything that does not parse closes this connection only, logged once. A request's
//! handler runs in a `request` span (connection, client id, correlation id, API, version),
//! so that what it logs says which request it was about. When spans are exported
//! (`BrokerConfig::trace_context`), that span is also an OpenTelemetry server span named for
//! the API, and a Produce request's span continues the producer's trace
//! (`handlers::produce_trace`); otherwise those fields stay empty and cost nothing.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::future::{Either, Ready, ready};
use futures_util::stream::{FuturesOrdered, StreamExt};
use streambus_protocol::frame::{self, FrameStatus};
use streambus_protocol::{
    ApiKey, Output, RequestHeader, Response, decode_request, encode_response,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::WriteHalf;
use tokio::sync::watch;
use tracing::Instrument;
use tracing::field::Empty;

use crate::Broker;
use crate::context::{ConnectionInfo, RequestContext};
use crate::dispatch::{self, InOrder};

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 64 << 10;

/// Output buffer capacity a connection keeps between answers. The buffer is reused, so most
/// answers allocate nothing; one that needed more (a large fetch) gives its memory back once
/// written, so an idle connection holds at most this much.
const KEEP_OUTPUT_BYTES: usize = 1 << 20;

/// Requests of one connection whose answers may be on their way at once: Produce requests
/// waiting for their commit (the next requests are read and started meanwhile). Kafka
/// clients keep at most five in flight by default.
const MAX_IN_PROGRESS: usize = 16;

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

/// A request's answer: its version, correlation id and API with the response, or `None`
/// when it gets none (Produce with acks=0).
type Reply = Option<(i16, i32, ApiKey, Response)>;

/// A request's answer on its way: ready (most APIs, no allocation), or a Produce waiting for
/// its commit.
type Answer = Either<Ready<Reply>, Pin<Box<dyn Future<Output = Reply> + Send>>>;

async fn serve(
    stream: &mut TcpStream,
    broker: &Arc<Broker>,
    info: &ConnectionInfo,
    stop: &mut watch::Receiver<bool>,
) -> Close {
    let max = broker.config.socket_request_max_bytes;
    let (mut reader, mut writer) = stream.split();
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut output = Output::splicing();
    let mut answers: FuturesOrdered<Answer> = FuturesOrdered::new();
    loop {
        // Start every whole request buffered, while there is room for its answer.
        if answers.len() < MAX_IN_PROGRESS {
            match frame::split(&mut input, max) {
                Ok(Some(payload)) => {
                    match start(broker, info, payload).await {
                        Ok(answer) => answers.push_back(answer),
                        Err(close) => {
                            return finish(&mut writer, &mut output, info, answers, close).await;
                        }
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    let close = Close::Refused(format!("bad frame: {e}"));
                    return finish(&mut writer, &mut output, info, answers, close).await;
                }
            }
        }
        let wanted = match frame::check(&input, max) {
            Ok(FrameStatus::Incomplete { needed }) => needed.clamp(1, READ_CHUNK),
            _ => READ_CHUNK,
        };
        input.reserve(wanted);
        let reading = answers.len() < MAX_IN_PROGRESS;
        // The select only says what happened; the awaits come after it, once its futures
        // (the read, the stop signal's guard) are gone.
        let event = tokio::select! {
            Some(answer) = answers.next(), if !answers.is_empty() => Event::Answer(answer),
            read = reader.read_buf(&mut input), if reading => Event::Read(read),
            _ = stop.wait_for(|stopping| *stopping) => Event::Stop,
        };
        match event {
            Event::Answer(answer) => {
                if let Err(close) = write(&mut writer, &mut output, info, answer).await {
                    return close;
                }
            }
            Event::Read(Ok(0)) if input.is_empty() => {
                return finish(&mut writer, &mut output, info, answers, Close::Normal).await;
            }
            Event::Read(Ok(0)) => {
                let close = Close::Refused(format!(
                    "connection closed mid-frame after {} bytes",
                    input.len()
                ));
                return finish(&mut writer, &mut output, info, answers, close).await;
            }
            Event::Read(Ok(_)) => {}
            Event::Read(Err(e)) => return socket_failed("read", &e),
            Event::Stop => {
                return finish(&mut writer, &mut output, info, answers, Close::Normal).await;
            }
        }
    }
}

/// What a connection waited for.
enum Event {
    Answer(Reply),
    Read(std::io::Result<usize>),
    Stop,
}

/// Decodes one request and runs its handler as far as the connection must wait for: all of
/// it for most APIs, the appends for Produce (whose answer then waits for the commit while
/// the next requests are served). `Err` closes the connection.
async fn start(
    broker: &Arc<Broker>,
    info: &ConnectionInfo,
    payload: Bytes,
) -> Result<Answer, Close> {
    let mut body = payload;
    let header = match RequestHeader::decode_frame(&mut body) {
        Ok(header) => header,
        Err(e) => {
            return Err(Close::Refused(format!(
                "request header does not parse: {e}"
            )));
        }
    };
    let ctx = RequestContext {
        connection: info.clone(),
        api_key: header.api_key,
        api_version: header.api_version,
        correlation_id: header.correlation_id,
        client_id: header.client_id.clone(),
    };
    let Some(api) = ApiKey::from_i16(header.api_key) else {
        return Err(Close::Refused(format!(
            "unknown api key {}",
            header.api_key
        )));
    };
    let correlation_id = header.correlation_id;
    if !dispatch::supports(api, header.api_version) {
        return match dispatch::unsupported_version(api, header.api_version) {
            Some((version, response)) => Ok(Either::Left(ready(Some((
                version,
                correlation_id,
                api,
                response,
            ))))),
            None => Err(Close::Refused(format!(
                "unsupported version {} of {api:?}",
                header.api_version
            ))),
        };
    }
    let request = match decode_request(&header, body) {
        Ok(request) => request,
        Err(e) => {
            return Err(Close::Refused(format!(
                "{api:?} v{} does not parse: {e}",
                header.api_version
            )));
        }
    };
    // Every line logged while the request is served carries who asked and for what. The
    // fields are recorded only if a subscriber enables the span; the OpenTelemetry ones stay
    // empty (and out of the log) unless spans are exported.
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
    let version = header.api_version;
    let answered = dispatch::handle_in_order(broker, &ctx, request)
        .instrument(span.clone())
        .await;
    Ok(match answered {
        InOrder::Ready(response) => {
            Either::Left(ready(response.map(|r| (version, correlation_id, api, r))))
        }
        InOrder::Committing(committing) => Either::Right(Box::pin(
            async move {
                let response = committing.await?;
                Some((version, correlation_id, api, response))
            }
            .instrument(span),
        )),
    })
}

/// Writes one answer. `Err` closes the connection.
async fn write(
    writer: &mut WriteHalf<'_>,
    output: &mut Output,
    info: &ConnectionInfo,
    answer: Reply,
) -> Result<(), Close> {
    let Some((version, correlation_id, api, response)) = answer else {
        return Ok(());
    };
    output.clear();
    if let Err(e) = encode_response(output, version, correlation_id, &response) {
        tracing::error!(connection = info.id, ?api, version, error = %e, "response does not encode");
        return Err(Close::Refused(format!(
            "internal error encoding the {api:?} response"
        )));
    }
    let written = write_all_vectored(writer, &mut output.io_slices())
        .await
        .map_err(|e| socket_failed("write", &e));
    // Lets go of the record buffers the answer referenced, and of a large buffer.
    output.clear();
    release_if_large(output);
    written
}

/// Writes every byte of `slices`, in as few system calls as the socket takes.
async fn write_all_vectored(
    writer: &mut WriteHalf<'_>,
    mut slices: &mut [IoSlice<'_>],
) -> std::io::Result<()> {
    while !slices.is_empty() {
        let written = writer.write_vectored(slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, written);
    }
    Ok(())
}

/// Drops the output buffer's memory if an answer grew it past [`KEEP_OUTPUT_BYTES`].
fn release_if_large(output: &mut Output) {
    if output.capacity() > KEEP_OUTPUT_BYTES {
        *output = Output::splicing();
    }
}

/// Writes the answers still on their way (the requests already started finish, as before a
/// clean stop), then ends the connection for `close`.
async fn finish(
    writer: &mut WriteHalf<'_>,
    output: &mut Output,
    info: &ConnectionInfo,
    mut answers: FuturesOrdered<Answer>,
    close: Close,
) -> Close {
    while let Some(answer) = answers.next().await {
        if write(writer, output, info, answer).await.is_err() {
            break;
        }
    }
    close
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_buffer_keeps_small_capacity_and_gives_back_large() {
        let mut output = Output::from(BytesMut::with_capacity(KEEP_OUTPUT_BYTES));
        release_if_large(&mut output);
        assert_eq!(output.capacity(), KEEP_OUTPUT_BYTES);
        output.put_slice(&vec![0; KEEP_OUTPUT_BYTES + 1]);
        release_if_large(&mut output);
        assert_eq!(output.capacity(), 0);
    }
}
