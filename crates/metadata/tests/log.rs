//! The local metadata log on real files: commits, restarts, snapshots, recovery from torn
//! tails and damaged snapshots, the directory lock, and waiting for offsets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use streambus_metadata::{
    ApplyError, CommitError, ConfigResource, LOG_FILE, LocalMetadataLog, MetadataConfig,
    MetadataError, MetadataLog, MetadataRecord, Uuid,
};

fn config(snapshot_every_records: u64) -> MetadataConfig {
    MetadataConfig {
        snapshot_every_records,
    }
}

fn open(dir: &Path) -> LocalMetadataLog {
    LocalMetadataLog::open(dir, config(10_000)).unwrap()
}

/// Topic `topic-<n>` with one partition on node 1: two records.
fn create(n: u64) -> Vec<MetadataRecord> {
    MetadataRecord::topic_with_partitions(format!("topic-{n}"), Uuid::from_u128(n.into()), 1, 1)
}

fn log_len(dir: &Path) -> u64 {
    fs::metadata(dir.join(LOG_FILE)).unwrap().len()
}

fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with("snapshot-") && name.ends_with(".json")
        })
        .collect();
    files.sort();
    files
}

/// A log frame built by hand, as the format documents it.
fn frame(offset: u64, records: &[MetadataRecord]) -> Vec<u8> {
    let payload = serde_json::to_vec(&(offset, records)).unwrap();
    let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
    bytes.extend(crc32c::crc32c(&payload).to_be_bytes());
    bytes.extend(payload);
    bytes
}

fn append_raw(dir: &Path, bytes: &[u8]) {
    let mut file = OpenOptions::new()
        .append(true)
        .open(dir.join(LOG_FILE))
        .unwrap();
    file.write_all(bytes).unwrap();
}

#[test]
fn commits_get_dense_offsets_and_publish_images() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    assert_eq!(log.last_offset(), 0);
    assert_eq!(log.image().topics().len(), 0);
    let before = log.image();
    assert_eq!(log.commit(create(1)).unwrap(), 1);
    assert_eq!(log.commit(create(2)).unwrap(), 2);
    assert_eq!(log.last_offset(), 2);
    let image = log.image();
    assert_eq!(image.offset(), 2);
    assert_eq!(image.partition("topic-2", 0).unwrap().leader, 1);
    assert_eq!(before.topics().len(), 0, "published images never change");
    assert!(matches!(log.commit(Vec::new()), Err(CommitError::Empty)));
    assert_eq!(log.last_offset(), 2);
}

#[test]
fn a_refused_batch_changes_nothing_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.commit(create(1)).unwrap();
    let image = log.image();
    let len = log_len(dir.path());

    let mut batch = create(2);
    batch.push(MetadataRecord::RemoveTopic {
        topic_id: Uuid::from_u128(99),
    });
    match log.commit(batch) {
        Err(CommitError::Rejected {
            index: 2,
            kind: "remove_topic",
            source: ApplyError::UnknownTopicId { .. },
        }) => {}
        other => panic!("unexpected {other:?}"),
    }
    // Refused against the current image, not just the batch: topic-1 exists already.
    let same_name = MetadataRecord::topic_with_partitions("topic-1", Uuid::from_u128(7), 1, 1);
    assert!(matches!(
        log.commit(same_name),
        Err(CommitError::Rejected {
            index: 0,
            source: ApplyError::TopicNameInUse { .. },
            ..
        })
    ));
    assert_eq!(log_len(dir.path()), len, "nothing was written");
    assert_eq!(*log.image(), *image);
    assert!(log.image().topic("topic-2").is_none());
    assert_eq!(
        log.commit(create(2)).unwrap(),
        2,
        "the offset was not used up"
    );
    drop(log);
    let log = open(dir.path());
    assert_eq!(log.last_offset(), 2);
    assert_eq!(log.image().topics().len(), 2);
}

