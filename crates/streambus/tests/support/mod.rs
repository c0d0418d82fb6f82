//! Running the real `streambus` binary as a child process: start it, learn the ports it
//! bound from its startup log line, stop it with SIGTERM or SIGKILL, and never leave it
//! running when a test fails (the guard kills and reaps it on drop).
#![allow(dead_code)] // Each test binary uses a different part.

pub mod cluster;
pub mod load;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_streambus");

/// How long a start may take before the test gives up.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Polls `check` every 20 ms until it returns `Some`, or fails after `timeout`.
pub fn poll<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes ANSI escape sequences (`ESC [ ... letter`), so the log can be parsed whether or
/// not the binary colors it.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value of `field=` in a plain log line, up to the next space, or of `"field":"..."`
/// in a JSON one.
fn field(line: &str, name: &str) -> Option<String> {
    if let Some(at) = line.find(&format!(" {name}=")) {
        let start = at + name.len() + 2;
        return Some(line[start..].split_whitespace().next()?.to_string());
    }
    let key = format!("\"{name}\":\"");
    let start = line.find(&key)? + key.len();
    Some(line[start..].split('"').next()?.to_string())
}

/// The settings of one start of the binary.
#[derive(Debug, Clone)]
pub struct Launch {
    /// `--node-id`, if given.
    pub node_id: Option<i32>,
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// `--kafka-addr`; port 0 picks a free one.
    pub kafka_addr: SocketAddr,
    /// `--http-addr`; port 0 picks a free one.
    pub http_addr: SocketAddr,
    /// Further flags.
    pub extra: Vec<String>,
    /// Environment variables, set after the default `STREAMBUS_LOG=info` so that they can
    /// replace it (the binary takes an empty value as unset).
    pub env: Vec<(String, String)>,
    /// A soft open-file limit to start the process with (through the shell's `ulimit`).
    pub open_files_soft_limit: Option<u64>,
}

impl Launch {
    /// Node 1 on loopback port 0 for both listeners, with `--auto-create-topics`.
    pub fn new(data_dir: &Path) -> Launch {
        Launch {
            node_id: Some(1),
            data_dir: data_dir.to_path_buf(),
            kafka_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            extra: vec!["--auto-create-topics".into()],
            env: Vec::new(),
            open_files_soft_limit: None,
        }
    }

    fn command(&self) -> Command {
        let mut command = match self.open_files_soft_limit {
            None => Command::new(BIN),
            Some(limit) => {
                // `exec` keeps the process id: the server is the broker, not a shell.
                let mut shell = Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!("ulimit -S -n {limit} && exec \"$0\" \"$@\""))
                    .arg(BIN);
                shell
            }
        };
        command.arg("serve");
        if let Some(node_id) = self.node_id {
            command.arg("--node-id").arg(node_id.to_string());
        }
        command
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--kafka-addr")
            .arg(self.kafka_addr.to_string())
            .arg("--http-addr")
            .arg(self.http_addr.to_string())
            .args(&self.extra)
            .env("STREAMBUS_LOG", "info")
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    /// Starts the binary and waits for its "streambus is serving" line.
    pub fn start(&self) -> Result<Server> {
        let mut server = self.spawn()?;
        server.await_serving()?;
        Ok(server)
    }

    /// Starts the binary without waiting for anything: the server's addresses are the
    /// launch's, so give fixed ports when the startup line will not be logged.
    pub fn spawn(&self) -> Result<Server> {
        let mut child = self.command().spawn().context("cannot spawn streambus")?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().context("no stderr pipe")?;
        let sink = Arc::clone(&stderr);
        let reader = std::thread::spawn(move || {
            let mut lines = BufReader::new(pipe);
            let mut line = String::new();
            while lines.read_line(&mut line).unwrap_or(0) > 0 {
                if std::env::var_os("STREAMBUS_TEST_ECHO").is_some() {
                    eprint!("[streambus] {line}");
                }
                if let Ok(mut all) = sink.lock() {
                    all.push_str(&line);
                }
                line.clear();
            }
        });
        let mut server = Server {
            child,
            pid: 0,
            stderr,
            reader: Some(reader),
            kafka: self.kafka_addr,
            http: self.http_addr,
            exited: None,
        };
        server.pid = server.child.id();
        Ok(server)
    }

    /// Runs the binary expecting it to fail to start: its exit status and plain stderr.
    pub fn run_to_exit(&self, timeout: Duration) -> Result<(ExitStatus, String)> {
        let mut command = self.command();
        command.stderr(Stdio::piped());
        run_to_exit(command, timeout)
    }
}

/// Runs `command` (stderr piped) with a deadline: its exit status and plain stderr. A
/// command still running at the deadline is killed and reported as an error.
pub fn run_to_exit(mut command: Command, timeout: Duration) -> Result<(ExitStatus, String)> {
    command.stdin(Stdio::null());
    let child = command.spawn().context("cannot spawn")?;
    let (status, _, stderr) = wait_with_output(child, "", timeout)?;
    Ok((status, strip_ansi(&stderr)))
}

