"""Every python block of the README's "Observability" section runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks() -> list[str]:
    text = README.read_text()
    start = text.index("\n## Observability\n")
    end = text.index("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


@pytest.mark.parametrize("block", _blocks(), ids=lambda b: b.splitlines()[-1][:40])
def test_observability_example_runs(block: str) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", block],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "Traceback" not in result.stderr


def test_the_section_has_one_example_per_feature() -> None:
    blocks = _blocks()
    assert len(blocks) == 5
    for needle in ("event_hooks", "trace_configs", "instrument(", "last_response", "getLogger"):
        assert any(needle in block for block in blocks), needle
