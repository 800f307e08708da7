"""Fixtures for the local server tests: a running LocalServer and an HTTP helper."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from local_support import FAST, Api

from vi_async.local import LocalServer


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    """A fresh in-memory server with a fast run schedule."""
    async with LocalServer(schedule=FAST) as srv:
        yield srv


@pytest.fixture
async def api(server: LocalServer) -> AsyncIterator[Api]:
    """An HTTP helper authenticated as the server's default organization."""
    async with aiohttp.ClientSession() as session:
        yield Api(session, server.endpoint, server.organization_id, server.secret_key)
