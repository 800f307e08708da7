"""Writing the generated files to disk, or comparing them with what is there."""

from __future__ import annotations

import difflib
from pathlib import Path

from .errors import GenerationError
from .settings import LINE_LENGTH


def write_tree(files: dict[str, str], out: Path) -> None:
    """Write ``files`` under ``out``, deleting stale generated files there."""
    out.mkdir(parents=True, exist_ok=True)
    wanted = {out / rel for rel in files}
    for path in sorted(out.rglob("*")):
        if path.is_file() and path not in wanted and "__pycache__" not in path.parts:
            path.unlink()  # a stale generated file
    for path in sorted(out.rglob("*"), reverse=True):
        if path.is_dir() and path.name != "__pycache__" and not any(path.iterdir()):
            path.rmdir()
    for rel, text in files.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")


def diff_tree(files: dict[str, str], out: Path) -> list[str]:
    """What differs between ``files`` and ``out`` (empty: up to date)."""
    problems: list[str] = []
    existing = {
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    for rel in sorted(existing - set(files)):
        problems.append(f"{rel}: not generated any more (delete it)")
    for rel, text in sorted(files.items()):
        path = out / rel
        if not path.exists():
            problems.append(f"{rel}: missing")
            continue
        current = path.read_text(encoding="utf-8")
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(),
                text.splitlines(),
                f"{rel} (committed)",
                f"{rel} (generated)",
                lineterm="",
            )
            problems.append("\n".join(diff))
    return problems


def check_lines(files: dict[str, str]) -> None:
    """Raise GenerationError for a generated line over LINE_LENGTH."""
    for rel, text in files.items():
        for number, line in enumerate(text.splitlines(), 1):
            if len(line) > LINE_LENGTH:
                raise GenerationError(f"{rel}:{number}: line longer than {LINE_LENGTH}: {line!r}")
