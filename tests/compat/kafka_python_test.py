"""kafka-python (the pure-Python client) against StreamBus: admin, keyed gzip produce with
headers, assign and seek to the beginning, offsets for times. Every call has a deadline."""

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from conftest import value_of
from kafka_python_support import create_topic

PARTITIONS = 3
COUNT = 1000


@pytest.fixture
def admin(bootstrap):
    client = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    yield client
    client.close()


def create(admin, bootstrap, name, partitions=PARTITIONS):
    """Creates a topic and waits until the client's metadata shows its partitions."""
    create_topic(admin, bootstrap, name, partitions)


def consume_all(bootstrap, partitions, expected, timeout=30):
    """Assigns `partitions`, seeks to the beginning and reads `expected` records."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, request_timeout_ms=15000)
    try:
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        records = []
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def test_admin_creates_a_topic_with_partitions(admin, bootstrap, topic_name):
    create(admin, bootstrap, topic_name)


def test_admin_lists_and_describes_topics(admin, bootstrap, topic_name):
    # KafkaAdminClient asks Metadata v8+ for the authorized operations; the broker must
    # answer with real operation bits, not the "not requested" sentinel (bit 31).
    create(admin, bootstrap, topic_name)
    assert topic_name in admin.list_topics()
    [described] = admin.describe_topics([topic_name])
    assert described["error_code"] == 0
    assert sorted(p["partition"] for p in described["partitions"]) == list(range(PARTITIONS))
    assert "DESCRIBE" in described["authorized_operations"]


def test_keyed_gzip_messages_with_headers_round_trip(admin, bootstrap, topic_name):
    create(admin, bootstrap, topic_name)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type="gzip",
                             linger_ms=5, request_timeout_ms=15000)
    futures = []
    for i in range(COUNT):
        headers = [("index", str(i).encode()), ("binary", bytes([i % 256, 0, 255]))]
        if i % 7 == 0:
            headers.append(("empty", b""))
        futures.append((i, headers, producer.send(
            topic_name, key=f"key-{i % 50}".encode(), value=value_of(i), headers=headers,
            partition=i % PARTITIONS)))
    producer.flush(timeout=30)
    sent = {}
    for i, headers, future in futures:
        metadata = future.get(timeout=30)
        assert metadata.partition == i % PARTITIONS
        sent[(metadata.partition, metadata.offset)] = (f"key-{i % 50}".encode(), value_of(i),
                                                       headers)
    producer.close(timeout=10)
    for partition in range(PARTITIONS):
        offsets = sorted(o for p, o in sent if p == partition)
        assert offsets == list(range(len(offsets))), f"partition {partition}: {offsets[:10]}"

    records = consume_all(bootstrap,
                          [TopicPartition(topic_name, p) for p in range(PARTITIONS)], COUNT)
    assert len(records) == COUNT
    for record in records:
        key, value, headers = sent[(record.partition, record.offset)]
        assert record.key == key
        assert record.value == value
        assert list(record.headers) == headers


def test_offsets_for_times_finds_the_first_offset_at_or_after_a_time(admin, bootstrap,
                                                                      topic_name):
    create(admin, bootstrap, topic_name, partitions=1)
    base = int(time.time() * 1000) - 100_000
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=15000)
    for i in range(10):
        producer.send(topic_name, value=value_of(i), partition=0,
                      timestamp_ms=base + i * 1000).get(timeout=30)
    producer.close(timeout=10)

    tp = TopicPartition(topic_name, 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             request_timeout_ms=15000)
    try:
        found = consumer.offsets_for_times({tp: base + 5500})[tp]
        assert (found.offset, found.timestamp) == (6, base + 6000)
        found = consumer.offsets_for_times({tp: base})[tp]
        assert (found.offset, found.timestamp) == (0, base)
        assert consumer.offsets_for_times({tp: base + 60_000})[tp] is None
        assert consumer.beginning_offsets([tp]) == {tp: 0}
        assert consumer.end_offsets([tp]) == {tp: 10}
    finally:
        consumer.close()
