"""confluent-kafka (Python over librdkafka) against a three-node StreamBus cluster: a topic
with replication factor 3 as every node reports it, the cluster description, an acks=all
round trip, preferred leader elections, and last a failover: SIGKILL the leader of a
partition, then produce and read through the survivors (whose preferred replica is then
not available for an election). Run by cluster_run.sh, which sets STREAMBUS_CLUSTER_NODES,
STREAMBUS_CLUSTER_PIDS and STREAMBUS_CLUSTER_KILLED. Every call has a deadline."""

import os
import signal
import time

import pytest
from confluent_kafka import (OFFSET_BEGINNING, Consumer, ElectionType, KafkaError, KafkaException,
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import value_of

PARTITIONS = 3
NODE_IDS = [1, 2, 3]
# How long the cluster may take to agree on something (a full ISR, a new leader).
AGREE = 30


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"set {name} (cluster_run.sh does)")
    return value


@pytest.fixture(scope="session")
def nodes():
    """{node id: its Kafka host:port}."""
    addresses = env("STREAMBUS_CLUSTER_NODES").split(",")
    assert len(addresses) == len(NODE_IDS), addresses
    return dict(zip(NODE_IDS, addresses))


@pytest.fixture(scope="session")
def pids():
    """{node id: its process id}."""
    return dict(zip(NODE_IDS, (int(p) for p in env("STREAMBUS_CLUSTER_PIDS").split(","))))


@pytest.fixture(scope="session")
def cluster_bootstrap(nodes):
    return ",".join(nodes.values())


def admin_of(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap, "allow.auto.create.topics": False})


def create(bootstrap, name, partitions=PARTITIONS, replication=3):
    admin = admin_of(bootstrap)
    [future] = admin.create_topics(
        [NewTopic(name, partitions, replication)], operation_timeout=10,
        request_timeout=15).values()
    future.result(timeout=20)


def view(address, topic):
    """What the node at `address` (alone as bootstrap) reports: ({broker id: host:port},
    {partition: (leader, replicas, sorted isr)}), or None if it does not know the topic."""
    metadata = admin_of(address).list_topics(topic, timeout=10)
    brokers = {b.id: f"{b.host}:{b.port}" for b in metadata.brokers.values()}
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        return brokers, None
    partitions = {p.id: (p.leader, list(p.replicas), sorted(p.isrs))
                  for p in found.partitions.values()}
    return brokers, partitions


def fully_replicated(nodes, partitions):
    return (partitions is not None and sorted(partitions) == list(range(PARTITIONS))
            and all(sorted(replicas) == NODE_IDS and isr == NODE_IDS and leader in NODE_IDS
                    for leader, replicas, isr in partitions.values()))


def wait_fully_replicated(nodes, topic):
    """Waits until every node reports all three brokers at their addresses and every
    partition of `topic` on 3 replicas, all in sync; returns each node's view."""
    views = {}
    deadline = time.monotonic() + AGREE
    for node, address in nodes.items():
        while True:
            try:
                views[node] = view(address, topic)
            except KafkaException as error:
                views[node] = error
            if (not isinstance(views[node], KafkaException) and views[node][0] == nodes
                    and fully_replicated(nodes, views[node][1])):
                break
            assert time.monotonic() < deadline, \
                f"node {node} never reported {topic} fully replicated: {views[node]}"
            time.sleep(0.2)
    return views


def produce(bootstrap, topic, count, partition_of, start=0, **config):
    """Produces records start..start+count-1 with acks=all, record i to partition_of(i);
    returns {(partition, offset): (key, value, headers)} from the delivery reports, all of
    which must be successful."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "message.timeout.ms": 20000, **config})
    acked, errors = {}, []

    def report(i, headers):
        def on_delivery(error, message):
            if error is not None:
                errors.append((i, error))
            else:
                acked[(message.partition(), message.offset())] = (
                    f"key-{i}".encode(), value_of(i), headers)
        return on_delivery

    for i in range(start, start + count):
        headers = [("index", str(i).encode()), ("bytes", bytes([i % 256, 0]))]
        producer.produce(topic, key=f"key-{i}".encode(), value=value_of(i), headers=headers,
                         partition=partition_of(i), on_delivery=report(i, headers))
        producer.poll(0)
    assert producer.flush(30) == 0, "messages still queued after 30 s"
    assert errors == []
    assert len(acked) == count
    return acked


def consume(bootstrap, topic, partitions, until):
    """Assigns `partitions` from the beginning and reads until until(records) holds (at
    most 30 s): the records by (partition, offset)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "compat-cluster-unused",
                         "enable.auto.commit": False, "enable.partition.eof": False})
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        records = {}
        deadline = time.monotonic() + 30
        while not until(records) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                raise KafkaException(message.error())
            key = (message.partition(), message.offset())
            assert key not in records, f"{key} read twice"
            records[key] = message
        return records
    finally:
        consumer.close()


def assert_record(record, expected):
    key, value, headers = expected
    assert record.key() == key
    assert record.value() == value
    assert record.headers() == headers


def test_every_node_reports_three_replicas_in_sync_and_spread_leaders(nodes, cluster_bootstrap,
                                                                     topic_name):
    create(cluster_bootstrap, topic_name)
    views = wait_fully_replicated(nodes, topic_name)
    # The nodes agree, and each leads exactly one of the three partitions.
    first = views[NODE_IDS[0]][1]
    for node, (brokers, partitions) in views.items():
        assert brokers == nodes
        assert {p: (leader, sorted(replicas), isr)
                for p, (leader, replicas, isr) in partitions.items()} == \
            {p: (leader, sorted(replicas), isr) for p, (leader, replicas, isr) in first.items()}, \
            f"node {node} disagrees with node {NODE_IDS[0]}"
    leaders = sorted(leader for leader, _, _ in first.values())
    assert leaders == NODE_IDS, f"partition leaders {first} are not one per node"


