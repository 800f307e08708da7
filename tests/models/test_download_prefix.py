"""The written-prefix followers: readers and hashes wait for bytes, and stop on abort."""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vi_async._download.hashes import hash_following
from vi_async._download.prefix import Aborted, FollowingReader, Prefix


def _filled(path: Path, size: int) -> int:
    with path.open("wb") as file:
        file.truncate(size)
    return os.open(path, os.O_RDWR)


def test_hash_follows_writes_out_of_order(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "f"
    fd = _filled(path, len(data))
    prefix = Prefix(len(data))
    half = len(data) // 2
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(hash_following, path, prefix, "sha256")
        os.pwrite(fd, data[half:], half)  # the second half first: nothing to hash yet
        os.pwrite(fd, data[:half], 0)
        prefix.advance(len(data))
        assert job.result(timeout=10) == hashlib.sha256(data).digest()
    os.close(fd)


def test_reader_blocks_until_written_and_abort_wakes(tmp_path: Path) -> None:
    path = tmp_path / "f"
    fd = _filled(path, 100)
    prefix = Prefix(100)
    got: list[bytes] = []
    with FollowingReader(path, prefix) as reader:
        thread = threading.Thread(target=lambda: got.append(reader.read(10)))
        thread.start()
        thread.join(0.2)
        assert thread.is_alive()  # nothing written yet
        os.pwrite(fd, b"0123456789", 0)
        prefix.advance(10)
        thread.join(5)
        assert got == [b"0123456789"]
        prefix.advance(5)  # never moves back
        assert prefix.end == 10
        prefix.abort()
        with pytest.raises(Aborted):
            reader.read(10)
    os.close(fd)
