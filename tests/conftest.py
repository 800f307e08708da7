"""Shared test configuration: the anyio backend, the order of the tests, and fixtures.

The ``vi_server`` / ``vi_client`` / ``vi_server_thread`` fixtures come from the
``vi_async.testing`` pytest plugin, which the package registers; ``hostile`` is
a small misbehaving HTTP server for the tests of hostile answers. Helpers shared
by tests are in ``run_support.py`` (and ``cli_host.py`` for the command line).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
from cli_host import close_hosts
from reliability.hostile import HostileServer


def pytest_configure(config: pytest.Config) -> None:
    """Let the Ctrl-C tests' SIGINT through, however the suite was started.

    A shell without job control starts background commands (``cmd &``) with
    SIGINT ignored, and Python then never raises KeyboardInterrupt, nor do the
    CLI subprocesses the tests interrupt (they inherit the ignored signal).
    """
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Two jobs, before pytest's ``-m`` runs:

    - this project's own aliases of the plugin's dialect markers: ``strict`` beside
      ``vi_strict`` and ``extended`` beside ``vi_extended`` (registered in pyproject.toml,
      never by the plugin), so that ``-m "not strict"`` keeps working here; read from
      the ``vi_dialect`` parameter, as the plugin does;
    - tests marked ``slow`` first (in collection order otherwise), so that with several
      workers (``nox -s tests``: ``-n 4 --dist worksteal``) they start early and the run
      does not end with one long test on one worker while the others idle. Slow tests
      in an ``xdist_group`` (they share one expensive module fixture) come first of all:
      the first worker's queue starts with them, and other workers only ever steal from
      the end of a queue, so the group stays on one worker.
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        dialect = callspec.params.get("vi_dialect") if callspec is not None else None
        if dialect in ("strict", "extended"):
            item.add_marker(dialect)

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("slow") is None:
            return 2
        return 0 if item.get_closest_marker("xdist_group") is not None else 1

    items.sort(key=rank)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """vi_async runs on asyncio (aiohttp)."""
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def _cli_host() -> Iterator[None]:
    """Stop the command hosts (tests/cli_host.py) at the end of the session."""
    yield
    close_hosts()


@pytest.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    """A hostile HTTP server (tests/reliability/hostile.py) on a free loopback port."""
    server = HostileServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
