//! `streambus bench`: whole-system benchmarks with the StreamBus client against a running
//! broker.
//!
//! - `produce`: producers write fixed-size records as fast as they are acknowledged;
//! - `consume`: consumers read a topic from the beginning;
//! - `e2e`: a producer at a fixed rate and a consumer, latency from each record's intended
//!   send time (written into its value) to its receipt, so that a stalled producer shows up
//!   in the latencies rather than hiding them.
//!
//! Each ends with a report: records, bytes, records/s, MB/s and, where it applies, latency
//! percentiles (p50, p90, p99, p99.9, max) from an HDR histogram; `--json` prints it as one
//! JSON object. A progress line is drawn on stderr while it runs (on a terminal only).

mod consume;
mod e2e;
mod produce;
mod progress;
mod report;
mod workload;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};

/// Flags of `streambus bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Debug, Subcommand)]
enum Workload {
    /// Write records as fast as the broker acknowledges them
    Produce(produce::ProduceArgs),
    /// Read a topic from the beginning as fast as the broker serves it
    Consume(consume::ConsumeArgs),
    /// Produce at a fixed rate and consume at once: end-to-end latency
    E2e(e2e::E2eArgs),
}

/// Runs a benchmark and prints its report: exit code 0, or 1 after saying why it failed.
pub fn run(args: BenchArgs) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_workload(args.workload)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_workload(workload: Workload) -> Result<()> {
    let (json, report) = match workload {
        Workload::Produce(args) => (args.common.json, produce::run(args).await?),
        Workload::Consume(args) => (args.common.json, consume::run(args).await?),
        Workload::E2e(args) => (args.common.json, e2e::run(args).await?),
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.human());
    }
    Ok(())
}
