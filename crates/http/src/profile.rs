//! `GET /debug/pprof/profile?seconds=N`: samples the broker's CPU for N seconds (1 to 60,
//! default 10) and answers a flame graph (SVG), for finding what keeps a busy broker busy.
//!
//! Off unless the operator enables it (`enable_profiling`): sampling costs a little CPU for
//! as long as it runs, and the graph shows the code's insides. One profile runs at a time;
//! a second request meanwhile gets 409. A broker that was idle the whole time (no sample)
//! answers 204 with no body.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::Health;

/// Samples per second: an odd rate, so sampling does not beat in step with timers.
const FREQUENCY: i32 = 99;
const DEFAULT_SECONDS: u64 = 10;
const MAX_SECONDS: u64 = 60;

/// Whether profiling is allowed, and whether a profile is running.
#[derive(Debug, Default)]
pub(crate) struct Profiling {
    pub(crate) enabled: AtomicBool,
    running: AtomicBool,
}

#[derive(Deserialize)]
pub(crate) struct ProfileQuery {
    seconds: Option<u64>,
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, format!("{message}\n")).into_response()
}

pub(crate) async fn profile(
    State(health): State<Arc<Health>>,
    query: Result<Query<ProfileQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let profiling = &health.profiling;
    if !profiling.enabled.load(Ordering::Acquire) {
        return refuse(
            StatusCode::NOT_FOUND,
            "profiling is off; start the broker with enable_profiling = true to use it",
        );
    }
    let Ok(Query(query)) = query else {
        return refuse(StatusCode::BAD_REQUEST, "seconds must be a whole number");
    };
    let seconds = query.seconds.unwrap_or(DEFAULT_SECONDS);
    if !(1..=MAX_SECONDS).contains(&seconds) {
        return refuse(
            StatusCode::BAD_REQUEST,
            &format!("seconds must be between 1 and {MAX_SECONDS}, not {seconds}"),
        );
    }
    if profiling.running.swap(true, Ordering::AcqRel) {
        return refuse(StatusCode::CONFLICT, "a profile is already running");
    }
    let sampled = tokio::task::spawn_blocking(move || sample(Duration::from_secs(seconds))).await;
    health.profiling.running.store(false, Ordering::Release);
    match sampled {
        Ok(Ok(Some(svg))) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        Ok(Ok(None)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(message)) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &message),
        Err(_) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the profiler task failed",
        ),
    }
}

/// Samples every thread for `duration` and draws the flame graph. Samples that land in
/// the C library, the unwinder or the vDSO are skipped (unwinding there can deadlock).
fn sample(duration: Duration) -> Result<Option<Vec<u8>>, String> {
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| format!("cannot start the profiler: {e}"))?;
    std::thread::sleep(duration);
    let report = guard
        .report()
        .build()
        .map_err(|e| format!("cannot build the profile: {e}"))?;
    if report.data.is_empty() {
        return Ok(None);
    }
    let mut svg = Vec::new();
    report
        .flamegraph(&mut svg)
        .map_err(|e| format!("cannot draw the flame graph: {e}"))?;
    Ok(Some(svg))
}
