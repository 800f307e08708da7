"""How a bulk job finds a rate-limited server's sustainable rate, and paces under it.

Guarantee: once the server has refused a request (429), announced its limit or
shown its quota draining, the job's sends are spaced at a pace learned from
what the server did, kept just under the rate it was seen to sustain; the pace
rises past it only after ``HORIZON`` quiet seconds. Where the server announces
its limit with a window (``RateLimit-Policy: 100;w=1``), the job is paced at
``ANNOUNCED_MARGIN`` of it from the first answer that says so. The caller's
gate honours ``Retry-After`` and ``Remaining: 0`` (the refused request waits;
the whole job pauses when the server refuses the slower pace too); this
module decides the pace before, between and after them.

How the rate is found:

- **The server as a token bucket.** Most limiters are token buckets (or act
  like one over a window): ``R`` tokens a second, at most ``B`` kept, one taken
  per request. Every 429 marks a moment when the bucket held less than a token
  (exactly ``1 - R * wait`` when the server's ``Retry-After`` is fractional,
  the time to its next token); every ``Remaining: n`` a moment when it held
  ``n`` to ``n + 1`` after that request. Between marks, the successes are what
  the bucket minted minus what it could not hold. The fit walks a bucket of
  ``B̂`` through the answers of the last ``FIT_WINDOW`` seconds (placed at
  their arrival, the order the server took them) and finds, by bisection, the
  rates at which it passes through every mark. Sent faster than the server
  all along, this is the successes per second between waves of 429s; the
  model also counts what a pause or a slower pace let the bucket refill (a
  whole-second ``Retry-After`` refills ``B``, not a second's worth).
- **The burst** ``B̂``: the largest ``Remaining`` plus one, or else the smallest
  bucket that let every success before the job's first 429 pass at the fitted
  rate (narrowed with each fit; the opening is the noisiest part of a job).
- **Trust.** A fit becomes the estimate when at least ``MIN_FIT_SUCCESSES``
  over ``MIN_FIT_SPAN`` seconds bound the rate from both sides within
  ``FIT_SPREAD``. Short of that it still tells the least the server mints.
- **Searching** (the rate at which the last 429s came, BBR's probe). A first
  wave of 429s with nothing else known tells the burst, not the rate (at zero
  latency the bucket empties in milliseconds). The pace then grows
  exponentially (``RAMP_GROWTH`` a second, from the end of the pause) from a
  low start: the least the fit shows, or ``0.7 / wait`` for a fractional
  ``Retry-After``, or ``OPENING_SHARE`` of the rate the opening's successes
  came at when it lasted long enough to say (at least ``OPENING_SPAN``: slow
  answers), or the burst spread over a second. It holds at the first
  sign that the bucket no longer refills (``Remaining`` below full, as TCP's
  HyStart leaves slow start at the first queue), and the drain, or the next
  429, makes the fit.
- **Pacing** (the plateau of TCP CUBIC around its last loss). At ``MARGIN`` of
  the estimate, rising over ``APPROACH`` seconds from the fit's lowest rate to
  its middle: a token bucket paced below its rate stays full, never refuses
  and absorbs the jitter of the sends. With ``Remaining`` known, the pace is
  eased while the bucket is less than half full so it fills again. Only after
  ``HORIZON`` seconds without a refusal does it probe upward by
  ``PROBE_STEP`` a second (after ``UNSURE_HORIZON``, by ``UNSURE_PROBE_STEP``,
  when only whole-second refusals made the fit: it leans on a guessed burst).
  A 429 at a steady pace (with a whole-second wait, where the fit leans on the
  burst, and where the sends' jitter alone can empty a bucket of 20 ms) steps
  the pace down by ``MARGIN`` and lets it return to ``RETREAT`` of where it
  was: refused again there, it steps lower.
- **Early warning.** When answers carry ``Remaining``, a fall below
  ``LOW_SHARE`` of the bucket (it drains: the job sends faster than the server
  mints) refits and slows the job before the bucket empties; a refill to full
  after a drain refits too (a low estimate shows itself there). Before any
  pace, the job keeps no more requests in flight than the last ``Remaining``.

Everything here is arithmetic on times the caller passes in, so it can be
driven in virtual time (``benchmarks/pacing_sim.py`` does).
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["RateFinder"]

logger = logging.getLogger("vi_async.bulk")

MARGIN = 0.97
"""Share of the learned rate the job is paced at."""
ANNOUNCED_MARGIN = 0.97
"""Share of an announced limit (limit / window) the job is paced at."""
RAMP_GROWTH = 6.0
"""While searching, the pace grows by ``e ** (RAMP_GROWTH * seconds)``."""
FILL_LEVEL = 0.5
"""Below this share of the bucket (``Remaining``), the pace is eased so it fills again."""
FILL_EASING = 0.3
"""How much of the pace is given up at an empty bucket (less nearer ``FILL_LEVEL``)."""
WAIT_RESOLUTION = 0.001
"""Seconds a fractional ``Retry-After`` is written to (at least: ``0`` is below it)."""
DELIVERY_SLACK = 1.2
"""A fit this far above the successes per second of a job refused while sending this
far above them is not trusted (see ``_checked``)."""
OPENING_SPAN = 0.02
"""Seconds of successes before the first refusal that make their rate a search's start."""
OPENING_SHARE = 0.6
"""Share of the opening's rate (an upper bound of the server's) a search starts at."""
MAX_RAMP = 1.0
"""Seconds a search may grow for (then it holds, ``e ** 6`` times its start)."""
SEARCH_REACH = 4.0
"""With ``Remaining`` known, a search grows the pace at most this many times its
start (then it holds; a refill to full at that pace starts the next one from it)."""
APPROACH = 2.0
"""Seconds over which the pace rises to a fit's middle (from its lowest, or from a
lower pace it had: a drain on the way stops it before the bucket empties)."""
RETREAT = 0.985
"""Share of a steady pace refused (whole-second wait) that the job returns to."""
HORIZON = 20.0
"""Seconds after the last refusal before the pace probes above the estimate."""
PROBE_STEP = 0.01
"""Share of the pace added per second of probing."""
UNSURE_HORIZON = 1.0
UNSURE_PROBE_STEP = 0.05
"""The horizon and probe step of a pace fitted on whole-second refusals alone."""
LOW_SHARE = 0.7
"""``Remaining`` at or below this share of the bucket means it drains."""
FIT_WINDOW = 10.0
"""Seconds of marks a fit uses."""
MIN_FIT_SUCCESSES = 8
"""Successes between marks needed before a fit is trusted as the estimate."""
MIN_GAP = 0.02
"""Seconds between the answers a fit compares with its model: closer ones may
have reached the server in another order than they were sent."""
MIN_FIT_SPAN = 0.25
"""Seconds of answers a trusted fit rests on (the opening's are noisy: requests
wait for their connections)."""
FIT_SPREAD = 0.1
"""A trusted fit's lowest and highest rates differ by at most this share."""
REFIT_AFTER = 0.1
"""Seconds between fits made for a draining bucket (a fit costs milliseconds)."""
FIT_PRECISION = 0.003
"""Relative precision of a fitted rate."""
MAX_FIT_RATE = 1e6
"""Fits stop looking above this rate (requests/s)."""
MIN_RATE = 0.5
"""The slowest pace (requests/s)."""
MAX_FIT_ANSWERS = 2000
"""At most this many answers enter a fit (the oldest are dropped first)."""
_REFUSED = 0.5
"""Tokens assumed in the bucket when it refused a request (somewhere in 0..1)."""


