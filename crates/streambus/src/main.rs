//! `streambus`: the StreamBus binary. `streambus serve` runs the broker; the command-line
//! tools come with the client issue. This file only parses the command line and wires the
//! crates together; each crate owns its own configuration and behaviour.

mod config;
mod logging;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let format = match start_logging(&args) {
                Ok(format) => format,
                Err(e) => return fail(LogFormat::Text, &e),
            };
            match serve::run(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format, &e),
            }
        }
    }
}

/// Sets up the log from the flags, the file and the environment; the format it writes.
fn start_logging(args: &config::ServeArgs) -> anyhow::Result<LogFormat> {
    let log = config::LogConfig::assemble(args)?;
    logging::init(&log)?;
    Ok(log.format)
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
