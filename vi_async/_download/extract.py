"""Extracting a verified model archive and publishing it atomically.

Guarantees: members are extracted into a temporary directory next to the
target (same filesystem), each one checked first: no absolute path, no ``..``,
no link whose target leaves the directory, nothing but files, directories and
links (no devices or fifos); tarfile's ``data`` filter applies on top where
Python has it. The layout is then checked (``model_full/model.safetensors`` or
its index and every shard the index names, and ``model_full/run.json``), a
marker naming the checkpoint is written, and the directory is renamed into
place. An existing model is first renamed aside and removed only after the
new one is in place, so a crash leaves the old model or none, never a half
one. Every failure is a :class:`ViDownloadError`.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tarfile
import uuid
from pathlib import Path
from typing import Any

from ..errors import ViDownloadError
from .manifest import sync_dir
from .prefix import FollowingReader, Prefix

MODEL_DIR = "model_full"
ADAPTER_DIR = "model_adapter"
RUN_CONFIG = "run.json"
MARKER = ".vi-model.json"
_TEMP_TAGS = (".vi-extract-", ".vi-old-")
COPY_BLOCK = 1024 * 1024
SYNC_EVERY = 32 * 1024 * 1024


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        raise ViDownloadError(f"Refusing archive member {name!r}: it escapes the target")
    if member.issym() or member.islnk():
        base = posixpath.dirname(name) if member.issym() else ""
        target = posixpath.normpath(posixpath.join(base, member.linkname))
        if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
            raise ViDownloadError(f"Refusing archive member {name!r}: a link out of the target")
    elif not (member.isfile() or member.isdir()):
        raise ViDownloadError(f"Refusing archive member {name!r}: not a file or directory")


def _copy_range(src: int, dst: int, offset: int, size: int, prefix: Prefix) -> None:
    """Copy ``size`` bytes at ``offset`` of ``src`` to ``dst``, in the kernel when it
    can, each piece once the archive's written prefix covers it."""
    stop = offset + size
    unsynced = 0
    while offset < stop:
        available = min(stop, prefix.wait_until(min(stop, offset + prefix.step)))
        try:
            n = os.copy_file_range(src, dst, available - offset, offset)
        except OSError:  # another filesystem without support, or no such syscall
            n = os.write(dst, os.pread(src, min(available - offset, COPY_BLOCK), offset))
        if n <= 0:
            raise ViDownloadError("The model archive is truncated")
        offset += n
        unsynced += n
        if unsynced >= SYNC_EVERY:  # write back as we go: the final fsync is then short
            os.fdatasync(dst) if hasattr(os, "fdatasync") else os.fsync(dst)
            unsynced = 0


def _extract_file(src: int, member: tarfile.TarInfo, into: Path, prefix: Prefix) -> None:
    target = into / member.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("xb") as out:
        _copy_range(src, out.fileno(), member.offset_data, member.size, prefix)
        os.fsync(out.fileno())
    target.chmod(0o755 if member.mode & 0o100 else 0o644)


def extract(archive: Path, into: Path, prefix: Prefix | None = None) -> None:
    """Extract ``archive`` into the new directory ``into``, member by member.

    With ``prefix``, the archive is still being written: every read waits
    until the prefix covers it, so extraction runs alongside the download.
    Regular files of an uncompressed archive are copied by offset (in the
    kernel where possible) and synced to disk; everything else goes through
    tarfile. Raises :class:`~vi_async._download.prefix.Aborted` when the transfer
    gives up.
    """
    if prefix is None:
        prefix = Prefix(archive.stat().st_size, end=archive.stat().st_size)
    into.mkdir()
    data_filter = getattr(tarfile, "data_filter", None)
    extra: dict[str, Any] = {"filter": "data"} if data_filter is not None else {}
    try:
        with FollowingReader(archive, prefix) as raw:
            try:
                tar = tarfile.open(fileobj=raw, mode="r:")
                fast = hasattr(os, "copy_file_range")
            except tarfile.ReadError:
                raw.seek(0)
                tar, fast = tarfile.open(fileobj=raw, mode="r:*"), False
            with tar:
                for member in tar:
                    _check_member(member)
                    if data_filter is not None:
                        member = data_filter(member, str(into))
                    if fast and member.isreg() and not member.sparse:
                        _extract_file(raw.fileno(), member, into, prefix)
                    else:
                        tar.extract(member, into, **extra)
    except ViDownloadError:
        raise
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ViDownloadError(f"The model archive could not be extracted: {exc}") from None


def check_layout(root: Path) -> tuple[Path, Path | None, Path]:
    """``(model_path, adapter_path or None, run_config_path)`` of an extracted model."""
    model = root / MODEL_DIR
    index = model / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text()).get("weight_map", {}).values())
        except (ValueError, OSError, AttributeError):
            raise ViDownloadError("The model's safetensors index is not valid JSON") from None
        missing = sorted(s for s in shards if not (model / str(s)).is_file())
        if not shards or missing:
            raise ViDownloadError(f"The model archive lacks weight shards: {missing or 'all'}")
    elif not (model / "model.safetensors").is_file():
        raise ViDownloadError(f"The model archive has no {MODEL_DIR}/model.safetensors")
    config = model / RUN_CONFIG
    if not config.is_file():
        raise ViDownloadError(f"The model archive has no {MODEL_DIR}/{RUN_CONFIG}")
    adapter = root / ADAPTER_DIR
    return model, adapter if adapter.is_dir() else None, config


def files_of(root: Path) -> list[str]:
    """Paths of the files under ``root``, relative and sorted, the marker left out."""
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != MARKER
    )


def read_marker(root: Path) -> dict[str, Any] | None:
    """The marker of a published model, or None."""
    try:
        data = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def remove_leftovers(parent: Path, name: str) -> None:
    """Remove temporary directories a crashed download of ``name`` left in ``parent``."""
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        if entry.name.startswith(tuple(f".{name}{tag}" for tag in _TEMP_TAGS)):
            shutil.rmtree(entry, ignore_errors=True)


def work_dir(target: Path) -> Path:
    """A fresh temporary directory name next to ``target`` (same filesystem)."""
    return target.parent / f".{target.name}.vi-extract-{uuid.uuid4().hex[:8]}"


def prepare(archive: Path, work: Path, prefix: Prefix | None = None) -> None:
    """Extract ``archive`` into ``work`` and check its layout (nothing is published)."""
    extract(archive, work, prefix)
    check_layout(work)


def install(work: Path, target: Path, marker: dict[str, Any]) -> tuple[Path, Path | None, Path]:
    """Mark the prepared ``work`` directory and rename it into ``target``."""
    old = target.parent / f".{target.name}.vi-old-{uuid.uuid4().hex[:8]}"
    try:
        with (work / MARKER).open("w") as file:
            file.write(json.dumps(marker))
            file.flush()
            os.fsync(file.fileno())
        # Files were synced as they were extracted; their directory entries
        # now, then the rename: a power loss cannot publish a torn model.
        for directory in [work, *(p for p in work.rglob("*") if p.is_dir())]:
            sync_dir(directory)
        if target.exists():
            os.replace(target, old)
        os.replace(work, target)
        sync_dir(target.parent)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise ViDownloadError(f"Could not publish the model in {target}: {exc}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return check_layout(target)
