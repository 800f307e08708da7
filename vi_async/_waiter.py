"""Coalesced waiting on runs.

Any number of concurrent ``wait_for`` calls on the same run id within one
client share one polling loop: the server sees one poll stream per run, not
one per waiter. The loop is an asyncio task owned by the watcher; it starts
with the first waiter and is cancelled (and awaited) when the last one leaves,
so cancelling waiters never leaves a task or a request behind.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ._checks import check_number
from ._polling import PollSchedule
from ._retry import is_transient
from .errors import ViTimeoutError
from .models import Run

logger = logging.getLogger("vi_async")

FetchRun = Callable[[str], Awaitable[Run]]
OnUpdate = Callable[[Run], Any]


class _Stream:
    """The shared state of one run's polling loop."""

    __slots__ = (
        "changed",
        "error",
        "intervals",
        "latest",
        "phases",
        "polls",
        "run_id",
        "task",
        "waiters",
    )

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.latest: Run | None = None
        # The first Run seen in each phase, in order; kept only once a waiter has an
        # on_update callback (thousands of plain waits need not hold the history).
        self.phases: list[Run] | None = None
        self.error: BaseException | None = None
        self.changed = asyncio.Event()
        self.waiters = 0
        self.intervals: list[float | None] = []
        self.polls = 0
        self.task: asyncio.Task[None] | None = None

    def publish(self, run: Run | None = None, error: BaseException | None = None) -> None:
        """Record a new observation and wake every waiter."""
        if run is not None:
            self.latest = run
            phases = self.phases
            if phases is not None and (not phases or phases[-1].phase is not run.phase):
                phases.append(run)
        if error is not None:
            self.error = error
        event, self.changed = self.changed, asyncio.Event()
        event.set()

    def track_phases(self) -> list[Run]:
        """Start keeping the phase history (from the latest Run seen) and return it."""
        if self.phases is None:
            self.phases = [] if self.latest is None else [self.latest]
        return self.phases

    def fixed_interval(self) -> float | None:
        """The smallest poll interval a waiter asked for, or None for adaptive."""
        fixed = [i for i in self.intervals if i is not None]
        return min(fixed) if fixed else None


class RunWatcher:
    """Shares one polling loop per run id among all of a client's waiters."""

    def __init__(self, fetch: FetchRun, *, max_concurrent_polls: int = 64) -> None:
        self._fetch = fetch
        self._streams: dict[str, _Stream] = {}
        # Bounds the polls in flight, so that a thousand waits started together
        # queue up instead of building a thousand requests in one loop pass.
        self._poll_slots = asyncio.Semaphore(max_concurrent_polls)

    def active_streams(self) -> int:
        """How many runs are being polled right now."""
        return len(self._streams)

    async def wait(
        self,
        run_id: str,
        *,
        timeout: float | None,
        poll_interval: float | None,
        on_update: OnUpdate | None,
    ) -> Run:
        """Wait until the run is terminal and return it (see RunsResource.wait_for)."""
        check_number(poll_interval, "poll_interval", positive=True)
        check_number(timeout, "timeout")
        stream = self._join(run_id, poll_interval)
        try:
            with anyio.move_on_after(timeout) as deadline:
                return await self._follow(stream, on_update)
        finally:
            await self._leave(stream, poll_interval)
        # Only the deadline gets here: every other way out of _follow returns or raises.
        assert deadline.cancelled_caught
        last = stream.latest
        phase = last.phase.value if last is not None else "never seen"
        err = ViTimeoutError(
            f"Run {run_id} did not finish within {timeout}s (last phase: {phase})",
            method="GET",
            path=f"runs/{run_id}",
        )
        err.last_run = last
        raise err

    @staticmethod
    async def _follow(stream: _Stream, on_update: OnUpdate | None) -> Run:
        phases = stream.track_phases() if on_update is not None else []
        reported = 0  # how many of phases this waiter has passed to on_update
        while True:
            changed = stream.changed
            run = stream.latest
            # Every phase change is reported, even those seen while a slow callback ran.
            while on_update is not None and reported < len(phases):
                result = on_update(phases[reported])
                reported += 1
                if inspect.isawaitable(result):
                    await result
            if run is not None and run.is_terminal:
                return run
            if stream.error is not None:
                # A copy per waiter: one exception object raised in many tasks would
                # collect all their tracebacks.
                raise copy.copy(stream.error) from stream.error
            if changed is stream.changed:
                await changed.wait()

    def _join(self, run_id: str, poll_interval: float | None) -> _Stream:
        stream = self._streams.get(run_id)
        if stream is None:
            stream = self._streams[run_id] = _Stream(run_id)
        stream.waiters += 1
        stream.intervals.append(poll_interval)
        if stream.task is None:
            stream.task = asyncio.get_running_loop().create_task(
                self._poll(stream), name=f"vi-async poll {run_id}"
            )
        return stream

    async def _leave(self, stream: _Stream, poll_interval: float | None) -> None:
        stream.waiters -= 1
        stream.intervals.remove(poll_interval)
        if stream.waiters > 0:
            return
        if self._streams.get(stream.run_id) is stream:
            del self._streams[stream.run_id]
        task = stream.task
        if task is not None and not task.done():
            task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.wait([task])

    async def _poll(self, stream: _Stream) -> None:
        schedule = PollSchedule()
        try:
            while True:
                schedule.interval = stream.fixed_interval()
                started = time.monotonic()
                try:
                    async with self._poll_slots:
                        run = await self._fetch(stream.run_id)
                except Exception as exc:
                    if not is_transient(exc):
                        stream.publish(error=exc)
                        return
                    # The transport's retries ran out (an outage): keep waiting, more
                    # slowly; each waiter's own deadline still bounds the wait.
                    logger.info("polling run %s: %s; will poll again", stream.run_id, exc)
                    await asyncio.sleep(schedule.next_delay())
                    continue
                stream.polls += 1
                previous = stream.latest
                stream.publish(run)
                if run.is_terminal:
                    return
                if previous is None or previous.phase is not run.phase:
                    schedule.reset()
                delay = schedule.next_delay() - (time.monotonic() - started)
                await asyncio.sleep(max(0.0, delay))
        finally:
            if self._streams.get(stream.run_id) is stream:
                del self._streams[stream.run_id]
