"""The resume manifest of a partial download.

Guarantees: the manifest sits beside the partial file and is keyed on the
checkpoint id, the object's ETag and size (never on the signed URL, which
changes with every request for it), so a later process resumes it as long as
the object is the same one. It never claims a byte that was not written: a
chunk's count grows only after its bytes are in the file, and it is saved
atomically (write then rename), so a kill leaves the old or the new manifest.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs

VERSION = 1


def chunk_size_for(size: int) -> int:
    """Chunks of 1..16 MiB, about 64 of them: small enough that a resume loses
    little, large enough that requests are few."""
    mib = 1024 * 1024
    return max(mib, min(16 * mib, -(-size // 64 // mib) * mib))


@attrs.define
class Manifest:
    """How many bytes of each chunk of the partial file are written."""

    checkpoint: str
    etag: str
    size: int
    chunk_size: int
    done: list[int]

    @classmethod
    def new(cls, checkpoint: str, etag: str, size: int) -> Manifest:
        """A manifest with nothing written yet."""
        chunk = chunk_size_for(size)
        return cls(checkpoint, etag, size, chunk, [0] * max(1, -(-size // chunk)))

    def chunk(self, index: int) -> tuple[int, int]:
        """``[start, end)`` of chunk ``index``."""
        start = index * self.chunk_size
        return start, min(self.size, start + self.chunk_size)

    @property
    def written(self) -> int:
        """Bytes written so far."""
        return sum(self.done)

    @property
    def complete(self) -> bool:
        """True when every chunk is written."""
        return self.written == self.size

    def matches(self, checkpoint: str, etag: str, size: int) -> bool:
        """Whether this manifest describes that object."""
        return (self.checkpoint, self.etag, self.size) == (checkpoint, etag, size) and bool(etag)

    def save(self, path: Path) -> None:
        """Write atomically (a kill leaves the previous manifest or this one)."""
        data = {"version": VERSION, **attrs.asdict(self)}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Manifest | None:
        """The saved manifest, or None when missing or unreadable."""
        try:
            data: Any = json.loads(path.read_text())
            if data.pop("version", None) != VERSION:
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
        return manifest
