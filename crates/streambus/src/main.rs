//! `streambus`: the StreamBus binary. `streambus serve` runs the broker; the command-line
//! tools come with the client issue. This file only parses the command line and wires the
//! crates together; each crate owns its own configuration and behaviour.

mod config;
mod serve;

use clap::{Parser, Subcommand};

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

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("streambus: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Text logs on stderr; the level from `STREAMBUS_LOG` (e.g. `info`, `streambus_broker=debug`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STREAMBUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
