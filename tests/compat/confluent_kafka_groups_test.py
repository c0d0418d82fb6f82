"""confluent-kafka (Python over librdkafka) consumer groups against StreamBus: subscribe with
synchronous commits; a member killed with SIGKILL, dynamic (its partitions move when its
session times out) and static (restarted in time, it keeps them without a rebalance); and the
AdminClient's group calls: list (with the state filter), describe, list and alter offsets,
delete. Every loop is bounded by a deadline."""

import subprocess
import sys
import time

import pytest
from confluent_kafka import (OFFSET_INVALID, Consumer, ConsumerGroupState,
                             ConsumerGroupTopicPartitions, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AclOperation, AdminClient, NewTopic

from conftest import value_of

PARTITIONS = 4
PHASE_SECONDS = 30  # for any one wait: a join, a rebalance, reading what was produced

# A group member in its own process, to be killed with SIGKILL: it never sends LeaveGroup.
# Arguments: bootstrap, group, topic, client id, group instance id or "", session timeout ms.
MEMBER_PROCESS = """
import sys, time
from confluent_kafka import Consumer
bootstrap, group, topic, client_id, instance_id, session_ms = sys.argv[1:]
config = {"bootstrap.servers": bootstrap, "group.id": group, "client.id": client_id,
          "enable.auto.commit": False, "auto.offset.reset": "earliest",
          "session.timeout.ms": int(session_ms), "heartbeat.interval.ms": 200}
if instance_id:
    config["group.instance.id"] = instance_id
consumer = Consumer(config)
consumer.subscribe([topic])
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    consumer.poll(0.1)
"""


@pytest.fixture
def admin(bootstrap):
    # Its metadata requests must not create topics on a broker with --auto-create-topics.
    return AdminClient({"bootstrap.servers": bootstrap, "allow.auto.create.topics": False})


@pytest.fixture
def group_name(topic_name):
    return f"{topic_name}-group"


@pytest.fixture
def members(bootstrap):
    """Opens subscribed group members; closes whichever the test left open."""
    opened = []

    def open_member(group, topic, client_id, **subscribe_options):
        consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": group, "client.id": client_id,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "enable.partition.eof": False, "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 200})
        consumer.subscribe([topic], **subscribe_options)
        opened.append(consumer)
        return consumer

    yield open_member
    for consumer in opened:
        try:
            consumer.close()
        except RuntimeError:
            pass  # closed by the test already


@pytest.fixture
def processes(bootstrap, tmp_path):
    """Starts group members in their own processes; kills whichever the test left running."""
    started = []

    def start(group, topic, client_id, instance_id="", session_ms=6000):
        log = open(tmp_path / f"{client_id}-{len(started)}.log", "wb")
        process = subprocess.Popen(
            [sys.executable, "-c", MEMBER_PROCESS, bootstrap, group, topic, client_id,
             instance_id, str(session_ms)], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def kill(process):
    process.kill()
    assert process.wait(timeout=10) == -9


def create(admin, name, partitions=PARTITIONS):
    """Creates a topic and waits until the metadata shows its partitions."""
    [future] = admin.create_topics([NewTopic(name, partitions, 1)],
                                   operation_timeout=10, request_timeout=15).values()
    future.result(timeout=20)
    deadline = time.monotonic() + 10
    while True:
        topic = admin.list_topics(name, timeout=10).topics.get(name)
        if topic is not None and topic.error is None and sorted(topic.partitions) == list(
                range(partitions)):
            return
        assert time.monotonic() < deadline, f"{name} never showed {partitions} partitions"
        time.sleep(0.1)


def produce(bootstrap, topic, counts, first=0):
    """Sends counts[p] records to each partition p, record i valued value_of(i) from `first`
    on; returns {(partition, offset): value} from the delivery reports."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "message.timeout.ms": 20000})
    acked, errors = {}, []

    def on_delivery(error, message):
        if error is not None:
            errors.append(error)
        else:
            acked[(message.partition(), message.offset())] = message.value()

    i = first
    for partition, count in sorted(counts.items()):
        for _ in range(count):
            producer.produce(topic, value=value_of(i), partition=partition,
                             on_delivery=on_delivery)
            producer.poll(0)
            i += 1
    assert producer.flush(30) == 0, "messages still queued after 30 s"
    assert errors == []
    assert len(acked) == i - first
    return acked


def poll_round(consumers, received):
    """Polls each consumer once, appends what it returned to `received` as
    (consumer index, partition, offset, value), and commits synchronously after every poll
    that returned records."""
    for index, consumer in enumerate(consumers):
        messages = consumer.consume(num_messages=500, timeout=0.1)
        for message in messages:
            if message.error() is not None:
                raise KafkaException(message.error())
            received.append((index, message.partition(), message.offset(), message.value()))
        if messages:
            consumer.commit(asynchronous=False)


def settle(consumers, topic, sizes, received):
    """Polls every consumer until their assignments are disjoint, cover the topic and have
    `sizes` partitions each (in any order); returns the assignments as sets of partitions."""
    deadline = time.monotonic() + PHASE_SECONDS
    while True:
        assignments = [{tp.partition for tp in c.assignment() if tp.topic == topic}
                       for c in consumers]
        if (sorted(len(a) for a in assignments) == sorted(sizes)
                and set().union(*assignments) == set(range(PARTITIONS))
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


def assert_each_once(received, sent):
    keys = [(p, o) for _, p, o, _ in received]
    assert len(keys) == len(set(keys)), "some records were received twice"
    assert sorted(keys) == sorted(sent)
    for _, partition, offset, value in received:
        assert value == sent[(partition, offset)]


def listed(admin, states=None):
    """{group id: (state, is simple)} from list_consumer_groups, optionally filtered."""
    kwargs = {} if states is None else {"states": states}
    result = admin.list_consumer_groups(request_timeout=15, **kwargs).result(timeout=20)
    assert result.errors == []
    return {g.group_id: (g.state, g.is_simple_consumer_group) for g in result.valid}


def describe(admin, group, **options):
    [future] = admin.describe_consumer_groups([group], request_timeout=15, **options).values()
    return future.result(timeout=20)


def offsets_of(admin, group, partitions=None):
    """{(topic, partition): offset} for the group, from list_consumer_group_offsets; every
    partition's error must be None."""
    request = ConsumerGroupTopicPartitions(group, partitions)
    [future] = admin.list_consumer_group_offsets([request], request_timeout=15).values()
    result = future.result(timeout=20)
    assert result.group_id == group
    assert [tp.error for tp in result.topic_partitions] == [None] * len(result.topic_partitions)
    return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions}


