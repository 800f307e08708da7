"""One poller per client for every run it waits on or watches.

However many runs a client waits on or watches, one poller task makes the
requests. Two kinds of followers share it: waiters (``runs.wait_for``, through
``join``/``leave``) and subscribers (the feeds of ``runs.watch()``, through
``subscribe``/``subscribe_list``). Each round it observes the runs that are
due, either with one ``GET /runs/{id}`` per run or by walking the runs list
(pages of 1,000), whichever took fewer requests the last time it looked: few
waits in a big organization stay per run, many waits cost a page or two. A run
missing from a walk that read the whole list is checked with a GET; a 404 ends
its waiters with ViNotFoundError (and is a "removed" for watches).

Every run keeps its own cadence (adaptive, or the smallest ``poll_interval`` of
its followers, with jitter), and a walk counts as a poll of every run it saw.
Observations reach followers in order, and an unchanged run is not decoded
again. The poller starts with the first follower and is cancelled (and
awaited) when the last one leaves; a run's GET in flight is cancelled when its
last follower leaves, so cancelling never leaves a task or a request behind.
Failures that may pass (an outage longer than the transport's retries) are
ridden out, polling more slowly; each waiter's own deadline still bounds it.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import anyio

from .._http import json as _json
from .._http.retry import is_transient
from .._observe.logging import sdk_logger
from ..errors import ViNotFoundError
from ..models import Run
from .cadence import PollSchedule

logger = sdk_logger("vi_async.runs")

GetRaw = Callable[[str], Awaitable[Any]]  # a run's JSON
FetchPage = Callable[[str | None], Awaitable[Any]]  # a list page's answer, undecoded
ParsePage = Callable[[Any], tuple[list[Any], str | None]]  # -> its items and next token
Decode = Callable[[Any], Run]

# With no walk seen yet, the list is tried only for this many due runs or more, and
# reads at most half as many pages as there are due runs: a probe of an unknown
# organization never costs more than half again the per-run requests, once.
PROBE_MIN = 16
# Runs due within this fraction of their delay are polled in the same round.
COALESCE = 0.3
# Items of a page handled between two yields to the event loop (a few ms of work).
CHUNK = 100


class Subscriber(Protocol):
    """What the poller tells a subscriber: the feed of a ``runs.watch()`` (``watch.RunFeed``)."""

    def observe(self, run: Run) -> None:
        """A run was seen (maybe unchanged)."""

    def gone(self, run_id: str) -> None:
        """A run the subscriber may know does not exist."""

    def walked(self) -> None:
        """A walk of the whole list has ended (subscribers to the whole list only)."""

    def fail(self, error: BaseException) -> None:
        """Polling cannot go on for this subscriber."""


def _fingerprint(raw: Any) -> tuple[Any, bytes]:
    # What changes when a run changes: its etag (spec, metadata) and its status, which
    # some servers (ours) change without a new etag. Bytes, so that a thousand runs'
    # fingerprints add no containers for the garbage collector to walk.
    return raw.get("etag"), _json.dumps(raw.get("status"))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Parsing a 1,000-run page makes ~30,000 containers that live until the page is
    handled. Collections running meanwhile would move them all to the oldest
    generation, which sets off a full collection of the heap nearly every walk
    (measured: 60-165 ms pauses). Paused, they are freed by reference counting
    before any collection sees them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class PolledRun:
    """One run being polled: its latest state, its waiters and subscribers, its cadence."""

    __slots__ = (
        "changed",
        "due",
        "ended",
        "error",
        "fingerprint",
        "intervals",
        "latest",
        "phases",
        "polls",
        "run_id",
        "schedule",
        "seen_round",
        "subscribers",
        "task",
        "waiters",
    )

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.latest: Run | None = None
        self.fingerprint: tuple[Any, bytes] | None = None
        # The first Run seen in each phase, in order; kept only once a waiter has an
        # on_update callback (thousands of plain waits need not hold the history).
        self.phases: list[Run] | None = None
        self.error: BaseException | None = None
        self.changed = asyncio.Event()
        self.waiters = 0
        self.subscribers: list[tuple[Subscriber, float | None]] = []
        self.intervals: list[float | None] = []  # the waiters' poll_interval
        self.schedule = PollSchedule()
        self.due = 0.0
        self.seen_round = -1
        self.polls = 0
        self.task: asyncio.Task[None] | None = None
        self.ended = False

    def publish(self, run: Run | None = None, error: BaseException | None = None) -> None:
        """Record a new observation and wake every waiter."""
        if run is not None:
            self.latest = run
            self.ended = run.is_terminal
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

    def idle(self) -> bool:
        """Nobody follows this run any more."""
        return self.waiters == 0 and not self.subscribers

    def finished(self) -> bool:
        """Only waiters follow it, and it has ended (or failed): no more polls."""
        return not self.subscribers and (self.error is not None or self.ended)

    def cadence_changed(self) -> None:
        """Followers came or went: poll at the smallest interval asked for, if any."""
        asked = [*self.intervals, *(interval for _, interval in self.subscribers)]
        fixed = [i for i in asked if i is not None]
        self.schedule.interval = min(fixed) if fixed else None

    def reschedule(self, now: float) -> None:
        """Set when this run is next due, from its cadence."""
        self.due = math.inf if self.finished() else now + self.schedule.next_delay()


class ListPoller:
    """Polls a client's runs for its waits and watches (see the module docstring)."""

    def __init__(
        self,
        get_raw: GetRaw,
        fetch_page: FetchPage,
        parse_page: ParsePage,
        decode: Decode,
        *,
        max_concurrent_polls: int = 64,
    ) -> None:
        self._get_raw = get_raw
        self._fetch_page = fetch_page
        self._parse_page = parse_page
        self._decode = decode
        self._polled: dict[str, PolledRun] = {}
        self._list_subscribers: list[tuple[Subscriber, PollSchedule]] = []
        self._list_due: dict[int, float] = {}  # id(subscriber) -> when it next needs a walk
        # What list-wide subscribers last saw of each run (fingerprint, decoded run).
        self._seen: dict[str, tuple[tuple[Any, bytes], Run]] = {}
        self._slots = asyncio.Semaphore(max_concurrent_polls)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._round = 0
        self._list_changed = False
        # Pages the last walk needed (None: never walked). A walk stopped at its
        # budget leaves a lower bound.
        self.pages: int | None = None
        # False once the server refused the list (or for a benchmark's baseline).
        self.list_enabled = True
        self._list_error: BaseException | None = None

    # -- subscribers ------------------------------------------------------------------

    def active_runs(self) -> int:
        """How many runs are followed right now, for waits and per-run subscribers."""
        return len(self._polled)

    def _polled_run(self, run_id: str) -> PolledRun:
        polled = self._polled.get(run_id)
        if polled is None:
            polled = self._polled[run_id] = PolledRun(run_id)
            self._kick()
        self._start()
        return polled

    def join(self, run_id: str, poll_interval: float | None) -> PolledRun:
        """Follow a run for a waiter; it is polled at once if nobody followed it.

        Args:
            run_id: The run to follow.
            poll_interval: Poll at least this often (seconds), or None to adapt.

        Returns:
            The run's record, shared by everyone following it.
        """
        polled = self._polled_run(run_id)
        polled.waiters += 1
        polled.intervals.append(poll_interval)
        polled.cadence_changed()
        return polled

    async def leave(self, polled: PolledRun, poll_interval: float | None) -> None:
        """A waiter stops following a run; the last one out cancels its polls."""
        polled.waiters -= 1
        polled.intervals.remove(poll_interval)
        polled.cadence_changed()
        await self._drop_if_idle(polled)

    def subscribe(self, run_id: str, subscriber: Subscriber, poll_interval: float | None) -> None:
        """Follow a run for ``subscriber`` until it unsubscribes.

        Args:
            run_id: The run to follow.
            subscriber: Told of every observation of the run.
            poll_interval: Poll at least this often (seconds), or None to adapt.
        """
        polled = self._polled_run(run_id)
        polled.subscribers.append((subscriber, poll_interval))
        polled.cadence_changed()
        if polled.due == math.inf:  # ended for its waiters; a subscriber goes on
            polled.due = 0.0
            self._kick()

    async def unsubscribe(self, run_id: str, subscriber: Subscriber) -> None:
        """``subscriber`` stops following a run; the last one out cancels its polls."""
        polled = self._polled.get(run_id)
        if polled is None:
            return
        polled.subscribers = [(w, i) for w, i in polled.subscribers if w is not subscriber]
        polled.cadence_changed()
        await self._drop_if_idle(polled)

    async def _drop_if_idle(self, polled: PolledRun) -> None:
        if not polled.idle():
            return
        if self._polled.get(polled.run_id) is polled:
            del self._polled[polled.run_id]
        await _cancel(polled.task)
        await self._stop_if_idle()

    def subscribe_list(self, subscriber: Subscriber, poll_interval: float | None) -> None:
        """Follow the whole list for ``subscriber`` (walked every round it is due).

        Args:
            subscriber: Told of every run each walk shows, and when a walk ends.
            poll_interval: Walk at least this often (seconds), or None to adapt.
        """
        if self._list_error is not None:  # the server refused the list before
            subscriber.fail(copy.copy(self._list_error))
            return
        self._list_subscribers.append((subscriber, PollSchedule(poll_interval)))
        self._list_due[id(subscriber)] = 0.0
        self._kick()
        self._start()

    async def unsubscribe_list(self, subscriber: Subscriber) -> None:
        """Stop following the whole list for ``subscriber``."""
        self._list_subscribers = [(w, s) for w, s in self._list_subscribers if w is not subscriber]
        self._list_due.pop(id(subscriber), None)
        if not self._list_subscribers:
            self._seen.clear()
        await self._stop_if_idle()

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="vi-async list poller"
            )

    def _kick(self) -> None:
        self._wake.set()

    async def _stop_if_idle(self) -> None:
        if self._polled or self._list_subscribers:
            return
        task, self._task = self._task, None
        await _cancel(task)

    # -- the loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while self._polled or self._list_subscribers:
                now = time.monotonic()
                due, walk_all = self._due(now)
                if not due and not walk_all:
                    await self._sleep(self._next_due() - now)
                    continue
                self._round += 1
                await self._poll(due, walk_all)
        except Exception as exc:  # a bug must not leave waiters hanging silently
            logger.exception("the run poller failed")
            for polled in list(self._polled.values()):
                polled.publish(error=exc)
            for subscriber, _ in self._list_subscribers:
                subscriber.fail(exc)

    def _next_due(self) -> float:
        dues = [t.due for t in self._polled.values()]
        dues.extend(self._list_due.values())
        return min(dues, default=math.inf)

    async def _sleep(self, delay: float) -> None:
        self._wake.clear()
        if delay <= 0:
            return
        with anyio.move_on_after(None if delay == math.inf else delay):
            await self._wake.wait()

    def _due(self, now: float) -> tuple[list[PolledRun], bool]:
        due = [t for t in self._polled.values() if t.due <= now]
        walk_all = self.list_enabled and any(t <= now for t in self._list_due.values())
        return due, walk_all

    def _due_soon(self, now: float) -> list[PolledRun]:
        """The runs due now or within a fraction of their delay: what a walk would poll."""
        return [
            t
            for t in self._polled.values()
            if t.due <= now + COALESCE * (t.schedule.interval or 0.2)
        ]

    async def _poll(self, due: list[PolledRun], walk_all: bool) -> None:
        now = time.monotonic()
        walked: bool | None = False
        soon = len(self._due_soon(now)) if due and self.list_enabled else 0
        if walk_all:
            self._list_changed = False
            walked = await self._walk(budget=None, everything=True)
            for subscriber, schedule in self._list_subscribers:
                if self._list_due.get(id(subscriber), math.inf) <= now:
                    if self._list_changed:
                        schedule.reset()
                    self._list_due[id(subscriber)] = time.monotonic() + schedule.next_delay()
        elif soon and self._list_is_cheaper(soon):
            # Runs due a little later ride along: a walk polls them at no extra cost,
            # and the next round finds them all due together again.
            budget = soon - 1 if self.pages is not None else soon // 2
            walked = await self._walk(budget=budget, everything=False)
        left = [t for t in due if t.seen_round != self._round]
        if walked is None:  # the walk hit an outage: everyone waits a little
            later = time.monotonic()
            for polled in left:
                polled.reschedule(later)
            return
        # Read to the end of the list, so whatever it did not show is checked with a GET.
        missing = [t for t in self._polled.values() if walked and t.seen_round != self._round]
        await self._get_each(dict.fromkeys([*left, *missing]))

    def _list_is_cheaper(self, due: int) -> bool:
        if self.pages is None:
            return due >= PROBE_MIN
        return self.pages < due

    async def _walk(self, *, budget: int | None, everything: bool) -> bool | None:
        """Walk the list, observing what it shows. True: it read the whole list;
        False: it stopped early (everyone seen, or the budget); None: an outage."""
        wanted = set(self._polled)
        seen: set[str] = set()
        token: str | None = None
        pages = 0
        tokens: set[str] = set()
        while True:
            if budget is not None and pages >= budget:
                self.pages = pages + 1  # at least
                return False
            try:
                answer = await self._fetch_page(token)
                with _collector_paused():
                    items, token = self._parse_page(answer)
                    del answer
                    await self._handle_page(items, seen, everything)
                    del items
            except Exception as exc:
                if is_transient(exc):
                    logger.info("walking the runs list: %s; will poll again", exc)
                    return None
                # A server that will not list (or not 1,000 at a time): poll per run.
                logger.info("the runs list failed (%s); polling runs one by one", exc)
                self.list_enabled = False
                self._list_error = exc
                for subscriber, _ in self._list_subscribers:
                    subscriber.fail(exc)
                return False
            pages += 1
            if not token or token in tokens:
                break
            tokens.add(token)
            if not everything and wanted <= seen:
                self.pages = pages
                return False
            await asyncio.sleep(0)
        self.pages = pages
        if everything:
            for run_id in [r for r in self._seen if r not in seen]:
                if run_id not in self._polled:
                    await self._check_gone(run_id)
            for subscriber, _ in self._list_subscribers:
                subscriber.walked()
        return True

    async def _handle_page(self, items: list[Any], seen: set[str], everything: bool) -> None:
        for start in range(0, len(items), CHUNK):
            if start:
                await asyncio.sleep(0)  # decoding is CPU work: let the loop breathe
            now = time.monotonic()
            for raw in items[start : start + CHUNK]:
                run_id = raw.get("runId") if isinstance(raw, dict) else None
                if isinstance(run_id, str):
                    seen.add(run_id)
                    self._saw(run_id, raw, now, list_wide=everything)

    def _saw(self, run_id: str, raw: Any, now: float, *, list_wide: bool) -> None:
        """One run as a response showed it: decode it if it changed, tell subscribers."""
        polled = self._polled.get(run_id)
        if polled is None and not list_wide:
            return  # nobody follows this run: no need to decode it
        fingerprint = _fingerprint(raw)
        known = self._seen.get(run_id) if list_wide else None
        run: Run | None = None
        if polled is not None and polled.fingerprint == fingerprint:
            run = polled.latest
        elif known is not None and known[0] == fingerprint:
            run = known[1]
        if run is None:
            try:
                run = self._decode(raw)
            except Exception as exc:
                if polled is not None:
                    self._fail(polled, exc)
                return
        if list_wide:
            if known is None or known[0] != fingerprint:
                self._list_changed = True
            self._seen[run_id] = (fingerprint, run)
            for subscriber, _ in self._list_subscribers:
                subscriber.observe(run)
        if polled is None or polled.error is not None:
            return
        polled.polls += 1
        polled.seen_round = self._round
        if polled.fingerprint != fingerprint:
            previous = polled.latest
            polled.fingerprint = fingerprint
            if previous is None or previous.phase is not run.phase:
                polled.schedule.reset()
            polled.publish(run)
        for subscriber, _ in polled.subscribers:
            subscriber.observe(run)
        polled.reschedule(now)

    async def _get_each(self, polled_runs: Iterable[PolledRun]) -> None:
        loop = asyncio.get_running_loop()
        tasks = []
        for polled in polled_runs:
            if polled.task is None and self._polled.get(polled.run_id) is polled:
                polled.task = loop.create_task(
                    self._get_one(polled), name=f"vi-async poll {polled.run_id}"
                )
                tasks.append(polled.task)
        if not tasks:
            return
        try:
            await asyncio.wait(tasks)
        finally:
            for task in tasks:
                task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.wait(tasks)

    async def _get_one(self, polled: PolledRun) -> None:
        try:
            async with self._slots:
                raw = await self._get_raw(polled.run_id)
        except Exception as exc:
            if self._polled.get(polled.run_id) is not polled:
                return
            if isinstance(exc, ViNotFoundError):
                for subscriber, _ in polled.subscribers:
                    subscriber.gone(polled.run_id)
                self._fail(polled, exc)
            elif is_transient(exc):
                # The transport's retries ran out (an outage): keep waiting, more
                # slowly; each waiter's own deadline still bounds the wait.
                logger.info("polling run %s: %s; will poll again", polled.run_id, exc)
                polled.reschedule(time.monotonic())
            else:
                self._fail(polled, exc)
            return
        finally:
            polled.task = None
        if self._polled.get(polled.run_id) is polled:
            self._saw(polled.run_id, raw, time.monotonic(), list_wide=bool(self._list_subscribers))

    async def _check_gone(self, run_id: str) -> None:
        """A run a list-wide subscriber knew is missing from the list: is it gone?"""
        try:
            raw = await self._get_raw(run_id)
        except ViNotFoundError:
            self._seen.pop(run_id, None)
            for subscriber, _ in self._list_subscribers:
                subscriber.gone(run_id)
            return
        except Exception as exc:
            if not is_transient(exc):
                raise
            return
        self._saw(run_id, raw, time.monotonic(), list_wide=True)

    def _fail(self, polled: PolledRun, error: BaseException) -> None:
        """End the run's waiters with ``error``; its subscribers go on with a fresh record."""
        if self._polled.get(polled.run_id) is polled:
            del self._polled[polled.run_id]
        if polled.subscribers:
            fresh = self._polled[polled.run_id] = PolledRun(polled.run_id)
            fresh.subscribers, polled.subscribers = polled.subscribers, []
            fresh.schedule = polled.schedule
            fresh.cadence_changed()
            fresh.reschedule(time.monotonic())
        polled.publish(error=error)


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is None or task.done():
        return
    task.cancel()
    with anyio.CancelScope(shield=True):
        await asyncio.wait([task])
