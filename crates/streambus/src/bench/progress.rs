//! A progress line on stderr while a benchmark runs, redrawn in place; drawn only when
//! stderr is a terminal, so that logs and test captures stay clean.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What the workers count and the progress line shows.
#[derive(Default)]
pub struct Counters {
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
}

impl Counters {
    pub fn add(&self, records: u64, bytes: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// The goal of a run: a record count or a duration.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    Records(u64),
    Duration(Duration),
}

/// Draws the progress line every 200 ms until dropped.
pub struct Progress {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn start(counters: Arc<Counters>, goal: Goal) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress {
                stop: None,
                task: None,
            };
        }
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
                draw(&counters, goal, started.elapsed());
            }
            eprint!("\r\x1b[2K");
        });
        Progress {
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

fn draw(counters: &Counters, goal: Goal, elapsed: Duration) {
    let records = counters.records.load(Ordering::Relaxed);
    let fraction = match goal {
        Goal::Records(total) => records as f64 / total.max(1) as f64,
        Goal::Duration(total) => elapsed.as_secs_f64() / total.as_secs_f64().max(1e-9),
    }
    .clamp(0.0, 1.0);
    const WIDTH: usize = 30;
    let filled = (fraction * WIDTH as f64) as usize;
    let rate = records as f64 / elapsed.as_secs_f64().max(1e-9);
    eprint!(
        "\r[{}{}] {:>3.0}%  {records} records  {rate:.0}/s",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        fraction * 100.0
    );
    let _ = std::io::stderr().flush();
}
