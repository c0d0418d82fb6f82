//! Sequential read throughput of `PartitionLog::read`.
//!
//! A 256 MiB log of 64 KiB batches (1 KiB records) is written once and then read from
//! start to end in 1 MiB fetches, as a consumer catching up does; the file is in the page
//! cache, so this measures the read path itself: index lookup, one `pread` a fetch, and the
//! CRC check of every batch served.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use streambus_storage::records::BatchBuilder;
use streambus_storage::{FlushPolicy, LogConfig, PartitionLog};

const LOG_BYTES: usize = 256 << 20;
const FETCH_BYTES: usize = 1 << 20;

fn read(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush: FlushPolicy::Os,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(&dir.path().join("bench-0"), config).unwrap();
    let mut builder = BatchBuilder::new();
    for i in 0..64 {
        builder.push_kv(i, None, Some(Bytes::from(vec![b'x'; 1000])), Vec::new());
    }
    let batch = builder.build().unwrap();
    while (log.size_bytes() as usize) < LOG_BYTES {
        log.append(&batch, 0, 0).unwrap();
    }
    let end = log.log_end_offset();
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Bytes(log.size_bytes()));
    group.sample_size(20);
    group.bench_function("sequential-1MiB-fetches-256MiB", |b| {
        b.iter(|| {
            let mut offset = 0;
            let mut bytes = 0;
            while offset < end {
                let read = log.read(offset, FETCH_BYTES, None).unwrap();
                bytes += read.records.len();
                let last = streambus_storage::batch::BatchIter::new(&read.records)
                    .last()
                    .unwrap()
                    .0;
                offset = last.next_offset();
            }
            bytes
        });
    });
    group.finish();
}

criterion_group!(benches, read);
criterion_main!(benches);
