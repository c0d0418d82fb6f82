//! Crash test: a real writer process (`streambus-metadata-writer`) commits numbered batches
//! and is killed with SIGKILL at pseudo-random points, across snapshots and log rewrites.
//! After each kill the log is reopened in this process and checked: every commit the writer
//! printed is in the image, nothing partial is (each batch's three records are all there or
//! none is), and at most the one commit in flight when the writer died was kept without
//! being printed. Then the writer is restarted on the same directory and the cycle repeats.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use streambus_metadata::{LocalMetadataLog, MetadataConfig, MetadataImage, MetadataLog, Uuid};

const WRITER: &str = env!("CARGO_BIN_EXE_streambus-metadata-writer");
/// More commits than any round lets the writer make before it is killed.
const ENDLESS: &str = "1000000";
/// Three records per commit: a snapshot (and, from the second on, a log rewrite) about
/// every ten commits.
const SNAPSHOT_EVERY_RECORDS: u64 = 30;
const ROUNDS: usize = 10;
/// The test stops starting rounds after this long, to stay well within its time budget.
const BUDGET: Duration = Duration::from_secs(20);

/// Deterministic generator for kill points (SplitMix64).
struct SplitMix64(u64);

impl SplitMix64 {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

struct Writer {
    child: Child,
    stdout: BufReader<ChildStdout>,
    start: Option<u64>,
    committed: Vec<u64>,
    done: bool,
}

impl Writer {
    fn spawn(dir: &Path, count: &str) -> Writer {
        let mut child = Command::new(WRITER)
            .arg(dir)
            .arg(count)
            .arg(SNAPSHOT_EVERY_RECORDS.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the writer");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Writer {
            child,
            stdout,
            start: None,
            committed: Vec::new(),
            done: false,
        }
    }

    /// Reads lines until the writer has started and printed `commits` commits; false at the
    /// end of its output.
    fn read_commits(&mut self, commits: usize) -> bool {
        while self.start.is_none() || self.committed.len() < commits {
            let mut line = String::new();
            if self.stdout.read_line(&mut line).unwrap() == 0 {
                return false;
            }
            self.parse(&line);
        }
        true
    }

    fn parse(&mut self, line: &str) {
        // A line cut short by the kill was never printed as a whole.
        let Some(line) = line.strip_suffix('\n') else {
            return;
        };
        let (word, number) = line.split_once(' ').expect("a writer line");
        let number: u64 = number.parse().unwrap();
        match word {
            "start" => self.start = Some(number),
            "committed" => {
                let expected = self.committed.last().map_or(self.start.unwrap(), |&n| n) + 1;
                assert_eq!(number, expected, "commits are printed in order");
                self.committed.push(number);
            }
            "done" => self.done = true,
            _ => panic!("unexpected writer output {line:?}"),
        }
    }

    fn drain(&mut self) {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        for line in rest.split_inclusive('\n') {
            self.parse(line);
        }
    }

    /// SIGKILLs the writer and collects what it printed before dying.
    fn kill(mut self) -> Writer {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.drain();
        self
    }

    /// Waits for a writer that is meant to finish; panics with its stderr if it failed.
    fn finish(mut self) -> Writer {
        self.drain();
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        let mut pipe = self.child.stderr.take().unwrap();
        pipe.read_to_string(&mut stderr).unwrap();
        assert!(status.success(), "writer failed: {stderr}");
        self
    }
}

/// Checks that the image holds exactly the writer's commits 1..=its offset, each whole.
fn check_image(image: &MetadataImage) {
    let last = image.offset();
    assert_eq!(image.topics().len() as u64, last, "one topic per commit");
    for n in 1..=last {
        let name = format!("topic-{n}");
        let topic = image
            .topic(&name)
            .unwrap_or_else(|| panic!("{name} missing at offset {last}"));
        assert_eq!(topic.id, Uuid::from_u128(n.into()));
        assert_eq!(topic.partitions.len(), 1, "{name} is partial");
        assert_eq!(topic.partitions[0].leader, 1);
        assert_eq!(
            topic.configs.get("note").map(String::as_str),
            Some(n.to_string().as_str()),
            "{name} is partial"
        );
    }
}

fn reopen(dir: &Path) -> LocalMetadataLog {
    LocalMetadataLog::open(
        dir,
        MetadataConfig {
            snapshot_every_records: SNAPSHOT_EVERY_RECORDS,
        },
    )
    .unwrap()
}

#[test]
fn every_printed_commit_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let began = Instant::now();
    let mut rng = SplitMix64(0x5eed_0004);
    let mut last_offset = 0;
    let mut rounds = 0;
    let mut truncations = 0;
    while rounds < ROUNDS && began.elapsed() < BUDGET {
        let mut writer = Writer::spawn(dir.path(), ENDLESS);
        // Sometimes right after opening, mostly after some commits.
        let kill_after = if rng.below(5) == 0 {
            0
        } else {
            1 + rng.below(40) as usize
        };
        assert!(writer.read_commits(kill_after), "writer ended early");
        let writer = writer.kill();
        let start = writer.start.unwrap();
        assert_eq!(
            start, last_offset,
            "the writer continues where the last left off"
        );
        let printed = writer.committed.last().copied().unwrap_or(start);

        let log = reopen(dir.path());
        let image = log.image();
        check_image(&image);
        assert!(
            image.offset() >= printed,
            "printed commit {printed} lost: the log ends at {}",
            image.offset()
        );
        assert!(
            image.offset() <= printed + 1,
            "more than the one commit in flight kept"
        );
        if log.open_report().truncated_bytes > 0 {
            truncations += 1;
        }
        last_offset = image.offset();
        rounds += 1;
    }
    assert!(rounds >= 3, "only {rounds} rounds ran within the budget");

    // A final run that finishes cleanly, from whatever the kills left.
    let writer = Writer::spawn(dir.path(), "5").finish();
    assert!(writer.done);
    assert_eq!(writer.committed.len(), 5);
    let log = reopen(dir.path());
    check_image(&log.image());
    assert_eq!(log.last_offset(), last_offset + 5);
    assert_eq!(
        log.open_report().batches_replayed,
        0,
        "a clean close snapshots"
    );
    eprintln!(
        "{rounds} kill rounds, {truncations} torn tails cut, {} commits, {:?}",
        log.last_offset(),
        began.elapsed()
    );
}
