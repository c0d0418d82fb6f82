//! The command-line tools: `streambus topic|produce|consume|group|cluster`, clients of a
//! running broker through `streambus-client`.
//!
//! Each command parses its flags (clap), does its work with the client's admin, producer or
//! consumer on a small runtime of its own, and prints its result in the format `--output`
//! asks for: aligned tables for people, JSON or YAML for programs (the same fields in
//! both, documented in `docs/cli.md`). A failure is one line `error: ...` on stderr and exit
//! code 1; clap reports bad arguments itself, with exit code 2.

mod cluster;
mod consume;
mod drain;
mod group;
mod moves;
mod output;
mod produce;
mod topic;
mod yaml;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use streambus_client::ClientConfig;
use streambus_client::admin::Admin;

pub use output::Printer;

/// The tools, as subcommands of `streambus`.
#[derive(Debug, Subcommand)]
pub enum Tool {
    /// Create, list, describe and delete topics, and change their configs
    Topic(topic::TopicArgs),
    /// Write records to a topic, one per line of stdin or a file
    Produce(produce::ProduceArgs),
    /// Read records from a topic and print them
    Consume(consume::ConsumeArgs),
    /// List, describe and delete consumer groups, and reset their offsets
    Group(group::GroupArgs),
    /// Describe the cluster
    Cluster(cluster::ClusterArgs),
}

/// Where the broker is and how to print: the flags every tool takes.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Brokers to connect to: host:port, comma-separated
    #[arg(
        long,
        global = true,
        env = "STREAMBUS_BROKERS",
        default_value = "127.0.0.1:9092",
        value_name = "HOST:PORT"
    )]
    pub bootstrap: String,
    /// How to print results
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

impl ClientArgs {
    /// The client settings for `--bootstrap`.
    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(&self.bootstrap);
        config.client_id = "streambus-cli".to_owned();
        config
    }

    async fn admin(&self) -> Result<Admin> {
        Ok(Admin::connect(self.client_config()).await?)
    }

    fn printer(&self) -> Printer {
        Printer::new(self.output)
    }
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns with headers
    Table,
    /// JSON (one document; `consume` writes one object per line)
    Json,
    /// YAML (one document; `consume` writes one document per record)
    Yaml,
}

/// Runs a tool to completion: exit code 0, or 1 after printing why it failed.
pub fn run(tool: Tool) -> ExitCode {
    // Two workers: the producer's and consumer's background tasks run there while the
    // command itself may block (reading stdin).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    let result = runtime.block_on(async move {
        match tool {
            Tool::Topic(args) => topic::run(args).await,
            Tool::Produce(args) => produce::run(args).await,
            Tool::Consume(args) => consume::run(args).await,
            Tool::Group(args) => group::run(args).await,
            Tool::Cluster(args) => cluster::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`| head`) is not a failure.
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::FAILURE
}

/// Parses `key=value` (a `--config`, `--set` or `--header`).
fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        tool: Tool,
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn key_values_split_at_the_first_equals_sign() {
        assert_eq!(key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(key_value("a="), Ok(("a".into(), String::new())));
        assert!(key_value("=b").is_err());
        assert!(key_value("ab").is_err());
    }
}
