"""The local server's database on a thread of its own.

Guarantees: every :class:`~vi_async.local.database.Database` call runs on one
dedicated worker thread, so the event loop never blocks on SQLite and writes are
serialized; a write the database refuses because it is read-only, full or
failing is answered ``503`` with a ``Retry-After`` and a message naming the
cause, never a bare 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

from vi_async.local.database import Database, now_ms
from vi_async.local.errors import ApiError

P = ParamSpec("P")
T = TypeVar("T")

#: Seconds a client is asked to wait when the database cannot take writes.
UNAVAILABLE_RETRY_AFTER = 5
_UNAVAILABLE = {
    "SQLITE_READONLY": "the database is read-only",
    "SQLITE_FULL": "the database or disk is full",
    "SQLITE_IOERR": "the database could not write to disk (disk I/O error: full or failing?)",
    "SQLITE_BUSY": "the database is locked by another process",
    "SQLITE_LOCKED": "the database is locked",
    "SQLITE_CANTOPEN": "the database file cannot be opened",
}
#: SQLite's text for each of those codes (sqlite3_errstr), for Python 3.10, whose
#: errors carry neither ``sqlite_errorname`` nor ``sqlite_errorcode`` (3.11+).
_MESSAGES = {
    "attempt to write a readonly database": "SQLITE_READONLY",
    "database or disk is full": "SQLITE_FULL",
    "disk I/O error": "SQLITE_IOERR",
    "database table is locked": "SQLITE_LOCKED",
    "database is locked": "SQLITE_BUSY",
    "unable to open database file": "SQLITE_CANTOPEN",
}


def error_name(exc: sqlite3.Error) -> str:
    """SQLite's name for the error (``SQLITE_FULL``), or "" when it is not known.

    Args:
        exc: What SQLite raised.

    Returns:
        ``exc.sqlite_errorname`` (Python 3.11+); on older Pythons, the name whose
        message ``exc`` carries, or "".
    """
    name = getattr(exc, "sqlite_errorname", None)
    if isinstance(name, str) and name:
        return name
    message = str(exc)
    return next((code for text, code in _MESSAGES.items() if text in message), "")


def unavailable(exc: sqlite3.Error) -> ApiError | None:
    """The 503 answer for a storage failure.

    Args:
        exc: What SQLite raised.

    Returns:
        The error to answer (read-only, full, I/O, locked), or None for other errors.
    """
    name = error_name(exc)
    for prefix, cause in _UNAVAILABLE.items():
        if name == prefix or name.startswith(prefix + "_"):
            return ApiError(
                503,
                f"{cause}; try again later",
                headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)},
            )
    return None


@contextlib.contextmanager
def _answered_as_503() -> Iterator[None]:
    """Turn a storage failure SQLite raises into its 503 answer (see :func:`unavailable`)."""
    try:
        yield
    except sqlite3.Error as exc:
        error = unavailable(exc)
        if error is None:
            raise
        raise error from exc


class Store:
    """Runs :class:`Database` calls on one dedicated worker thread."""

    def __init__(self, path: str = ":memory:", clock: Callable[[], int] = now_ms) -> None:
        """Prepare a store; :meth:`open` connects.

        Args:
            path: The SQLite file or ``file:`` URI; ``":memory:"`` for a temporary one.
            clock: The current time in epoch milliseconds.
        """
        self.path = path
        self._clock = clock
        self._executor: ThreadPoolExecutor | None = None
        self._db: Database | None = None

    async def open(self) -> None:
        """Start the worker thread and open the database on it.

        Raises:
            sqlite3.Error: The database cannot be opened (the thread is stopped again).
        """
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vi-local-db")
        loop = asyncio.get_running_loop()
        try:
            self._db = await loop.run_in_executor(self._executor, Database, self.path, self._clock)
        except BaseException:
            self._executor.shutdown(wait=True)
            self._executor = None
            raise

    async def run(
        self, fn: Callable[Concatenate[Database, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Call ``fn(database, *args, **kwargs)`` on the worker thread.

        Args:
            fn: A :class:`Database` method, or a function taking the database first.
            *args: Passed on to ``fn``.
            **kwargs: Passed on to ``fn``.

        Returns:
            What ``fn`` returns.

        Raises:
            RuntimeError: The store is not open.
            ApiError: A 503 when the database cannot take the write (read-only,
                full, failing or locked), or what ``fn`` raised.
        """
        executor, call = self._bind(fn, *args, **kwargs)
        with _answered_as_503():
            return await asyncio.get_running_loop().run_in_executor(executor, call)

    def call(
        self, fn: Callable[Concatenate[Database, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Call ``fn(database, *args, **kwargs)`` on the worker thread and wait, blocking.

        For the server's control methods, which tests call from the server's own
        event loop or from another thread: the call needs no event loop, and a
        database call is short.

        Args, return value and errors are those of :meth:`run`.
        """
        executor, call = self._bind(fn, *args, **kwargs)
        with _answered_as_503():
            return executor.submit(call).result()

    def _bind(
        self, fn: Callable[Concatenate[Database, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> tuple[ThreadPoolExecutor, Callable[[], T]]:
        if self._executor is None or self._db is None:
            raise RuntimeError("the store is not open")
        return self._executor, functools.partial(fn, self._db, *args, **kwargs)

    async def close(self) -> None:
        """Close the database and stop the worker thread."""
        if self._executor is None:
            return
        if self._db is not None:
            await self.run(Database.close)
            self._db = None
        self._executor.shutdown(wait=True)
        self._executor = None


__all__ = ["Store", "unavailable"]
