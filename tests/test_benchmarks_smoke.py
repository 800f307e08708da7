"""Smoke test of the benchmarks: every measure runs once in ``--quick`` mode.

This checks that the scripts run and report (summary line, JSON), not how fast
anything is. One child process runs them all (about 10-15 s).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is not part of the installed package
    sys.path.insert(0, str(ROOT))

from benchmarks import MEASURES  # noqa: E402


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run ``python -m benchmarks --quick --json ...`` once; its stdout and JSON."""
    out = tmp_path_factory.mktemp("bench") / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    return {
        "stdout": proc.stdout,
        "data": data,
        "results": {r["name"]: r for r in data["results"]},
    }


@pytest.mark.parametrize("name", MEASURES)
def test_measure_reports(quick_run: dict[str, Any], name: str) -> None:
    lines = [line for line in quick_run["stdout"].splitlines() if line.startswith(f"[{name}] ")]
    assert len(lines) == 1, quick_run["stdout"]
    result = quick_run["results"][name]
    assert result["summary"] and result["summary"] in lines[0]
    assert result["goals"], "every measure states its goals"
    for goal in result["goals"]:
        assert goal["met"] in (True, False, None)


def test_json_describes_the_run(quick_run: dict[str, Any]) -> None:
    data = quick_run["data"]
    assert data["quick"] is True
    assert data["errors"] == []
    assert data["machine"]["cpus"] >= 1 and data["machine"]["python"]
    assert [r["name"] for r in data["results"]] == list(MEASURES)


def test_core_numbers_are_present(quick_run: dict[str, Any]) -> None:
    results = quick_run["results"]
    assert results["bulk_delete"]["metrics"]["ours_s"] > 0
    assert results["bulk_delete"]["metrics"]["floor_s"] > 0
    fanout = results["wait_fanout"]["metrics"]
    assert fanout["many"]["server_list_pages"] > 0 and fanout["one"]["server_gets"] > 0
    assert fanout["per_run"]["server_gets"] >= fanout["per_run"]["runs"]
    # Quick, the "big" organization is 2 pages: 10 waits walk it (cheaper than 10 GETs).
    big_org = fanout["big_org"]
    assert big_org["server_gets"] + big_org["server_list_pages"] > 0 and fanout["cpu_ratio"] > 0
    assert fanout["staggered"]["ratio"] > 0
    assert results["decode"]["metrics"]["best_s"]["ours_json"] > 0
    assert results["import_time"]["metrics"]["best_s"]["vi_async"] > 0
    memory = results["memory"]["metrics"]
    assert memory["flows_seen"] == memory["flows"]


def test_official_client_comparisons(quick_run: dict[str, Any]) -> None:
    pytest.importorskip("vi")
    pytest.importorskip("msgspec")
    results = quick_run["results"]
    assert results["bulk_delete"]["metrics"]["speedup_vs_official"] > 1
    assert results["decode"]["metrics"]["ours_over_msgspec_official"] > 0
    assert results["import_time"]["metrics"]["best_s"]["vi"] > 0


def test_sync_facade_is_measured(quick_run: dict[str, Any]) -> None:
    pytest.importorskip("vi_sync")
    metrics = quick_run["results"]["sync_overhead"]["metrics"]
    assert metrics["no_latency"]["sync_per_call_s"] > 0


def test_unknown_measure_is_refused() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "no_such_measure"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 2
    assert "unknown measure" in proc.stderr