class RateFinder:
    """The learned rate and the pace of one job (see the module notes).

    The caller passes in its clock's times, and tells of every pause of the job
    (:meth:`paused`): a search grows from the pause's end.
    """

    def __init__(self) -> None:
        self.rate: float | None = None
        """The pace in requests/s at the last send (None: not paced)."""
        self.estimate: float | None = None
        """The server's sustainable rate as fitted (None: not known yet)."""
        self.announced: float | None = None
        self.burst: float | None = None
        self.waves = 0
        self.window: int | None = None
        """The last ``Remaining``: requests the server would take right now."""
        self.slowed = 0
        """How many times the pace was lowered (slots given at a faster one are stale)."""
        self._base: float | None = None
        """The pace as last decided; a search or a probe grows from it."""
        self._searching = False
        self._resume = 0.0
        """The end of the job's last pause (see ``paused``)."""
        self._target = 0.0
        """A higher pace the job approaches over ``APPROACH`` seconds (see ``_settle``)."""
        self._since = -math.inf
        """When the pace was last decided."""
        self._grows_from = math.inf
        """When a search starts growing (its resume), or a probe (``HORIZON`` after a decision)."""
        self._log: collections.deque[_Answer] = collections.deque()
        """The answers of the last ``FIT_WINDOW`` seconds (see ``_Answer``)."""
        self._level = 1.0
        """The bucket's level at the last ``Remaining`` (its share of the capacity)."""
        self.capacity: int | None = None
        """The largest ``Remaining`` seen, plus one."""
        self._low = math.inf
        """The lowest ``Remaining`` since the pace was last set (a new low: still draining)."""
        self._drained = False
        """The bucket drained since it was last full (its refill will show the rate)."""
        self._fitted_at = -math.inf
        self._search_level: int | None = None
        """``Remaining`` at the search's first answer (a fall from it: hold)."""
        self._opening: list[float] = []
        self._exact = False
        """A refusal told its exact wait (so the fits do not lean on the burst alone)."""
        self._probe_step = PROBE_STEP
        self._bounded = False
        """A steady pace was refused: the rate is known from above (see ``_settle``)."""
        """Arrival times of the successes before the job's first refusal."""

    def __repr__(self) -> str:
        return f"<RateFinder rate={self.rate} estimate={self.estimate} burst={self.burst}>"

    # -- the pace ----------------------------------------------------------------------

    def spacing(self, at: float) -> float | None:
        """Seconds from a send at ``at`` to the next (None: not paced).

        A search grows the pace exponentially from its resume, a probe linearly
        from ``HORIZON`` after the decision; both by the time of the send, so
        sends given slots ahead get the pace of their own time. With the
        bucket's level known (``Remaining``), the pace is eased while the bucket
        is less than half full, so it fills again.
        """
        rate = self._base
        if rate is None:
            return None
        if self._target > rate:  # the approach from the fit's lowest rate to its middle
            rate += (self._target - rate) * min(1.0, (at - self._since) / APPROACH)
        grown = at - self._grows_from
        if grown > 0:
            if self._searching:
                grow = math.exp(RAMP_GROWTH * min(grown, MAX_RAMP))
                if self.capacity is not None:  # the level will tell when to look further
                    grow = min(grow, SEARCH_REACH)
                rate *= grow
            else:
                rate *= 1.0 + self._probe_step * grown
        if self.announced is not None:
            rate = min(rate, ANNOUNCED_MARGIN * self.announced)
        self.rate = rate
        level = self._level
        if level < FILL_LEVEL:
            rate *= 1.0 - FILL_EASING * (FILL_LEVEL - level) / FILL_LEVEL
        return 1.0 / rate

    def _decide(
        self,
        now: float,
        rate: float,
        *,
        search: bool,
        target: float = 0.0,
        unsure: bool = False,
    ) -> None:
        """Set the pace (approaching ``target`` if higher); a lower one also re-spaces
        the sends already given a slot. ``unsure``: the pace rests on a guess (see
        ``_settle``), so it is probed sooner and faster."""
        rate = max(MIN_RATE, rate)
        if self.rate is None or rate < self.rate:  # also unpaced -> paced
            self.slowed += 1
        self._base = self.rate = rate
        self._target = target
        self._searching = search
        self._search_level = None
        self._since = now
        horizon, self._probe_step = (
            (UNSURE_HORIZON, UNSURE_PROBE_STEP) if unsure else (HORIZON, PROBE_STEP)
        )
        self._grows_from = max(now, self._resume) if search else now + horizon

    # -- what the caller reports ---------------------------------------------------------

    def paused(self, until: float) -> None:
        """The job pauses until ``until``: a search (this one or a later) grows from there."""
        self._resume = max(self._resume, until)
        if self._searching:
            self._grows_from = max(self._grows_from, until)

    def announce(self, rate: float, now: float) -> None:
        """The server announced its limit: pace under it unless already slower."""
        if self.announced == rate:
            return
        self.announced = rate
        target = ANNOUNCED_MARGIN * rate
        if self.rate is None or self.estimate is None or target < self.rate:
            self._decide(now, target, search=False)

    def success(self, now: float, sent_at: float, remaining: int | None) -> bool:
        """A request sent at ``sent_at`` passed; ``remaining`` is its Remaining, if any.

        The model places every answer at ``now``, when it arrived: answers come
        back in the order the server took the requests, which their send times
        do not always show (a request that waited for a connection reached it later).

        Returns True when the bucket is draining (the caller should stop growing).
        """
        self._trim(now)
        if remaining is None:
            self._log.append((now, 1, _UNKNOWN, -1.0))
            return False
        self.window = remaining
        capacity = remaining + 1
        if self.capacity is None or capacity > self.capacity:
            self.capacity = capacity
            self.burst = float(capacity)
        self._log.append((now, 1, remaining + _REFUSED, -1.0))
        self._level = remaining / self.capacity
        reach = math.log(SEARCH_REACH) / RAMP_GROWTH
        if self._searching and remaining >= self.capacity - 1 and now > self._grows_from + reach:
            self._search(now, self.rate or MIN_RATE)  # reached, still full: go on
        if self._searching and sent_at >= self._since:
            if self._search_level is None:
                self._search_level = remaining
            elif remaining < self._search_level - 1:
                # The bucket no longer refills: the search passed the rate. Hold (like
                # HyStart leaving slow start at the first queue): the drain, or the
                # refill at a lower pace, shows the rate.
                self._decide(now, self.rate or MIN_RATE, search=False)
                self._drained = True
                logger.debug("pacing: the search holds at %.1f/s", self.rate)
        if remaining > LOW_SHARE * self.capacity:
            self._low = math.inf
            if remaining >= self.capacity - 1 and self._drained and self.announced is None:
                self._refilled(now)
            return False
        if remaining >= self._low or sent_at < self._since:
            return False  # not lower, or sent before the pace last changed
        self._low = remaining
        self._drained = True
        spent = remaining == 0 and self.rate is None  # (must be paced: see _draining)
        if self.announced is None and (spent or now - self._fitted_at >= REFIT_AFTER):
            self._draining(now, remaining)  # (an announced limit stands)
        return True

    def _draining(self, now: float, remaining: int) -> None:
        """``Remaining`` fell to a new low: the job sends faster than the server mints."""
        fit = self._estimate()
        if fit is not None and fit.trusted:
            self._settle(now, fit)
        elif fit is not None and (self.rate is None or fit.lowest < self.rate):
            # Too little to settle on, but it mints at least this: hold there, and let
            # the bucket's refill (or its next drain) show the rate.
            self._decide(now, fit.lowest, search=False)
        elif self.rate is None and remaining == 0:
            # Not paced yet (the window held the job to what the server would take), and
            # it must pause: the pause ends paced, not in a burst of everything queued.
            self._search(now, self.burst or 1.0)

    def _refilled(self, now: float) -> None:
        """Full again after a drain: the refill showed the rate (a fit from the noisy
        opening may have been too low); settle on it, or look higher."""
        self._drained = False
        if self._searching:
            return
        fit = self._estimate()
        if fit is not None and fit.trusted:
            self._settle(now, fit)
        else:  # it mints more than this pace (or than the window let through): look higher
            self._search(now, self.rate or self._delivered(now))

    def refused(
        self,
        now: float,
        sent_at: float,
        wave: bool,
        retry_after: float | None = None,
    ) -> None:
        """A request sent at ``sent_at`` was refused; ``wave``: the first since the last one."""
        if self.burst is None:
            # The bucket started full: what passed before the first refusal is its burst
            # (and what it minted meanwhile: the first fit narrows it down).
            self._opening = [t for t, used, _, _ in self._log if used]
            self.burst = float(max(1, len(self._opening)))
        wait = retry_after if retry_after is not None and retry_after < 1.0 else -1.0
        self._exact = self._exact or wait >= 0.0
        self._log.append((now, 0, _REFUSED, wait))
        if not wave:
            return
        self.waves += 1
        fit = self._estimate()
        if fit is not None and fit.trusted and not self._searching and self.rate is not None:
            fit = self._checked(now, fit, self.rate)
        if fit is not None and fit.trusted:
            paced = self.rate if not self._searching and wait < 0 else None
            self._bounded = self._bounded or paced is not None  # refused from above
            if paced is not None and fit.rate > MARGIN * paced:
                # Refused at a steady pace, with a whole-second wait: the fit rests on
                # the burst, which may be off, and the sends' jitter alone can empty a
                # bucket paced just under its rate. Step down, then return most of the
                # way (CUBIC's plateau just under its last loss): a pace the server
                # cannot take is refused again, a step lower each time.
                self._decide(now, MARGIN * paced, search=False, target=RETREAT * paced)
                return
            self._settle(now, fit)
            return
        if fit is None and self.estimate is not None and not self._searching:
            self._fallback(now)
            return
        if fit is not None:
            start = fit.lowest
        elif 0.0 <= wait:
            # A fractional wait is about the time to the next token (0: less than the
            # millisecond it is written in).
            start = 0.7 / max(wait, WAIT_RESOLUTION)
        else:
            start = self._opening_pace()
        if self._searching and self.rate is not None:
            start = min(start, 0.5 * self.rate)  # the search went past the rate
        self._search(now, start)

    # -- deciding the pace ---------------------------------------------------------------

    def _settle(self, now: float, fit: _Fit) -> None:
        """Pace under the fitted rate: from the lowest rate that explains the log, up
        to its middle over ``APPROACH`` seconds (a refusal is known only to within a
        token, so right after a search the two can be several percent apart)."""
        logger.debug(
            "pacing: the server's rate is %.1f/s (at least %.1f/s; burst %s)",
            fit.rate,
            fit.lowest,
            self.burst,
        )
        self.estimate = fit.rate
        low, target = MARGIN * fit.lowest, MARGIN * fit.rate
        if self.rate is not None and not self._searching:
            low = min(low, self.rate)  # never jump up: approach (a fit can run high)
        if self.announced is not None:
            ceiling = ANNOUNCED_MARGIN * self.announced
            low, target = min(low, ceiling), min(target, ceiling)
        # With only whole-second refusals to go on, the fit leans on a burst guessed
        # from the noisy opening and may run low: probe it soon (a fit running high
        # shows itself by a refusal at the steady pace).
        unsure = (
            self.capacity is None and self.announced is None and not (self._exact or self._bounded)
        )
        self._decide(now, low, search=False, target=target, unsure=unsure)

    def _fallback(self, now: float) -> None:
        """A refusal the log cannot explain (too little of it left): pace lower."""
        assert self.estimate is not None
        pace = min(self.estimate, self.rate or math.inf)
        self._settle(now, _Fit(MARGIN * pace, MARGIN * pace, True))

    def _search(self, now: float, start: float) -> None:
        """Search upward for the rate, exponentially, from ``start`` (growing from the
        end of the last pause)."""
        logger.debug("pacing: searching for the server's rate from %.1f/s", start)
        self._decide(now, start, search=True)

    def _checked(self, now: float, fit: _Fit, pace: float) -> _Fit:
        """``fit``, or what passed lately when the fit runs far above it.

        Refused while sending well above what passes, the bucket is empty: what
        passes is what it mints. A fit far above that has leaned on a wrong burst
        (narrowed from a noisy opening, a wrong rate and a wrong burst can explain
        each other), and paced on it the job would be refused again and again.
        """
        delivered = self._delivered(now)
        if fit.rate > DELIVERY_SLACK * delivered and pace > DELIVERY_SLACK * delivered:
            logger.debug("pacing: the fit (%.1f/s) is far above what passes", fit.rate)
            return _Fit(delivered, delivered, True)
        return fit

    def _opening_pace(self) -> float:
        """Where a search starts when the first refusals tell only the burst.

        The successes before the first refusal are at most the burst plus what the
        server minted meanwhile, so their rate is above the server's, and near it
        when the opening lasted long against the burst: a search from
        ``OPENING_SHARE`` of it crosses the rate soon, with the bucket kept near
        empty (the next refusal then tells the rate, not the burst). A short
        opening (fast answers: the burst went in milliseconds) says nothing of the
        rate: the burst spread over a second, then.
        """
        spread = self.burst or 1.0
        opening = self._opening
        if len(opening) < 2 or opening[-1] - opening[0] < OPENING_SPAN:
            return spread
        return max(spread, OPENING_SHARE * (len(opening) - 1) / (opening[-1] - opening[0]))

    def _delivered(self, now: float) -> float:
        """Successes per second over the last ``MIN_FIT_SPAN`` seconds (or fewer, early on)."""
        recent = [t for t, used, _, _ in self._log if used and t > now - MIN_FIT_SPAN]
        if len(recent) < 2:
            return self.burst or 1.0  # nothing recent: the burst spread over a second
        return (len(recent) - 1) / max(now - recent[0], MIN_GAP)

    def _estimate(self) -> _Fit | None:
        """Fit the rate; where the burst came from the opening, narrow both down together."""
        self._fitted_at = self._log[-1][0] if self._log else -math.inf
        fit = self._fit()
        for _ in range(2):
            if fit is None or not self._opening or not fit.trusted:
                break
            burst = _least_burst(sorted(self._opening), fit.rate)
            if self.burst is not None and abs(burst - self.burst) < 0.5:
                break
            self.burst = burst
            fit = self._fit()
        return fit

    def _fit(self) -> _Fit | None:
        """The token-bucket rates that explain the log (None: too little to go on)."""
        cap = self.burst if self.burst is not None else math.inf
        log = sorted(self._log, key=_in_order)
        first = next((i for i, entry in enumerate(log) if entry[2] == entry[2]), len(log))
        log = log[first:]
        known = [entry[0] for entry in log if entry[2] == entry[2]]
        successes = sum(entry[1] for entry in log[1:])
        if len(known) < 2 or known[-1] - known[0] < MIN_GAP or successes < 2:
            return None
        hint = self.estimate or self.rate or 10.0
        walk = _walk(log, cap)
        lowest = _bisect(walk, cap, lambda excess: excess < 0, hint)
        highest = _bisect(walk, cap, lambda excess: excess <= 0, max(hint, lowest))
        if highest >= MAX_FIT_RATE:
            return _Fit(lowest, lowest, False)
        middle = 0.5 * (lowest + highest)
        trusted = (
            successes >= MIN_FIT_SUCCESSES
            and known[-1] - known[0] >= MIN_FIT_SPAN
            and highest - lowest <= FIT_SPREAD * middle
            # and the log pins the rate down: a bucket a tenth faster or slower would
            # stray from it by at least a token (a bucket kept full shows only a floor)
            and _excess(middle * (1 + FIT_SPREAD), walk, cap)
            - _excess(middle * (1 - FIT_SPREAD), walk, cap)
            >= 1.0
        )
        return _Fit(middle, lowest, trusted)

    def _trim(self, now: float) -> None:
        horizon = now - FIT_WINDOW
        log = self._log
        while log and (log[0][0] < horizon or len(log) > MAX_FIT_ANSWERS):
            log.popleft()


