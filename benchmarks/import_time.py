"""Import time of ``vi_async``, ``vi_sync`` and the official ``vi``, each in fresh processes.

Each sample is ``import <module>`` timed inside a new interpreter; a measure
keeps the minimum of several samples (warm OS cache, compiled bytecode). All
contenders share one throwaway ``PYTHONPYCACHEPREFIX`` so none is charged for
compiling its sources (the environment may set ``PYTHONDONTWRITEBYTECODE``),
and HOME points at a temp dir for ``vi``. For ours, ``-X importtime`` names the
modules costing the most, to show what could be made lazy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from typing import Any

from benchmarks._common import Goal, Result, fmt_s, have

GOALS = {"vi_async": 0.65, "vi_sync": 1.0}  # import time over the official client's
SNIPPET = "import time; t = time.perf_counter(); import {m}; print(time.perf_counter() - t)"


def _env(cache_dir: str, home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPYCACHEPREFIX=cache_dir, HOME=home)
    return env


def sample(module: str, env: dict[str, str]) -> float:
    """Seconds to import ``module`` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET.format(m=module)],
        capture_output=True, text=True, env=env, check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def heaviest_imports(module: str, env: dict[str, str], top: int = 8) -> list[dict[str, Any]]:
    """The modules with the largest cumulative import time under ``module``, via -X importtime.

    Only modules imported directly by the top-level package or by a ``vi_async``
    module are listed (the entry points where laziness would help).
    """
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True, text=True, env=env, check=True,
    )
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        _self, cumulative_us, name = line[len("import time:"):].split("|", 2)
        if not cumulative_us.strip().isdigit():
            continue  # the header
        depth = (len(name) - 1 - len(name.lstrip(" "))) // 2
        rows.append({"module": name.strip(), "depth": depth,
                     "cumulative_ms": int(cumulative_us) / 1000})
    shallow = [
        r for r in rows
        if 1 <= r["depth"] <= 3 and not r["module"].startswith(module)
        and r["cumulative_ms"] >= 1.0
    ]
    shallow.sort(key=lambda r: r["cumulative_ms"], reverse=True)
    return [{"module": r["module"], "cumulative_ms": round(r["cumulative_ms"], 1)}
            for r in shallow[:top]]


def run(quick: bool = False) -> Result:
    """Run the measure and return its result."""
    samples = 2 if quick else 7
    modules = ["vi_async"] + [m for m in ("vi_sync", "vi") if have(m)]
    best: dict[str, float] = {}
    metrics: dict[str, Any] = {"samples": samples}
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as home:
        env = _env(cache, home)
        for module in modules:  # warm-up: write bytecode into the shared prefix
            sample(module, env)
        times: dict[str, list[float]] = {m: [] for m in modules}
        for _ in range(samples):  # interleaved, so drift hits all alike
            for module in modules:
                times[module].append(sample(module, env))
        best = {m: min(t) for m, t in times.items()}
        metrics["heaviest_imports_vi_async"] = heaviest_imports("vi_async", env)
    metrics["best_s"] = best
    summary = f"import (min of {samples}): " + ", ".join(
        f"{m} {fmt_s(t)}" for m, t in best.items()
    )
    goals = []
    if "vi" in best:
        for ours, limit in GOALS.items():
            if ours in best:
                ratio = best[ours] / best["vi"]
                metrics[f"{ours}_over_vi"] = ratio
                summary += f"; {ours}/vi={ratio:.2f}"
                goals.append(Goal.at_most(f"import {ours} <= {limit:g}x vi", ratio, limit))
    else:
        goals.append(Goal("not slower than vi", None, "vi-sdk not installed"))
    return Result("import_time", summary, metrics, goals)


if __name__ == "__main__":
    print(run().line())
