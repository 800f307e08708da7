"""The resume manifest: what it trusts after a crash, after a reboot, and when
what is on disk is not a manifest it wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vi_async._download.manifest import Manifest, boot_id


def _saved(path: Path, *, durable: bool, boot: str | None = None) -> None:
    manifest = Manifest.new("ckpt", '"e"', 3 * 1024 * 1024)
    manifest.done[0] = 1024
    manifest.save(path, durable=durable)
    if boot is not None:  # as if saved during another boot of the machine
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**data, "boot": boot}))


def test_same_boot_is_trusted(tmp_path: Path) -> None:
    _saved(tmp_path / "m.json", durable=False)
    loaded = Manifest.load(tmp_path / "m.json")
    assert loaded is not None and loaded.written == 1024


def test_other_boot_trusted_only_when_durable(tmp_path: Path) -> None:
    other = "not-" + boot_id()
    _saved(tmp_path / "m.json", durable=False, boot=other)
    assert Manifest.load(tmp_path / "m.json") is None  # its bytes may have been lost
    _saved(tmp_path / "m.json", durable=True, boot=other)
    loaded = Manifest.load(tmp_path / "m.json")
    assert loaded is not None and loaded.written == 1024


@pytest.mark.parametrize(
    "change",
    [
        {"done": ["a", 0, 0]},
        {"done": [True, 0, 0]},
        {"done": "abc"},
        {"done": None},
        {"size": "3145728"},
        {"size": -1},
        {"checkpoint": 7},
        {"durable": "yes"},
        {"extra": 1},
    ],
    ids=lambda change: "-".join(f"{k}={v!r}" for k, v in change.items()),
)
def test_wrong_types_are_absent(tmp_path: Path, change: dict[str, Any]) -> None:
    """A manifest that does not validate is treated as absent, never a TypeError."""
    path = tmp_path / "m.json"
    _saved(path, durable=True)
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    assert Manifest.load(path) is None


@pytest.mark.parametrize("text", ["[1, 2]", '"text"', "null", "1e400"])
def test_not_an_object_is_absent(tmp_path: Path, text: str) -> None:
    (tmp_path / "m.json").write_text(text)
    assert Manifest.load(tmp_path / "m.json") is None


@pytest.mark.parametrize("size", [2**44, 2**62])
def test_memory_does_not_grow_with_the_declared_size(size: int) -> None:
    manifest = Manifest.new("ckpt", '"e"', size)
    assert len(manifest.done) <= 4096
    assert manifest.chunk(len(manifest.done) - 1)[1] == size


def test_link_at_the_temporary_file_is_replaced(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "m.json.tmp").symlink_to(victim)
    _saved(tmp_path / "m.json", durable=False)
    assert victim.read_text() == "precious" and Manifest.load(tmp_path / "m.json") is not None