def alter(admin, group, offsets):
    """Alters the group's offsets to {(topic, partition): offset}; returns the result's
    topic partitions."""
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())])
    [future] = admin.alter_consumer_group_offsets([request], request_timeout=15).values()
    result = future.result(timeout=20)
    assert result.group_id == group
    return result.topic_partitions


def delete_errors(admin, groups):
    """{group: the error code of deleting it, or None when it was deleted}, from one call."""
    errors = {}
    for group, future in admin.delete_consumer_groups(groups, request_timeout=15).items():
        try:
            future.result(timeout=20)
            errors[group] = None
        except KafkaException as error:
            errors[group] = error.args[0].code()
    return errors


def delete_error(admin, group):
    return delete_errors(admin, [group])[group]


def wait_for_state(admin, group, state):
    deadline = time.monotonic() + PHASE_SECONDS
    while (description := describe(admin, group)).state != state:
        assert time.monotonic() < deadline, f"{group} stayed {description.state}"
        time.sleep(0.1)
    return description


def wait_for_members(admin, group, consumers, sizes, received, done=lambda description: True):
    """Polls the in-process `consumers` until the group is Stable with one member per client id
    in `sizes`, each holding that many partitions, the in-process consumers' own assignments
    agree, and `done(description)` holds; returns the description."""
    deadline = time.monotonic() + PHASE_SECONDS
    while True:
        poll_round(consumers, received)
        description = describe(admin, group)
        held = {m.client_id: len(m.assignment.topic_partitions) for m in description.members}
        if (description.state == ConsumerGroupState.STABLE and held == sizes
                and len(description.members) == len(sizes)
                and all(len(c.assignment()) == sizes[m.client_id] for c in consumers
                        for m in description.members if m.member_id == c.memberid())
                and done(description)):
            return description
        assert time.monotonic() < deadline, (
            f"the group stayed {description.state} with {held}, not {sizes}")


def member_of(description, client_id):
    [member] = [m for m in description.members if m.client_id == client_id]
    return member


def test_subscribe_round_trip_with_synchronous_commits(bootstrap, admin, members, topic_name,
                                                       group_name):
    create(admin, topic_name)
    sent = produce(bootstrap, topic_name, {p: 10 for p in range(PARTITIONS)})
    first = members(group_name, topic_name, "compat-ck-a")
    received = []
    read([first], received, len(sent))
    assert_each_once(received, sent)
    committed = first.committed([TopicPartition(topic_name, p) for p in range(PARTITIONS)],
                                timeout=10)
    assert [(tp.partition, tp.offset, tp.error) for tp in committed] == [
        (p, 10, None) for p in range(PARTITIONS)]
    first.close()

    # The next member of the group starts where the first one committed.
    more = produce(bootstrap, topic_name, {p: 2 for p in range(PARTITIONS)}, first=len(sent))
    received = []
    read([members(group_name, topic_name, "compat-ck-b")], received, len(more))
    assert_each_once(received, more)
    assert sorted((p, o) for _, p, o, _ in received) == [
        (p, o) for p in range(PARTITIONS) for o in (10, 11)]


