"""The request journal: what the server received, for tests to assert on.

Guarantees: every request but the ``/_local/`` admin routes is recorded once,
after it was answered (method, path, query, headers, JSON body, status, server
time), newest last; only the last ``maxlen`` (10,000 by default) are kept;
credentials never enter it (``Authorization``, the admin token, cookies and any
header naming a secret, key or token are masked, and so is the signature of a
pre-signed storage URL). It is safe to read from any thread while the server
records into it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from typing import Any

from aiohttp import web

MASK = "***"
DEFAULT_MAXLEN = 10_000
ADMIN_PREFIX = "/_local/"
#: Where a handler leaves the JSON body it read, for the journal.
BODY = web.RequestKey("vi_local_body", object)
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-vi-local-admin", "x-goog-signature"}
)
_SECRET_WORDS = ("secret", "token", "api-key", "apikey", "password")
_SECRET_QUERY = frozenset({"sig", "signature", "x-goog-signature", "token"})


def relative_path(path: str) -> str:
    """``path`` without its leading ``/`` and ``/workspaces/{org}/`` (``flows/abc``)."""
    if path.startswith("/workspaces/"):
        parts = path.split("/", 3)
        return parts[3] if len(parts) > 3 else ""
    return path.lstrip("/")


def matches(method: str | None, pattern: str | None, request_method: str, path: str) -> bool:
    """Whether a request is matched by a method (any case) and a path glob.

    Args:
        method: The method to match; None matches any.
        pattern: A glob (``*`` matches any characters, ``/`` too) of the path
            after ``/workspaces/{org}/`` (``"flows/*"``), or of the whole path
            when it starts with ``/``; None matches any.
        request_method: The request's method.
        path: The request's path.

    Returns:
        True when both match.
    """
    if method is not None and method.upper() != request_method.upper():
        return False
    if pattern is None:
        return True
    return fnmatchcase(path if pattern.startswith("/") else relative_path(path), pattern)


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers with every credential replaced by ``***``."""
    masked = {}
    for name, value in headers.items():
        lower = name.lower()
        secret = lower in _SECRET_HEADERS or any(word in lower for word in _SECRET_WORDS)
        masked[name] = MASK if secret else value
    return masked


@dataclass(frozen=True)
class JournalEntry:
    """One request the server answered.

    ``path`` is the full path (``/workspaces/<org>/flows/<id>``); ``body`` the
    JSON body when the server read one, else None; ``status`` None when the
    connection was dropped (an injected reset) instead of answered; ``time``
    the server time (the manual clock's when there is one).
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int | None
    time: datetime

    @property
    def relative_path(self) -> str:
        """The path after ``/workspaces/{org}/``, as filters match it."""
        return relative_path(self.path)


class RequestJournal:
    """The last requests the server answered, newest last (thread-safe)."""

    def __init__(self, maxlen: int = DEFAULT_MAXLEN) -> None:
        """Keep at most ``maxlen`` entries (the oldest go first)."""
        if maxlen < 1:
            raise ValueError(f"journal_size must be >= 1, got {maxlen!r}")
        self._entries: deque[JournalEntry] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        """Say how many requests are held."""
        return f"RequestJournal({len(self)} requests)"

    def __len__(self) -> int:
        """How many requests are held."""
        return len(self._entries)

    def _snapshot(self) -> list[JournalEntry]:
        with self._lock:
            return list(self._entries)

    def __iter__(self) -> Iterator[JournalEntry]:
        """The held requests, oldest first (a snapshot)."""
        return iter(self._snapshot())

    def __getitem__(self, index: int) -> JournalEntry:
        """Request ``index`` (``-1``: the newest)."""
        return self._snapshot()[index]

    def filter(
        self, method: str | None = None, path: str | None = None, status: int | None = None
    ) -> list[JournalEntry]:
        """The held requests matching all the given criteria, oldest first.

        Args:
            method: ``"DELETE"``, ... (any case); None for any.
            path: A glob of the path after ``/workspaces/{org}/`` (``"flows/*"``,
                ``"runs/*/logs"``), or of the whole path when it starts with ``/``.
            status: The answer's status; None for any.

        Returns:
            The matching entries.
        """
        return [
            entry
            for entry in self._snapshot()
            if matches(method, path, entry.method, entry.path)
            and (status is None or entry.status == status)
        ]

    def clear(self) -> None:
        """Forget every held request."""
        with self._lock:
            self._entries.clear()

    def record(self, request: web.Request, status: int | None, now_ms: int) -> None:
        """Add one answered request (not an admin route's).

        Args:
            request: The request.
            status: Its answer's status; None when the connection was dropped.
            now_ms: The server time, epoch milliseconds.
        """
        if request.path.startswith(ADMIN_PREFIX):
            return
        query = {
            key: MASK if key.lower() in _SECRET_QUERY else value
            for key, value in request.query.items()
        }
        entry = JournalEntry(
            method=request.method,
            path=request.path,
            query=query,
            headers=mask_headers(request.headers),
            body=request.get(BODY),
            status=status,
            time=datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc),
        )
        with self._lock:
            self._entries.append(entry)
