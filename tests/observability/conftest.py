"""Fixtures of the observability tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from reliability.hostile import HostileServer

from .obs_support import Spans, instrumented


@pytest.fixture
def spans() -> Iterator[Spans]:
    """vi_async instrumented into an in-memory span exporter for the test."""
    yield from instrumented()


@pytest.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    """A hostile HTTP server (tests/reliability/hostile.py) on a free loopback port."""
    server = HostileServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
