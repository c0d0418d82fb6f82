//! StreamBus's HTTP surface: health for orchestrators and people (`GET /health/live`,
//! `GET /health/ready`, and `GET /health` with each component's status and reason),
//! Prometheus metrics (`GET /metrics`, the OpenMetrics text format), a CPU profile when
//! enabled (`GET /debug/pprof/profile`) and the admin REST API (`api`).
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

mod api;
mod profile;

/// Renders every metric in the OpenMetrics text format.
pub type RenderMetrics = Box<dyn Fn() -> String + Send + Sync>;

/// Reports each component of the broker.
pub type ReportComponents = Box<dyn Fn() -> Vec<Component> + Send + Sync>;

/// How well a component serves, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentStatus {
    /// Everything works.
    Healthy,
    /// It serves, but not everything.
    Degraded,
    /// It does not serve.
    Unhealthy,
}

/// One component in `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    /// Its name: `storage`, `metadata`, `listeners`, ...
    pub name: String,
    /// Its status.
    pub status: ComponentStatus,
    /// What is wrong, or what it holds.
    pub detail: String,
}

/// What the endpoints report: the binary flips `ready` once the broker serves and hands
/// over the broker's metrics once it is open.
#[derive(Default)]
pub struct Health {
    ready: AtomicBool,
    metrics: OnceLock<RenderMetrics>,
    components: OnceLock<ReportComponents>,
    profiling: profile::Profiling,
    /// The broker the admin API calls, handed over once it is open (`api`).
    broker: OnceLock<Arc<streambus_broker::Broker>>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("ready", &self.is_ready())
            .field("metrics", &self.metrics.get().is_some())
            .field("components", &self.components.get().is_some())
            .finish()
    }
}

impl Health {
    /// A new, not yet ready, health state.
    pub fn new() -> Arc<Health> {
        Arc::new(Health::default())
    }

    /// Allows `GET /debug/pprof/profile` (off by default).
    pub fn enable_profiling(&self) {
        self.profiling.enabled.store(true, Ordering::Release);
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

    /// Lists the broker's components in `/health` from now on (the first call wins).
    pub fn set_components(&self, report: ReportComponents) {
        let _ = self.components.set(report);
    }

    /// Every component, the listeners first, and the overall status: the worst of them.
    pub fn report(&self) -> (ComponentStatus, Vec<Component>) {
        let listeners = if self.is_ready() {
            Component {
                name: "listeners".into(),
                status: ComponentStatus::Healthy,
                detail: "serving".into(),
            }
        } else {
            Component {
                name: "listeners".into(),
                status: ComponentStatus::Unhealthy,
                detail: "not serving: starting or stopping".into(),
            }
        };
        let mut components = vec![listeners];
        if let Some(report) = self.components.get() {
            components.extend(report());
        }
        let overall = components
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(ComponentStatus::Healthy);
        (overall, components)
    }
}

#[derive(Serialize)]
struct HealthReport {
    status: ComponentStatus,
    components: Vec<Component>,
}

/// 200 while the broker serves (healthy or degraded), 503 when it does not.
async fn health_report(State(health): State<Arc<Health>>) -> (StatusCode, Json<HealthReport>) {
    let (status, components) = health.report();
    let code = if status == ComponentStatus::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(HealthReport { status, components }))
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
        .route("/health", get(health_report))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/debug/pprof/profile", get(profile::profile))
        .merge(api::router())
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
        let response = get(addr, "/health").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(
            response.ends_with(
                r#"{"status":"healthy","components":[{"name":"listeners","status":"healthy","detail":"serving"}]}"#
            ),
            "{response}"
        );
        health.set_components(Box::new(|| {
            vec![Component {
                name: "storage".into(),
                status: ComponentStatus::Degraded,
                detail: "1 partition log is damaged".into(),
            }]
        }));
        let response = get(addr, "/health").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(
            response.contains(r#""status":"degraded","components""#),
            "{response}"
        );
        assert!(
            response.contains(
                r#"{"name":"storage","status":"degraded","detail":"1 partition log is damaged"}"#
            ),
            "{response}"
        );
        health.set_ready(false);
        let response = get(addr, "/health").await;
        assert!(response.starts_with("HTTP/1.1 503"), "{response}");
        assert!(response.contains(r#""status":"unhealthy""#), "{response}");
        health.set_ready(true);
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
