#!/usr/bin/env bash
# Compatibility round trips with third-party Kafka clients (kcat, kafka-python, confluent-kafka)
# against a real StreamBus process.
#
#   tests/compat/run.sh PATH/TO/streambus
#
# Builds nothing: starts the given binary on free loopback ports with a temporary data
# directory, --auto-create-topics and quick group rebalances (the STREAMBUS_GROUP_* and
# STREAMBUS_OFFSETS_* exports below), waits for /health/ready, runs kcat_test.sh, then
# schemathesis_test.sh (the admin REST API against its OpenAPI document), then the pytest
# files, all with STREAMBUS_BOOTSTRAP and STREAMBUS_HTTP set, stops the broker with SIGTERM, and exits
# non-zero if any of that failed. The Python clients come from .venv at the repository root
# (scripts/test.sh installs tests/compat/requirements.txt there); set PYTHON to use another
# interpreter. pytest runs last so that its summary line closes the output.
set -uo pipefail

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 PATH/TO/streambus" >&2
  exit 2
fi
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
work=$(mktemp -d "${TMPDIR:-/tmp}/streambus-compat.XXXXXX")
log="$work/broker.log"
pid=""

cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail_start() {
  echo "compat: $1; the broker's log:" >&2
  cat "$log" >&2
  exit 1
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

# Group coordinator settings for tests: no initial rebalance delay (Kafka's default is 3 s),
# session timeouts down to 1 s, and a small __consumer_offsets.
export STREAMBUS_GROUP_INITIAL_REBALANCE_DELAY_MS=0
export STREAMBUS_GROUP_MIN_SESSION_TIMEOUT_MS=1000
export STREAMBUS_OFFSETS_TOPIC_NUM_PARTITIONS=5
STREAMBUS_LOG=info "$bin" serve --data-dir "$work/data" \
  --kafka-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --auto-create-topics 2>"$log" &
pid=$!

# The startup line names the bound ports: ... streambus is serving kafka=H:P http=H:P ...
kafka="" http=""
for _ in $(seq 300); do
  kill -0 "$pid" 2>/dev/null || fail_start "streambus exited before serving"
  line=$(grep -m1 'streambus is serving' "$log" || true)
  if [ -n "$line" ]; then
    kafka=$(sed -E 's/.* kafka=([^ ]+).*/\1/' <<<"$line")
    http=$(sed -E 's/.* http=([^ ]+).*/\1/' <<<"$line")
    break
  fi
  sleep 0.1
done
[ -n "$kafka" ] && [ -n "$http" ] || fail_start "no startup line within 30 s"
for _ in $(seq 100); do
  [ "$(http_status "$http" /health/ready)" = 200 ] && break
  sleep 0.1
done
[ "$(http_status "$http" /health/ready)" = 200 ] || fail_start "/health/ready is not 200 within 10 s"
echo "compat: streambus serving kafka=$kafka http=$http"

export STREAMBUS_BOOTSTRAP="$kafka"
export STREAMBUS_HTTP="$http"
failed=0

echo "==> compat: kcat_test.sh"
if timeout 90 bash "$here/kcat_test.sh"; then
  echo "compat: kcat_test.sh passed"
else
  echo "compat: kcat_test.sh FAILED"
  failed=1
fi

echo "==> compat: schemathesis_test.sh"
if timeout 150 bash "$here/schemathesis_test.sh"; then
  echo "compat: schemathesis_test.sh passed"
else
  echo "compat: schemathesis_test.sh FAILED"
  failed=1
fi

echo "==> compat: pytest"
cd "$here"
timeout 150 "$python" -m pytest -p no:cacheprovider -rfE kafka_python_test.py confluent_kafka_test.py \
  kafka_python_groups_test.py confluent_kafka_groups_test.py metrics_test.py
[ $? -eq 0 ] || failed=1

# Stop the broker; say something only if it does not stop cleanly, so that pytest's summary
# stays the last line of a good run.
kill -TERM "$pid"
for _ in $(seq 100); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  echo "compat: streambus did not stop within 10 s of SIGTERM"
  failed=1
else
  wait "$pid"
  code=$?
  pid=""
  if [ "$code" -ne 0 ] || ! grep -q 'stopped cleanly' "$log"; then
    echo "compat: streambus exited with $code after SIGTERM, without a clean stop; its log:"
    tail -n 50 "$log"
    failed=1
  fi
fi
exit "$failed"
