"""Retry policy pieces used by the transport: what is transient, how long to
wait, and a per-client retry budget that stops retry storms.

The budget follows botocore's standard retry quota: each retry spends tokens
(more for timeouts and dropped connections), each success pays a little back,
and once the budget is empty failures are raised instead of retried, so a bulk
job against a failing server cannot multiply its load.
"""

from __future__ import annotations

import contextvars
import math
import random
import time
from collections.abc import Generator, Mapping
from typing import Protocol

from ..errors import (
    ViConnectionError,
    ViError,
    ViProxyError,
    ViRateLimitError,
    ViServerError,
    ViTimeoutError,
    ViTLSError,
)

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
RETRY_COST = 5
TIMEOUT_RETRY_COST = 10
SUCCESS_REFUND = 1


class Call:
    """The state of one logical request across its attempts (one per request: a plain
    slotted class, cheaper to make than an attrs one)."""

    __slots__ = (
        "answer_lost", "attempts", "deadline", "last_error", "method", "path", "raw_body",
        "retry_tokens", "retryable",
    )  # fmt: skip

    def __init__(self, method: str, path: str, deadline: float, retryable: bool) -> None:
        self.method = method
        self.path = path
        self.deadline = deadline
        self.retryable = retryable
        self.attempts = 0
        self.answer_lost = False
        self.retry_tokens = 0
        self.last_error: ViError | None = None
        self.raw_body = False  # hand the body back as bytes, undecoded

    def __repr__(self) -> str:
        return f"<Call {self.method} {self.path} attempts={self.attempts}>"


current_call: contextvars.ContextVar[Call] = contextvars.ContextVar("vi_async_call")


class Pacer(Protocol):
    """A job-wide gate on the requests sent from one context (a bulk job's tasks):
    the transport waits on it before every attempt, retries included, and tells it
    how each attempt was answered."""

    async def before_send(self, deadline: float) -> None:
        """Wait until the job may send (a pause after Retry-After, pacing)."""

    def after_answer(
        self, sent_at: float, status: int | None, headers: Mapping[str, str] | None
    ) -> None:
        """Record one attempt's answer (``status`` None: no answer arrived)."""


current_pacer: contextvars.ContextVar[Pacer | None] = contextvars.ContextVar(
    "vi_async_pacer", default=None
)


class RetryQuota:
    """A token bucket of retries shared by every request of one client."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.available: int = capacity

    def acquire(self, error: ViError) -> int | None:
        """Spend the cost of retrying after ``error``; None when the budget is empty."""
        cost = (
            TIMEOUT_RETRY_COST
            if isinstance(error, (ViTimeoutError, ViConnectionError))
            else RETRY_COST
        )
        if cost > self.available:
            return None
        self.available -= cost
        return cost

    def release(self, amount: int) -> None:
        """Pay tokens back after a success."""
        self.available = min(self.capacity, self.available + amount)


def is_transient(error: BaseException) -> bool:
    """True for failures that may pass if the same request is sent again.

    A certificate that did not verify will not verify on a second try, nor will a
    proxy accept credentials it refused (407); a proxy's 5xx or a dead proxy may pass.
    """
    if isinstance(error, ViTLSError):
        return False
    if isinstance(error, ViProxyError) and error.status is not None:
        return error.status in RETRYABLE_STATUSES
    if isinstance(error, (ViConnectionError, ViTimeoutError)):
        return error.status is None or error.status == 408
    if isinstance(error, (ViRateLimitError, ViServerError)):
        return error.status in RETRYABLE_STATUSES
    return False


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP date).

    Returns None for a missing or unparseable value; a negative or past value
    means "now" (0.0).
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        import email.utils  # only for the rare HTTP-date form

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def retry_waits(
    base: float = 0.25, cap: float = 8.0
) -> Generator[float, BaseException | None, None]:
    """backoff wait generator: honour Retry-After, else jittered exponential waits.

    backoff sends each failure into the generator, so the wait can depend on
    it; no wait goes past the current call's deadline.
    """
    error = yield 0.0  # primed by backoff with send(None)
    attempt = 0
    while True:
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            wait = retry_after + random.uniform(0, min(1.0, retry_after * 0.1))
        else:
            ceiling = min(cap, base * 2**attempt)
            wait = ceiling / 2 + random.uniform(0, ceiling / 2)
        attempt += 1
        left = current_call.get().deadline - time.monotonic()
        error = yield max(0.0, min(wait, left))