class _Fit(NamedTuple):
    """What a fit found: the middle of the rates that explain the log, the lowest
    of them (the server mints at least that), and whether it is trusted as the
    estimate: enough successes over ``MIN_FIT_SPAN``, and rates within
    ``FIT_SPREAD`` of each other explain them (the log bounds the rate from
    above too)."""

    rate: float
    lowest: float
    trusted: bool


_UNKNOWN = math.nan
_Answer = tuple[float, int, float, float]
"""One answer: (send time, tokens it took (1 passed, 0 refused), tokens left
after it if known (NaN if not), the refusal's fractional Retry-After or -1).

A token bucket's exact ``Retry-After`` is the time to its next token, so the
tokens it held were ``1 - rate * wait``: exact for any candidate rate."""


def _in_order(answer: _Answer) -> tuple[float, int, float]:
    """Answers in the order the server likely saw them: by send time; at one
    instant, successes before refusals, fuller first (requests drain the bucket)."""
    left = answer[2]
    return answer[0], 1 - answer[1], -left if left == left else math.inf


class _Walk(NamedTuple):
    """A log made ready for the model's walk: the starting mark, then for each
    later answer the time since the one before, the tokens it took, and the
    range the bucket's content was known to be in (or None: not compared)."""

    start: tuple[float, float]
    steps: list[tuple[float, int, tuple[float, float, float] | None]]


