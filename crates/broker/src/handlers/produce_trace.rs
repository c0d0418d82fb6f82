//! W3C trace context for Produce: a request continues the trace of the producer that sent it.
//!
//! When spans are exported (`BrokerConfig::trace_context`), the `traceparent` (and
//! `tracestate`) header of the first record of the first batch of the request becomes the
//! remote parent of the request's span, so that the broker's `Produce` span shows up in the
//! producer's trace. Only that one batch is looked at, the batch whose records are the first
//! a client's instrumentation would have stamped; the other batches and partitions of the
//! request may belong to other traces and are not linked.
//!
//! Limits, kept so that the produce path never pays for more than one small decode:
//! - a compressed first batch is skipped (decompressing it only to read one header would
//!   cost more than the append);
//! - the records of that batch are decoded (zero-copy) with the bounds-checked record
//!   decoder of `streambus_storage::records` before the batch is validated, so a malformed
//!   batch or header is simply no parent: it is refused later by validation, as without
//!   tracing. That decodes every record of the batch, not only the first: the decoder has no
//!   first-record entry point yet;
//! - a missing, malformed or non-UTF-8 `traceparent` is ignored, never an error to the
//!   client; one whose sampled flag is 0 leaves the span unsampled, as the producer asked.
//!
//! The propagator is the process-wide one (`opentelemetry::global`), which the binary sets
//! to W3C trace context when it exports spans; the broker itself depends on the
//! OpenTelemetry API only, never on an exporter.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use streambus_protocol::messages::produce_request::ProduceRequest;
use streambus_storage::batch::{BatchHeader, Compression};
use streambus_storage::records::{RecordHeader, decode_records_bytes};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Makes the producer's trace, if its first record carries one, the parent of `span`.
/// Called before the span is first entered, while its parent can still be set.
pub(crate) fn continue_trace(span: &tracing::Span, request: &ProduceRequest) {
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        parent_context(request, propagator)
    });
    if let Some(parent) = parent {
        // Fails only when the span is disabled or no OpenTelemetry layer is installed:
        // then there is nothing to link.
        let _ = span.set_parent(parent);
    }
}

/// The remote span context in the `traceparent` header of the first record of the first
/// batch, if there is a valid one.
fn parent_context(request: &ProduceRequest, propagator: &dyn TextMapPropagator) -> Option<Context> {
    let batch = request
        .topic_data
        .first()?
        .partition_data
        .first()?
        .records
        .as_ref()?;
    let header = BatchHeader::parse(batch).ok()?;
    if header.compression().ok()? != Compression::None {
        return None;
    }
    // Uncompressed: the limit on inflated bytes does not apply, and keys, values and
    // headers are slices of the request's own buffer.
    let records = decode_records_bytes(batch, 0).ok()?;
    let first = records.first()?;
    let context = propagator.extract(&Headers(&first.headers));
    context.span().span_context().is_valid().then_some(context)
}

