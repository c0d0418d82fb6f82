//! Encoding whole response frames, the last step of every answer the broker writes.
//!
//! A Fetch response is mostly record bytes, so its cost is the copies the encoder makes of
//! them. The `encode_response` group encodes into a copying `Output`; the
//! `encode_response_spliced` group into a splicing one, as the broker does, which references
//! them for a vectored write.

#![allow(missing_docs, clippy::unwrap_used)]

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use streambus_protocol::messages::fetch_response::{
    FetchResponse, FetchableTopicResponse, PartitionData,
};
use streambus_protocol::{Output, Response, encode_response};

/// A Fetch v12 response carrying `partitions` partitions of `bytes_each` record bytes.
fn fetch_response(partitions: i32, bytes_each: usize) -> Response {
    let records = Bytes::from(vec![7u8; bytes_each]);
    let partitions = (0..partitions)
        .map(|partition_index| PartitionData {
            partition_index,
            high_watermark: 1_000_000,
            records: Some(records.clone()),
            ..Default::default()
        })
        .collect();
    Response::Fetch(FetchResponse {
        responses: vec![FetchableTopicResponse {
            topic: "bench".into(),
            partitions,
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn encode(c: &mut Criterion) {
    for (group_name, splicing) in [
        ("encode_response", false),
        ("encode_response_spliced", true),
    ] {
        let mut group = c.benchmark_group(group_name);
        for (name, partitions, bytes_each) in [
            ("fetch_1x1MiB", 1, 1 << 20),
            ("fetch_16x64KiB", 16, 64 << 10),
        ] {
            let response = fetch_response(partitions, bytes_each);
            group.throughput(Throughput::Bytes((partitions as u64) * bytes_each as u64));
            let mut out = if splicing {
                Output::splicing()
            } else {
                Output::new()
            };
            group.bench_function(name, |b| {
                b.iter(|| {
                    out.clear();
                    encode_response(&mut out, 12, 1, &response).unwrap();
                    out.len()
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, encode);
criterion_main!(benches);
