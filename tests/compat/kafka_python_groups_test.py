"""kafka-python consumer groups against StreamBus: subscribe with synchronous commits, the
partitions spread over the members as they join and leave, the choice of an assignor every
member supports, committed offsets seen by a new member, and KafkaAdminClient's view of the
group.

A kafka-python consumer takes part in a rebalance only inside poll(), so one thread drives every
member by polling each in turn. Every loop is bounded by a deadline."""

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.errors import InconsistentGroupProtocolError
from kafka.structs import OffsetAndMetadata

from conftest import value_of
from kafka_python_support import create_topic

PARTITIONS = 6
PHASE_SECONDS = 30  # for any one wait: a join, a rebalance, reading what was produced


@pytest.fixture
def admin(bootstrap):
    client = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    yield client
    client.close()


@pytest.fixture
def group_name(topic_name):
    return f"{topic_name}-group"


@pytest.fixture
def members(bootstrap):
    """Opens subscribed group members; closes whichever the test left open."""
    opened = []

    def open_member(group, topic, client_id, **config):
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, client_id=client_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=6000, heartbeat_interval_ms=200, max_poll_interval_ms=30000,
            request_timeout_ms=15000, **config)
        consumer.subscribe([topic])
        opened.append(consumer)
        return consumer

    yield open_member
    for consumer in opened:
        consumer.close(timeout_ms=5000)


def create(admin, bootstrap, name, partitions=PARTITIONS):
    """Creates a topic and waits until the client's metadata shows its partitions."""
    create_topic(admin, bootstrap, name, partitions)


