"""Rate-limit headers: the server's announced quota, when it sends one.

Read from the IETF draft headers (``RateLimit-Limit`` / ``-Remaining`` /
``-Reset``, or the combined ``RateLimit: limit=.., remaining=.., reset=..``)
and the older ``X-RateLimit-*`` family. ``reset`` is taken as seconds from now;
a value that looks like an epoch timestamp (GitHub's ``X-RateLimit-Reset``) is
turned into seconds from now. Unparseable values are ignored, never raised.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["RateLimitInfo"]

_EPOCH_THRESHOLD = 1e9  # a "reset" larger than this is a Unix time, not a delay


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(str(value).strip().split(";", 1)[0])
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


@attrs.frozen
class RateLimitInfo:
    """The last rate-limit figures a server sent: requests allowed per window,
    requests left, and seconds until the window resets (any may be unknown)."""

    limit: float | None = None
    remaining: float | None = None
    reset: float | None = None
    """Seconds from ``observed_at`` until the quota resets."""
    observed_at: float = attrs.field(factory=time.monotonic, eq=False)
    """``time.monotonic()`` when the headers were read."""

    @classmethod
    def from_headers(
        cls, headers: Mapping[str, str], now: float | None = None
    ) -> RateLimitInfo | None:
        """Parse rate-limit headers; None when the answer carries none."""
        values: dict[str, float | None] = {}
        combined = headers.get("RateLimit")
        if combined:
            for part in combined.split(","):
                name, _, raw = part.strip().partition("=")
                if name.strip().lower() in ("limit", "remaining", "reset"):
                    values[name.strip().lower()] = _number(raw)
        for field in ("limit", "remaining", "reset"):
            for prefix in ("RateLimit-", "X-RateLimit-"):
                header = headers.get(prefix + field.capitalize())
                if header is not None and values.get(field) is None:
                    values[field] = _number(header)
        if all(v is None for v in values.values()):
            return None
        reset = values.get("reset")
        if reset is not None and reset > _EPOCH_THRESHOLD:
            reset = max(0.0, reset - time.time())
        observed = time.monotonic() if now is None else now
        return cls(values.get("limit"), values.get("remaining"), reset, observed)

    @property
    def exhausted(self) -> bool:
        """True when the server said no request is left in this window."""
        return self.remaining is not None and self.remaining < 1