def _walk(log: list[_Answer], cap: float) -> _Walk:
    """Prepare ``log`` (sorted, starting at a known answer) for :func:`_excess`."""
    steps: list[tuple[float, int, tuple[float, float, float] | None]] = []
    t, _, tokens, wait = log[0]
    compared = t
    for sent, used, left, wait_ in log[1:]:
        known = None
        if left == left and sent - compared >= MIN_GAP:  # known, and not order noise
            compared = sent
            if used:  # Remaining: whole tokens left, so the content is in [n, n + 1)
                known = (min(left - _REFUSED, cap - 1.0), min(left + _REFUSED, cap - 1.0), -1.0)
            else:  # a refusal: the bucket held less than a token (exact from its wait)
                known = (0.0, min(1.0, cap - 1.0), wait_)
        steps.append((sent - t, used, known))
        t = sent
    return _Walk((min(tokens, cap - 1.0), wait), steps)


def _excess(rate: float, walk: _Walk, cap: float) -> float:
    """How far a bucket of ``rate`` strays from what the log knows (positive: too full).

    The walk starts at the first answer that knows the bucket's content. A
    refusal is a point (half a token, or exact from its wait); a ``Remaining: n``
    is the range ``n`` to ``n + 1``: where the model leaves it, the distance
    counts and the walk goes on from its edge.
    """
    total = 0.0
    tokens, wait = walk.start
    if 0.0 <= wait and rate * wait < 1.0:
        tokens = 1.0 - rate * wait
    for dt, used, known in walk.steps:
        tokens += rate * dt
        if tokens > cap:
            tokens = cap
        tokens -= used
        if known is None:
            continue
        low, high, wait = known
        if 0.0 <= wait and rate * wait < 1.0:
            low = high = 1.0 - rate * wait
        if tokens < low:
            total += tokens - low
        elif tokens > high:
            total += tokens - high
        else:
            continue
        if not used:  # a refusal is a hard fact: the bucket was (about) empty
            tokens = low if tokens < low else high
    return total


