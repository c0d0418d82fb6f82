//! Time to open a 1 GiB partition log.
//!
//! The log (64 KiB batches in 128 MiB segments) is written once. `clean` opens it with the
//! clean-shutdown marker that `close()` writes: only indexes are loaded and checked.
//! `after-crash` opens it with no marker and the recovery point at the start, the worst
//! case after a crash: every batch of every segment is read and its CRC checked.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use streambus_storage::records::BatchBuilder;
use streambus_storage::{FlushPolicy, LogConfig, PartitionLog};

const LOG_BYTES: u64 = 1 << 30;

fn config() -> LogConfig {
    LogConfig {
        flush: FlushPolicy::Os,
        segment_bytes: 128 << 20,
        ..LogConfig::default()
    }
}

fn write_log(path: &Path) {
    let log = PartitionLog::open(path, config()).unwrap();
    let mut builder = BatchBuilder::new();
    for i in 0..64 {
        builder.push_kv(i, None, Some(Bytes::from(vec![b'x'; 1000])), Vec::new());
    }
    let batch = builder.build().unwrap();
    while log.size_bytes() < LOG_BYTES {
        log.append(&batch, 0, 0).unwrap();
    }
    log.close().unwrap();
}

/// Leaves the log as a crash before any checkpoint would: no marker, recovery point 0.
fn forget_shutdown(path: &Path) {
    let _ = std::fs::remove_file(path.join(".clean-shutdown"));
    std::fs::remove_file(path.join("recovery-point.checkpoint")).unwrap();
}

fn recovery(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench-0");
    write_log(&path);
    let mut group = c.benchmark_group("open-1GiB");
    group.throughput(Throughput::Bytes(LOG_BYTES));
    group.sample_size(10);
    group.bench_function("clean", |b| {
        b.iter_batched(
            || std::fs::write(path.join(".clean-shutdown"), b"").unwrap(),
            |()| {
                let log = PartitionLog::open(&path, config()).unwrap();
                assert!(log.recovery_report().clean_shutdown);
                log
            },
            criterion::BatchSize::PerIteration,
        );
    });
    group.bench_function("after-crash", |b| {
        b.iter_batched(
            || forget_shutdown(&path),
            |()| {
                let log = PartitionLog::open(&path, config()).unwrap();
                assert!(log.recovery_report().segments_scanned > 0);
                log
            },
            criterion::BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, recovery);
criterion_main!(benches);
