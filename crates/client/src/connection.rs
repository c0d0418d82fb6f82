//! One TCP connection to one broker, with pipelined requests.
//!
//! Any number of callers may have requests outstanding at once: each request gets the next
//! correlation id and a slot in the pending table, and is written whole under the write lock;
//! one reader task decodes responses as they arrive (Kafka answers a connection's requests
//! in order) and hands each to the caller waiting on its correlation id. When the socket
//! fails, every outstanding request fails with [`Error::Disconnected`] and the connection is
//! marked closed, so the [`crate::Cluster`] opens a new one on the next request.
//!
//! At connect the connection asks the broker for its API versions, and every request is then
//! sent at the highest version both sides speak ([`Call::MAX_VERSION`] caps the client's).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use streambus_protocol::messages::api_versions_request::ApiVersionsRequest;
use streambus_protocol::{ApiKey, Message, RequestHeader, Response, VersionRange};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Mutex, oneshot};

use crate::call::Call;
use crate::error::{Error, Result};

/// The largest response frame accepted (a Fetch response is bounded by its max_bytes).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// A request waiting for its response.
struct Pending {
    api: ApiKey,
    version: i16,
    reply: oneshot::Sender<Result<Response>>,
}

type PendingTable = Arc<std::sync::Mutex<HashMap<i32, Pending>>>;

/// A connection to one broker.
pub struct Connection {
    addr: String,
    client_id: String,
    writer: Mutex<OwnedWriteHalf>,
    pending: PendingTable,
    next_correlation_id: AtomicI32,
    closed: Arc<AtomicBool>,
    versions: HashMap<i16, VersionRange>,
    request_timeout: Duration,
}

impl Connection {
    /// Connects to `addr`, within `connect_timeout`, and learns the broker's API versions.
    pub async fn open(
        addr: &str,
        client_id: &str,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Connection> {
        let stream = match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
            Err(_) => {
                return Err(Error::Timeout {
                    api: "connect",
                    addr: addr.to_owned(),
                    timeout: connect_timeout,
                });
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(Error::NoBroker {
                    addr: addr.to_owned(),
                });
            }
            Ok(Err(source)) => {
                return Err(Error::Connect {
                    addr: addr.to_owned(),
                    source,
                });
            }
            Ok(Ok(stream)) => stream,
        };
        let _ = stream.set_nodelay(true);
        let (reader, writer) = stream.into_split();
        let pending = PendingTable::default();
        let closed = Arc::new(AtomicBool::new(false));
        tokio::spawn(read_responses(
            addr.to_owned(),
            reader,
            pending.clone(),
            closed.clone(),
        ));
        let mut connection = Connection {
            addr: addr.to_owned(),
            client_id: client_id.to_owned(),
            writer: Mutex::new(writer),
            pending,
            next_correlation_id: AtomicI32::new(0),
            closed,
            versions: HashMap::new(),
            request_timeout,
        };
        connection.versions = connection.negotiate().await?;
        Ok(connection)
    }

    /// The broker's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether the socket has failed; a closed connection fails every request.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The version `R` is sent at: the highest both the broker and this client speak.
    pub fn version_of<R: Call>(&self) -> Result<i16> {
        let ours = VersionRange {
            min: R::VERSIONS.min,
            max: R::MAX_VERSION.min(R::VERSIONS.max),
        };
        let unsupported = || Error::UnsupportedVersion {
            addr: self.addr.clone(),
            api: R::API_KEY.name(),
            min: ours.min,
            max: ours.max,
        };
        let theirs = self
            .versions
            .get(&(R::API_KEY as i16))
            .ok_or_else(unsupported)?;
        let version = ours.max.min(theirs.max);
        if version < ours.min.max(theirs.min) {
            return Err(unsupported());
        }
        Ok(version)
    }

    /// Sends `request` and waits for its response, at most the request timeout.
    pub async fn call<R: Call>(&self, request: R) -> Result<R::Response> {
        self.start(request).await?.await
    }

    /// Sends `request` at `version` and waits for its response.
    pub async fn call_at<R: Call>(&self, request: R, version: i16) -> Result<R::Response> {
        self.start_at(request, version).await?.await
    }

