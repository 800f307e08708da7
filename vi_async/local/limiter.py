"""The ``rate_limit`` fault's token bucket, and how it speaks to clients.

Guarantee: at most ``burst + rate * t`` requests pass in any ``t`` seconds, and
every answer of a limited route says what the chosen limiter variant says (see
:mod:`vi_async.local.faults` for the variants' names). The bucket starts full; a
request takes one token or is refused with the seconds until a token is free.
``Remaining`` is the whole tokens left after the request, ``Reset`` the seconds
until the bucket is full again (the GCRA "reset after"); both are read at the
moment the request passes the bucket, so they describe the server's own view.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["TokenBucket"]

_CEIL_EPSILON = 1e-9
"""Float noise that must not turn 1.0 second into a 2-second Retry-After."""


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` of them, full at the start."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        retry_after: str = "exact",
        headers: str = "none",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """A bucket of ``burst`` tokens refilled at ``rate``; see the module notes.

        ``clock`` gives the time (a simulation passes its own).
        """
        self.rate = rate
        self.burst = burst
        self.ceil = retry_after == "ceil"
        self.headers = headers
        self.clock = clock
        self.tokens = burst
        self.filled_at = clock()
        self._policy = _announced(rate)

    def take(self) -> float | None:
        """Take a token; without one, the seconds until one is free (nothing taken)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.filled_at) * self.rate)
        self.filled_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.rate

    def seconds(self, value: float) -> str:
        """A duration as this limiter writes it: exact (ms) or whole seconds rounded up."""
        if self.ceil:
            return str(math.ceil(value - _CEIL_EPSILON)) if value > 0 else "0"
        return f"{value:.3f}"

    def retry_after(self, wait: float) -> str:
        """The ``Retry-After`` of a refusal that has to wait ``wait`` seconds."""
        return str(max(1, math.ceil(wait - _CEIL_EPSILON))) if self.ceil else f"{wait:.3f}"

    def answer_headers(self) -> dict[str, str]:
        """The rate-limit headers of an answer given now (empty for ``"none"``)."""
        if self.headers == "none":
            return {}
        remaining = str(max(0, int(self.tokens)))
        reset = self.seconds((self.burst - self.tokens) / self.rate)
        if self.headers == "x":
            return {
                "X-RateLimit-Limit": str(int(self.burst)),
                "X-RateLimit-Remaining": remaining,
                "X-RateLimit-Reset": reset,
            }
        limit, window = self._policy
        return {
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": remaining,
            "RateLimit-Reset": reset,
            "RateLimit-Policy": f"{limit};w={window};burst={int(self.burst)}",
        }


def _announced(rate: float) -> tuple[int, int]:
    """``rate`` as a whole number of requests per whole-second window (0.5/s: 5 per 10 s)."""
    window = 1
    while abs(rate * window - round(rate * window)) > 1e-6 and window < 1_000_000:
        window *= 10
    return max(1, round(rate * window)), window