def test_admin_lists_and_describes_an_active_group(bootstrap, admin, members, topic_name,
                                                   group_name):
    create(admin, topic_name)
    consumers = [members(group_name, topic_name, f"compat-ck-{n}") for n in "ab"]
    received = []
    assignments = settle(consumers, topic_name, [2, 2], received)
    sent = produce(bootstrap, topic_name, {p: 8 for p in range(PARTITIONS)})
    read(consumers, received, len(sent))
    assert_each_once(received, sent)

    description = wait_for_state(admin, group_name, ConsumerGroupState.STABLE)
    assert description.group_id == group_name
    assert description.is_simple_consumer_group is False
    assert description.partition_assignor == "range"
    assert f"{description.coordinator.host}:{description.coordinator.port}" == bootstrap
    by_client = {m.client_id: m for m in description.members}
    assert sorted(by_client) == ["compat-ck-a", "compat-ck-b"]
    for consumer, assignment, client_id in zip(consumers, assignments, sorted(by_client)):
        member = by_client[client_id]
        assert member.member_id == consumer.memberid()
        assert member.host == "/127.0.0.1"
        assert member.group_instance_id is None
        assert sorted((tp.topic, tp.partition) for tp in member.assignment.topic_partitions) == [
            (topic_name, p) for p in sorted(assignment)]

    # Without an authorizer Kafka grants every operation a group supports.
    operations = describe(admin, group_name, include_authorized_operations=True)
    assert {AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE} <= set(
        operations.authorized_operations)

    assert listed(admin)[group_name] == (ConsumerGroupState.STABLE, False)
    assert listed(admin, {ConsumerGroupState.STABLE})[group_name] == (
        ConsumerGroupState.STABLE, False)
    assert group_name not in listed(admin, {ConsumerGroupState.EMPTY})
    assert offsets_of(admin, group_name) == {(topic_name, p): 8 for p in range(PARTITIONS)}

    # A group with members can be neither deleted nor altered by the admin client.
    assert delete_error(admin, group_name) == KafkaError.NON_EMPTY_GROUP
    refused = alter(admin, group_name, {(topic_name, 0): 0})
    assert [(tp.partition, tp.error.code() if tp.error else None) for tp in refused] == [
        (0, KafkaError.UNKNOWN_MEMBER_ID)]
    assert offsets_of(admin, group_name) == {(topic_name, p): 8 for p in range(PARTITIONS)}

    for consumer in consumers:
        consumer.close()
    description = wait_for_state(admin, group_name, ConsumerGroupState.EMPTY)
    assert (description.members, description.partition_assignor) == ([], "")
    assert group_name not in listed(admin, {ConsumerGroupState.STABLE})
    assert listed(admin, {ConsumerGroupState.EMPTY})[group_name] == (
        ConsumerGroupState.EMPTY, False)
    assert offsets_of(admin, group_name) == {(topic_name, p): 8 for p in range(PARTITIONS)}


def test_admin_alters_the_offsets_of_an_empty_group(bootstrap, admin, members, topic_name,
                                                    group_name):
    create(admin, topic_name)
    sent = produce(bootstrap, topic_name, {p: 12 for p in range(PARTITIONS)})
    consumer = members(group_name, topic_name, "compat-ck-a")
    received = []
    read([consumer], received, len(sent))
    consumer.close()
    wait_for_state(admin, group_name, ConsumerGroupState.EMPTY)
    assert offsets_of(admin, group_name) == {(topic_name, p): 12 for p in range(PARTITIONS)}

    wanted = {(topic_name, 0): 3, (topic_name, 1): 0, (topic_name, 2): 12}
    altered = alter(admin, group_name, wanted)
    assert [(tp.topic, tp.partition, tp.offset, tp.error) for tp in altered] == [
        (t, p, o, None) for (t, p), o in sorted(wanted.items())]
    assert offsets_of(admin, group_name) == {**wanted, (topic_name, 3): 12}
    assert offsets_of(admin, group_name, [TopicPartition(topic_name, 0)]) == {
        (topic_name, 0): 3}

    # A new member resumes from the altered offsets.
    received = []
    read([members(group_name, topic_name, "compat-ck-b")], received, 9 + 12)
    assert sorted((p, o) for _, p, o, _ in received) == sorted(
        [(0, o) for o in range(3, 12)] + [(1, o) for o in range(12)])
    for _, partition, offset, value in received:
        assert value == sent[(partition, offset)]

    # Offsets committed for a group nobody ever joined make it a listed, empty, simple group.
    simple = f"{group_name}-simple"
    altered = alter(admin, simple, {(topic_name, 1): 5})
    assert [(tp.partition, tp.offset, tp.error) for tp in altered] == [(1, 5, None)]
    assert offsets_of(admin, simple) == {(topic_name, 1): 5}
    assert listed(admin)[simple] == (ConsumerGroupState.EMPTY, True)


