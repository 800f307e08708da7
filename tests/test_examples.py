"""The examples in examples/ (shown in docs/waiting.md) run against the local server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_wait_for_runs_example() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "wait_for_runs.py")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "5/5 runs succeeded" in result.stdout
    assert result.stdout.count("finished:") == 3
    assert result.stderr == ""
