#!/usr/bin/env bash
# Compatibility checks of a three-node StreamBus cluster with third-party Kafka clients (kcat
# and confluent-kafka), against real processes.
#
#   tests/compat/cluster_run.sh PATH/TO/streambus
#
# Builds nothing: starts three nodes of the given binary together, with one --voters list on
# free loopback ports, each with its own temporary data directory and Kafka/HTTP listeners on
# port 0; waits until every node prints its serving line and answers /health/ready with 200;
# then runs cluster_kcat_test.sh and cluster_test.py with
#   STREAMBUS_CLUSTER_BOOTSTRAP  all three Kafka addresses, comma-separated
#   STREAMBUS_CLUSTER_NODES      the same addresses, in node order (node 1 first)
#   STREAMBUS_CLUSTER_PIDS       the nodes' process ids, in node order
#   STREAMBUS_CLUSTER_KILLED     a file to which a test that SIGKILLs a node appends its id
# kcat runs first, while all three nodes are up: the last pytest test kills a node. At the
# end every node that should still run is stopped with SIGTERM and must exit 0 after a clean
# stop; a node the tests killed must have died of SIGKILL; any other dead node is a failure.
# Exits non-zero if anything failed, and then prints the nodes' logs. The Python clients come
# from .venv at the repository root (see run.sh); set PYTHON to use another interpreter.
set -uo pipefail

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 PATH/TO/streambus" >&2
  exit 2
fi
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
work=$(mktemp -d "${TMPDIR:-/tmp}/streambus-cluster-compat.XXXXXX")
nodes=(1 2 3)
pids=()

