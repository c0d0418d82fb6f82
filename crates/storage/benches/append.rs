//! Append throughput of `PartitionLog::append` into the page cache.
//!
//! Measures whole batches of 100-byte and 1 KiB records (about 64 KiB a batch, the size a
//! busy librdkafka producer sends) appended with `flush=os` (no fsync: the page-cache
//! ceiling) and with `flush=always` (one fsync per append, the single-writer worst case of
//! group commit), and with eight threads appending at once under `flush=always`, where
//! group commit shares fsyncs between them. Segments roll at 1 GiB; the log is recreated
//! when it grows past 2 GiB so the disk never fills.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use streambus_storage::records::BatchBuilder;
use streambus_storage::{FlushPolicy, LogConfig, PartitionLog};

const BATCH_BYTES: usize = 64 << 10;

fn batch(record_size: usize) -> Vec<u8> {
    let mut builder = BatchBuilder::new();
    let value = Bytes::from(vec![b'x'; record_size]);
    for i in 0..BATCH_BYTES / record_size {
        builder.push_kv(
            1_700_000_000_000 + i as i64,
            None,
            Some(value.clone()),
            Vec::new(),
        );
    }
    builder.build().unwrap().to_vec()
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    for (policy, name) in [(FlushPolicy::Os, "os"), (FlushPolicy::Always, "always")] {
        for record_size in [100, 1024] {
            let batch = batch(record_size);
            group.throughput(Throughput::Bytes(batch.len() as u64));
            let id = BenchmarkId::new(format!("flush={name}"), format!("{record_size}B-records"));
            group.bench_function(id, |b| {
                let dir = tempfile::tempdir().unwrap();
                let config = LogConfig {
                    flush: policy,
                    ..LogConfig::default()
                };
                let mut log =
                    PartitionLog::open(&dir.path().join("bench-0"), config.clone()).unwrap();
                let mut generation = 0;
                b.iter(|| {
                    if log.size_bytes() > 2 << 30 {
                        log.delete().unwrap();
                        generation += 1;
                        let path = dir.path().join(format!("bench-{generation}"));
                        log = PartitionLog::open(&path, config.clone()).unwrap();
                    }
                    log.append(&batch, 0, 1_700_000_000_000).unwrap()
                });
            });
        }
    }
    group.finish();
}

/// `flush=always` with several threads appending to one log at once: group commit lets one
/// fsync acknowledge the batches of every writer that arrived during the previous one.
fn group_commit(c: &mut Criterion) {
    const WRITERS: usize = 8;
    const APPENDS_PER_WRITER: usize = 25;
    let batch = batch(1024);
    let mut group = c.benchmark_group("append");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(
        (batch.len() * WRITERS * APPENDS_PER_WRITER) as u64,
    ));
    group.bench_function(
        format!("flush=always/{WRITERS}-writers/1024B-records"),
        |b| {
            let dir = tempfile::tempdir().unwrap();
            let log =
                PartitionLog::open(&dir.path().join("bench-0"), LogConfig::default()).unwrap();
            b.iter(|| {
                std::thread::scope(|scope| {
                    for _ in 0..WRITERS {
                        scope.spawn(|| {
                            for _ in 0..APPENDS_PER_WRITER {
                                log.append(&batch, 0, 1_700_000_000_000).unwrap();
                            }
                        });
                    }
                });
            });
        },
    );
    group.finish();
}

criterion_group!(benches, append, group_commit);
criterion_main!(benches);
