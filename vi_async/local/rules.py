"""Scripted faults: ``server.inject(FaultRule(...))`` fails chosen requests exactly.

Guarantees: rules apply in the order they were injected; a request takes the
first rule that matches it (method, path glob as the request journal matches
them) and still has hits left, and only that one; a rule's ``times`` hits are
counted once per request, whatever the interleaving. A rule waits ``delay``
real seconds first (the request is not processed if the client hangs up or
the server stops meanwhile), then drops the connection before processing
(``reset``: nothing changes), or answers ``status`` with a JSON error (and
``Retry-After`` when ``retry_after`` is given; nothing changes), or lets the
request through. A request no rule answered meets the random
:class:`~vi_async.local.faults.FaultConfig` as usual. The ``/_local/`` admin
routes are never matched.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from vi_async.local.journal import ADMIN_PREFIX, matches

MAX_RULE_SECONDS = 86_400.0
MAX_PATTERN = 1000


@dataclass(frozen=True)
class FaultRule:
    """Which requests to fail, how many times, and how.

    ``method`` (any case) and ``path`` (a glob of the path after
    ``/workspaces/{org}/``, e.g. ``"flows/*"``, or of the whole path when it
    starts with ``/``) select requests; None matches any. ``times`` is how
    many requests it hits (None: every one). ``status`` (400..599) answers an
    error, ``reset`` drops the connection instead; with neither, a matching
    request goes through after ``delay`` seconds (and is still counted).
    """

    method: str | None = None
    path: str | None = None
    times: int | None = 1
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    reset: bool = False

    def __post_init__(self) -> None:
        """Refuse a rule that cannot be applied, before any request."""
        if self.method is not None and not (isinstance(self.method, str) and self.method.isalpha()):
            raise ValueError(f"method must be an HTTP method such as 'DELETE', got {self.method!r}")
        if self.path is not None and not (isinstance(self.path, str) and self.path):
            raise ValueError("path must be a non-empty glob such as 'flows/*', or None")
        if self.path is not None and len(self.path) > MAX_PATTERN:
            raise ValueError(f"path must be at most {MAX_PATTERN} characters")
        if self.times is not None and (not _is_int(self.times) or self.times < 1):
            raise ValueError(f"times must be an integer >= 1 or None, got {self.times!r}")
        if self.status is not None and (not _is_int(self.status) or not 400 <= self.status <= 599):
            raise ValueError(f"status must be an HTTP error status 400..599, got {self.status!r}")
        _check_seconds("delay", self.delay)
        if self.retry_after is not None:
            _check_seconds("retry_after", self.retry_after)
            if self.status is None:
                raise ValueError("retry_after needs a status to answer")
        if not isinstance(self.reset, bool):
            raise ValueError("reset must be True or False")
        if self.reset and self.status is not None:
            raise ValueError("a rule either resets the connection or answers a status, not both")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}")
    if not (math.isfinite(value) and 0 <= value <= MAX_RULE_SECONDS):
        raise ValueError(f"{name} must be within 0..{MAX_RULE_SECONDS:g} seconds")


class FaultHandle:
    """An injected rule: how often it hit and how many hits it has left."""

    def __init__(self, rule: FaultRule, book: RuleBook) -> None:
        """Track ``rule`` in ``book``."""
        self.rule = rule
        self.hits = 0
        self._book = book

    def __repr__(self) -> str:
        """Show the rule and its counts."""
        return f"FaultHandle({self.rule!r}, hits={self.hits}, remaining={self.remaining})"

    @property
    def remaining(self) -> int | None:
        """Hits left (None: the rule has no limit)."""
        times = self.rule.times
        return None if times is None else max(0, times - self.hits)

    def remove(self) -> None:
        """Stop applying the rule (its counts stay readable)."""
        self._book.remove(self)


class RuleBook:
    """The injected rules, in order (thread-safe: tests inject from any thread)."""

    def __init__(self) -> None:
        """Start without rules."""
        self._handles: list[FaultHandle] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> FaultHandle:
        """Append a rule.

        Args:
            rule: The rule.

        Returns:
            Its handle.

        Raises:
            TypeError: ``rule`` is not a FaultRule.
        """
        if not isinstance(rule, FaultRule):
            raise TypeError(f"inject() takes a FaultRule, got {type(rule).__name__}")
        handle = FaultHandle(rule, self)
        with self._lock:
            self._handles.append(handle)
        return handle

    def remove(self, handle: FaultHandle) -> None:
        """Drop a rule (no error when it was already dropped)."""
        with self._lock:
            self._handles = [h for h in self._handles if h is not handle]

    def clear(self) -> None:
        """Drop every rule."""
        with self._lock:
            self._handles = []

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first rule with hits left matching a request, its hit counted.

        Args:
            method: The request's method.
            path: The request's path.

        Returns:
            The rule, or None when none applies.
        """
        if not self._handles or path.startswith(ADMIN_PREFIX):
            return None
        with self._lock:
            for handle in self._handles:
                rule = handle.rule
                if handle.remaining != 0 and matches(rule.method, rule.path, method, path):
                    handle.hits += 1
                    return rule
        return None