#[test]
fn a_restart_keeps_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.commit(vec![MetadataRecord::RegisterBroker {
        node_id: 1,
        host: "localhost".into(),
        port: 9092,
        rack: None,
    }])
    .unwrap();
    for n in 1..=5 {
        log.commit(create(n)).unwrap();
    }
    log.commit(vec![
        MetadataRecord::Config {
            resource: ConfigResource::Topic("topic-3".into()),
            name: "retention.ms".into(),
            value: Some("60000".into()),
        },
        MetadataRecord::ProducerIds {
            node_id: 1,
            first_producer_id: 0,
            block_size: 1000,
        },
        MetadataRecord::RemoveTopic {
            topic_id: Uuid::from_u128(2),
        },
    ])
    .unwrap();
    let image = log.image();
    drop(log);

    // Without a clean close: everything is replayed from the log.
    let log = open(dir.path());
    assert_eq!(*log.image(), *image);
    let report = log.open_report();
    assert_eq!(report.snapshot_offset, None);
    assert_eq!(report.batches_replayed, 7);
    assert_eq!(report.records_replayed, 14);
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(report.last_offset, 7);

    // After a clean close: the image comes from the snapshot and nothing is replayed.
    log.close().unwrap();
    assert!(matches!(
        log.commit(create(9)),
        Err(CommitError::Log(MetadataError::Closed { .. }))
    ));
    drop(log);
    assert_eq!(snapshot_files(dir.path()).len(), 1);
    let log = open(dir.path());
    assert_eq!(*log.image(), *image);
    assert_eq!(log.open_report().snapshot_offset, Some(7));
    assert_eq!(log.open_report().batches_replayed, 0);
    assert_eq!(log.commit(create(9)).unwrap(), 8);
}

#[test]
fn snapshots_are_taken_every_n_records_and_the_tail_is_replayed() {
    let dir = tempfile::tempdir().unwrap();
    // Two records per commit: a snapshot after every fifth commit.
    let log = LocalMetadataLog::open(dir.path(), config(10)).unwrap();
    for n in 1..=23 {
        log.commit(create(n)).unwrap();
    }
    let image = log.image();
    drop(log);
    let files = snapshot_files(dir.path());
    let names: Vec<&str> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "snapshot-00000000000000000015.json",
            "snapshot-00000000000000000020.json"
        ],
        "the newest two snapshots are kept"
    );
    // The log was rewritten to hold only the frames after the older snapshot.
    let bytes = fs::read(dir.path().join(LOG_FILE)).unwrap();
    let first_len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    let (first_offset, _): (u64, Vec<MetadataRecord>) =
        serde_json::from_slice(&bytes[8..8 + first_len]).unwrap();
    assert_eq!(first_offset, 16);

    let log = LocalMetadataLog::open(dir.path(), config(10)).unwrap();
    assert_eq!(*log.image(), *image);
    let report = log.open_report();
    assert_eq!(report.snapshot_offset, Some(20));
    assert_eq!(report.batches_replayed, 3);
    for n in 24..=30 {
        log.commit(create(n)).unwrap();
    }
    drop(log);
    let log = LocalMetadataLog::open(dir.path(), config(10)).unwrap();
    assert_eq!(log.last_offset(), 30);
    assert_eq!(log.image().topics().len(), 30);
}

#[test]
fn a_torn_tail_is_cut_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    for n in 1..=3 {
        log.commit(create(n)).unwrap();
    }
    let image = log.image();
    let three = log_len(dir.path());
    log.commit(create(4)).unwrap();
    drop(log);
    // Half of the fourth frame, as a crash during its write leaves it.
    let four = log_len(dir.path());
    let half = three + (four - three) / 2;
    OpenOptions::new()
        .write(true)
        .open(dir.path().join(LOG_FILE))
        .unwrap()
        .set_len(half)
        .unwrap();

    let log = open(dir.path());
    assert_eq!(*log.image(), *image);
    let report = log.open_report().clone();
    assert_eq!(report.truncated_bytes, half - three);
    assert!(report.truncation_reason.unwrap().contains("cut short"));
    assert_eq!(log_len(dir.path()), three, "the tail was cut on disk");
    assert_eq!(log.commit(create(4)).unwrap(), 4);
    drop(log);

    // Garbage after whole frames.
    append_raw(dir.path(), b"\x00\x00\x00\x10garbage that is not a frame");
    let log = open(dir.path());
    assert_eq!(log.last_offset(), 4);
    assert_eq!(log.open_report().truncated_bytes, 31);
    assert!(log.open_report().truncation_reason.is_some());
    drop(log);
    let log = open(dir.path());
    assert_eq!(log.open_report().truncated_bytes, 0);
    assert_eq!(log.image().topics().len(), 4);
}

