//! A first end-to-end check with librdkafka: metadata, produce and consume.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use streambus_testkit::TestBroker;

#[test]
fn librdkafka_produces_and_consumes() {
    let broker = TestBroker::start_with(|c| c.auto_create_topics = true);
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("acks", "all")
        .create()
        .unwrap();
    for i in 0..10 {
        let key = format!("k{i}");
        let value = format!("v{i}");
        producer
            .send(BaseRecord::to("smoke").key(&key).payload(&value))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "unused")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment
        .add_partition_offset("smoke", 0, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while got.len() < 10 && std::time::Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.unwrap();
            got.push((
                message.offset(),
                String::from_utf8(message.key().unwrap().to_vec()).unwrap(),
                String::from_utf8(message.payload().unwrap().to_vec()).unwrap(),
            ));
        }
    }
    assert_eq!(got.len(), 10);
    for (i, (offset, key, value)) in got.iter().enumerate() {
        assert_eq!(*offset, i as i64);
        assert_eq!(key, &format!("k{i}"));
        assert_eq!(value, &format!("v{i}"));
    }
}
