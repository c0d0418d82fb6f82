//! Reading partitions assigned by hand: records from librdkafka byte for byte, seeks,
//! OFFSET_OUT_OF_RANGE resets, pause and resume.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use streambus_client::consumer::{Consumer, OffsetReset, Seek};
use streambus_client::{Error, ErrorCode};
use streambus_testkit::TestBroker;

use crate::support::*;

/// A mix of what records carry: null keys and values, empty values, headers with null
/// values, compressible and incompressible bytes, timestamps out of order.
fn sample(codec: &str, count: usize) -> Vec<TestRecord> {
    (0..count)
        .map(|i| {
            let mut state = i as u64 * 0x9e37_79b9 + 7;
            let noise: Vec<u8> = (0..(50 + i * 7 % 250))
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            TestRecord {
                key: (i % 5 != 0).then(|| format!("key-{}", i % 9).into_bytes()),
                value: match i % 7 {
                    3 => None,
                    4 => Some(Vec::new()),
                    n if n % 2 == 0 => Some(format!("{codec} value {i} ").repeat(8).into_bytes()),
                    _ => Some(noise),
                },
                headers: match i % 3 {
                    0 => Vec::new(),
                    1 => vec![("trace".into(), Some(vec![i as u8, 0, 255]))],
                    _ => vec![("a".into(), None), ("b".into(), Some(Vec::new()))],
                },
                timestamp: 1_650_000_000_000 + (i as i64 * 37) % 1_000,
            }
        })
        .collect()
}

#[test]
fn records_from_librdkafka_come_back_byte_exact_under_every_codec() {
    let broker = TestBroker::start();
    block_on(async {
        let codecs = ["none", "gzip", "snappy", "lz4", "zstd"];
        create_topic(&broker, "codecs", codecs.len() as i32).await;
        let mut expected: BTreeMap<(i32, i64), TestRecord> = BTreeMap::new();
        for (partition, codec) in codecs.iter().enumerate() {
            // Small batches, so that each partition holds several.
            let producer = producer(
                &broker,
                &[("compression.codec", codec), ("batch.num.messages", "7")],
            );
            let records = sample(codec, 60);
            let offsets = produce(&producer, "codecs", partition as i32, &records).await;
            for (offset, record) in offsets.into_iter().zip(records) {
                expected.insert((partition as i32, offset), record);
            }
        }

        let mut config = config(&broker, None);
        // Small fetches: most responses end in a partial batch, and batches start before
        // the fetch offset.
        config.max_partition_fetch_bytes = 3_000;
        let mut consumer = consumer(config).await;
        let all: Vec<(String, i32)> = (0..codecs.len() as i32)
            .map(|p| ("codecs".to_owned(), p))
            .collect();
        consumer.assign(&all).await.unwrap();
        let got = poll_until(&mut consumer, "every record", |_, got| {
            got.len() >= expected.len()
        })
        .await;
        assert_eq!(got.len(), expected.len(), "no record twice");
        let mut last: BTreeMap<i32, i64> = BTreeMap::new();
        for record in &got {
            assert_eq!(record.topic, "codecs");
            let want = &expected[&(record.partition, record.offset)];
            assert!(
                want.matches(record),
                "{} at {}-{}: want {want:?}, got {record:?}",
                codecs[record.partition as usize],
                record.partition,
                record.offset
            );
            let previous = last.insert(record.partition, record.offset);
            assert!(previous < Some(record.offset), "offsets in order");
        }
        for p in 0..codecs.len() as i32 {
            assert_eq!(consumer.position("codecs", p), Some(60));
        }
        consumer.close().await.unwrap();
    });
}

/// The offset of the first record `consumer` returns.
async fn first(consumer: &mut Consumer, what: &str) -> i64 {
    let got = poll_until(consumer, what, |_, got| !got.is_empty()).await;
    got[0].offset
}

#[test]
fn seeks_to_the_beginning_the_end_an_offset_and_a_timestamp() {
    let broker = TestBroker::start();
    block_on(async {
        create_topic(&broker, "seeks", 1).await;
        let producer = producer(&broker, &[]);
        let base = 1_700_000_000_000;
        let records: Vec<TestRecord> = (0..10)
            .map(|i| TestRecord::value(&format!("r{i}"), base + i * 1_000))
            .collect();
        produce(&producer, "seeks", 0, &records).await;

        let mut config = config(&broker, None);
        config.auto_offset_reset = OffsetReset::Latest;
        let mut consumer = consumer(config).await;
        let tp = [("seeks".to_owned(), 0)];
        consumer.assign(&tp).await.unwrap();
        assert_eq!(consumer.position("seeks", 0), Some(10), "latest");

        consumer.seek("seeks", 0, Seek::Beginning).await.unwrap();
        assert_eq!(consumer.position("seeks", 0), Some(0));
        assert_eq!(first(&mut consumer, "the beginning").await, 0);
        consumer.seek("seeks", 0, Seek::Offset(5)).await.unwrap();
        assert_eq!(first(&mut consumer, "offset 5").await, 5);
        consumer
            .seek("seeks", 0, Seek::Timestamp(base + 7_000))
            .await
            .unwrap();
        assert_eq!(first(&mut consumer, "the record at a timestamp").await, 7);
        consumer
            .seek("seeks", 0, Seek::Timestamp(base + 6_500))
            .await
            .unwrap();
        assert_eq!(
            first(&mut consumer, "the record after a timestamp").await,
            7
        );
        consumer
            .seek("seeks", 0, Seek::Timestamp(base + 60_000))
            .await
            .unwrap();
        assert_eq!(
            consumer.position("seeks", 0),
            Some(10),
            "past the last: the end"
        );

        consumer.seek("seeks", 0, Seek::Beginning).await.unwrap();
        consumer.seek("seeks", 0, Seek::End).await.unwrap();
        assert_eq!(consumer.position("seeks", 0), Some(10));
        assert!(
            consumer
                .poll(Duration::from_millis(300))
                .await
                .unwrap()
                .is_empty()
        );
        produce(
            &producer,
            "seeks",
            0,
            &[TestRecord::value("new", base + 10_000)],
        )
        .await;
        let got = poll_until(&mut consumer, "the new record", |_, got| !got.is_empty()).await;
        assert_eq!(got[0].offset, 10);
        assert_eq!(got[0].value.as_deref(), Some(&b"new"[..]));
        assert_eq!(consumer.position("seeks", 0), Some(11));

        let unassigned = consumer
            .seek("seeks", 1, Seek::Beginning)
            .await
            .unwrap_err();
        assert!(
            unassigned.to_string().contains("not assigned"),
            "{unassigned}"
        );
        consumer.close().await.unwrap();
    });
}

