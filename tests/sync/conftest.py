"""Fixtures for the vi_sync tests: a sync client bound to a local server on a thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from run_support import make_client

import vi_sync
from vi_async.local import LocalServer


@pytest.fixture
def sync_client(vi_server_thread: LocalServer) -> Iterator[vi_sync.Client]:
    """A vi_sync client bound to ``vi_server_thread``, closed afterwards."""
    client = make_client(vi_server_thread)
    try:
        yield client
    finally:
        client.close()
