"""An exclusive lock on one download target, across processes and within one.

Guarantees: while a :class:`TargetLock` is held no other download (in this
process or another, on a POSIX system) of the same target runs: ``flock`` on a
lock file beside the partial file, taken without blocking the event loop. A
download that finds the lock taken waits for it (cancellable). The lock file
is removed on release; a waiter that locked a file already removed retries,
so two holders can never coexist. A crashed holder's lock is released by the
kernel. The lock file is opened without following links: a link planted at
its path is refused (a ViDownloadError naming it), never followed. Where
``fcntl`` is missing (Windows) there is no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from pathlib import Path

from .._observe.logging import sdk_logger
from ..errors import ViDownloadError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = sdk_logger("vi_async.download")

POLL = 0.05


class TargetLock:
    """``async with TargetLock(path):`` holds the lock on ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.waited = False
        self._fd: int | None = None

    def _try(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                why = "is a link, not this SDK's lock file; remove it and try again"
            else:
                why = f"could not be opened as the download's lock file: {exc.strerror}"
            raise ViDownloadError(f"{self.path} {why}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except (BlockingIOError, FileNotFoundError):
            same = False
        if same:
            self._fd = fd
            return True
        os.close(fd)
        return False

    async def __aenter__(self) -> TargetLock:
        if fcntl is None:  # pragma: no cover - Windows
            return self
        while not await asyncio.to_thread(self._try):
            if not self.waited:
                logger.info("another download of %s is running; waiting for it", self.path.name)
                self.waited = True
            await asyncio.sleep(POLL)
        return self

    async def __aexit__(self, *exc: object) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # before unlocking: a waiter then sees a new file
        os.close(fd)
