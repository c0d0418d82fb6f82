//! The process-wide log subscriber: lines on stderr, as text or as JSON, filtered by level
//! or by the per-module `STREAMBUS_LOG` filter.
//!
//! Text is what it has always been, so that people and the scripts that read the startup
//! line (`streambus is serving kafka=H:P http=H:P ...`) see no change; it is colored only on a
//! terminal. JSON is one object per line with `timestamp`, `level`, `target`, `message`, the
//! event's fields at the top level, and the fields of the spans it happened in (`span`, the
//! innermost; `spans`, all of them from the outermost), so that a line logged while serving
//! a request carries that request's connection, client id and correlation id. In JSON, a
//! panic is logged as a JSON line rather than printed.

use anyhow::{Result, anyhow};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the subscriber. Fails if the filter does not parse: a typo in `STREAMBUS_LOG`
/// is refused rather than silently logging at another level.
pub fn init(config: &LogConfig) -> Result<()> {
    let directives = config.directives();
    let filter = EnvFilter::builder()
        .parse(directives)
        .map_err(|e| anyhow!("STREAMBUS_LOG={directives:?} is not a valid log filter: {e}"))?;
    let installed = match config.format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init()
            .map(|()| log_panics_as_json()),
    };
    installed.map_err(|e| anyhow!("cannot set up logging: {e}"))
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
