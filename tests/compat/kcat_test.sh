#!/usr/bin/env bash
# kcat (librdkafka's command-line client) against StreamBus at $STREAMBUS_BOOTSTRAP:
# produce keyed messages with headers, read the metadata, consume them back with a format
# string and compare byte for byte. Run by run.sh; every kcat call has a deadline.
set -euo pipefail

bootstrap=${STREAMBUS_BOOTSTRAP:?set STREAMBUS_BOOTSTRAP to the broker address (host:port)}
topic="kcat-$$-$RANDOM"
work=$(mktemp -d "${TMPDIR:-/tmp}/kcat-test.XXXXXX")
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

# Keys, values with spaces, punctuation, a colon after the key separator, UTF-8, an empty
# value; -K: splits each line at the first colon.
cat >"$work/input" <<'EOF'
alpha:first value
beta:second: with a colon
gamma:ünïcödé ✓
delta:
epsilon:{"json": [1, 2, 3]}
EOF

produce() {
  timeout 30 kcat -b "$bootstrap" -P -t "$topic" -p 0 -K: \
    -H trace=abc123 -H origin=kcat \
    -X acks=all -X message.timeout.ms=20000 -l "$work/input"
}

metadata_lists_broker_and_topic() {
  timeout 30 kcat -b "$bootstrap" -L -t "$topic" -m 10 >"$work/metadata"
  cat "$work/metadata"
  grep -Eq "broker [0-9]+ at $bootstrap" "$work/metadata"
  grep -q "topic \"$topic\" with 1 partitions" "$work/metadata"
  grep -Eq 'partition 0, leader [0-9]+, replicas: [0-9]+, isrs: [0-9]+' "$work/metadata"
}

consume_matches_exactly() {
  timeout 30 kcat -b "$bootstrap" -C -t "$topic" -p 0 -o beginning -e -q \
    -f 'p=%p o=%o k=%k v=%s h=%h\n' >"$work/consumed"
  local offset=0
  : >"$work/expected"
  while IFS= read -r line; do
    printf 'p=0 o=%d k=%s v=%s h=trace=abc123,origin=kcat\n' \
      "$offset" "${line%%:*}" "${line#*:}" >>"$work/expected"
    offset=$((offset + 1))
  done <"$work/input"
  diff -u "$work/expected" "$work/consumed"
}

consume_by_key_length_and_offsets() {
  # %K and %S are the key and value lengths in bytes; -o 2 -c 2 reads offsets 2 and 3 only.
  timeout 30 kcat -b "$bootstrap" -C -t "$topic" -p 0 -o 2 -c 2 -e -q \
    -f '%o %K %S|' >"$work/lengths"
  printf '2 5 15|3 5 0|' | diff -u - "$work/lengths"
}

check "produce with -K: and -H" produce
check "-L lists the broker and the topic" metadata_lists_broker_and_topic
check "consume -e with a format string matches byte for byte" consume_matches_exactly
check "consume from an offset with a count" consume_by_key_length_and_offsets

echo "kcat: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