cleanup() {
  for pid in "${pids[@]}"; do
    [ -n "$pid" ] && running "$pid" && kill -KILL "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

print_logs() {
  for id in "${nodes[@]}"; do
    echo "----- node $id's log ($work/node$id.log) -----"
    cat "$work/node$id.log"
  done
  echo "----- end of the nodes' logs -----"
}

# Node $1's exit status, once its subshell has written it (at most 5 s after it exited).
exit_status() {
  for _ in $(seq 50); do
    [ -s "$work/node$1.exit" ] && break
    sleep 0.1
  done
  cat "$work/node$1.exit" 2>/dev/null || echo "unknown"
}

fail_start() {
  echo "cluster compat: $1; the nodes' logs:" >&2
  print_logs >&2
  exit 1
}

# Whether process $1 still runs (not even a zombie waiting to be reaped).
running() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# The status code of GET $2 on $1 (host:port), or nothing; plain bash, no curl needed.
http_status() {
  local line
  exec 3<>"/dev/tcp/${1%:*}/${1##*:}" 2>/dev/null || return 0
  printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$2" "$1" >&3
  IFS= read -r -t 5 line <&3 || true
  exec 3<&- 3>&-
  set -- $line
  echo "${2:-}"
}

# Three free loopback ports for the quorum listeners: bound to port 0 and released (the
# nodes bind them a moment later).
ports=$(timeout 10 "$python" -c '
import socket
sockets = [socket.socket() for _ in range(3)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))
') || fail_start "cannot pick free ports with $python"
read -r -a ports <<<"$ports"
voters="1@127.0.0.1:${ports[0]},2@127.0.0.1:${ports[1]},3@127.0.0.1:${ports[2]}"

# Group settings as in run.sh; a dead broker's session ends after 2 s and a follower that
# stops fetching leaves the ISR after 2 s (defaults 3 s and 30 s), so that the failover test
# sees a new leader, and acks=all stops waiting for the dead node, within seconds.
export STREAMBUS_GROUP_INITIAL_REBALANCE_DELAY_MS=0
export STREAMBUS_GROUP_MIN_SESSION_TIMEOUT_MS=1000
export STREAMBUS_OFFSETS_TOPIC_NUM_PARTITIONS=5
export STREAMBUS_BROKER_SESSION_TIMEOUT_MS=2000
export STREAMBUS_REPLICA_LAG_TIME_MAX_MS=2000
# Each node runs under a subshell that waits for it and writes its exit status to
# nodeN.exit: so the node's exit status is known even when a test SIGKILLs it, without bash
# reporting the killed job on this script's stderr.
for id in "${nodes[@]}"; do
  mkdir -p "$work/data$id"
  (
    STREAMBUS_LOG=info "$bin" serve --node-id "$id" --voters "$voters" --data-dir "$work/data$id" \
      --kafka-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 2>"$work/node$id.log" &
    echo $! >"$work/node$id.pid"
    wait $!
    echo $? >"$work/node$id.exit"
  ) 2>/dev/null &
done
for id in "${nodes[@]}"; do
  for _ in $(seq 100); do
    [ -s "$work/node$id.pid" ] && break
    sleep 0.05
  done
  [ -s "$work/node$id.pid" ] || fail_start "node $id did not start"
  pids+=("$(cat "$work/node$id.pid")")
done

# Each startup line names the node's bound ports: ... streambus is serving kafka=H:P http=H:P
kafka=() http=()
for _ in $(seq 600); do
  for i in 0 1 2; do
    running "${pids[$i]}" || fail_start "node $((i + 1)) exited before serving"
    if [ -z "${kafka[$i]:-}" ]; then
      line=$(grep -m1 'streambus is serving' "$work/node$((i + 1)).log" || true)
      if [ -n "$line" ]; then
        kafka[$i]=$(sed -E 's/.* kafka=([^ ]+).*/\1/' <<<"$line")
        http[$i]=$(sed -E 's/.* http=([^ ]+).*/\1/' <<<"$line")
      fi
    fi
  done
  [ -n "${kafka[0]:-}" ] && [ -n "${kafka[1]:-}" ] && [ -n "${kafka[2]:-}" ] && break
  sleep 0.1
done
for i in 0 1 2; do
  [ -n "${kafka[$i]:-}" ] && [ -n "${http[$i]:-}" ] ||
    fail_start "node $((i + 1)) printed no serving line within 60 s"
done
for i in 0 1 2; do
  for _ in $(seq 100); do
    [ "$(http_status "${http[$i]}" /health/ready)" = 200 ] && break
    sleep 0.1
  done
  [ "$(http_status "${http[$i]}" /health/ready)" = 200 ] ||
    fail_start "node $((i + 1))'s /health/ready is not 200 within 10 s"
  echo "cluster compat: node $((i + 1)) serving kafka=${kafka[$i]} http=${http[$i]} pid=${pids[$i]}"
done

export STREAMBUS_CLUSTER_BOOTSTRAP="${kafka[0]},${kafka[1]},${kafka[2]}"
export STREAMBUS_CLUSTER_NODES="$STREAMBUS_CLUSTER_BOOTSTRAP"
export STREAMBUS_CLUSTER_PIDS="${pids[0]},${pids[1]},${pids[2]}"
export STREAMBUS_CLUSTER_KILLED="$work/killed"
export PYTHON="$python"
: >"$STREAMBUS_CLUSTER_KILLED"
failed=0

echo "==> cluster compat: cluster_kcat_test.sh"
if timeout 90 bash "$here/cluster_kcat_test.sh"; then
  echo "cluster compat: cluster_kcat_test.sh passed"
else
  echo "cluster compat: cluster_kcat_test.sh FAILED"
  failed=1
fi

echo "==> cluster compat: pytest"
(cd "$here" && timeout 150 "$python" -m pytest -p no:cacheprovider -rfE cluster_test.py)
[ $? -eq 0 ] || failed=1

# Stop the nodes still meant to run, one at a time (each hands its leaderships over before it
# exits, while the others still form a quorum; the last one, without a quorum, takes longer);
# a node the tests killed must have died of SIGKILL (exit status 137). Quiet unless
# something is wrong.
for i in 0 1 2; do
  id=$((i + 1))
  pid=${pids[$i]}
  running "$pid" || pids[$i]=""
  if grep -qx "$id" "$STREAMBUS_CLUSTER_KILLED"; then
    if running "$pid"; then
      echo "cluster compat: node $id still runs after the tests killed it"
      failed=1
    elif [ "$(exit_status "$id")" != 137 ]; then
      echo "cluster compat: node $id, killed by the tests, exited with $(exit_status "$id") rather than 137"
      failed=1
    fi
    continue
  fi
  if ! running "$pid"; then
    echo "cluster compat: node $id died during the tests (exit status $(exit_status "$id"))"
    failed=1
    continue
  fi
  kill -TERM "$pid"
  for _ in $(seq 300); do
    running "$pid" || break
    sleep 0.1
  done
  if running "$pid"; then
    echo "cluster compat: node $id did not stop within 30 s of SIGTERM"
    failed=1
    continue
  fi
  pids[$i]=""
  code=$(exit_status "$id")
  if [ "$code" != 0 ] || ! grep -q 'stopped cleanly' "$work/node$id.log"; then
    echo "cluster compat: node $id exited with $code after SIGTERM, without a clean stop"
    failed=1
  fi
done

if [ "$failed" -ne 0 ]; then
  echo "cluster compat: FAILED; the nodes' logs:"
  print_logs
fi
exit "$failed"
