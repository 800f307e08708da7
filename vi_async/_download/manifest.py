"""The resume manifest of a partial download.

Guarantees: the manifest sits beside the partial file and is keyed on the
checkpoint id, the object's ETag and size (never on the signed URL, which
changes with every request for it), so a later process resumes it as long as
the object is the same one. It never claims a byte that was not written: a
chunk's count grows only after its bytes are in the file, and it is saved
atomically (write then rename), so a kill leaves the old or the new manifest.
It holds at most MAX_CHUNKS counts whatever the object's declared size, and a
manifest on disk that does not validate (wrong types, counts out of range) is
treated as absent. Files are opened without following links, so a link
planted at the manifest's path is replaced, never written through.

A power loss can lose written bytes that a manifest saved on the way claims,
so a manifest is trusted only when it was saved durably (the partial file
synced first: done when a download stops short) or during this boot of the
machine (the bytes are then in the page cache even if its process was
killed); any other one is ignored and the download starts over.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs

VERSION = 2
MAX_CHUNKS = 4096
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def chunk_size_for(size: int) -> int:
    """Chunks of 1..16 MiB, about 64 of them: small enough that a resume loses
    little, large enough that requests are few; larger ones beyond 64 GiB, so
    that there are never more than MAX_CHUNKS."""
    mib = 1024 * 1024
    chunk = max(mib, min(16 * mib, -(-size // 64 // mib) * mib))
    if -(-size // chunk) > MAX_CHUNKS:
        chunk = -(-size // MAX_CHUNKS // mib) * mib
    return chunk


def _typed(data: Any) -> bool:
    """Whether a manifest's fields, read from disk, have their types."""
    ints = [data.get("size"), data.get("chunk_size"), *(data.get("done") or [None])]
    return (
        isinstance(data.get("checkpoint"), str)
        and isinstance(data.get("etag"), str)
        and isinstance(data.get("boot", ""), str)
        and isinstance(data.get("durable", False), bool)
        and isinstance(data.get("done"), list)
        and all(type(n) is int for n in ints)
        and data["size"] > 0
        and len(data["done"]) <= MAX_CHUNKS
    )


def open_new(path: Path) -> int:
    """Create ``path`` afresh for writing: whatever is there (a file, a planted
    link) is removed first, and the new file is created without following links.

    Args:
        path: The file to create.

    Returns:
        Its descriptor, open for reading and writing.
    """
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)


@attrs.define
class Manifest:
    """How many bytes of each chunk of the partial file are written."""

    checkpoint: str
    etag: str
    size: int
    chunk_size: int
    done: list[int]
    boot: str = ""  # the machine's boot id when saved
    durable: bool = False  # saved after the partial file was synced

    @classmethod
    def new(cls, checkpoint: str, etag: str, size: int) -> Manifest:
        """A manifest with nothing written yet."""
        chunk = chunk_size_for(size)
        return cls(checkpoint, etag, size, chunk, [0] * max(1, -(-size // chunk)))

    def copy(self) -> Manifest:
        """A snapshot (the chunk counts copied)."""
        return attrs.evolve(self, done=list(self.done))

    def chunk(self, index: int) -> tuple[int, int]:
        """``[start, end)`` of chunk ``index``."""
        start = index * self.chunk_size
        return start, min(self.size, start + self.chunk_size)

    @property
    def written(self) -> int:
        """Bytes written so far."""
        return sum(self.done)

    @property
    def contiguous(self) -> int:
        """Bytes written from the start of the file without a hole."""
        for index, n in enumerate(self.done):
            start, end = self.chunk(index)
            if start + n < end:
                return start + n
        return self.size

    @property
    def complete(self) -> bool:
        """True when every chunk is written."""
        return self.written == self.size

    def matches(self, checkpoint: str, etag: str, size: int) -> bool:
        """Whether this manifest describes that object."""
        return (self.checkpoint, self.etag, self.size) == (checkpoint, etag, size) and bool(etag)

    def save(self, path: Path, *, durable: bool = False) -> None:
        """Write atomically (a kill leaves the previous manifest or this one);
        ``durable``: the partial file was synced, and the manifest is too (a
        power loss keeps both)."""
        self.boot, self.durable = boot_id(), durable
        data = {"version": VERSION, **attrs.asdict(self)}
        tmp = path.with_name(path.name + ".tmp")
        with os.fdopen(open_new(tmp), "w") as file:
            file.write(json.dumps(data))
            if durable:
                file.flush()
                os.fsync(file.fileno())
        os.replace(tmp, path)
        if durable:
            sync_dir(path.parent)

    @classmethod
    def load(cls, path: Path) -> Manifest | None:
        """The saved manifest, or None when missing or unreadable."""
        try:
            data: Any = json.loads(path.read_text())
            if not isinstance(data, dict) or data.pop("version", None) != VERSION:
                return None
            if not _typed(data):
                return None
            manifest = cls(**data)
        except (OSError, ValueError, TypeError):
            return None
        expected = cls.new(manifest.checkpoint, manifest.etag, manifest.size)
        valid = manifest.chunk_size == expected.chunk_size and len(manifest.done) == len(
            expected.done
        )
        if not valid or any(
            not 0 <= n <= manifest.chunk(i)[1] - manifest.chunk(i)[0]
            for i, n in enumerate(manifest.done)
        ):
            return None
        if not manifest.durable and manifest.boot != boot_id():
            return None  # saved before a reboot: its bytes may not be on disk
        return manifest


_BOOT_ID: list[str] = []


def boot_id() -> str:
    """This boot of the machine (Linux), or "" where unknown."""
    if not _BOOT_ID:
        try:
            _BOOT_ID.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
        except OSError:
            _BOOT_ID.append("")
    return _BOOT_ID[0]


def sync_dir(path: Path) -> None:
    """fsync a directory (its entries: renames and new files), where the OS can."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
