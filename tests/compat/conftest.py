"""Shared fixtures for the compatibility tests: the broker address and fresh topic names."""

import os
import uuid

import pytest


@pytest.fixture(scope="session")
def bootstrap():
    """The broker's host:port, from STREAMBUS_BOOTSTRAP (run.sh sets it)."""
    address = os.environ.get("STREAMBUS_BOOTSTRAP")
    if not address:
        pytest.fail("set STREAMBUS_BOOTSTRAP to a running broker's host:port (run.sh does)")
    return address


@pytest.fixture
def topic_name(request):
    """A topic name no other test uses."""
    return f"{request.node.name[:40].replace('[', '-').replace(']', '')}-{uuid.uuid4().hex[:8]}"


def value_of(i: int) -> bytes:
    """Message i's value: a unique prefix, then 0 to 300 bytes covering every byte value."""
    return f"v{i}:".encode() + bytes((i * 31 + j * 7) % 256 for j in range(i % 301))
