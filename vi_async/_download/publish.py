"""Checking an extracted model and publishing it atomically; finding it again.

Guarantees: an extracted directory is published only once its layout checks
(``model_full/model.safetensors`` or its index and every shard the index
names, and ``model_full/run.json``); a marker naming the checkpoint and
recording every file's size and modification time is written, and the
directory is renamed into place. An existing model is first renamed aside and
removed only after the new one is in place, so a crash leaves the old model or
none, never a half one. A published copy counts as intact only while its files
are exactly those the marker records, with the same sizes and times: a
truncated, replaced, removed or added file means a new download. Every failure
is a :class:`ViDownloadError`.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from ..errors import ViDownloadError
from .extract import Limits, extract
from .manifest import sync_dir
from .prefix import Prefix

MODEL_DIR = "model_full"
ADAPTER_DIR = "model_adapter"
RUN_CONFIG = "run.json"
MARKER = ".vi-model.json"
_TEMP_TAGS = (".vi-extract-", ".vi-old-")


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


def file_stats(root: Path) -> dict[str, list[int]]:
    """``{relative path: [size, mtime_ns]}`` of every entry under ``root`` but
    the marker and directories (links are not followed; they count as entries)."""
    stats: dict[str, list[int]] = {}
    for directory, dirs, files in os.walk(root):
        base = Path(directory)
        for name in files + [d for d in dirs if (base / d).is_symlink()]:
            path = base / name
            if path.parent == root and name == MARKER:
                continue
            st = path.lstat()
            stats[path.relative_to(root).as_posix()] = [st.st_size, st.st_mtime_ns]
    return stats


def read_marker(root: Path) -> dict[str, Any] | None:
    """The marker of a published model, or None."""
    try:
        data = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def intact(root: Path, marker: dict[str, Any]) -> bool:
    """Whether the files under ``root`` are exactly those ``marker`` records."""
    try:
        return bool(marker.get("files")) and file_stats(root) == marker["files"]
    except OSError:
        return False


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


def prepare(archive: Path, work: Path, limits: Limits, prefix: Prefix | None = None) -> None:
    """Extract ``archive`` into ``work`` and check its layout (nothing is published)."""
    extract(archive, work, limits, prefix)
    check_layout(work)


def install(work: Path, target: Path, marker: dict[str, Any]) -> dict[str, list[int]]:
    """Mark the prepared ``work`` directory and rename it into ``target``.

    Args:
        work: The extracted, checked model.
        target: Where it goes; a model already there is replaced.
        marker: What the marker records besides the files.

    Returns:
        The files published, as the marker records them.

    Raises:
        ViDownloadError: The model could not be published.
    """
    old = target.parent / f".{target.name}.vi-old-{uuid.uuid4().hex[:8]}"
    try:
        files = file_stats(work)
        with (work / MARKER).open("w") as file:
            file.write(json.dumps({**marker, "files": files}))
            file.flush()
            os.fsync(file.fileno())
        # Files were synced as they were extracted; their directory entries
        # now, then the rename: a power loss cannot publish a torn model.
        for directory in [work, *(p for p in work.rglob("*") if p.is_dir())]:
            sync_dir(directory)
        if target.exists() or target.is_symlink():
            os.replace(target, old)
        os.replace(work, target)
        sync_dir(target.parent)
        if old.is_symlink():  # a link planted at the target: removed, never followed
            old.unlink()
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise ViDownloadError(f"Could not publish the model in {target}: {exc}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return files
