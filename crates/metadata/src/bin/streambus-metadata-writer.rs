//! Commits numbered topics to a metadata log and prints each acknowledged commit; used by
//! the crash tests (`tests/crash.rs`), which SIGKILL it at random points and then check that
//! every acknowledged commit survived and nothing partial did.
//!
//! Usage: `streambus-metadata-writer <metadata dir> <commit count> <snapshot every records>`
//!
//! The writer continues from whatever the directory holds: commit `n` is the batch at offset
//! `n` and holds three records, so that a partly applied batch would show: the topic
//! `topic-<n>` (with a topic id derived from `n`), its partition 0 on node 1, and its config
//! `note=<n>`. A small snapshot interval makes runs cross snapshots and log rewrites.
//!
//! Output on stdout, one line each, flushed at once:
//! - `start <last offset>` after opening;
//! - `committed <n>` after commit `n` returns;
//! - `done <last offset>` after `<commit count>` commits and a clean close.
//!
//! Errors go to stderr and the exit status is 1.

use std::error::Error;
use std::io::Write;
use std::path::PathBuf;

use streambus_metadata::{
    ConfigResource, LocalMetadataLog, MetadataConfig, MetadataLog, MetadataRecord, Uuid,
};

fn main() {
    if let Err(e) = run() {
        eprintln!("streambus-metadata-writer: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let usage =
        "usage: streambus-metadata-writer <metadata dir> <commit count> <snapshot every records>";
    let dir = PathBuf::from(args.next().ok_or(usage)?);
    let count: u64 = args.next().ok_or(usage)?.parse()?;
    let snapshot_every_records: u64 = args.next().ok_or(usage)?.parse()?;

    let log = LocalMetadataLog::open(
        &dir,
        MetadataConfig {
            snapshot_every_records,
        },
    )?;
    let mut stdout = std::io::stdout().lock();
    let start = log.last_offset();
    writeln!(stdout, "start {start}")?;
    stdout.flush()?;
    for n in start + 1..=start + count {
        let offset = log.commit(batch(n))?;
        if offset != n {
            return Err(format!("commit {n} got offset {offset}").into());
        }
        writeln!(stdout, "committed {n}")?;
        stdout.flush()?;
    }
    log.close()?;
    writeln!(stdout, "done {}", log.last_offset())?;
    stdout.flush()?;
    Ok(())
}

/// The batch of commit `n`; `tests/crash.rs` checks the image against the same shape.
fn batch(n: u64) -> Vec<MetadataRecord> {
    let name = format!("topic-{n}");
    let topic_id = Uuid::from_u128(u128::from(n));
    let mut records = MetadataRecord::topic_with_partitions(name.clone(), topic_id, 1, 1);
    records.push(MetadataRecord::Config {
        resource: ConfigResource::Topic(name),
        name: "note".into(),
        value: Some(n.to_string()),
    });
    records
}
