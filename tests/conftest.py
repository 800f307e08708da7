"""Shared test configuration: the anyio backend, and helpers over the local server.

The ``vi_server`` / ``vi_client`` / ``vi_server_thread`` fixtures come from the
``vi_async.testing`` pytest plugin, which the package registers; ``hostile`` is
a small misbehaving HTTP server for the tests of hostile answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from reliability.hostile import HostileServer


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """vi_async runs on asyncio (aiohttp)."""
    return "asyncio"


@pytest.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    """A hostile HTTP server (tests/reliability/hostile.py) on a free loopback port."""
    server = HostileServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
