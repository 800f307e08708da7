"""pytest plugin: a running local Vi server and clients bound to it.

Installed with vi-async and loaded by pytest automatically. Fixtures:

- ``vi_server``: an in-process LocalServer (async tests; fast run schedule).
- ``vi_client``: a ``vi_async.Client`` bound to ``vi_server``, closed afterwards.
- ``vi_server_thread``: a LocalServer on a background thread, for sync tests.

Async fixtures run on the anyio pytest plugin (mark tests ``@pytest.mark.anyio``).
Override ``vi_run_schedule`` to change how fast runs progress.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from vi_async import Client
    from vi_async.local import LocalServer, RunSchedule


@pytest.fixture
def vi_run_schedule() -> RunSchedule:
    """The run schedule of the test servers: runs end in well under a second."""
    from vi_async.local import RunSchedule

    return RunSchedule(pending_seconds=0.05, running_seconds=0.3, log_interval_seconds=0.05)


@pytest.fixture
async def vi_server(vi_run_schedule: RunSchedule) -> AsyncIterator[LocalServer]:
    """A local Vi server on a free loopback port, with an in-memory database."""
    from vi_async.local import LocalServer

    async with LocalServer(schedule=vi_run_schedule) as server:
        yield server


@pytest.fixture
async def vi_client(vi_server: LocalServer) -> AsyncIterator[Client]:
    """An async client bound to ``vi_server``."""
    async with vi_server.client() as client:
        yield client


@pytest.fixture
def vi_server_thread(vi_run_schedule: RunSchedule) -> Iterator[LocalServer]:
    """A local Vi server running on a background thread, for synchronous tests."""
    from vi_async.local import LocalServer

    with LocalServer(schedule=vi_run_schedule) as server:
        yield server
