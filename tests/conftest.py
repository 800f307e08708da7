"""Shared test configuration: the anyio backend, and helpers over the local server.

The ``vi_server`` / ``vi_client`` / ``vi_server_thread`` fixtures come from the
``vi_async.testing`` pytest plugin, which the package registers.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """vi_async runs on asyncio (aiohttp)."""
    return "asyncio"
