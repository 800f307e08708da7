"""Hashes of a file while it is being written: md5, sha256, crc32c.

Guarantees: :func:`hash_following` reads the file behind its written prefix
(from the page cache, in large blocks so that hashlib releases the GIL and
several hashes run on several cores while the transfer goes on), so the digest
is ready moments after the last byte arrives; memory is one block per hash.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ..errors import ViDownloadError
from .prefix import Prefix

HASH_BLOCK = 1024 * 1024
# Pure-python crc32c is ~1 MB/s: used only when google-crc32c is missing and the
# server sends no md5, and only up to this size.
PURE_CRC32C_LIMIT = 16 * 1024 * 1024


class _PureCrc32c:
    """crc32c (Castagnoli), table-driven; slow, for small files only."""

    _table: list[int] = []

    def __init__(self) -> None:
        if not self._table:
            for n in range(256):
                c = n
                for _ in range(8):
                    c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
                self._table.append(c)
        self._crc = 0xFFFFFFFF

    def update(self, data: bytes) -> None:
        crc, table = self._crc, self._table
        for byte in data:
            crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        self._crc = crc

    def digest(self) -> bytes:
        return (self._crc ^ 0xFFFFFFFF).to_bytes(4, "big")


def _crc32c() -> Any:
    try:
        import google_crc32c
    except ImportError:
        return _PureCrc32c()
    return google_crc32c.Checksum()  # type: ignore[no-untyped-call,unused-ignore]


def has_fast_crc32c() -> bool:
    """Whether google-crc32c is installed."""
    try:
        import google_crc32c  # noqa: F401
    except ImportError:
        return False
    return True


def hash_following(path: Path, prefix: Prefix, name: str) -> bytes:
    """``name`` (``sha256``, ``md5`` or ``crc32c``) of the file, read as it is written.

    Raises :class:`~vi_async._download.prefix.Aborted` when the transfer gives up.
    """
    hasher: Any = _crc32c() if name == "crc32c" else hashlib.new(name)
    copy = bytes if name == "crc32c" else None  # google-crc32c takes bytes only
    buffer = bytearray(HASH_BLOCK)
    view = memoryview(buffer)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise ViDownloadError(f"Could not read the downloaded archive: {exc}") from None
    try:
        position = 0
        while position < prefix.size:
            end = prefix.wait_until(position + prefix.step)
            while position < end:
                n = os.preadv(fd, [view[: min(HASH_BLOCK, end - position)]], position)
                if n <= 0:
                    raise ViDownloadError("The downloaded archive is shorter than its size")
                hasher.update(view[:n] if copy is None else copy(view[:n]))
                position += n
    except OSError as exc:
        raise ViDownloadError(f"Could not read the downloaded archive: {exc}") from None
    finally:
        os.close(fd)
    digest: bytes = hasher.digest()
    return digest
