"""Schemathesis hooks for schemathesis_test.sh: keep the fuzzer off what the other compat
tests share with it on the same broker.

- Path names starting with "__" (internal topics like __consumer_offsets, which the fuzzer
  learns from GET /api/v1/topics) are renamed, so that it cannot delete, grow or trim them
  under the group tests that run next.
- Partition counts are capped: every partition holds open files, and a few topics of
  thousands of partitions would exhaust the broker's file descriptors; the API's own limits
  (1..10000) are exercised by tests/http_api.rs, not here.
"""

import schemathesis

# The largest partition counts the fuzzer may ask for.
MAX_NEW_TOPIC_PARTITIONS = 8
MAX_PARTITION_COUNT = 16


@schemathesis.hook
def map_case(context, case):
    params = case.path_parameters or {}
    for key in ("name", "id"):
        value = params.get(key)
        if isinstance(value, str) and value.startswith("__"):
            params[key] = "fuzz" + value
    body = case.body
    if isinstance(body, dict):
        for key, limit in (("partitions", MAX_NEW_TOPIC_PARTITIONS), ("count", MAX_PARTITION_COUNT)):
            value = body.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > limit:
                body[key] = limit
    return case