def _least_burst(opening: list[float], rate: float) -> float:
    """The smallest bucket, full at the first send and refilled at ``rate``, that
    lets every request of the opening pass (the opening ended on a refusal, so
    the bucket it drained was about this big)."""
    low, high = 1.0, float(len(opening))
    for _ in range(20):
        mid = 0.5 * (low + high)
        tokens, t = mid, opening[0]
        for sent in opening:
            tokens = min(mid, tokens + rate * (sent - t)) - 1.0
            t = sent
            if tokens < -1e-9:
                low = mid
                break
        else:
            high = mid
        if high - low < 0.05:
            break
    return high


def _bisect(walk: _Walk, cap: float, below: Callable[[float], bool], hint: float) -> float:
    """The rate where ``below(excess)`` stops holding (the excess grows with the rate),
    to ``FIT_PRECISION``, searched outward from ``hint`` then halved in between."""
    low = high = max(hint, MIN_RATE)
    if below(_excess(high, walk, cap)):
        while below(_excess(high, walk, cap)):
            if high >= MAX_FIT_RATE:
                return MAX_FIT_RATE
            low, high = high, high * 2
    else:
        while low > MIN_RATE and not below(_excess(low, walk, cap)):
            low, high = low / 2, low
    while high - low > FIT_PRECISION * high:
        mid = 0.5 * (low + high)
        if below(_excess(mid, walk, cap)):
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)
