"""One poller per client for every run it waits on or watches.

However many runs a client waits on or watches, one poller task makes the
requests. Two kinds of followers share it: waiters (``runs.wait_for``, through
``join``/``leave``) and subscribers (the feeds of ``runs.watch()``, through
``subscribe``/``subscribe_list``). Each round it observes the runs that are
due, either with one ``GET /runs/{id}`` per run or by walking the runs list
(pages of 1,000), by cost, for any number of waits (``_walk_budget``): few
waits in a big organization stay per run, many waits cost a page or two, and
walks for a crowd of waits are spaced (``WALK_GAP``). A run missing from a walk
that read the whole list is checked with a GET; a 404 ends its waiters with
ViNotFoundError (and is a "removed" for watches).

A hostile list cannot run the poller away: a walk reads at most
``MAX_WALK_PAGES`` pages, and a list that goes on past them or repeats a page
token is broken (ViDecodeError, as for the pager): waits go on per run, watches
of the whole list fail. A walk that lasts lets overdue runs have their GET
between pages. What cannot be a run (no valid id, not decodable) is skipped and
logged once, a run listed twice in one walk counts once, and a phase never goes
back (a stale answer is ignored), so no bad item fails another's wait or makes
"changed" events forever.

Every run keeps its own cadence (adaptive, or the smallest ``poll_interval`` of
its followers, with jitter), and a walk counts as a poll of every run it saw.
Observations reach followers in order, and an unchanged run is not decoded
again. The poller starts with the first follower and is cancelled (and
awaited) when the last one leaves; a run's GET in flight is cancelled when its
last follower leaves, so cancelling never leaves a task or a request behind.
Failures that may pass (an outage longer than the transport's retries) are
ridden out, polling more slowly; but when polls get no answer at all for longer
than the client's ``retry_deadline``, every wait and watch fails with
ViConnectionError (the outage is logged once, as a warning, when it starts).
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
from .._mask import excerpt
from .._observe.logging import sdk_logger
from .._validate import check_id
from ..errors import ViConnectionError, ViDecodeError, ViNotFoundError, ViTimeoutError
from ..models import Run
from ..pagination import SeenTokens
from .cadence import PollSchedule
from .phases import went_back

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
# A walk reads at most this many pages (a million runs): a list that goes on and on
# (fresh tokens forever) is broken, like one that repeats a token, and is given up.
MAX_WALK_PAGES = 1_000
# During a walk that lasts, runs due this long ago (seconds) that it has not shown
# yet get their own GET between two pages: a slow or endless list holds up no wait.
WALK_PATIENCE = 1.0
# Walks for a crowd of waits (CROWD runs or more) start at least WALK_GAP seconds
# apart, unless a run asks for a shorter fixed interval: runs whose phases keep
# changing would otherwise keep the list at its quickest cadence (each run's reset).
WALK_GAP = 0.75
CROWD = 4
# The ``extra`` key of the log records that open and close an outage (the CLI shows them).
OUTAGE = "vi_outage"


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
        outage_limit: float | None = None,
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
        self._walk_started = -math.inf
        self._list_changed = False
        # Pages the last walk needed (None: never walked). A walk stopped at its
        # budget leaves a lower bound.
        self.pages: int | None = None
        # False once the server refused the list (or for a benchmark's baseline).
        self.list_enabled = True
        self._list_error: BaseException | None = None
        self._pages_exact = False  # self.pages is what a walk took, not a lower bound
        self.max_walk_pages = MAX_WALK_PAGES
        self._outage_limit = outage_limit  # the client's retry_deadline
        self._outage_since: float | None = None  # when polls stopped getting answers
        self._skipped: set[str] = set()  # kinds of bad answers already logged

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
            self._fail_everyone(exc)

    def _next_due(self) -> float:
        hold = self._held_until()
        dues = [t.due if self._exempt(t) else max(t.due, hold) for t in self._polled.values()]
        dues.extend(self._list_due.values())
        return min(dues, default=math.inf)

    def _held_until(self) -> float:
        """When the next walk for several waits may start (see WALK_GAP)."""
        crowd = len(self._polled)
        walking = self.pages is not None and self._pages_exact and self.pages < crowd
        return self._walk_started + WALK_GAP if walking and crowd >= CROWD else -math.inf

    @staticmethod
    def _exempt(polled: PolledRun) -> bool:
        """A run that asked for a fixed interval shorter than WALK_GAP is never held."""
        return polled.schedule.interval is not None and polled.schedule.interval < WALK_GAP

    async def _sleep(self, delay: float) -> None:
        self._wake.clear()
        if delay <= 0:
            return
        with anyio.move_on_after(None if delay == math.inf else delay):
            await self._wake.wait()

    def _due(self, now: float) -> tuple[list[PolledRun], bool]:
        held = now < self._held_until()
        due = [t for t in self._polled.values() if t.due <= now and (not held or self._exempt(t))]
        walk_all = self.list_enabled and any(t <= now for t in self._list_due.values())
        return due, walk_all

    def _due_soon(self, now: float) -> list[PolledRun]:
        """The runs due now or within a fraction of their delay: what a walk would poll."""
        return [t for t in self._polled.values() if t.due <= now + COALESCE * t.schedule.current]

    async def _poll(self, due: list[PolledRun], walk_all: bool) -> None:
        now = time.monotonic()
        walked: bool | None = False
        soon = len(self._due_soon(now)) if due and self.list_enabled else 0
        budget = self._walk_budget(soon) if soon else None
        if walk_all:
            self._list_changed = False
            walked = await self._walk(budget=None, everything=True)
            for subscriber, schedule in self._list_subscribers:
                if self._list_due.get(id(subscriber), math.inf) <= now:
                    if self._list_changed:
                        schedule.reset()
                    self._list_due[id(subscriber)] = time.monotonic() + schedule.next_delay()
        elif budget is not None:
            # Runs due a little later ride along: a walk polls them at no extra cost,
            # and the next round finds them all due together again.
            self._walk_started = now
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

    def _walk_budget(self, due: int) -> int | None:
        """Pages a walk may read in place of ``due`` GETs, or None: GETs are cheaper.

        Known to take P pages, the list is walked when P < due (on a tie a GET
        wins: its answer is one run, not a page of them). Never walked, it is
        probed for two due runs or more with half as many pages as GETs (one
        page tells a small organization). Known only to take more than P pages
        (a walk ran out of budget), it is tried again only for twice as many due
        runs, so failed tries stay few.
        """
        if self.pages is None:
            return due // 2 if due >= 2 else None
        if self._pages_exact:
            return due - 1 if self.pages < due else None
        return due - 1 if due >= 2 * self.pages else None

    def _cost(self, pages: int, *, exact: bool) -> None:
        self.pages, self._pages_exact = pages, exact

    async def _walk(self, *, budget: int | None, everything: bool) -> bool | None:
        """Walk the list, observing what it shows. True: it read the whole list;
        False: it stopped early (everyone seen, the budget, a broken list); None: an outage."""
        wanted = set(self._polled)
        seen: set[str] = set()
        tokens = SeenTokens()
        token: str | None = None
        pages = 0
        started = time.monotonic()
        while True:
            if budget is not None and pages >= budget:
                self._cost(pages + 1, exact=False)  # at least
                return False
            try:
                token = await self._read_page(token, seen, everything)
                pages += 1
                self._check_token(token, tokens, pages)
            except Exception as exc:
                return self._walk_failed(exc)
            if not token:
                break
            if not everything and wanted <= seen:
                self._cost(pages, exact=True)
                return False
            await self._poll_overdue(started)
        self._cost(pages, exact=True)
        if everything:
            for run_id in [r for r in self._seen if r not in seen]:
                if run_id not in self._polled:
                    await self._check_gone(run_id)
            for subscriber, _ in self._list_subscribers:
                subscriber.walked()
        return True

    async def _read_page(self, token: str | None, seen: set[str], everything: bool) -> str | None:
        """Fetch and handle one page of a walk; return the next page's token."""
        answer = await self._fetch_page(token)
        self._answered()
        with _collector_paused():
            items, token = self._parse_page(answer)
            del answer
            await self._handle_page(items, seen, everything)
        return token

    def _check_token(self, token: str | None, tokens: SeenTokens, pages: int) -> None:
        """Raise ViDecodeError, as the pager does, for a list that loops or never ends."""
        if not token:
            return
        if tokens.repeated(token):
            raise ViDecodeError(
                f"The runs list repeated page token {excerpt(token, 40)!r}: the listing loops"
            )
        if pages >= self.max_walk_pages:
            raise ViDecodeError(f"The runs list did not end after {pages} pages")

    def _walk_failed(self, exc: Exception) -> bool | None:
        """A walk failed: None after an outage (poll again later); False when the list
        itself is broken or refused, which then stops being used."""
        if is_transient(exc):
            self._outage(exc)
            logger.info("walking the runs list: %s; will poll again", exc)
            return None
        # A server that will not list (or not 1,000 at a time, or not sanely): per run.
        logger.warning("the runs list failed (%s); polling runs one by one", exc)
        self.list_enabled = False
        self._list_error = exc
        for subscriber, _ in self._list_subscribers:
            subscriber.fail(exc)
        return False

    async def _poll_overdue(self, started: float) -> None:
        """A walk that lasts: runs long overdue that it has not shown get their GET now."""
        now = time.monotonic()
        if now - started < WALK_PATIENCE:
            return
        late = [
            t
            for t in self._polled.values()
            if t.due <= now - WALK_PATIENCE and t.seen_round != self._round
        ]
        if late:
            await self._get_each(late)

    async def _handle_page(self, items: list[Any], seen: set[str], everything: bool) -> None:
        for start in range(0, len(items), CHUNK):
            if start:
                await asyncio.sleep(0)  # decoding is CPU work: let the loop breathe
            now = time.monotonic()
            for raw in items[start : start + CHUNK]:
                run_id = self._listed_id(raw, seen)
                if run_id is not None:
                    seen.add(run_id)
                    self._saw(run_id, raw, now, list_wide=everything, listed=True)

    def _listed_id(self, raw: Any, seen: set[str]) -> str | None:
        """The id of a list item, or None for what cannot be a run (skipped, logged once)."""
        run_id = raw.get("runId") if isinstance(raw, dict) else None
        try:
            check_id(run_id, "runId")
        except (TypeError, ValueError):
            self._skip("an item that is not a run with a valid id", run_id)
            return None
        if run_id in seen:
            self._skip("a run listed twice in one walk (the first is kept)", run_id)
            return None
        return run_id

    def _skip(self, what: str, run_id: object) -> None:
        """Log, once per kind of problem, an answer the poller leaves aside."""
        if what not in self._skipped:
            self._skipped.add(what)
            shown = excerpt(run_id, 60) if isinstance(run_id, str) else type(run_id).__name__
            logger.warning("the server showed %s (%s); skipped", what, shown)

    def _saw(
        self, run_id: str, raw: Any, now: float, *, list_wide: bool, listed: bool = False
    ) -> None:
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
                if listed:  # left unseen: a GET of the run will tell
                    self._skip("a list item that is not a valid Run", run_id)
                elif polled is not None:
                    self._fail(polled, exc)
                return
        last = polled.latest if polled is not None else None
        last = known[1] if last is None and known is not None else last
        if last is not None and last is not run and went_back(last, run):
            # A stale (or lying) answer: keep the later phase, report nothing.
            self._skip("a run whose phase went back (the later one is kept)", run_id)
            if polled is not None and polled.error is None:
                polled.seen_round = self._round
                polled.reschedule(now)
            return
        if list_wide:
            self._saw_list_wide(run_id, fingerprint, run, known)
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

    def _saw_list_wide(
        self,
        run_id: str,
        fingerprint: tuple[Any, bytes],
        run: Run,
        known: tuple[tuple[Any, bytes], Run] | None,
    ) -> None:
        """Record what the list-wide subscribers saw of a run, and tell them."""
        if known is None or known[0] != fingerprint:
            self._list_changed = True
        self._seen[run_id] = (fingerprint, run)
        for subscriber, _ in self._list_subscribers:
            subscriber.observe(run)

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
                # slowly, until the outage outlasts the client's retry deadline.
                if not self._outage(exc):
                    logger.info("polling run %s: %s; will poll again", polled.run_id, exc)
                    polled.reschedule(time.monotonic())
            else:
                self._fail(polled, exc)
            return
        finally:
            polled.task = None
        self._answered()
        if self._polled.get(polled.run_id) is polled:
            self._saw(polled.run_id, raw, time.monotonic(), list_wide=bool(self._list_subscribers))

    async def _check_gone(self, run_id: str) -> None:
        """A run a list-wide subscriber knew is missing from the list: is it gone?"""
        try:
            raw = await self._get_raw(run_id)
        except Exception as exc:
            if is_transient(exc):
                self._outage(exc)
                return
            if not isinstance(exc, ViNotFoundError):  # cannot be read back: gone too
                self._skip("a run that the list dropped and a GET cannot read", run_id)
            self._seen.pop(run_id, None)
            for subscriber, _ in self._list_subscribers:
                subscriber.gone(run_id)
            return
        self._answered()
        self._saw(run_id, raw, time.monotonic(), list_wide=True)

    # -- outages ----------------------------------------------------------------------

    def _answered(self) -> None:
        """The server answered: an outage, if any, is over."""
        if self._outage_since is not None:
            self._outage_since = None
            logger.warning("the server answers again", extra={OUTAGE: "over"})

    def _outage(self, error: BaseException) -> bool:
        """A poll failed after the transport's retries; True when polling gave up.

        An answer that says the server is alive (a 5xx, a 429) is no outage. No
        answer at all (connection refused or dropped, a timeout) starts one,
        logged once as a warning; once it has lasted longer than the client's
        retry deadline, every wait and watch fails with ViConnectionError.
        """
        if not isinstance(error, (ViConnectionError, ViTimeoutError)):
            self._answered()
            return False
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since = now
            limit = self._outage_limit
            logger.warning(
                "the server is unreachable (%s); retrying%s",
                error,
                "" if limit is None else f" for up to {limit:g}s",
                extra={OUTAGE: "start"},
            )
            return False
        elapsed = now - self._outage_since
        if self._outage_limit is None or elapsed < self._outage_limit:
            return False
        gave_up = ViConnectionError(
            f"The server has not answered for {elapsed:.0f}s, longer than the client's "
            f"retry_deadline ({self._outage_limit:g}s); the last failure: {error}"
        )
        gave_up.__cause__ = error
        self._outage_since = None
        self._fail_everyone(gave_up)
        return True

    def _fail_everyone(self, error: BaseException) -> None:
        """End every wait and watch with ``error``: polling cannot go on."""
        for polled in list(self._polled.values()):
            for subscriber, _ in polled.subscribers:
                subscriber.fail(error)
            polled.publish(error=error)
        self._polled.clear()
        for subscriber, _ in self._list_subscribers:
            subscriber.fail(error)
        self._list_subscribers = []
        self._list_due.clear()
        self._seen.clear()

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
