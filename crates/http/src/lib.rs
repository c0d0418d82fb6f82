//! StreamBus's HTTP surface: liveness and readiness for orchestrators (`GET /health/live`,
//! `GET /health/ready`) and Prometheus metrics (`GET /metrics`, the OpenMetrics text
//! format). The admin API and the console are still to come.
//!
//! `serve` takes a bound listener and a shutdown future, like the Kafka listener, so tests
//! bind port 0.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use tokio::net::TcpListener;

/// Renders every metric in the OpenMetrics text format.
pub type RenderMetrics = Box<dyn Fn() -> String + Send + Sync>;

/// What the endpoints report: the binary flips `ready` once the broker serves and hands
/// over the broker's metrics once it is open.
#[derive(Default)]
pub struct Health {
    ready: AtomicBool,
    metrics: OnceLock<RenderMetrics>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("ready", &self.is_ready())
            .field("metrics", &self.metrics.get().is_some())
            .finish()
    }
}

impl Health {
    /// A new, not yet ready, health state.
    pub fn new() -> Arc<Health> {
        Arc::new(Health::default())
    }

    /// Marks the broker ready (metadata loaded, logs recovered, listeners up) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Whether the broker is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Serves `/metrics` with `render` from now on (the first call wins).
    pub fn set_metrics(&self, render: RenderMetrics) {
        let _ = self.metrics.set(render);
    }
}

/// The content type of the OpenMetrics text format, which Prometheus scrapes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn metrics(State(health): State<Arc<Health>>) -> axum::response::Response {
    match health.metrics.get() {
        Some(render) => ([(header::CONTENT_TYPE, OPENMETRICS)], render()).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "the broker is starting\n").into_response(),
    }
}

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

async fn live() -> Json<Status> {
    Json(Status { status: "live" })
}

async fn ready(State(health): State<Arc<Health>>) -> (StatusCode, Json<Status>) {
    if health.is_ready() {
        (StatusCode::OK, Json(Status { status: "ready" }))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Status { status: "starting" }),
        )
    }
}

/// The routes.
pub fn router(health: Arc<Health>) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(health)
}

/// Serves HTTP on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    health: Arc<Health>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(health))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn liveness_and_readiness() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let health = Health::new();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, Arc::clone(&health), async {
            let _ = stopped.await;
        }));
        assert!(get(addr, "/health/live").await.starts_with("HTTP/1.1 200"));
        let response = get(addr, "/health/ready").await;
        assert!(response.starts_with("HTTP/1.1 503"), "{response}");
        assert!(response.ends_with(r#"{"status":"starting"}"#), "{response}");
        health.set_ready(true);
        let response = get(addr, "/health/ready").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
        assert!(get(addr, "/metrics").await.starts_with("HTTP/1.1 503"));
        health.set_metrics(Box::new(|| "# EOF\n".to_string()));
        let response = get(addr, "/metrics").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(
            response.contains("application/openmetrics-text"),
            "{response}"
        );
        assert!(response.ends_with("# EOF\n"), "{response}");
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
