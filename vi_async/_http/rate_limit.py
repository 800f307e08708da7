"""Rate-limit headers: what the server says about the caller's quota.

Servers spell these several ways; every spelling is read into one
``RateLimitInfo``: the IETF draft's ``RateLimit-Limit`` / ``-Remaining`` /
``-Reset`` fields and its combined ``RateLimit: limit=…, remaining=…, reset=…``
field, and the widespread ``X-RateLimit-*`` headers. ``reset`` is always seconds
from when the answer arrived: a value that looks like an epoch timestamp
(``X-RateLimit-Reset: 1767225600``, GitHub style) is turned into a delay, and a
duration such as ``6m0s`` or ``250ms`` is read as one. A response without any
of these headers gives None.

The window of the limit, when the server announces it, is read from the
draft's quota policy: ``RateLimit-Policy: 100;w=1`` (drafts -03 to -06),
``RateLimit-Policy: "default";q=100;w=1`` (draft -07 on, where ``q`` is the
limit), a policy inside the limit field (``RateLimit-Limit: 100, 100;w=60``) or
a ``w`` parameter of the combined field. With a window, ``RateLimitInfo.rate``
is the announced requests per second; the ``X-RateLimit-*`` spelling announces
no window, so its ``Limit`` (often a token bucket's capacity) is no rate.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping

import attrs

_PREFIXES = ("RateLimit-", "X-RateLimit-")
_SEPARATE = tuple(
    (prefix + "Limit", prefix + "Remaining", prefix + "Reset") for prefix in _PREFIXES
)
_NOTHING: tuple[str | None, str | None, str | None] = (None, None, None)
_EPOCH_THRESHOLD = 1e9  # a "reset" this large is a Unix timestamp, not a delay
_WINDOW = re.compile(r";\s*w\s*=\s*(\d+(?:\.\d+)?)")
_QUOTA = re.compile(r";\s*q\s*=\s*(\d+)")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@attrs.frozen(slots=True)
class RateLimitInfo:
    """The server's rate-limit state from one answer; fields it did not send are None.

    ``limit``: requests allowed per window; ``remaining``: requests left in it;
    ``reset``: seconds until the window resets, counted from ``observed_at``
    (a ``time.time()`` timestamp of the answer); ``window``: the window's length
    in seconds, when the server announces it (see the module notes).
    """

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    observed_at: float = attrs.field(factory=time.time, eq=False)
    window: float | None = None

    @property
    def rate(self) -> float | None:
        """The announced limit in requests per second (``limit / window``), if announced."""
        if self.limit is None or not self.window:
            return None
        return self.limit / self.window

    @property
    def resets_at(self) -> float | None:
        """The ``time.time()`` timestamp at which the window resets, if known."""
        return None if self.reset is None else self.observed_at + self.reset


def header_names(headers: Mapping[str, str]) -> str:
    """Every header name of a response, lower-cased and joined: one string to look in."""
    return "".join(headers).lower()


def parse_rate_limit(headers: Mapping[str, str], names: str | None = None) -> RateLimitInfo | None:
    """Read the rate-limit headers of a response (case-insensitive mapping), or None.

    ``names`` is ``header_names(headers)`` when the caller has it already.
    """
    if "ratelimit" not in (header_names(headers) if names is None else names):
        # Every name read below holds "ratelimit"; most answers have none of them, and
        # one look at the joined names costs half the lookups they would take.
        return None
    get = headers.get
    combined = get("RateLimit")
    if combined is not None:
        fields = dict(_pairs(combined))
        found = (fields.get("limit"), fields.get("remaining"), fields.get("reset"))
    else:
        found = _NOTHING
    if found == _NOTHING:
        # Read for every answer, and most carry none of these: no strings built here.
        for limit_name, remaining_name, reset_name in _SEPARATE:
            found = (get(limit_name), get(remaining_name), get(reset_name))
            if found != _NOTHING:
                break
        else:
            return None
    limit, remaining, reset = found
    now = time.time()
    window, quota = _policy(get("RateLimit-Policy"), limit, combined)
    if limit is None:
        limit = quota
    return RateLimitInfo(_int(limit), _int(remaining), _seconds(reset, now), now, window)


def _policy(
    policy: str | None, limit: str | None, combined: str | None
) -> tuple[float | None, str | None]:
    """The window (seconds) and quota of the first announced policy, where announced."""
    for text in (policy, limit, combined):
        if text is None:
            continue
        first = text.split(",", 1)[0] if text is policy else text
        match = _WINDOW.search(first)
        if match is not None:
            window = float(match.group(1))
            quota = _QUOTA.search(first)
            if 0 < window < math.inf:
                return window, (quota.group(1) if quota is not None else None)
    return None, None


def _pairs(value: str) -> list[tuple[str, str]]:
    """``limit=100, remaining=5;w=60, reset=3`` -> the key/value pairs (params dropped)."""
    pairs = []
    for part in value.split(","):
        key, sep, rest = part.strip().partition("=")
        if sep:
            pairs.append((key.strip().lower(), rest.split(";", 1)[0].strip()))
    return pairs


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        # Some servers send one value per policy ("100, 100;w=60"): the first applies.
        return max(0, int(float(value.split(",", 1)[0].split(";", 1)[0].strip())))
    except ValueError:
        return None


def _seconds(value: str | None, now: float) -> float | None:
    if value is None:
        return None
    text = value.split(",", 1)[0].strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            return None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    if seconds >= _EPOCH_THRESHOLD:
        seconds -= now
    return max(0.0, seconds)
