"""pytest plugin: a running local Vi server and clients bound to it.

Installed with vi-async and loaded by pytest automatically. Fixtures:

- ``vi_server``: an in-process LocalServer (async tests; fast run schedule).
- ``vi_client``: a ``vi_async.Client`` bound to ``vi_server``, closed afterwards.
- ``vi_server_thread``: a LocalServer on a background thread, for sync tests.
- ``vi_dialect``: ``"extended"`` or ``"strict"``; the three server fixtures are
  parametrized over both, so every test using them runs once per dialect (the
  dialect shows in the test id, e.g. ``test_x[strict]``, and as a marker,
  ``vi_extended`` or ``vi_strict``: ``-m "not vi_strict"`` runs one half).
  ``@pytest.mark.parametrize("vi_dialect", ["extended"])`` pins a test about an
  extension to the default dialect.

- ``vi_clock``: the servers' clock, ``"real"`` unless the test is marked
  ``@pytest.mark.vi_clock("manual")`` (or overrides the fixture). With a manual
  clock, time stands still until the test calls ``vi_server.advance(seconds)``.

Every test gets fresh servers, so ``vi_server.requests`` (the request journal)
holds only that test's requests. The control methods (``advance``, ``set_run``,
``append_logs``, ``inject``, ``requests``) are plain calls, the same in async
tests (``vi_server``) and sync ones (``vi_server_thread``).

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
    """The run schedule of the test servers: runs end in well under a second.

    Returns:
        The schedule; override the fixture for another one.
    """
    from vi_async.local import RunSchedule

    return RunSchedule(pending_seconds=0.05, running_seconds=0.3, log_interval_seconds=0.05)


DIALECTS = ("extended", "strict")
CLOCKS = ("real", "manual")
# The markers carry the plugin's prefix, so that they never clash with a user's own
# ``strict`` or ``extended`` marker in a session where vi-async happens to be installed.
MARKERS = {dialect: f"vi_{dialect}" for dialect in DIALECTS}


def pytest_configure(config: pytest.Config) -> None:
    """Register the dialect markers (``vi_extended``, ``vi_strict``) and ``vi_clock``.

    Args:
        config: The pytest session's configuration.
    """
    for dialect, marker in MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: runs against the {dialect} local server")
    config.addinivalue_line(
        "markers", 'vi_clock(kind): the local servers\' clock, "real" (default) or "manual"'
    )


@pytest.fixture
def vi_clock(request: pytest.FixtureRequest) -> str:
    """The test servers' clock: ``"real"``, or the ``@pytest.mark.vi_clock(...)`` kind.

    Args:
        request: The requesting test (its ``vi_clock`` marker is read).

    Returns:
        ``"real"`` or ``"manual"``.

    Raises:
        ValueError: The marker names another clock.
    """
    marker = request.node.get_closest_marker("vi_clock")
    if marker is None:
        return "real"
    if len(marker.args) != 1 or marker.args[0] not in CLOCKS:
        raise ValueError(f'use @pytest.mark.vi_clock("real") or ("manual"), got {marker.args}')
    return str(marker.args[0])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test that runs against a server fixture with its dialect.

    Args:
        items: The collected tests.
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        dialect = callspec.params.get("vi_dialect") if callspec is not None else None
        if dialect in DIALECTS:
            item.add_marker(MARKERS[dialect])


@pytest.fixture(params=DIALECTS)
def vi_dialect(request: pytest.FixtureRequest) -> str:
    """The wire dialect of the test servers: ``"extended"`` (local extensions) or ``"strict"``.

    Args:
        request: The requesting test, parametrized over both dialects.

    Returns:
        ``"extended"`` or ``"strict"``.
    """
    return str(request.param)


def _strict(dialect: str) -> bool:
    if dialect not in DIALECTS:
        raise ValueError(f"vi_dialect must be one of {DIALECTS}, got {dialect!r}")
    return dialect == "strict"


@pytest.fixture
async def vi_server(
    vi_run_schedule: RunSchedule, vi_dialect: str, vi_clock: str
) -> AsyncIterator[LocalServer]:
    """A local Vi server on a free loopback port, with an in-memory database.

    Args:
        vi_run_schedule: How fast its runs progress.
        vi_dialect: Its wire dialect.
        vi_clock: Its clock.

    Yields:
        The running server (stopped after the test).

    Raises:
        ValueError: ``vi_dialect`` is neither ``"extended"`` nor ``"strict"``.
    """
    from vi_async.local import LocalServer

    strict = _strict(vi_dialect)
    async with LocalServer(schedule=vi_run_schedule, strict=strict, clock=vi_clock) as server:
        yield server


@pytest.fixture
async def vi_client(vi_server: LocalServer) -> AsyncIterator[Client]:
    """An async client bound to ``vi_server``.

    Args:
        vi_server: The server it talks to.

    Yields:
        The client (closed after the test).
    """
    async with vi_server.client() as client:
        yield client


@pytest.fixture
def vi_server_thread(
    vi_run_schedule: RunSchedule, vi_dialect: str, vi_clock: str
) -> Iterator[LocalServer]:
    """A local Vi server running on a background thread, for synchronous tests.

    Args:
        vi_run_schedule: How fast its runs progress.
        vi_dialect: Its wire dialect.
        vi_clock: Its clock.

    Yields:
        The running server (stopped after the test).

    Raises:
        ValueError: ``vi_dialect`` is neither ``"extended"`` nor ``"strict"``.
    """
    from vi_async.local import LocalServer

    with LocalServer(
        schedule=vi_run_schedule, strict=_strict(vi_dialect), clock=vi_clock
    ) as server:
        yield server
