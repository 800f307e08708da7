"""Helpers of the model tests: a Succeeded run with small checkpoints."""

from __future__ import annotations

import hashlib
from pathlib import Path

from vi_async import Client

#: Archive size of the test checkpoints: a few chunks, fast to move.
SIZE = 3 * 1024 * 1024


async def succeeded_run(client: Client, *, size: int = SIZE, checkpoints: int = 2) -> str:
    """Create a run whose checkpoints are ``size`` bytes, wait until it Succeeded."""
    run = await client.runs.create(
        flow={"name": "model-test"},
        metadata={"vi-local/model-bytes": str(size), "vi-local/checkpoints": str(checkpoints)},
        wait=True,
        timeout=30,
    )
    return run.run_id


def leftovers(save_dir: Path) -> list[str]:
    """Hidden files a download keeps in ``save_dir`` (partial file, manifest, temp dirs)."""
    return sorted(p.name for p in save_dir.iterdir() if p.name.startswith("."))


def sha256_of(path: Path) -> str:
    """The sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