    /// Writes `request` and returns a future of its response, so that a caller can write
    /// several requests in a known order (the order their frames reach the broker) before
    /// waiting for any.
    pub async fn start<R: Call>(
        &self,
        request: R,
    ) -> Result<impl Future<Output = Result<R::Response>> + Send + 'static + use<R>> {
        let version = self.version_of::<R>()?;
        self.start_at(request, version).await
    }

    async fn start_at<R: Call>(
        &self,
        request: R,
        version: i16,
    ) -> Result<impl Future<Output = Result<R::Response>> + Send + 'static + use<R>> {
        let api = R::API_KEY;
        let (correlation_id, frame) = self.encode(request, version)?;
        let (reply, response) = oneshot::channel();
        self.lock_pending().insert(
            correlation_id,
            Pending {
                api,
                version,
                reply,
            },
        );
        if let Err(e) = self.write(&frame).await {
            self.lock_pending().remove(&correlation_id);
            return Err(e);
        }
        let pending = self.pending.clone();
        let addr = self.addr.clone();
        let timeout = self.request_timeout;
        Ok(async move {
            let response = match tokio::time::timeout(timeout, response).await {
                Ok(Ok(response)) => response?,
                Ok(Err(_)) => {
                    return Err(Error::Disconnected {
                        addr,
                        reason: "the reader stopped".into(),
                    });
                }
                Err(_) => {
                    lock(&pending).remove(&correlation_id);
                    return Err(Error::Timeout {
                        api: api.name(),
                        addr,
                        timeout,
                    });
                }
            };
            R::from_response(response).ok_or_else(|| Error::Protocol {
                addr,
                reason: format!("the response to {} is of another API", api.name()),
            })
        })
    }

    /// Sends a request that gets no response (a Produce with acks=0).
    pub async fn send_only<R: Call>(&self, request: R) -> Result<()> {
        let version = self.version_of::<R>()?;
        let (_, frame) = self.encode(request, version)?;
        self.write(&frame).await
    }

    fn encode<R: Call>(&self, request: R, version: i16) -> Result<(i32, BytesMut)> {
        if self.is_closed() {
            return Err(self.disconnected("closed earlier"));
        }
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let header = RequestHeader {
            api_key: R::API_KEY as i16,
            api_version: version,
            correlation_id,
            client_id: Some(self.client_id.clone()),
        };
        let mut frame = streambus_protocol::Output::new();
        streambus_protocol::encode_request(&mut frame, &header, &request.into_request())
            .map_err(|e| Error::encode(&self.addr, R::API_KEY, e))?;
        Ok((correlation_id, frame.into_bytes()))
    }

    async fn write(&self, frame: &[u8]) -> Result<()> {
        let mut writer = self.writer.lock().await;
        if let Err(e) = writer.write_all(frame).await {
            self.closed.store(true, Ordering::Release);
            return Err(self.disconnected(&e.to_string()));
        }
        Ok(())
    }

    async fn negotiate(&self) -> Result<HashMap<i16, VersionRange>> {
        // v3 is what every current client opens with; a broker that cannot answer it says so
        // in a v0 response, whose ranges are as good.
        let request = ApiVersionsRequest {
            client_software_name: "streambus-client".into(),
            client_software_version: env!("CARGO_PKG_VERSION").into(),
        };
        let version = ApiVersionsRequest::VERSIONS.max.min(3);
        let response = self.call_at(request, version).await?;
        Error::check(response.error_code, || {
            format!("ApiVersions with {}", self.addr)
        })?;
        Ok(response
            .api_keys
            .iter()
            .map(|k| {
                let range = VersionRange {
                    min: k.min_version,
                    max: k.max_version,
                };
                (k.api_key, range)
            })
            .collect())
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Pending>> {
        lock(&self.pending)
    }

    fn disconnected(&self, reason: &str) -> Error {
        Error::Disconnected {
            addr: self.addr.clone(),
            reason: reason.to_owned(),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The reader task ends when the write half goes and the broker closes its side.
        self.closed.store(true, Ordering::Release);
    }
}

fn lock(pending: &PendingTable) -> std::sync::MutexGuard<'_, HashMap<i32, Pending>> {
    pending.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads response frames until the socket fails, answering the pending requests.
async fn read_responses(
    addr: String,
    mut reader: OwnedReadHalf,
    pending: PendingTable,
    closed: Arc<AtomicBool>,
) {
    let reason = loop {
        match read_frame(&mut reader).await {
            Ok(frame) => {
                if let Err(reason) = answer(&addr, frame, &pending) {
                    break reason;
                }
            }
            Err(reason) => break reason,
        }
    };
    closed.store(true, Ordering::Release);
    let failed: Vec<Pending> = { lock(&pending).drain().map(|(_, p)| p).collect() };
    for request in failed {
        let _ = request.reply.send(Err(Error::Disconnected {
            addr: addr.clone(),
            reason: reason.clone(),
        }));
    }
}

async fn read_frame(reader: &mut OwnedReadHalf) -> std::result::Result<Bytes, String> {
    let mut size = [0u8; 4];
    reader.read_exact(&mut size).await.map_err(describe_io)?;
    let size = i32::from_be_bytes(size);
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s <= MAX_RESPONSE_BYTES)
        .ok_or_else(|| format!("response frame of {size} bytes is out of bounds"))?;
    let mut payload = vec![0u8; size];
    reader.read_exact(&mut payload).await.map_err(describe_io)?;
    Ok(Bytes::from(payload))
}

fn describe_io(e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "the broker closed the connection".to_owned()
    } else {
        e.to_string()
    }
}

/// Decodes one response frame and hands it to its caller. An unknown correlation id is a
/// request that timed out meanwhile; a frame that does not decode ends the connection.
fn answer(addr: &str, frame: Bytes, pending: &PendingTable) -> std::result::Result<(), String> {
    let correlation_id = frame
        .get(..4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or("a response frame shorter than its header")?;
    let Some(request) = lock(pending).remove(&correlation_id) else {
        return Ok(());
    };
    match streambus_protocol::decode_response(request.api, request.version, frame) {
        Ok((_, response)) => {
            let _ = request.reply.send(Ok(response));
            Ok(())
        }
        Err(e) => {
            let error = Error::decode(addr, request.api, e);
            let reason = error.to_string();
            let _ = request.reply.send(Err(error));
            Err(reason)
        }
    }
}