/// Waits for `child` with a deadline: feeds it `stdin` when its stdin is piped, and collects
/// whichever of its stdout and stderr are piped. Its exit status, stdout and stderr; a child
/// still running at the deadline is killed and reported as an error with what it printed.
pub fn wait_with_output(
    mut child: Child,
    stdin: &str,
    timeout: Duration,
) -> Result<(ExitStatus, String, String)> {
    let writer = child.stdin.take().map(|mut input| {
        let text = stdin.to_owned();
        std::thread::spawn(move || {
            let _ = input.write_all(text.as_bytes());
        })
    });
    let collect = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let out = collect(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = collect(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = poll("the process to exit", timeout, || {
        child.try_wait().ok().flatten()
    });
    let status = match status {
        Ok(status) => status,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            let (out, err) = (
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default(),
            );
            bail!("{e}; stdout: {out:?}; stderr:\n{}", strip_ansi(&err));
        }
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let out = out.join().unwrap_or_default();
    Ok((status, out, err.join().unwrap_or_default()))
}

/// A running `streambus serve`; killed and reaped on drop unless it already exited.
pub struct Server {
    child: Child,
    pid: u32,
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
    /// The bound Kafka address.
    pub kafka: SocketAddr,
    /// The bound HTTP address.
    pub http: SocketAddr,
    exited: Option<ExitStatus>,
}

impl Server {
    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.kafka.to_string()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Everything the process wrote on stderr so far, without color codes.
    pub fn stderr(&self) -> String {
        strip_ansi(&self.raw_stderr())
    }

    /// Everything the process wrote on stderr so far, as written.
    pub fn raw_stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn join_reader(&mut self) {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }

    /// Waits for the "streambus is serving" line and takes the bound addresses from it.
    pub fn await_serving(&mut self) -> Result<()> {
        let serving = poll("the startup line", START_TIMEOUT, || {
            if let Some(line) = self
                .stderr()
                .lines()
                .find(|l| l.contains("streambus is serving"))
            {
                return Some(Ok(line.to_string()));
            }
            match self.child.try_wait() {
                Ok(Some(status)) => Some(Err(status)),
                _ => None,
            }
        });
        let line = match serving {
            Ok(Ok(line)) => line,
            Ok(Err(status)) => {
                self.exited = Some(status);
                self.join_reader();
                bail!("streambus exited with {status}:\n{}", self.stderr());
            }
            Err(e) => bail!("{e}; stderr so far:\n{}", self.stderr()),
        };
        self.kafka = field(&line, "kafka")
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("no kafka= address in {line:?}"))?;
        self.http = field(&line, "http")
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("no http= address in {line:?}"))?;
        Ok(())
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn sigkill(mut self) -> Result<()> {
        self.child.kill().context("cannot kill streambus")?;
        let status = self.child.wait().context("cannot reap streambus")?;
        self.exited = Some(status);
        self.join_reader();
        Ok(())
    }

    /// Sends SIGTERM and waits up to `timeout` for the process to exit: its status and
    /// its whole stderr.
    pub fn terminate(mut self, timeout: Duration) -> Result<(ExitStatus, String)> {
        self.signal("TERM")?;
        let status = poll("streambus to exit after SIGTERM", timeout, || {
            self.child.try_wait().ok().flatten()
        })
        .with_context(|| format!("stderr:\n{}", self.stderr()))?;
        self.exited = Some(status);
        self.join_reader();
        Ok((status, self.stderr()))
    }

    /// Stops the process where it is (SIGSTOP): it keeps its sockets but answers nothing.
    pub fn pause(&self) -> Result<()> {
        self.signal("STOP")
    }

    /// Lets a paused process go on (SIGCONT).
    pub fn resume(&self) -> Result<()> {
        self.signal("CONT")
    }

    fn signal(&self, name: &str) -> Result<()> {
        let sent = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid.to_string())
            .status()
            .context("cannot run kill")?;
        if !sent.success() {
            bail!("kill -{name} {} failed: {sent}", self.pid);
        }
        Ok(())
    }

    /// `GET path` on the HTTP listener: the status code and the body.
    pub fn http_get(&self, path: &str) -> Result<(u16, String)> {
        http_get(self.http, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.join_reader();
    }
}

/// A plain HTTP/1.1 GET with a 5 s timeout: the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP response: {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// A small deterministic generator (xorshift64*), seeded from `STREAMBUS_TEST_SEED` or the
/// clock; tests print the seed so that a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    /// A generator and the seed it started from.
    pub fn from_env() -> (Rng, u64) {
        let seed = std::env::var("STREAMBUS_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        (Rng(seed | 1), seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `low..high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low).max(1)
    }
}

/// Runs a client future (an admin call, a delivery) on a runtime of its own.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(future)
}

/// Creates `topic` with `partitions` partitions and waits until its metadata shows them.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<()> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    create_topic_with(&config, topic, partitions)
}

/// Like [`create_topic`], with an admin client made from `config`.
pub fn create_topic_with(config: &ClientConfig, topic: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = config.create()?;
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(15)));
    let results = block_on(admin.create_topics(
        &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
        &options,
    ))?;
    for result in results {
        result.map_err(|(name, code)| anyhow::anyhow!("create topic {name}: {code}"))?;
    }
    poll("the new topic's metadata", Duration::from_secs(10), || {
        let metadata = admin
            .inner()
            .fetch_metadata(Some(topic), Duration::from_secs(2))
            .ok()?;
        let found = metadata.topics().iter().find(|t| t.name() == topic)?;
        (found.error().is_none() && found.partitions().len() == partitions as usize).then_some(())
    })
}
