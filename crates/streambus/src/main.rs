//! `streambus`: the StreamBus binary. `streambus serve` runs the broker; `topic`, `produce`,
//! `consume`, `group` and `cluster` are the command-line tools (`cli`), and `bench` the
//! whole-system benchmarks (`bench`). This file only parses the command line and wires the
//! crates together; each crate owns its own configuration and behaviour.

mod bench;
mod cli;
mod config;
mod logging;
mod open_files;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use config::LogFormat;

/// StreamBus: a Kafka-compatible event-streaming platform in one binary.
#[derive(Debug, Parser)]
#[command(name = "streambus", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the broker (single node by default: data in ./data, Kafka on 127.0.0.1:9092)
    Serve(config::ServeArgs),
    /// The command-line tools: topic, produce, consume, group, cluster
    #[command(flatten)]
    Tool(cli::Tool),
    /// Benchmark a running broker: produce, consume, or end-to-end latency
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let (format, traces) = match start_logging(&args) {
                Ok(started) => started,
                Err(e) => return fail(LogFormat::Text, &e),
            };
            // `run` returns once the server has stopped and its runtime is gone: then the
            // spans of the last requests are exported, before the process exits.
            let served = serve::run(args);
            if let Err(e) = traces.shutdown() {
                tracing::warn!(error = %format_args!("{e:#}"), "traces were lost");
            }
            match served {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format, &e),
            }
        }
        Command::Tool(tool) => cli::run(tool),
        Command::Bench(args) => bench::run(args),
    }
}

/// Sets up the log (and trace export) from the flags, the file and the environment,
/// before any async runtime exists: the format it writes, and the trace exporter to shut
/// down once the server has stopped.
fn start_logging(args: &config::ServeArgs) -> anyhow::Result<(LogFormat, logging::Tracing)> {
    let log = config::LogConfig::assemble(args)?;
    let traces = logging::init(&log)?;
    Ok((log.format, traces))
}

/// Reports why the command failed: on stderr as a plain line, or as a JSON log line when
/// the log is JSON, so that every line a JSON log reader sees parses.
fn fail(format: LogFormat, error: &anyhow::Error) -> ExitCode {
    match format {
        LogFormat::Json if tracing::enabled!(tracing::Level::ERROR) => {
            tracing::error!(error = %format_args!("{error:#}"), "streambus failed");
        }
        // Text, or a JSON log that drops errors: the reason must still be seen.
        _ => eprintln!("streambus: {error:#}"),
    }
    ExitCode::FAILURE
}
