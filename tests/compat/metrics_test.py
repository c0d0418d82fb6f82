"""GET /metrics parses with the Prometheus project's own OpenMetrics parser, and its
counters move when a client produces and fetches."""

import os
import urllib.request

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client.openmetrics.parser import text_string_to_metric_families


@pytest.fixture(scope="module")
def http_address():
    address = os.environ.get("STREAMBUS_HTTP")
    if not address:
        pytest.fail("set STREAMBUS_HTTP to the broker's HTTP host:port (run.sh does)")
    return address


def scrape(http_address):
    """Every sample as {(name, frozenset(labels)): value}, parsed by prometheus_client."""
    with urllib.request.urlopen(f"http://{http_address}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def test_metrics_parse_and_counters_move(bootstrap, http_address, topic_name):
    records_in = ("streambus_topic_records_in_total", frozenset({("topic", topic_name)}))
    bytes_out = ("streambus_topic_bytes_out_total", frozenset({("topic", topic_name)}))
    before = scrape(http_address)
    assert records_in not in before
    assert before[("process_resident_memory_bytes", frozenset())] > 0

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(25):
        producer.produce(topic_name, value=b"m" * 50, key=str(i).encode(), partition=0)
    assert producer.flush(15) == 0
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"{topic_name}-g", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic_name, 0, 0)])
    got = 0
    for _ in range(100):
        message = consumer.poll(0.2)
        if message is not None and message.error() is None:
            got += 1
        if got == 25:
            break
    consumer.close()
    assert got == 25

    after = scrape(http_address)
    assert after[records_in] == 25
    assert after[bytes_out] > 25 * 50
    produce_requests = ("streambus_requests_total", frozenset({("api", "Produce")}))
    assert after[produce_requests] >= before.get(produce_requests, 0) + 1