@pytest.mark.skipif(not hasattr(AdminClient, "describe_cluster"),
                    reason="this confluent-kafka has no AdminClient.describe_cluster")
def test_describe_cluster_lists_three_nodes_and_a_controller_among_them(nodes):
    for node, address in nodes.items():
        admin = admin_of(address)
        description = admin.describe_cluster(request_timeout=15).result(timeout=20)
        described = {n.id: f"{n.host}:{n.port}" for n in description.nodes}
        assert described == nodes, f"node {node} describes {described}"
        assert description.controller is not None, f"node {node} names no controller"
        assert description.controller.id in NODE_IDS, \
            f"node {node} names controller {description.controller}"
        assert description.cluster_id, f"node {node} gives no cluster id"


def test_acks_all_round_trip_across_partitions_byte_exact(nodes, cluster_bootstrap,
                                                          topic_name):
    create(cluster_bootstrap, topic_name)
    wait_fully_replicated(nodes, topic_name)
    acked = produce(nodes[1], topic_name, 300, lambda i: i % PARTITIONS)
    # Read back through another node as the only bootstrap.
    records = consume(nodes[2], topic_name, range(PARTITIONS),
                      lambda records: len(records) >= 300)
    assert sorted(records) == sorted(acked)
    for position, record in records.items():
        assert_record(record, acked[position])
    for partition in range(PARTITIONS):
        assert sorted(o for p, o in records if p == partition) == list(range(100))


def elect_preferred(bootstrap, partitions):
    """{(topic, partition): error code or None} of a preferred election."""
    # No request_timeout: this confluent-kafka's binding rejects any keyword argument to
    # elect_leaders (SystemError), so the future's own deadline bounds the call.
    # The client must outlive the future, or the answer never comes.
    admin = admin_of(bootstrap)
    results = admin.elect_leaders(ElectionType.PREFERRED, partitions).result(timeout=20)
    return {(tp.topic, tp.partition): None if error is None else kafka_error(error).code()
            for tp, error in results.items()}


def kafka_error(error):
    """The KafkaError of a per-partition result (this client gives it bare, its docs say
    wrapped in a KafkaException)."""
    return error.args[0] if isinstance(error, KafkaException) else error


def test_preferred_election_is_not_needed_while_the_first_replicas_lead(nodes,
                                                                         cluster_bootstrap,
                                                                         topic_name):
    create(cluster_bootstrap, topic_name)
    wait_fully_replicated(nodes, topic_name)
    partitions = [TopicPartition(topic_name, p) for p in range(PARTITIONS)]
    assert elect_preferred(cluster_bootstrap, partitions) == {
        (topic_name, p): KafkaError.ELECTION_NOT_NEEDED for p in range(PARTITIONS)}
    # Over the whole cluster, partitions that need nothing are left out of the answer.
    everywhere = elect_preferred(cluster_bootstrap, None)
    assert not [tp for tp in everywhere if tp[0] == topic_name], everywhere
    assert elect_preferred(cluster_bootstrap, [TopicPartition("no-such-topic", 0)]) == {
        ("no-such-topic", 0): KafkaError.UNKNOWN_TOPIC_OR_PART}


# Last: it kills a node for good.
def test_sigkill_of_a_leader_keeps_every_acknowledged_record(nodes, pids, cluster_bootstrap,
                                                             topic_name):
    create(cluster_bootstrap, topic_name)
    views = wait_fully_replicated(nodes, topic_name)
    before = produce(cluster_bootstrap, topic_name, 50, lambda i: 0)

    old_leader = views[NODE_IDS[0]][1][0][0]
    survivors = {n: a for n, a in nodes.items() if n != old_leader}
    os.kill(pids[old_leader], signal.SIGKILL)
    with open(env("STREAMBUS_CLUSTER_KILLED"), "a") as killed:
        killed.write(f"{old_leader}\n")

    # A survivor names another live node the leader of partition 0.
    some_survivor = next(iter(survivors.values()))
    deadline = time.monotonic() + AGREE
    last = None
    while True:
        try:
            last = view(some_survivor, topic_name)[1]
            leader = last[0][0] if last and 0 in last else -1
        except KafkaException as error:
            last, leader = error, -1
        if leader in survivors:
            break
        assert time.monotonic() < deadline, \
            f"no live leader of partition 0 within {AGREE} s of killing node {old_leader}: {last}"
        time.sleep(0.2)

    bootstrap = ",".join(survivors.values())
    after = produce(bootstrap, topic_name, 100, lambda i: 0, start=50)
    acked = {**before, **after}
    assert len(acked) == 150
    last_offset = max(o for _, o in acked)
    records = consume(bootstrap, topic_name, [0],
                      lambda records: any(o >= last_offset for _, o in records))
    missing = sorted(position for position in acked if position not in records)
    assert missing == [], f"acknowledged records missing after the failover: {missing}"
    for position, expected in acked.items():
        assert_record(records[position], expected)
    # The killed leader was partition 0's preferred replica: it cannot take the lead back.
    assert elect_preferred(bootstrap, [TopicPartition(topic_name, 0)]) == {
        (topic_name, 0): KafkaError.PREFERRED_LEADER_NOT_AVAILABLE}
