"""Hostile model archives: nothing is ever written outside the target, no bomb is
published, and every refusal is a ViDownloadError naming what was refused.

The archives are valid checkpoints (they would verify and pass the layout check)
with hostile members added: link chains that lead out of the extraction
directory (with and without tarfile's ``data`` filter to lean on), the
CVE-2025-4517 realpath overflow, plain and gzip, size and member-count bombs,
a GNU sparse member.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from vi_async import ViDownloadError

from .conftest import hostile_client
from .hostile import HostileServer
from .hostile_storage import RUN, archive, member, parent_chain, realpath_overflow, sparse, storage

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


def _extraction_dir_length(save_dir: Path) -> int:
    """Length of ``save_dir/.<run>.vi-extract-xxxxxxxx``, where a download extracts."""
    return len(str(save_dir)) + len(f"/.{RUN}.vi-extract-") + 8


def _nothing_published(save_dir: Path) -> None:
    assert not (save_dir / RUN).exists()
    assert [p.name for p in save_dir.iterdir() if "extract" in p.name] == []


async def _refused(hostile: HostileServer, body: bytes, save_dir: Path, match: str) -> None:
    hostile.handler = storage(body)  # type: ignore[assignment]
    async with hostile_client(hostile) as client:
        with pytest.raises(ViDownloadError, match=match):
            await client.models.download(RUN, save_dir=save_dir)
    _nothing_published(save_dir)


@pytest.mark.parametrize("gz", [False, True], ids=["tar", "tar.gz"])
async def test_realpath_overflow_cannot_escape(
    hostile: HostileServer, tmp_path: Path, gz: bool
) -> None:
    save_dir = tmp_path / "models"
    save_dir.mkdir()
    victim = save_dir / "victim"
    victim.write_text("precious")
    body = archive(realpath_overflow(_extraction_dir_length(save_dir)), gz=gz)
    await _refused(hostile, body, save_dir, "Refusing archive member.*link")
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in save_dir.iterdir()) == ["victim"]


async def test_parent_link_chain_cannot_escape(hostile: HostileServer, tmp_path: Path) -> None:
    save_dir = tmp_path / "models"
    save_dir.mkdir()
    await _refused(hostile, archive(parent_chain()), save_dir, "Refusing archive member.*link")
    assert not (tmp_path / "x").exists() and not (save_dir / "x").exists()


@pytest.mark.parametrize(
    "kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE], ids=["chr", "blk", "fifo"]
)
async def test_special_members_refused(hostile: HostileServer, tmp_path: Path, kind: bytes) -> None:
    body = archive([member("model_full/special", kind)])
    await _refused(hostile, body, tmp_path, "Refusing archive member 'model_full/special'")


async def test_duplicate_file_refused(hostile: HostileServer, tmp_path: Path) -> None:
    """A second member of the same name would replace what was checked."""
    body = archive([member("model_full/run.json", data=b"{}")])
    await _refused(hostile, body, tmp_path, "Refusing archive member 'model_full/run.json'")


async def test_size_bomb_refused(hostile: HostileServer, tmp_path: Path) -> None:
    """16 MiB of zeros in a gzip of a few hundred KiB: far more than the archive's size."""
    body = archive([member("model_full/zeros", data=bytes(16 * MIB))], gz=True)
    assert len(body) < MIB
    await _refused(hostile, body, tmp_path, "larger than")


async def test_compression_ratio_bomb_refused(hostile: HostileServer, tmp_path: Path) -> None:
    """A large archive (random bytes at its end) whose start expands a thousandfold."""
    noise = os.urandom(2 * MIB)
    body = archive(
        [member("model_full/zeros", data=bytes(16 * MIB)), member("model_full/noise", data=noise)],
        gz=True,
    )
    await _refused(hostile, body, tmp_path, "compression ratio")


async def test_member_count_bomb_refused(hostile: HostileServer, tmp_path: Path) -> None:
    body = archive([member(f"model_full/f{i}") for i in range(1100)], gz=True)
    await _refused(hostile, body, tmp_path, "more than .* members")


async def test_sparse_member_refused(hostile: HostileServer, tmp_path: Path) -> None:
    body = archive([sparse("model_full/huge.bin", 2**40)])
    await _refused(hostile, body, tmp_path, "Refusing archive member 'model_full/huge.bin'.*sparse")


async def test_caller_sets_the_ceiling(hostile: HostileServer, tmp_path: Path) -> None:
    """``max_bytes`` below the archive's size: refused before any byte is fetched."""
    hostile.handler = storage(archive([]))  # type: ignore[assignment]
    async with hostile_client(hostile) as client:
        with pytest.raises(ViDownloadError, match="max_bytes"):
            await client.models.download(RUN, save_dir=tmp_path, max_bytes=50_000)
        with pytest.raises(ValueError, match="max_bytes"):
            await client.models.download(RUN, save_dir=tmp_path, max_bytes=0)
    assert not [r for r in hostile.requests if r.method == "GET" and "blob" in r.path]
