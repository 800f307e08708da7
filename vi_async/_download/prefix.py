"""The contiguous written prefix of a file filled at offsets, for threads that follow it.

Guarantees: :meth:`Prefix.wait_until` returns only once every byte before the
position asked for is in the file (or raises :class:`Aborted` once the
producer gives up), so a thread that reads behind it never sees a byte not yet
written. The prefix only grows. :class:`FollowingReader` is a read-only,
seekable file over such a file whose reads block until their bytes are there,
so that ``tarfile`` can walk an archive while it is being downloaded.
"""

from __future__ import annotations

import io
import os
import threading
from typing import Any


class Aborted(Exception):
    """The file will not be completed (the transfer failed or was cancelled)."""


class Prefix:
    """How far from its start a file of ``size`` bytes is written, shared by threads."""

    def __init__(self, size: int, end: int = 0) -> None:
        self.size = size
        self._end = min(end, size)
        self._aborted = False
        self._cond = threading.Condition()
        # The least position a waiter waits for: the writer wakes waiters only
        # once it is reached (a wake-up per write would fight it for the GIL).
        self._next_wake = size + 1
        self._wanted: dict[int, int] = {}

    @property
    def step(self) -> int:
        """How much more to wait for between two reads behind the prefix: 1..8 MiB,
        about 1/32 of the file (few wake-ups, yet close behind the writer)."""
        mib = 1024 * 1024
        return max(mib, min(8 * mib, self.size // 32))

    @property
    def end(self) -> int:
        """Bytes written from the start, without a hole."""
        return self._end

    def advance(self, end: int) -> None:
        """Record that the first ``end`` bytes are written (never moves back)."""
        if end > self._end:
            with self._cond:
                self._end = min(end, self.size)
                if self._end >= self._next_wake:
                    self._cond.notify_all()

    def abort(self) -> None:
        """Wake every waiter with :class:`Aborted`."""
        with self._cond:
            self._aborted = True
            self._cond.notify_all()

    def wait_until(self, position: int) -> int:
        """Block until the first ``position`` bytes are written; the prefix's end."""
        position = min(position, self.size)
        me = threading.get_ident()
        with self._cond:
            while self._end < position and not self._aborted:
                self._wanted[me] = position
                self._next_wake = min(self._wanted.values())
                self._cond.wait()
                del self._wanted[me]
                self._next_wake = min(self._wanted.values(), default=self.size + 1)
            if self._aborted:
                raise Aborted()
            return self._end


class FollowingReader(io.RawIOBase):
    """Reads of a file being written, each blocking until its bytes are in."""

    def __init__(self, path: os.PathLike[str] | str, prefix: Prefix) -> None:
        super().__init__()
        self._fd = os.open(path, os.O_RDONLY)
        self._prefix = prefix
        self._pos = 0

    @property
    def prefix(self) -> Prefix:
        """The written prefix this reader follows."""
        return self._prefix

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._prefix.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), max(0, self._prefix.size - self._pos))
        if want == 0:
            return 0
        self._prefix.wait_until(self._pos + want)
        n = os.preadv(self._fd, [view[:want]], self._pos)
        self._pos += n
        return n

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()