def produce(bootstrap, topic, counts, first=0):
    """Sends counts[p] records to each partition p, record i valued value_of(i) from `first`
    on; returns {(partition, offset): value} from the acknowledgements."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                             request_timeout_ms=15000)
    try:
        futures = []
        i = first
        for partition, count in sorted(counts.items()):
            for _ in range(count):
                futures.append((value_of(i), producer.send(topic, value=value_of(i),
                                                           partition=partition)))
                i += 1
        producer.flush(timeout=30)
        sent = {}
        for value, future in futures:
            metadata = future.get(timeout=30)
            sent[(metadata.partition, metadata.offset)] = value
        assert len(sent) == len(futures)
        return sent
    finally:
        producer.close(timeout=10)


def poll_round(consumers, received):
    """Polls each consumer once, appends what it returned to `received` as
    (consumer index, partition, offset, value), and commits synchronously after every poll
    that returned records."""
    for index, consumer in enumerate(consumers):
        batches = consumer.poll(timeout_ms=100)
        for records in batches.values():
            received.extend((index, r.partition, r.offset, r.value) for r in records)
        if batches:
            consumer.commit(timeout_ms=10000)


def settle(consumers, topic, sizes, received):
    """Polls every consumer until their assignments are disjoint, cover the topic and have
    `sizes` partitions each (in any order); returns the assignments as sets of partitions."""
    deadline = time.monotonic() + PHASE_SECONDS
    while True:
        assignments = [{tp.partition for tp in c.assignment() if tp.topic == topic}
                       for c in consumers]
        covered = set().union(*assignments)
        if (sorted(len(a) for a in assignments) == sorted(sizes)
                and covered == set(range(PARTITIONS))
                and sum(len(a) for a in assignments) == PARTITIONS):
            return assignments
        assert time.monotonic() < deadline, f"assignments never settled: {assignments}"
        poll_round(consumers, received)


def read(consumers, received, count):
    """Polls every consumer until `received` holds `count` records."""
    deadline = time.monotonic() + PHASE_SECONDS
    while len(received) < count:
        assert time.monotonic() < deadline, f"read {len(received)} of {count} records"
        poll_round(consumers, received)


def assert_each_once(received, sent, assignments=None):
    """Every sent record was received exactly once, byte-exact, by the member that owns its
    partition (when `assignments` is given, one set of partitions per consumer index)."""
    keys = [(p, o) for _, p, o, _ in received]
    assert len(keys) == len(set(keys)), "some records were received twice"
    assert sorted(keys) == sorted(sent)
    for index, partition, offset, value in received:
        assert value == sent[(partition, offset)]
        if assignments is not None:
            assert partition in assignments[index]


def test_two_members_split_the_partitions_and_read_each_record_once(bootstrap, admin, members,
                                                                      topic_name, group_name):
    create(admin, bootstrap, topic_name)
    consumers = [members(group_name, topic_name, "compat-kp-a"),
                 members(group_name, topic_name, "compat-kp-b")]
    received = []
    assignments = settle(consumers, topic_name, [3, 3], received)
    assert received == []
    assert consumers[0].committed(TopicPartition(topic_name, 0), timeout_ms=10000) is None

    sent = produce(bootstrap, topic_name, {p: 100 for p in range(PARTITIONS)})
    read(consumers, received, len(sent))
    assert_each_once(received, sent, assignments)
    for index, consumer in enumerate(consumers):
        for partition in assignments[index]:
            assert consumer.committed(TopicPartition(topic_name, partition),
                                      timeout_ms=10000) == 100


def test_partitions_spread_to_a_third_member_and_move_when_one_leaves(bootstrap, admin,
                                                                        members, topic_name,
                                                                        group_name):
    create(admin, bootstrap, topic_name)
    consumers = [members(group_name, topic_name, f"compat-kp-{n}") for n in "ab"]
    received = []
    settle(consumers, topic_name, [3, 3], received)
    sent = produce(bootstrap, topic_name, {p: 20 for p in range(PARTITIONS)})
    read(consumers, received, len(sent))
    assert_each_once(received, sent)

    # A third member joins: nothing is in flight, so the spread is all that changes.
    consumers.append(members(group_name, topic_name, "compat-kp-c"))
    assignments = settle(consumers, topic_name, [2, 2, 2], received)
    assert len(received) == len(sent)
    more = produce(bootstrap, topic_name, {p: 10 for p in range(PARTITIONS)}, first=len(sent))
    sent.update(more)
    mark = len(received)
    read(consumers, received, len(sent))
    assert_each_once(received[mark:], more, assignments)
    assert_each_once(received, sent)

    # New records only on the third member's partitions, then it leaves without reading
    # them: the other two take its partitions over from what it committed (30 each).
    leaving = consumers.pop()
    moved = assignments.pop()
    for partition in moved:
        assert leaving.committed(TopicPartition(topic_name, partition), timeout_ms=10000) == 30
    last = produce(bootstrap, topic_name, {p: 15 for p in moved}, first=len(sent))
    sent.update(last)
    leaving.close(timeout_ms=10000)
    mark = len(received)
    assignments = settle(consumers, topic_name, [3, 3], received)
    read(consumers, received, len(sent))
    assert_each_once(received[mark:], last, assignments)
    assert sorted((p, o) for _, p, o, _ in received[mark:]) == sorted(
        (p, 30 + k) for p in moved for k in range(15))
    assert_each_once(received, sent)


def test_the_group_uses_an_assignor_every_member_supports(bootstrap, admin, members,
                                                          topic_name, group_name):
    create(admin, bootstrap, topic_name)
    consumers = [
        members(group_name, topic_name, "compat-kp-a", partition_assignment_strategy=(
            RangePartitionAssignor, RoundRobinPartitionAssignor)),
        members(group_name, topic_name, "compat-kp-b",
                partition_assignment_strategy=(RoundRobinPartitionAssignor,)),
    ]
    received = []
    assignments = settle(consumers, topic_name, [3, 3], received)
    assert sorted(map(sorted, assignments)) == [[0, 2, 4], [1, 3, 5]]
    [group] = admin.describe_consumer_groups([group_name])
    assert (group.state, group.protocol) == ("Stable", "roundrobin")

    # A member that supports none of the assignors the group can use is refused.
    outsider = members(group_name, topic_name, "compat-kp-c",
                       partition_assignment_strategy=(RangePartitionAssignor,))
    deadline = time.monotonic() + PHASE_SECONDS
    with pytest.raises(InconsistentGroupProtocolError):
        while time.monotonic() < deadline:
            outsider.poll(timeout_ms=100)
    [group] = admin.describe_consumer_groups([group_name])
    assert sorted(m.client_id for m in group.members) == ["compat-kp-a", "compat-kp-b"]
    assert [c.assignment() for c in consumers] == [
        {TopicPartition(topic_name, p) for p in a} for a in assignments]
    assert received == []


def test_committed_offsets_are_seen_by_a_new_member_and_the_admin_client(bootstrap, admin,
                                                                           members, topic_name,
                                                                           group_name):
    create(admin, bootstrap, topic_name)
    [consumer] = consumers = [members(group_name, topic_name, "compat-kp-a")]
    received = []
    settle(consumers, topic_name, [PARTITIONS], received)
    counts = {p: p + 1 for p in range(PARTITIONS)}
    sent = produce(bootstrap, topic_name, counts)
    read(consumers, received, len(sent))
    assert_each_once(received, sent)
    tp0 = TopicPartition(topic_name, 0)
    consumer.commit({tp0: OffsetAndMetadata(1, "checkpoint", -1)}, timeout_ms=10000)

    [group] = admin.describe_consumer_groups([group_name])
    assert (group.error_code, group.group, group.state, group.protocol_type, group.protocol) == (
        0, group_name, "Stable", "consumer", "range")
    [member] = group.members
    assert (member.client_id, member.client_host) == ("compat-kp-a", "/127.0.0.1")
    assert member.member_id
    assert list(member.member_metadata.topics) == [topic_name]
    assert sorted(member.member_assignment.partitions()) == [
        TopicPartition(topic_name, p) for p in range(PARTITIONS)]
    # Without an authorizer Kafka grants every operation a group supports.
    assert {"READ", "DESCRIBE", "DELETE"} <= set(group.authorized_operations)
    assert (group_name, "consumer") in admin.list_consumer_groups()

    # A new consumer of the group, not subscribed, sees the commits without joining.
    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group_name,
                           enable_auto_commit=False, request_timeout_ms=15000)
    try:
        seen = {p: reader.committed(TopicPartition(topic_name, p), metadata=True,
                                    timeout_ms=10000) for p in range(PARTITIONS)}
    finally:
        reader.close(timeout_ms=5000)
    assert {p: (c.offset, c.metadata) for p, c in seen.items()} == {
        p: (counts[p], "checkpoint" if p == 0 else "") for p in range(PARTITIONS)}
    listed = admin.list_consumer_group_offsets(group_name)
    assert listed == {TopicPartition(topic_name, p): c for p, c in seen.items()}
    assert admin.list_consumer_group_offsets(f"{group_name}-unknown") == {}

    # The last member leaves: the group is Empty, still listed, and keeps its offsets.
    consumer.close(timeout_ms=10000)
    deadline = time.monotonic() + PHASE_SECONDS
    while (group := admin.describe_consumer_groups([group_name])[0]).state != "Empty":
        assert time.monotonic() < deadline, f"the group stayed {group.state}"
        time.sleep(0.1)
    assert (group.error_code, group.protocol_type, group.protocol, group.members) == (
        0, "consumer", "", [])
    assert (group_name, "consumer") in admin.list_consumer_groups()
    assert admin.list_consumer_group_offsets(group_name) == listed