def test_admin_deletes_only_empty_groups(bootstrap, admin, members, topic_name, group_name):
    create(admin, topic_name)
    sent = produce(bootstrap, topic_name, {p: 5 for p in range(PARTITIONS)})
    consumer = members(group_name, topic_name, "compat-ck-a")
    received = []
    read([consumer], received, len(sent))
    wait_for_state(admin, group_name, ConsumerGroupState.STABLE)
    assert delete_error(admin, group_name) == KafkaError.NON_EMPTY_GROUP
    assert listed(admin)[group_name] == (ConsumerGroupState.STABLE, False)

    consumer.close()
    wait_for_state(admin, group_name, ConsumerGroupState.EMPTY)
    unknown = f"{group_name}-unknown"
    assert delete_errors(admin, [group_name, unknown]) == {
        group_name: None, unknown: KafkaError.GROUP_ID_NOT_FOUND}
    assert group_name not in listed(admin)
    description = describe(admin, group_name)  # DescribeGroups v0-v5 call an unknown group Dead
    assert (description.state, description.members) == (ConsumerGroupState.DEAD, [])
    assert group_name not in listed(admin, {ConsumerGroupState.EMPTY})
    assert offsets_of(admin, group_name) == {}
    assert offsets_of(admin, group_name, [TopicPartition(topic_name, 0)]) == {
        (topic_name, 0): OFFSET_INVALID}
    assert delete_error(admin, group_name) == KafkaError.GROUP_ID_NOT_FOUND

    # The group id can be used again, and starts from auto.offset.reset.
    received = []
    read([members(group_name, topic_name, "compat-ck-b")], received, len(sent))
    assert_each_once(received, sent)


def test_partitions_of_a_killed_member_move_when_its_session_times_out(
        admin, members, processes, topic_name, group_name):
    create(admin, topic_name)
    survivor = members(group_name, topic_name, "compat-ck-a")
    victim = processes(group_name, topic_name, "compat-ck-killed", session_ms=3000)
    received = []
    wait_for_members(admin, group_name, [survivor], {"compat-ck-a": 2, "compat-ck-killed": 2},
                     received)

    # SIGKILL sends no LeaveGroup: the coordinator removes the member when its session
    # times out, and the survivor gets every partition in the next generation.
    kill(victim)
    description = wait_for_members(admin, group_name, [survivor], {"compat-ck-a": PARTITIONS},
                                   received)
    assert sorted(tp.partition for tp in survivor.assignment()) == list(range(PARTITIONS))
    assert [m.member_id for m in description.members] == [survivor.memberid()]
    assert received == []


def test_a_static_member_restarted_in_time_keeps_its_partitions_without_a_rebalance(
        admin, members, processes, topic_name, group_name):
    create(admin, topic_name)
    revoked = []
    other = members(group_name, topic_name, "compat-ck-a",
                    on_revoke=lambda consumer, partitions: revoked.append(partitions))
    static = processes(group_name, topic_name, "compat-ck-static", "compat-static-1",
                       session_ms=10000)
    received = []
    before = wait_for_members(admin, group_name, [other],
                              {"compat-ck-a": 2, "compat-ck-static": 2}, received)
    first = member_of(before, "compat-ck-static")
    assert first.group_instance_id == "compat-static-1"
    kept = sorted(tp.partition for tp in other.assignment())
    revoked.clear()

    # Killed and started again within its session timeout, the static member takes its
    # place back under a new member id; the group does not rebalance, so nobody's
    # partitions are revoked and each member keeps what it had.
    kill(static)
    processes(group_name, topic_name, "compat-ck-static", "compat-static-1", session_ms=10000)
    after = wait_for_members(
        admin, group_name, [other], {"compat-ck-a": 2, "compat-ck-static": 2}, received,
        done=lambda d: member_of(d, "compat-ck-static").member_id != first.member_id)
    second = member_of(after, "compat-ck-static")
    assert second.group_instance_id == "compat-static-1"
    assert sorted((tp.topic, tp.partition) for tp in second.assignment.topic_partitions) == sorted(
        (tp.topic, tp.partition) for tp in first.assignment.topic_partitions)
    assert member_of(after, "compat-ck-a").member_id == other.memberid()
    assert sorted(tp.partition for tp in other.assignment()) == kept
    assert revoked == []
    assert received == []
