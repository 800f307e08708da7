"""Adaptive concurrency and a job-wide gate for one bulk job.

Guarantee: a bulk job never has more than ``ceiling`` items in flight, and it
finds the server's capacity by itself instead of sending a storm of requests
that each wait out their own 429.

- **Concurrency (AIMD).** The job starts at a quarter of the ceiling (at least 2) and grows
  by one slot per finished item until the first sign of overload (slow start),
  then by one slot per window of ``limit`` items (additive increase). A 429 or 503, or
  answers markedly slower than the fastest seen (rising latency), halve it
  (multiplicative decrease), at most once per wave: answers to requests sent
  before the last decrease do not decrease it again.
- **One gate for the whole job.** The transport waits on :meth:`before_send`
  before every attempt of the job's requests, retries included. A refused
  request waits out its own ``Retry-After`` (the transport's retry does; it
  sends nothing meanwhile, so it does not count against the adaptive limit,
  only against the ceiling), and the refusal slows the whole job to a pace
  under the rate the server showed (see Pacing), so the job does not send a
  storm that each task waits out. Before the job has a pace, a ``Retry-After`` or a spent quota
  (``Remaining: 0`` with its ``Reset``) pauses every new attempt until then.
- **On trial after a refusal.** A paced job goes on at its slower pace instead
  of pausing: a whole-second ``Retry-After`` or ``Reset`` (most real APIs round
  up) would otherwise stop a 500 requests/s job for a second per wave, while
  a token bucket takes the next request a few milliseconds later. If the
  server refuses ``TRIAL_REFUSALS`` requests sent at the slower pace before it
  takes one (a window limiter, closed until its reset), the whole job pauses
  until the ``Retry-After`` (or ``Reset``) as asked.
- **Pacing.** Concurrency alone cannot slow a job down enough when answers are
  fast (one request in flight at 5 ms is 200 requests/s). Once the server
  refused a request, announced its limit or showed its quota draining, sends
  are also spaced at a rate, learned by :class:`~vi_async.bulk.pacing.RateFinder`
  (its notes say how it finds the server's sustainable rate). While paced, the
  concurrency limit is not cut below what the rate needs at the observed latency
  (the rate is then the brake).

Nothing here yields to the event loop on the fast path (a free slot, an open
gate): a job at full speed pays no scheduling cost for being adaptive.
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from collections.abc import Mapping

import anyio

from .._http.rate_limit import parse_rate_limit
from .._http.retry import parse_retry_after
from .pacing import RateFinder

__all__ = ["AdaptiveLimit"]

logger = logging.getLogger("vi_async.bulk")

DECREASE = 0.5
"""Multiplicative decrease of the concurrency limit."""
LATENCY_FACTOR = 3.0
LATENCY_SLACK = 0.05
"""Answers are "markedly slower" when their smoothed latency is above
``LATENCY_FACTOR`` times the fastest seen and at least this many seconds more."""
OVERLOAD_STATUSES = frozenset({429, 503})
GUESSED_BURST = 10.0
"""The most of a burst guessed from the opening that owed sends may use at once."""
TRIAL_REFUSALS = 2
"""Refusals in a row of requests sent after the job slowed down, each sent after the
one before was answered (none taken in between), that show the server closed until
its Retry-After: the whole job then pauses."""


class AdaptiveLimit:
    """The item slots of one bulk job and the gate on its requests (a ``Pacer``)."""

    def __init__(self, ceiling: int, *, adaptive: bool = True) -> None:
        self.ceiling = ceiling
        self.adaptive = adaptive
        self.limit: float = float(max(min(ceiling, 2), ceiling // 4) if adaptive else ceiling)
        self.in_flight: int = 0
        self.paused_until: float = 0.0
        self.finder = RateFinder()
        """Learns the server's rate and sets the pace (see its notes)."""
        self.answers: int = 0
        self.overloaded: int = 0
        """Answers that were 429 or 503."""
        self.peak: int = int(self.limit)
        self._slow_start = True
        self._decreased_at = -math.inf
        self._next_send = 0.0
        self._last_send = -math.inf
        self._credit = 1.0
        self._credit_at = 0.0
        self._ticket = 0
        self._changed: anyio.Event | None = None
        self._fastest = math.inf
        self._smoothed: float | None = None
        self._latency: float | None = None
        """Smoothed latency of healthy answers (never reset; sizes the paced limit)."""
        self._trial_since: float | None = None
        """When the job went on at its pace instead of pausing for a wait it was asked
        (None: no trial running); see the module notes."""
        self._trial_next = 0.0
        """Refusals of requests sent from then on count against the trial."""
        self._trial_refusals = 0
        self._retries_due: list[float] = []
        """When the refused requests that wait out their own Retry-After send again (a heap)."""
        self.closed: bool = False

    @property
    def rate(self) -> float | None:
        """Requests/s the job is paced at (None: not paced)."""
        return self.finder.rate

    def close(self) -> None:
        """The job ended: a task it left behind (a shared poller) is no longer paced."""
        self.closed = True
        self._notify()

    def __repr__(self) -> str:
        return (
            f"<AdaptiveLimit limit={self.limit:.1f}/{self.ceiling} in_flight={self.in_flight}"
            f" rate={self.rate}>"
        )

    # -- item slots -------------------------------------------------------------------

    def slots(self) -> int:
        """How many items may be in flight now: ``limit`` sending (items waiting out
        their own Retry-After send nothing: they do not count; the pool of
        ``ceiling`` workers bounds them all), and before the job is paced no more
        than the server's last ``Remaining`` says it would take."""
        slots = max(1, int(self.limit)) + min(self.ceiling, self._waiting_retries())
        window = self.finder.window
        if window is not None and self.finder.rate is None:
            slots = min(slots, max(1, window))
        return slots

    async def acquire(self) -> None:
        """Take an item slot, waiting while ``slots()`` items are in flight."""
        while self.in_flight >= self.slots():
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()
        self.in_flight += 1

    def release(self) -> None:
        """Give an item slot back."""
        self.in_flight -= 1
        self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    # -- the gate (the transport's Pacer) ------------------------------------------------

    async def before_send(self, deadline: float) -> None:
        """Wait out a pause or the pacing slot of this attempt (never past ``deadline``)."""
        if self.closed:
            return
        now = time.monotonic()
        slot, ticket = self.reserve(now)
        while slot > now and now < deadline:
            await anyio.sleep(min(slot, deadline) - now)
            now = time.monotonic()
            if self.stale(slot, ticket):
                slot, ticket = self.reserve(now)
        while (wait := self.admit(now)) > 0 and now < deadline:
            await anyio.sleep(min(wait, deadline - now))
            now = time.monotonic()
        self._last_send = now

    def _pause(self, until: float) -> None:
        """Hold back every new attempt until ``until``; no credit builds up meanwhile."""
        if until > self.paused_until:
            self.paused_until = until
            self.finder.paused(until)
            self._credit = min(self._credit, 1.0)
            self._credit_at = until

    def admit(self, now: float) -> float:
        """0 when a paced attempt may go now, else the seconds until it may.

        Slots are spaced at the pace, but a loop held up (a busy machine) wakes
        every sender whose slot passed at once: the sends it owes go out at
        most half the server's burst at a time, the rest at the pace.
        """
        rate = self.finder.rate
        if rate is None or not self.adaptive:
            return 0.0
        # (a burst guessed from the opening, not told by Remaining, may be far too big)
        burst = self.finder.capacity or min(self.finder.burst or 2.0, GUESSED_BURST)
        cap = max(1.0, 0.5 * burst)
        credit = min(cap, self._credit + max(0.0, now - self._credit_at) * rate)
        self._credit_at = now
        if credit >= 1.0 - 1e-9:  # (float noise must not keep a sender waiting)
            self._credit = max(0.0, credit - 1.0)
            return 0.0
        self._credit = credit
        return (1.0 - credit) / rate

    def reserve(self, now: float) -> tuple[float, int]:
        """The pacing slot of an attempt asking at ``now``, and the pace it was given at."""
        finder = self.finder
        if not self.adaptive or finder.rate is None:
            return self.paused_until, finder.slowed
        if self._ticket != finder.slowed:
            # The pace dropped: slots handed out at the old pace are given out anew,
            # and sends owed at the old pace are forgiven.
            self._ticket = finder.slowed
            self._next_send = self._last_send + (finder.spacing(now) or 0.0)
            self._credit = min(self._credit, 1.0)
        slot = max(now, self.paused_until, self._next_send)
        self._next_send = slot + (finder.spacing(slot) or 0.0)
        return slot, self._ticket

    def stale(self, slot: float, ticket: int) -> bool:
        """Whether a slot must be reserved again: the job was paused, or slowed, since."""
        return self.paused_until > slot or ticket != self.finder.slowed

    def after_answer(
        self, sent_at: float, status: int | None, headers: Mapping[str, str] | None
    ) -> None:
        """Adapt to one answer (see the module notes)."""
        if status is None or self.closed:
            return  # no answer: a connection problem, not a capacity signal
        now = time.monotonic()
        self.answers += 1
        info = parse_rate_limit(headers) if headers is not None else None
        remaining = None
        wait: float | None = None  # how long the server asked the job to hold back
        if info is not None:
            remaining = info.remaining
            if remaining == 0 and info.reset is not None:
                wait = info.reset
            if info.rate is not None and self.adaptive:
                self.finder.announce(info.rate, now)
        if status in OVERLOAD_STATUSES:
            self.overloaded += 1
            retry_after = parse_retry_after(headers.get("Retry-After")) if headers else None
            if retry_after is not None:
                wait = retry_after if wait is None else max(wait, retry_after)
                heapq.heappush(self._retries_due, now + retry_after)
                self._notify()  # a slot is free for another item meanwhile
            wave = sent_at >= self._decreased_at
            if status == 429 and self.adaptive:
                self.finder.refused(now, sent_at, wave, retry_after)
            if wave:
                self._decrease(now)
            if wait is not None:
                self._hold(now, sent_at, wait, refused=True)
            return
        if status >= 500:
            return
        if self._trial_since is not None and sent_at >= self._trial_since:
            self._trial_since = None  # the server takes requests at this pace: trial passed
        if self.adaptive and self.finder.success(now, sent_at, remaining):
            self._slow_start = False  # the server's bucket drains: grow no faster
        if wait is not None:
            self._hold(now, sent_at, wait, refused=False)
        self._healthy(now, sent_at)

    def _hold(self, now: float, sent_at: float, wait: float, *, refused: bool) -> None:
        """Honour a wait the server asked for: by the pace, on trial, while the job has
        one; by pausing the whole job before that, or when the trial fails.

        A refusal counts against the trial only if its request was sent after the
        last one counted was answered: a stalled server takes a bunch of requests
        at once and may refuse several sent at the slower pace, but only a closed
        one refuses request after request.
        """
        if not self.adaptive or self.finder.rate is None:
            self._pause(now + wait)
            return
        if self._trial_since is None:
            self._trial_since = self._trial_next = now
            self._trial_refusals = 0
            return
        if refused and sent_at >= self._trial_next:
            self._trial_refusals += 1
            self._trial_next = now
            if self._trial_refusals >= TRIAL_REFUSALS:
                logger.debug("pacing: refused at the slower pace too; pausing %.2fs", wait)
                self._trial_since = None
                self._pause(now + wait)

    def _healthy(self, now: float, sent_at: float) -> None:
        latency = now - sent_at
        self._latency = latency if self._latency is None else 0.9 * self._latency + 0.1 * latency
        self._fastest = min(self._fastest, latency)
        self._smoothed = latency if self._smoothed is None else 0.8 * self._smoothed + 0.2 * latency
        if (
            self.adaptive
            and sent_at >= self._decreased_at
            and self._smoothed > LATENCY_FACTOR * self._fastest
            and self._smoothed - self._fastest > LATENCY_SLACK
        ):
            self._decrease(now)

    def item_done(self) -> None:
        """One item finished: grow the limit (slow start, then additive increase)."""
        if not self.adaptive or self.closed:
            return
        if self.finder.rate is not None:
            self._keep_pace()  # the pace may have grown (a search, a probe)
        step = 1.0 if self._slow_start else 1.0 / max(1.0, self.limit)
        before = int(self.limit)
        self.limit = min(float(self.ceiling), self.limit + step)
        if int(self.limit) > before:
            self.peak = max(self.peak, int(self.limit))
            self._notify()

    def _decrease(self, now: float) -> None:
        if not self.adaptive:
            return
        self._slow_start = False
        self._decreased_at = now
        self.limit = max(1.0, self.limit * DECREASE)
        self._smoothed = None  # judge latency afresh at the new limit
        self._keep_pace()

    def _waiting_retries(self) -> int:
        """Items waiting out their own Retry-After: they hold workers but send nothing
        (counted by the Retry-After each was given: a request that gave up instead is
        counted until then too, which the worker pool bounds)."""
        due = self._retries_due
        if due:
            now = time.monotonic()
            while due and due[0] <= now:
                heapq.heappop(due)
        return len(due)

    def _keep_pace(self) -> None:
        """Once paced, the rate does the throttling: keep enough slots to sustain it."""
        rate = self.finder.rate
        if rate is None or self._latency is None:
            return
        needed = min(float(self.ceiling), math.ceil(rate * self._latency * 1.5) + 1.0)
        if needed > self.limit:
            self.limit = needed
            self._notify()
