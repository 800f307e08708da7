"""The resume manifest: what it trusts after a crash, and after a reboot."""

from __future__ import annotations

import json
from pathlib import Path

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
