//! The process-wide log subscriber: lines on stderr, as text or as JSON, filtered by level
//! or by the per-module `STREAMBUS_LOG` filter; and, with an OTLP endpoint, the same spans
//! exported as OpenTelemetry traces.
//!
//! Text is what it has always been, so that people and the scripts that read the startup
//! line (`streambus is serving kafka=H:P http=H:P ...`) see no change; it is colored only on a
//! terminal. JSON is one object per line with `timestamp`, `level`, `target`, `message`, the
//! event's fields at the top level, and the fields of the spans it happened in (`span`, the
//! innermost; `spans`, all of them from the outermost), so that a line logged while serving
//! a request carries that request's connection, client id and correlation id. In JSON, a
//! panic is logged as a JSON line rather than printed.
//!
//! Traces: with `otlp_endpoint`, a `tracing_opentelemetry` layer turns spans into
//! OpenTelemetry spans (resource `service.name = "streambus"`), which a batch span processor
//! posts as OTLP/HTTP protobuf to `{endpoint}/v1/traces` from its own thread, with a
//! blocking HTTP client. That client must be built outside any async runtime, which holds
//! because logging is set up before `serve` starts the runtime. The layer has its own level
//! filter (info), so `--log-level` and `STREAMBUS_LOG` decide what is printed, not what is
//! exported. Without an endpoint no layer, thread or propagator is installed at all. The
//! [`Tracing`] guard returned by [`init`] flushes what is queued on [`Tracing::shutdown`];
//! spans still queued when the process is killed are lost. The SDK's own diagnostics are
//! compiled out (they would log into this same subscriber), so the exporter is wrapped to
//! say in the log when exports start failing and when they work again, once each.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogConfig, LogFormat};

/// The `service.name` of every exported span.
const SERVICE_NAME: &str = "streambus";

/// How long [`Tracing::shutdown`] waits for the last spans to be exported.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The trace exporter, while one runs: keep it until the server has stopped, then call
/// [`Tracing::shutdown`] so that the spans of the last requests are sent.
#[must_use = "dropping the guard early stops trace export"]
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

impl Tracing {
    /// Exports the spans still queued and stops the exporter, waiting at most 5 s: an error
    /// if that time ran out. A failed export is logged by the exporter itself.
    pub fn shutdown(self) -> Result<()> {
        match self.provider {
            Some(provider) => provider
                .shutdown_with_timeout(SHUTDOWN_TIMEOUT)
                .map_err(|e| anyhow!("cannot export the last traces: {e}")),
            None => Ok(()),
        }
    }
}

/// Installs the subscriber. Fails if the filter does not parse: a typo in `STREAMBUS_LOG`
/// is refused rather than silently logging at another level. Must run before any async
/// runtime exists (see the module docs).
pub fn init(config: &LogConfig) -> Result<Tracing> {
    let directives = config.directives();
    let filter = EnvFilter::builder()
        .parse(directives)
        .map_err(|e| anyhow!("STREAMBUS_LOG={directives:?} is not a valid log filter: {e}"))?;
    let provider = config.otlp_endpoint.as_deref().map(provider).transpose()?;
    let traces = provider.as_ref().map(|provider| {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(SERVICE_NAME))
            // A request span runs on whichever worker polls it, and always in the same
            // place: thread and source location say nothing.
            .with_threads(false)
            .with_location(false)
            // Nothing in the process reads the current OpenTelemetry context, so entering a
            // span need not set it; the Produce parent is set before the span is entered.
            .with_context_activation(false)
            .with_filter(LevelFilter::INFO)
    });
    let lines = match config.format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_filter(filter)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(traces)
        .with(lines)
        .try_init()
        .map_err(|e| anyhow!("cannot set up logging: {e}"))?;
    if config.format == LogFormat::Json {
        log_panics_as_json();
    }
    Ok(Tracing { provider })
}

/// The tracer provider exporting to `{endpoint}/v1/traces` with a batch span processor.
fn provider(endpoint: &str) -> Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{endpoint}/v1/traces"))
        .build()
        .with_context(|| format!("cannot set up trace export to {endpoint}"))?;
    let resource = Resource::builder()
        .with_service_name(SERVICE_NAME)
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(Reporting {
            inner: exporter,
            failing: AtomicBool::new(false),
        })
        .with_resource(resource)
        .build())
}

/// The OTLP exporter, logging a warning when an export fails after one that worked (or the
/// first one fails) and a line when one works again: one line per change, not per batch,
/// so that a collector that is down cannot flood the log.
#[derive(Debug)]
struct Reporting {
    inner: opentelemetry_otlp::SpanExporter,
    /// Whether the last export failed.
    failing: AtomicBool,
}

impl SpanExporter for Reporting {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        match &result {
            Err(error) if !self.failing.swap(true, Ordering::Relaxed) => tracing::warn!(
                %error,
                spans,
                "cannot export traces; spans are dropped until the collector takes them"
            ),
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!("exporting traces again")
            }
            _ => {}
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// In a JSON log a panic is a JSON line too, an error with the panic's message and place
/// (in the spans of the request it happened in, if any), so that a reader never meets a
/// line that does not parse. When errors are filtered out, the default hook reports it.
fn log_panics_as_json() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |panic| {
        if !tracing::enabled!(tracing::Level::ERROR) {
            return default(panic);
        }
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("unnamed");
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            tracing::error!(thread, panic = %panic, %backtrace, "a thread panicked");
        } else {
            tracing::error!(thread, panic = %panic, "a thread panicked");
        }
    }));
}
