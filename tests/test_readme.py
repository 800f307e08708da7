"""Every python block of the README runs as written against a local server.

The convention (stated in the README's "Code in this README"): each block is
self-contained; blocks that talk to the API read the DATATURE_VI_* variables,
which this test points at a fresh local server per block. A block added to the
README is picked up here with no change. Blocks run once each, with warnings as
errors; those of the "Observability" section (which start their own server)
must also print what they show.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vi_async.local import LocalServer, RunSchedule

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
FAST = RunSchedule(pending_seconds=0.02, running_seconds=0.1, log_interval_seconds=0.02)


OBSERVABILITY = "Observability"


def _blocks(language: str) -> list[tuple[str, str, str]]:
    """(id, chapter, code) of each fenced block in ``language``: the id names the
    nearest heading, the chapter is the enclosing ``##`` section's title."""
    found = []
    for match in FENCE.finditer(README):
        if match.group(1) != language:
            continue
        before = README[: match.start()]
        headings = re.findall(r"^#+ (.+)$", before, re.M)
        chapters = re.findall(r"^## (.+)$", before, re.M)
        section = re.sub(r"\W+", "-", headings[-1] if headings else "top").strip("-").lower()
        chapter = chapters[-1] if chapters else ""
        found.append((f"{section}-{len(found) + 1}", chapter, match.group(2)))
    return found


PYTHON_BLOCKS = _blocks("python")


def test_the_readme_has_python_blocks() -> None:
    assert len(PYTHON_BLOCKS) >= 5


def test_observability_has_one_example_per_feature() -> None:
    blocks = [code for _, chapter, code in PYTHON_BLOCKS if chapter == OBSERVABILITY]
    assert len(blocks) == 5
    for needle in ("event_hooks", "trace_configs", "instrument(", "last_response", "getLogger"):
        assert any(needle in block for block in blocks), needle


@pytest.mark.parametrize(
    ("block_id", "chapter", "code"), PYTHON_BLOCKS, ids=[b for b, _, _ in PYTHON_BLOCKS]
)
def test_python_block_runs(block_id: str, chapter: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / f"{block_id}.py"
    script.write_text(code)
    with LocalServer(schedule=FAST) as server:
        env = {**os.environ, **server.env()}
        result = subprocess.run(
            [sys.executable, "-W", "error", str(script)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert result.returncode == 0, f"README block {block_id} failed:\n{code}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    assert server.secret_key not in result.stdout + result.stderr
    if chapter == OBSERVABILITY:
        assert result.stdout.strip(), "an observability example shows what it observes"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    commands = [line for _, _, code in _blocks("bash") for line in code.splitlines()]
    [test_command] = [c for c in commands if c.endswith("nox -s tests")]
    assert "python3 -m venv .venv" in test_command  # works in a fresh venv, not as root
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci
    assert "set -euo pipefail" in ci
