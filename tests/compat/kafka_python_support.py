"""Helpers the kafka-python tests share."""

import time

from kafka import KafkaConsumer
from kafka.admin import NewTopic


def create_topic(admin, bootstrap, name, partitions):
    """Creates a topic and waits until the client's metadata shows its partitions."""
    response = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1)], timeout_ms=10000)
    assert [(t[0], t[1]) for t in response.topic_errors] == [(name, 0)], response
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        deadline = time.monotonic() + 10
        while consumer.partitions_for_topic(name) != set(range(partitions)):
            assert time.monotonic() < deadline, f"{name} never showed {partitions} partitions"
            time.sleep(0.1)
    finally:
        consumer.close()