#[test]
fn a_damaged_snapshot_falls_back_to_an_older_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalMetadataLog::open(dir.path(), config(4)).unwrap();
    for n in 1..=9 {
        log.commit(create(n)).unwrap();
    }
    let image = log.image();
    drop(log);
    let files = snapshot_files(dir.path());
    assert_eq!(files.len(), 2);
    let newest = files[1].clone();
    let mut bytes = fs::read(&newest).unwrap();
    bytes[30] ^= 0x01;
    fs::write(&newest, bytes).unwrap();

    let log = LocalMetadataLog::open(dir.path(), config(4)).unwrap();
    assert_eq!(*log.image(), *image);
    let report = log.open_report().clone();
    assert_eq!(report.skipped_snapshots.len(), 1);
    assert_eq!(report.snapshot_offset, Some(6));
    assert_eq!(report.batches_replayed, 3);
    assert!(!newest.exists(), "the damaged snapshot was removed");
    drop(log);
    let log = LocalMetadataLog::open(dir.path(), config(4)).unwrap();
    assert_eq!(*log.image(), *image);
}

#[test]
fn a_damaged_only_snapshot_falls_back_to_full_replay() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    for n in 1..=5 {
        log.commit(create(n)).unwrap();
    }
    let image = log.image();
    log.close().unwrap();
    drop(log);
    let files = snapshot_files(dir.path());
    assert_eq!(files.len(), 1);
    let text = fs::read(&files[0]).unwrap();
    fs::write(&files[0], &text[..text.len() / 2]).unwrap();

    let log = open(dir.path());
    assert_eq!(*log.image(), *image);
    assert_eq!(log.open_report().snapshot_offset, None);
    assert_eq!(log.open_report().batches_replayed, 5);
}

#[test]
fn no_usable_snapshot_and_a_rewritten_log_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalMetadataLog::open(dir.path(), config(4)).unwrap();
    for n in 1..=9 {
        log.commit(create(n)).unwrap();
    }
    drop(log);
    for file in snapshot_files(dir.path()) {
        fs::write(file, b"{}\n").unwrap();
    }
    match LocalMetadataLog::open(dir.path(), config(4)) {
        Err(MetadataError::Corrupt { reason, .. }) => {
            assert!(reason.contains("no snapshot checks out"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn whole_frames_that_do_not_fit_are_errors_not_tails() {
    // A frame whose records do not apply.
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.commit(create(1)).unwrap();
    drop(log);
    append_raw(dir.path(), &frame(2, &create(1)));
    let error = LocalMetadataLog::open(dir.path(), config(10)).unwrap_err();
    assert!(
        matches!(&error, MetadataError::Corrupt { reason, .. } if reason.contains("does not apply")),
        "{error}"
    );

    // A frame that skips an offset.
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    append_raw(dir.path(), &frame(1, &create(1)));
    append_raw(dir.path(), &frame(3, &create(3)));
    let error = LocalMetadataLog::open(dir.path(), config(10)).unwrap_err();
    assert!(
        matches!(&error, MetadataError::Corrupt { reason, .. } if reason.contains("follows offset 1")),
        "{error}"
    );

    // A hand-built frame in the documented format is accepted.
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    append_raw(dir.path(), &frame(1, &create(1)));
    assert_eq!(open(dir.path()).last_offset(), 1);
}

#[test]
fn the_directory_lock_is_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    match LocalMetadataLog::open(dir.path(), config(10)) {
        Err(MetadataError::Locked { path }) => assert_eq!(path, dir.path()),
        other => panic!("unexpected {other:?}"),
    }
    drop(log);
    open(dir.path());
}

#[test]
fn an_invalid_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        LocalMetadataLog::open(dir.path(), config(0)),
        Err(MetadataError::Config(_))
    ));
}

#[test]
fn waiting_for_an_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn MetadataLog> = Arc::new(open(dir.path()));
    log.commit(create(1)).unwrap();
    assert_eq!(
        log.wait_for_offset(1, Duration::ZERO).unwrap().offset(),
        1,
        "an offset already reached returns at once"
    );
    let start = Instant::now();
    assert!(log.wait_for_offset(2, Duration::from_millis(50)).is_none());
    assert!(start.elapsed() >= Duration::from_millis(50));

    let writer = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for n in 2..=3 {
                std::thread::sleep(Duration::from_millis(20));
                log.commit(create(n)).unwrap();
            }
        })
    };
    let image = log.wait_for_offset(3, Duration::from_secs(30)).unwrap();
    assert!(image.topic("topic-3").is_some());
    writer.join().unwrap();
    assert!(log.wait_for_offset(3, Duration::MAX).is_some());
}
