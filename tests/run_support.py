"""Helpers shared across the test suite (importable as ``run_support`` from any test).

Run metadata for the local server, the sync client and its loop threads, waiting
for a condition (async and blocking twins), the SDK's live tasks, and what the
server's request counters say about polling.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    import vi_sync
    from vi_async.local import LocalServer

GET_RUN = "GET /workspaces/{org}/runs/{runId}"
LIST_RUNS = "GET /workspaces/{org}/runs"
GET_LOGS = "GET /workspaces/{org}/runs/{runId}/logs"
#: The thread a vi_sync client runs its event loop on.
LOOP_THREAD = "vi_sync.Client-loop"
#: A run that starts at once and runs for a minute (kill it, or let the server go).
LONG_RUN = {"vi-local/pending-seconds": "0", "vi-local/running-seconds": "60"}


def run_meta(
    outcome: str = "Succeeded", *, pending: float = 0.05, running: float = 0.3
) -> dict[str, str]:
    """Metadata that sets the local server's outcome and timing for one run."""
    return {
        "vi-local/outcome": outcome,
        "vi-local/pending-seconds": str(pending),
        "vi-local/running-seconds": str(running),
    }


def make_client(server: LocalServer, **settings: Any) -> vi_sync.Client:
    """A vi_sync client for ``server``, built the way the official docs build one."""
    import vi_sync

    return vi_sync.Client(
        secret_key=server.secret_key,
        organization_id=server.organization_id,
        endpoint=server.endpoint,
        **settings,
    )


def loop_threads() -> list[threading.Thread]:
    """The event-loop threads of vi_sync clients alive now."""
    return [t for t in threading.enumerate() if t.name == LOOP_THREAD]


def _timed_out(timeout: float, describe: Callable[[], object] | None) -> AssertionError:
    detail = f": {describe()!r}" if describe is not None else ""
    return AssertionError(f"condition not reached within {timeout}s{detail}")


async def wait_until(
    condition: Callable[[], bool],
    timeout: float = 10.0,
    describe: Callable[[], object] | None = None,
) -> None:
    """Poll ``condition`` every 10 ms until it holds; AssertionError after ``timeout``
    (with ``describe()`` in the message, when given). The blocking twin is :func:`eventually`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise _timed_out(timeout, describe)
        await anyio.sleep(0.01)  # polling state we cannot subscribe to


def eventually(
    condition: Callable[[], bool],
    timeout: float = 10.0,
    describe: Callable[[], object] | None = None,
) -> None:
    """:func:`wait_until` for threads without an event loop (blocks the caller)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise _timed_out(timeout, describe)
        time.sleep(0.01)


def sdk_tasks() -> list[asyncio.Task[object]]:
    """The SDK's polling tasks alive on this event loop (all named ``vi-async ...``)."""
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("vi-async")]


def sdk_tasks_anywhere() -> list[asyncio.Task[object]]:
    """:func:`sdk_tasks` on every event loop of the process (a vi_sync client's loop
    runs on its own thread, out of reach of ``asyncio.all_tasks()``)."""
    gc.collect()
    return [
        t
        for t in gc.get_objects()
        if isinstance(t, asyncio.Task) and not t.done() and t.get_name().startswith("vi-async")
    ]


def run_polls(server: LocalServer) -> int:
    """Requests the server has answered about runs' state (GET run, list runs)."""
    counts = server.request_counts
    return counts[GET_RUN] + counts[LIST_RUNS]


#: Long enough for any poll interval the tests use (at most 0.1 s) to have fired twice.
QUIET_WINDOW = 0.3


async def assert_polling_stopped(server: LocalServer, window: float = QUIET_WINDOW) -> None:
    """Nothing polls the server about runs any more: no GET run or list runs request
    arrives during ``window`` seconds (after a moment for requests already sent)."""
    await anyio.sleep(0.05)
    before = run_polls(server)
    await anyio.sleep(window)
    assert run_polls(server) == before, "runs are still being polled"


def assert_polling_stopped_blocking(server: LocalServer, window: float = QUIET_WINDOW) -> None:
    """:func:`assert_polling_stopped` for sync tests (the server runs on its own thread)."""
    time.sleep(0.05)
    before = run_polls(server)
    time.sleep(window)
    assert run_polls(server) == before, "runs are still being polled"