/// A record's headers as an OpenTelemetry carrier. Keys match without regard to ASCII
/// case, as HTTP header names do for the same W3C fields; values that are null or not
/// UTF-8 are absent.
struct Headers<'a>(&'a [RecordHeader]);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|header| header.key.eq_ignore_ascii_case(key.as_bytes()))
            .and_then(|header| header.value.as_deref())
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter_map(|header| std::str::from_utf8(&header.key).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;
    use opentelemetry::trace::{SpanId, TraceId};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use streambus_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use streambus_storage::records::BatchBuilder;

    use super::*;

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN_ID: &str = "00f067aa0ba902b7";

    /// A record's headers.
    fn record(headers: &[(&str, &[u8])]) -> Vec<RecordHeader> {
        headers
            .iter()
            .map(|(key, value)| RecordHeader {
                key: Bytes::copy_from_slice(key.as_bytes()),
                value: Some(Bytes::copy_from_slice(value)),
            })
            .collect()
    }

    fn request(batches: Vec<Option<Bytes>>) -> ProduceRequest {
        ProduceRequest {
            topic_data: vec![TopicProduceData {
                name: "t".into(),
                partition_data: batches
                    .into_iter()
                    .enumerate()
                    .map(|(index, records)| PartitionProduceData {
                        index: index as i32,
                        records,
                    })
                    .collect(),
            }],
            ..Default::default()
        }
    }

    fn batch(compression: Compression, records: Vec<Vec<RecordHeader>>) -> Option<Bytes> {
        let mut builder = BatchBuilder::new().compression(compression);
        for headers in records {
            builder.push_kv(0, None, Some(Bytes::from_static(b"v")), headers);
        }
        Some(builder.build().unwrap().freeze())
    }

    fn traceparent(flags: &str) -> String {
        format!("00-{TRACE_ID}-{SPAN_ID}-{flags}")
    }

    fn parent(request: &ProduceRequest) -> Option<(TraceId, SpanId, bool)> {
        let context = parent_context(request, &TraceContextPropagator::new())?;
        let span = context.span();
        let span = span.span_context();
        Some((span.trace_id(), span.span_id(), span.is_remote()))
    }

    #[test]
    fn the_first_records_traceparent_is_the_remote_parent() {
        let header = traceparent("01");
        let request = request(vec![
            batch(
                Compression::None,
                vec![
                    record(&[("other", b"x"), ("TraceParent", header.as_bytes())]),
                    record(&[]),
                ],
            ),
            batch(Compression::None, vec![record(&[])]),
        ]);
        assert_eq!(
            parent(&request),
            Some((
                TraceId::from_hex(TRACE_ID).unwrap(),
                SpanId::from_hex(SPAN_ID).unwrap(),
                true
            ))
        );
    }

    #[test]
    fn only_the_first_record_of_the_first_batch_counts() {
        let header = traceparent("01");
        let later_record = request(vec![batch(
            Compression::None,
            vec![record(&[]), record(&[("traceparent", header.as_bytes())])],
        )]);
        assert_eq!(parent(&later_record), None);
        let later_batch = request(vec![
            batch(Compression::None, vec![record(&[])]),
            batch(
                Compression::None,
                vec![record(&[("traceparent", header.as_bytes())])],
            ),
        ]);
        assert_eq!(parent(&later_batch), None);
    }

    #[test]
    fn malformed_compressed_or_missing_context_is_no_parent() {
        let header = traceparent("01");
        let cases: [(&str, Option<Bytes>); 6] = [
            (
                "not hex",
                batch(
                    Compression::None,
                    vec![record(&[("traceparent", b"00-zz-yy-01")])],
                ),
            ),
            (
                "all-zero trace id",
                batch(
                    Compression::None,
                    vec![record(&[(
                        "traceparent",
                        format!("00-{}-{SPAN_ID}-01", "0".repeat(32)).as_bytes(),
                    )])],
                ),
            ),
            (
                "not UTF-8",
                batch(
                    Compression::None,
                    vec![record(&[("traceparent", &[0xff, 0xfe])])],
                ),
            ),
            (
                "compressed",
                batch(
                    Compression::Gzip,
                    vec![record(&[("traceparent", header.as_bytes())])],
                ),
            ),
            ("truncated batch", Some(Bytes::from_static(&[0; 30]))),
            ("null records", None),
        ];
        for (case, records) in cases {
            assert_eq!(parent(&request(vec![records])), None, "{case}");
        }
        assert_eq!(parent(&request(Vec::new())), None, "no partitions");
    }

    #[test]
    fn an_unsampled_traceparent_is_kept_unsampled() {
        let header = traceparent("00");
        let request = request(vec![batch(
            Compression::None,
            vec![record(&[("traceparent", header.as_bytes())])],
        )]);
        let context = parent_context(&request, &TraceContextPropagator::new()).unwrap();
        assert!(!context.span().span_context().is_sampled());
    }
}
