"""The server's clock: the wall clock, or a manual one that a test moves.

Guarantee: everything time-based in the local server (run phases, log lines,
``timeCreated`` / ``lastUpdated``, signed URL expiry, seeded ages) reads this one
clock, so a manual clock makes the server deterministic: its time starts at the
real time when the clock is made and stands still until :meth:`ManualClock.advance`
moves it. It never moves backwards. Real-time waits that pace the network (fault
``latency`` and ``delay``, the rate limit, the storage bandwidth) are not server
time and do not follow it.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import timedelta

CLOCKS = ("real", "manual")


def wall_ms() -> int:
    """The real current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


class Clock:
    """The wall clock: ``clock()`` is the current time in epoch milliseconds."""

    manual = False

    def __call__(self) -> int:
        """The current server time, epoch milliseconds."""
        return wall_ms()

    def advance(self, seconds: float | timedelta) -> int:
        """Refuse: only a manual clock can be moved.

        Args:
            seconds: How far to move it.

        Returns:
            Never returns.

        Raises:
            RuntimeError: Always; make the server with ``clock="manual"``.
        """
        raise RuntimeError('the server clock is real; make it with LocalServer(clock="manual")')


class ManualClock(Clock):
    """A clock that stands still until advanced (thread-safe)."""

    manual = True

    def __init__(self, start_ms: int | None = None) -> None:
        """Start at ``start_ms`` (epoch ms), the real time when None."""
        self._now = wall_ms() if start_ms is None else int(start_ms)
        self._lock = threading.Lock()

    def __call__(self) -> int:
        """The current server time, epoch milliseconds."""
        return self._now

    def advance(self, seconds: float | timedelta) -> int:
        """Move the clock forward.

        Args:
            seconds: How far, in seconds or as a timedelta; 0 is allowed.

        Returns:
            The new server time in epoch milliseconds.

        Raises:
            ValueError: A negative, infinite or non-numeric amount.
        """
        amount = seconds.total_seconds() if isinstance(seconds, timedelta) else seconds
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            raise ValueError(f"advance() takes seconds or a timedelta, got {seconds!r}")
        if not (math.isfinite(amount) and amount >= 0):
            raise ValueError(f"advance() moves the clock forward only, got {amount!r} seconds")
        with self._lock:
            self._now += round(amount * 1000)
            return self._now


def make_clock(kind: str) -> Clock:
    """The clock named ``kind``.

    Args:
        kind: ``"real"`` (the wall clock) or ``"manual"``.

    Returns:
        A new clock.

    Raises:
        ValueError: Any other name.
    """
    if kind == "real":
        return Clock()
    if kind == "manual":
        return ManualClock()
    raise ValueError(f"clock must be one of {CLOCKS}, got {kind!r}")
