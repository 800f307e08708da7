"""``runs.watch()``: a stream of RunEvents built on the client's poller.

Guarantee: each change the poller sees of a watched run is reported once, in
the order seen for that run; events wait in the watch's own queue, so a slow
consumer loses none. A watch of given ids follows just those runs (per run or
by list walks, whichever is cheaper); a watch of every run walks the list.
Closing the iterator (leaving the ``async for``, ``aclose()``, cancellation)
unsubscribes it at once, and the poller stops when nobody else needs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable

from ..models import Run, RunEvent, RunPhase
from .poller import ListPoller


class RunFeed:
    """The feed of one ``runs.watch()``: turns the poller's observations into RunEvents.

    It is the watch's ``poller.Subscriber``; events wait in ``queue`` for the consumer.

    Args:
        run_ids: The runs watched, or None for every run.
        phases: Report only runs in these phases, or None for every phase.
        snapshot: Report the runs first seen as "added" (else start quietly).
    """

    def __init__(
        self,
        run_ids: frozenset[str] | None,
        phases: frozenset[RunPhase] | None,
        *,
        snapshot: bool,
    ) -> None:
        self._run_ids = run_ids
        self._phases = phases
        self._snapshot = snapshot
        self._last: dict[str, Run] = {}  # the last state seen of each run
        self._in_view: set[str] = set()  # runs that match (reported as added)
        self._looked: set[str] = set()  # ids looked at once (a watch of ids)
        self._walked = False  # a walk of the whole list has ended (a watch of all)
        self.queue: asyncio.Queue[RunEvent | BaseException] = asyncio.Queue()

    def _first_look(self, run_id: str) -> bool:
        if self._run_ids is None:
            return not self._walked
        if run_id in self._looked:
            return False
        self._looked.add(run_id)
        return True

    def _emit(self, kind: str, run: Run, previous: Run | None, quiet: bool) -> None:
        if not quiet:
            self.queue.put_nowait(RunEvent(kind, run, previous))  # type: ignore[arg-type]

    def observe(self, run: Run) -> None:
        """A run was seen: report what changed since the last look."""
        run_id = run.run_id
        if self._run_ids is not None and run_id not in self._run_ids:
            return
        last = self._last.get(run_id)
        if last is run:
            return
        first = self._first_look(run_id)
        self._last[run_id] = run
        if last is not None and last == run:
            return
        quiet = first and not self._snapshot
        matches = self._phases is None or run.phase in self._phases
        if matches and run_id not in self._in_view:
            self._in_view.add(run_id)
            self._emit("added", run, last, quiet)
        elif matches:
            self._emit("changed", run, last, quiet)
        elif run_id in self._in_view:
            self._in_view.discard(run_id)
            self._emit("removed", run, last, quiet)

    def gone(self, run_id: str) -> None:
        """The run does not exist (any more)."""
        self._first_look(run_id)
        last = self._last.pop(run_id, None)
        if last is not None and run_id in self._in_view:
            self._in_view.discard(run_id)
            self._emit("removed", last, last, False)

    def walked(self) -> None:
        """A walk of the whole list ended: later new runs are "added"."""
        self._walked = True

    def fail(self, error: BaseException) -> None:
        """Polling cannot go on: the iterator raises ``error``."""
        self.queue.put_nowait(error)


async def watch_runs(
    poller: ListPoller,
    run_ids: Iterable[str] | None,
    phases: frozenset[RunPhase] | None,
    *,
    poll_interval: float | None,
    snapshot: bool,
) -> AsyncGenerator[RunEvent, None]:
    """Yield RunEvents until closed (see RunsResource.watch); arguments are already checked.

    Args:
        poller: The client's poller.
        run_ids: The runs to watch, or None for every run of the organization.
        phases: Report only runs in these phases, or None for every phase.
        poll_interval: Poll at least this often (seconds), or None to adapt.
        snapshot: Start with an "added" for each run already in view.

    Yields:
        Each change of a watched run, once, in the order seen for that run.
    """
    ids = None if run_ids is None else list(dict.fromkeys(run_ids))
    if ids == []:
        return
    feed = RunFeed(None if ids is None else frozenset(ids), phases, snapshot=snapshot)
    try:
        if ids is None:
            poller.subscribe_list(feed, poll_interval)
        else:
            for run_id in ids:
                poller.subscribe(run_id, feed, poll_interval)
        while True:
            item = await feed.queue.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        if ids is None:
            await poller.unsubscribe_list(feed)
        else:
            for run_id in ids:
                await poller.unsubscribe(run_id, feed)