#[test]
fn an_offset_out_of_range_resets_as_configured_or_fails() {
    let broker = TestBroker::start();
    block_on(async {
        create_topic(&broker, "range", 1).await;
        produce_round(&broker, "range", 1, 5).await;
        let tp = [("range".to_owned(), 0)];

        let mut earliest = consumer(config(&broker, None)).await;
        earliest.assign(&tp).await.unwrap();
        earliest.seek("range", 0, Seek::Offset(100)).await.unwrap();
        let got = poll_until(&mut earliest, "the reset to earliest", |_, got| {
            !got.is_empty()
        })
        .await;
        assert_eq!(got[0].offset, 0);

        let mut config_latest = config(&broker, None);
        config_latest.auto_offset_reset = OffsetReset::Latest;
        let mut latest = consumer(config_latest).await;
        latest.assign(&tp).await.unwrap();
        latest.seek("range", 0, Seek::Offset(100)).await.unwrap();
        poll_until(&mut latest, "the reset to latest", |c, _| {
            c.position("range", 0) == Some(5)
        })
        .await;

        let mut config_none = config(&broker, None);
        config_none.auto_offset_reset = OffsetReset::None;
        let mut none = consumer(config_none).await;
        none.assign(&tp).await.unwrap();
        let error = none.poll(Duration::from_millis(200)).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("no committed offset for range-0"),
            "{error}"
        );
        none.seek("range", 0, Seek::Offset(100)).await.unwrap();
        let deadline = std::time::Instant::now() + DEADLINE;
        let error = loop {
            match none.poll(Duration::from_millis(100)).await {
                Err(e) => break e,
                Ok(got) => assert!(got.is_empty()),
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no out-of-range error"
            );
        };
        assert_eq!(error.code(), Some(ErrorCode::OffsetOutOfRange), "{error}");
        assert!(
            error.to_string().contains("range-0 at offset 100"),
            "{error}"
        );
        assert_eq!(none.position("range", 0), Some(100), "no reset");
        none.seek("range", 0, Seek::Offset(3)).await.unwrap();
        let got = poll_until(&mut none, "records after the seek", |_, got| got.len() >= 2).await;
        assert_eq!(got[0].offset, 3);
    });
}

#[test]
fn a_paused_partition_is_not_fetched_until_resumed() {
    let broker = TestBroker::start();
    block_on(async {
        create_topic(&broker, "pause", 2).await;
        produce_round(&broker, "pause", 2, 5).await;
        let mut consumer = consumer(config(&broker, None)).await;
        let both = [("pause".to_owned(), 0), ("pause".to_owned(), 1)];
        consumer.assign(&both).await.unwrap();
        consumer.pause(&both[..1]);
        let got = poll_until(&mut consumer, "partition 1", |_, got| got.len() >= 5).await;
        assert!(got.iter().all(|r| r.partition == 1), "{got:?}");
        for _ in 0..3 {
            assert!(
                consumer
                    .poll(Duration::from_millis(100))
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
        assert_eq!(consumer.position("pause", 0), Some(0));

        consumer.resume(&both[..1]);
        let got = poll_until(&mut consumer, "partition 0", |_, got| got.len() >= 5).await;
        assert!(got.iter().all(|r| r.partition == 0));
        assert_eq!(
            got.iter().map(|r| r.offset).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        assert_eq!(consumer.assignment(), both);
    });
}

#[test]
fn the_stream_yields_records_and_keeps_those_it_did_not_hand_out() {
    let broker = TestBroker::start();
    block_on(async {
        create_topic(&broker, "stream", 1).await;
        produce_round(&broker, "stream", 1, 10).await;
        let mut consumer = consumer(config(&broker, None)).await;
        consumer.assign(&[("stream".to_owned(), 0)]).await.unwrap();
        {
            let stream = consumer.stream();
            futures_util::pin_mut!(stream);
            for expected in 0..3 {
                let next = tokio::time::timeout(DEADLINE, stream.next()).await.unwrap();
                assert_eq!(next.unwrap().unwrap().offset, expected);
            }
        }
        assert_eq!(
            consumer.position("stream", 0),
            Some(3),
            "the rest is still to come"
        );
        let got = poll_until(&mut consumer, "the rest", |_, got| got.len() >= 7).await;
        let offsets: Vec<i64> = got.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, (3..10).collect::<Vec<_>>());

        // Without a group there is nothing to subscribe or commit with.
        let error = consumer
            .subscribe(&["stream".to_owned()])
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Invalid(_)), "{error}");
        let error = consumer.commit().await.unwrap_err();
        assert!(error.to_string().contains("needs a group_id"), "{error}");
        consumer.close().await.unwrap();
    });
}
