#!/usr/bin/env bash
# kcat (librdkafka's command-line client) against a three-node StreamBus cluster: a topic
# with replication factor 3 (kcat cannot create topics: confluent-kafka's AdminClient does),
# its metadata as each node reports it (3 brokers; every partition with 3 replicas and 3 in
# sync), then 100 keyed messages produced with acks=all through node 1 and consumed back
# byte for byte through node 2. Run by cluster_run.sh, with all three nodes up; every client
# call has a deadline.
set -euo pipefail

bootstrap=${STREAMBUS_CLUSTER_BOOTSTRAP:?set STREAMBUS_CLUSTER_BOOTSTRAP to the cluster addresses (host:port,...)}
IFS=, read -r -a nodes <<<"${STREAMBUS_CLUSTER_NODES:?set STREAMBUS_CLUSTER_NODES to the addresses in node order}"
python=${PYTHON:-python3}
topic="kcat-cluster-$$-$RANDOM"
partitions=3
work=$(mktemp -d "${TMPDIR:-/tmp}/cluster-kcat-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

check() {
  local name=$1
  shift
  if "$@" >"$work/check.out" 2>&1; then
    echo "kcat: $name ... ok"
    passed=$((passed + 1))
  else
    echo "kcat: $name ... FAILED"
    sed 's/^/    /' "$work/check.out"
    failed=$((failed + 1))
  fi
}

create_topic() {
  timeout 30 "$python" - "$bootstrap" "$topic" "$partitions" <<'EOF'
import sys
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = AdminClient({"bootstrap.servers": bootstrap})
[future] = admin.create_topics([NewTopic(topic, partitions, 3)],
                               operation_timeout=10, request_timeout=15).values()
future.result(timeout=20)
print(f"created {topic} with {partitions} partitions, replication factor 3")
EOF
}

# Checks kcat -L -J's answer (file $1, from node $2): 3 brokers, the nodes' own addresses,
# the topic with every partition on 3 replicas, all in sync, led by one of them.
METADATA_CHECK='
import json, sys
path, node, topic, partitions, nodes = sys.argv[1:6]
metadata = json.load(open(path))
brokers = sorted((b["id"], b["name"]) for b in metadata["brokers"])
expected = [(i + 1, address) for i, address in enumerate(nodes.split(","))]
assert brokers == expected, f"{node} reports brokers {brokers}, expected {expected}"
[found] = [t for t in metadata["topics"] if t["topic"] == topic]
assert "error" not in found, f"{node} reports {found}"
assert sorted(p["partition"] for p in found["partitions"]) == list(range(int(partitions))), found
for p in found["partitions"]:
    replicas = sorted(r["id"] for r in p["replicas"])
    isrs = sorted(r["id"] for r in p["isrs"])
    assert replicas == [1, 2, 3], f"{node}: partition {p}: replicas {replicas}"
    assert isrs == [1, 2, 3], f"{node}: partition {p}: isrs {isrs}"
    assert p["leader"] in replicas, f"{node}: partition {p}: leader not a replica"
'

# Every node reports the full metadata; an ISR may take a moment to fill up after the
# topic is created, so each node is asked again for at most 20 s.
metadata_on_every_node() {
  local node ok deadline
  for node in "${nodes[@]}"; do
    ok=""
    deadline=$((SECONDS + 20))
    while [ "$SECONDS" -lt "$deadline" ]; do
      if timeout 10 kcat -b "$node" -L -t "$topic" -J -m 10 >"$work/metadata.json" 2>"$work/kcat.err" &&
        "$python" -c "$METADATA_CHECK" "$work/metadata.json" "$node" "$topic" "$partitions" \
          "$STREAMBUS_CLUSTER_NODES" 2>"$work/check.err"; then
        ok=1
        break
      fi
      sleep 0.5
    done
    if [ -z "$ok" ]; then
      echo "metadata from $node never matched; the last answer:"
      cat "$work/metadata.json" "$work/kcat.err" "$work/check.err"
      return 1
    fi
    echo "$node: 3 brokers; $partitions partitions, each with replicas 1,2,3 all in sync"
  done
  # The plain listing too, from the first node.
  timeout 10 kcat -b "${nodes[0]}" -L -t "$topic" -m 10 >"$work/metadata.txt"
  cat "$work/metadata.txt"
  grep -q '^ 3 brokers:' "$work/metadata.txt"
  [ "$(grep -Ec 'partition [0-9]+, leader [1-3], replicas: [1-3],[1-3],[1-3], isrs: [1-3],[1-3],[1-3]' \
    "$work/metadata.txt")" -eq "$partitions" ]
}

# 100 keyed messages: keys k000..k099 spread over the partitions by librdkafka's default
# partitioner, values with spaces, colons, punctuation and UTF-8, message 7 empty.
for i in $(seq 0 99); do
  if [ "$i" -eq 7 ]; then
    printf 'k%03d:\n' "$i"
  else
    printf 'k%03d:value %d: ünïcödé ✓ {"n": %d} %s\n' "$i" "$i" "$i" "$(printf '%*s' $((i % 40)) '' | tr ' ' x)"
  fi
done >"$work/input"

produce_acks_all_through_node_1() {
  timeout 30 kcat -b "${nodes[0]}" -P -t "$topic" -K: -X acks=all -X message.timeout.ms=20000 \
    -l "$work/input"
}

# Through node 2 alone as bootstrap: every message back, nothing else, each partition's
# offsets 0, 1, ... in the order produced (one producer keeps per-partition order).
consume_through_node_2_matches_exactly() {
  timeout 30 kcat -b "${nodes[1]}" -C -t "$topic" -o beginning -e -q \
    -f '%p %o %k:%s\n' >"$work/consumed"
  [ "$(wc -l <"$work/consumed")" -eq 100 ] || {
    echo "consumed $(wc -l <"$work/consumed") messages, expected 100"
    cat "$work/consumed"
    return 1
  }
  cut -d' ' -f3- "$work/consumed" | sort | diff -u <(sort "$work/input") -
  local p
  for p in $(seq 0 $((partitions - 1))); do
    # In partition p: offsets 0..n-1 and the messages in input order.
    awk -v p="$p" '$1 == p' "$work/consumed" | sort -n -k2 >"$work/partition"
    awk '{print $2}' "$work/partition" | diff -u <(seq 0 $(($(wc -l <"$work/partition") - 1))) -
    cut -d' ' -f3- "$work/partition" | diff -u <(grep -Fx -f <(cut -d' ' -f3- "$work/partition") "$work/input") -
  done
}

check "create a topic with replication factor 3 (confluent-kafka AdminClient)" create_topic
check "-L -J on each node: 3 brokers, 3 replicas and 3 in sync per partition" metadata_on_every_node
check "produce 100 keyed messages with acks=all through node 1" produce_acks_all_through_node_1
check "consume through node 2 matches byte for byte" consume_through_node_2_matches_exactly

echo "kcat: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
