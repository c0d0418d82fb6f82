"""confluent-kafka (Python over librdkafka) against StreamBus: admin create, describe configs
and delete; every compression codec; assign from the beginning; the idempotent producer.
Every call has a deadline."""

import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from conftest import value_of

PARTITIONS = 3


@pytest.fixture
def admin(bootstrap):
    # The admin client is a producer handle to librdkafka, whose metadata requests would
    # otherwise re-create a deleted topic on a broker with --auto-create-topics.
    return AdminClient({"bootstrap.servers": bootstrap, "allow.auto.create.topics": False})


def partitions_of(admin, name):
    topic = admin.list_topics(name, timeout=10).topics.get(name)
    if topic is None or topic.error is not None:
        return None
    return sorted(topic.partitions)


def create(admin, name, partitions=PARTITIONS):
    """Creates a topic and waits until the metadata shows its partitions."""
    [future] = admin.create_topics([NewTopic(name, partitions, 1)],
                                   operation_timeout=10, request_timeout=15).values()
    future.result(timeout=20)
    deadline = time.monotonic() + 10
    while partitions_of(admin, name) != list(range(partitions)):
        assert time.monotonic() < deadline, f"{name} never showed {partitions} partitions"
        time.sleep(0.1)


def produce(bootstrap, topic, count, **config):
    """Produces `count` keyed records with headers round-robin over the partitions; returns
    {(partition, offset): (key, value, headers)} from the delivery reports."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "message.timeout.ms": 20000, **config})
    acked, errors = {}, []

    def report(i, headers):
        def on_delivery(error, message):
            if error is not None:
                errors.append(error)
            else:
                acked[(message.partition(), message.offset())] = (
                    f"key-{i}".encode(), value_of(i), headers)
        return on_delivery

    for i in range(count):
        headers = [("index", str(i).encode()), ("bytes", bytes([i % 256, 0]))]
        producer.produce(topic, key=f"key-{i}".encode(), value=value_of(i), headers=headers,
                         partition=i % PARTITIONS, on_delivery=report(i, headers))
        producer.poll(0)
    assert producer.flush(30) == 0, "messages still queued after 30 s"
    assert errors == []
    assert len(acked) == count
    return acked


def consume_all(bootstrap, topic, count, partitions=PARTITIONS):
    """Assigns every partition from the beginning and reads `count` records."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "compat-unused",
                         "enable.auto.commit": False, "enable.partition.eof": False})
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        records = []
        deadline = time.monotonic() + 30
        while len(records) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                raise KafkaException(message.error())
            records.append(message)
        return records
    finally:
        consumer.close()


def assert_exact(records, acked):
    assert len(records) == len(acked)
    for record in records:
        key, value, headers = acked[(record.partition(), record.offset())]
        assert record.key() == key
        assert record.value() == value
        assert record.headers() == headers


def test_admin_creates_and_deletes_topics(admin, topic_name):
    names = [f"{topic_name}-a", f"{topic_name}-b"]
    futures = admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names],
                                  operation_timeout=10, request_timeout=15)
    for future in futures.values():
        future.result(timeout=20)
    for name in names:
        assert partitions_of(admin, name) == list(range(PARTITIONS))
    # Creating it again is an error the client understands.
    [again] = admin.create_topics([NewTopic(names[0], 1, 1)], request_timeout=15).values()
    with pytest.raises(KafkaException) as error:
        again.result(timeout=20)
    assert error.value.args[0].name() == "TOPIC_ALREADY_EXISTS"

    for future in admin.delete_topics(names, operation_timeout=10,
                                      request_timeout=15).values():
        future.result(timeout=20)
    deadline = time.monotonic() + 10
    while any(partitions_of(admin, n) is not None for n in names):
        assert time.monotonic() < deadline, "deleted topics still in the metadata"
        time.sleep(0.1)


def test_admin_describes_topic_configs(admin, topic_name):
    create(admin, topic_name)
    resource = ConfigResource(ResourceType.TOPIC, topic_name)
    [future] = admin.describe_configs([resource], request_timeout=15).values()
    configs = future.result(timeout=20)
    for name in ("cleanup.policy", "retention.ms", "segment.bytes", "compression.type"):
        assert name in configs, f"{name} missing from {sorted(configs)}"
    assert configs["cleanup.policy"].value == "delete"


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_each_compression_codec_round_trips_byte_exact(admin, bootstrap, topic_name, codec):
    create(admin, topic_name)
    acked = produce(bootstrap, topic_name, 300, **{"compression.type": codec})
    assert_exact(consume_all(bootstrap, topic_name, 300), acked)


def test_assign_from_the_beginning_reads_every_partition_in_offset_order(admin, bootstrap,
                                                                         topic_name):
    create(admin, topic_name)
    acked = produce(bootstrap, topic_name, 90)
    records = consume_all(bootstrap, topic_name, 90)
    for partition in range(PARTITIONS):
        offsets = [r.offset() for r in records if r.partition() == partition]
        assert offsets == list(range(30))
    assert_exact(records, acked)


def test_idempotent_producer_writes_each_record_once(admin, bootstrap, topic_name):
    create(admin, topic_name)
    acked = produce(bootstrap, topic_name, 600, **{"enable.idempotence": True,
                                                    "max.in.flight.requests.per.connection": 5})
    records = consume_all(bootstrap, topic_name, 600)
    assert_exact(records, acked)
    for partition in range(PARTITIONS):
        offsets = [r.offset() for r in records if r.partition() == partition]
        assert offsets == list(range(200))
