//! Running the binary for the CLI tests: a command with stdin and a deadline, and a broker
//! (`streambus serve` on port 0) with helpers that add `--bootstrap` and check the outcome.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::support::{BIN, Launch, Server, poll, wait_with_output};

/// How long one command may take.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// What a finished command printed.
#[derive(Debug)]
pub(crate) struct Ran {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `streambus ARGS` with `stdin`, in `dir` if given, with `env` and without an
/// inherited STREAMBUS_BROKERS.
pub(crate) fn run(args: &[&str], stdin: &str, env: &[(&str, &str)], dir: Option<&Path>) -> Ran {
    let child = spawn(args, env, dir);
    finish(child, stdin, COMMAND_TIMEOUT)
}

pub(crate) fn spawn(args: &[&str], env: &[(&str, &str)], dir: Option<&Path>) -> Child {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("STREAMBUS_BROKERS")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command.spawn().expect("streambus starts")
}

/// Feeds `stdin`, then waits for the exit and collects the output; kills the process
/// and fails the test at the deadline.
pub(crate) fn finish(child: Child, stdin: &str, timeout: Duration) -> Ran {
    let (status, stdout, stderr) =
        wait_with_output(child, stdin, timeout).unwrap_or_else(|e| panic!("{e}"));
    Ran {
        code: status.code(),
        stdout,
        stderr,
    }
}

/// A broker for one test.
pub(crate) struct Broker {
    pub(crate) server: Server,
    pub(crate) dir: tempfile::TempDir,
}

impl Broker {
    /// A broker whose groups form at once.
    pub(crate) fn start() -> Broker {
        Broker::start_with(
            "group_initial_rebalance_delay_ms = 0\n\
             group_min_session_timeout_ms = 1000\n\
             offsets_topic_num_partitions = 1\n",
        )
    }

    /// A broker with this config file.
    pub(crate) fn start_with(config_file: &str) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("streambus.toml");
        std::fs::write(&config, config_file).unwrap();
        let mut launch = Launch::new(&dir.path().join("data"));
        launch.extra = vec!["--config".into(), config.display().to_string()];
        let server = launch.start().unwrap();
        Broker { server, dir }
    }

    pub(crate) fn bootstrap(&self) -> String {
        self.server.bootstrap()
    }

    pub(crate) fn port(&self) -> u16 {
        self.server.kafka.port()
    }

    /// `streambus ARGS --bootstrap ADDR` with `stdin`.
    pub(crate) fn run_with(&self, args: &[&str], stdin: &str) -> Ran {
        let bootstrap = self.bootstrap();
        let mut all = args.to_vec();
        all.extend(["--bootstrap", &bootstrap]);
        run(&all, stdin, &[], Some(self.dir.path()))
    }

    pub(crate) fn run(&self, args: &[&str]) -> Ran {
        self.run_with(args, "")
    }

    /// Runs a command that must succeed quietly; its stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, "")
    }

    pub(crate) fn ok_with(&self, args: &[&str], stdin: &str) -> String {
        let ran = self.run_with(args, stdin);
        assert_eq!(ran.code, Some(0), "{args:?}: {ran:?}");
        assert_eq!(ran.stderr, "", "{args:?}");
        ran.stdout
    }

    /// Runs a command with `--output json`; its parsed stdout.
    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let stdout = self.ok(&all);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
    }

    /// Runs a command that must fail with exit code 1 and nothing on stdout; its stderr.
    pub(crate) fn fails(&self, args: &[&str]) -> String {
        let ran = self.run(args);
        assert_eq!(ran.code, Some(1), "{args:?}: {ran:?}");
        assert_eq!(ran.stdout, "", "{args:?}");
        ran.stderr
    }

    /// `consume ARGS --output json`: the records, one object per line.
    pub(crate) fn records(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["consume"];
        all.extend(args);
        all.extend(["--output", "json"]);
        self.ok(&all)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }
}

/// The lines of `text`, sorted.
pub(crate) fn sorted_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines
}

/// The values of `records`, as (partition, offset, value).
pub(crate) fn values(records: &[Value]) -> Vec<(i64, i64, String)> {
    let mut values: Vec<(i64, i64, String)> = records
        .iter()
        .map(|r| {
            (
                r["partition"].as_i64().unwrap(),
                r["offset"].as_i64().unwrap(),
                r["value"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    values.sort();
    values
}

/// Polls `group describe` until the group is in `state`.
pub(crate) fn wait_for_group(broker: &Broker, group: &str, state: &str) -> Value {
    poll(
        &format!("group {group} to be {state}"),
        Duration::from_secs(20),
        || {
            let ran = broker.run(&["group", "describe", group, "--output", "json"]);
            let value: Value = serde_json::from_str(&ran.stdout).ok()?;
            (value["state"] == state).then_some(value)
        },
    )
    .unwrap()
}
