"""Decode: a 1,000-run list page, bytes to objects.

Contenders, each from the same JSON bytes: our converter after orjson (what the
transport does with the ``fast`` extra), our converter after the stdlib json,
msgspec with the official client's own structs (``Pagination[Run]``), and bare
``json.loads`` (no objects at all). Rounds are interleaved; each keeps its best.

The official ``Condition`` enum declares only Started/Finished/All and builds a
new member through a regex ``_missing_`` for every other name, including the
documented Pending/Running/Succeeded that the API sends. So msgspec is also
timed on a copy of the page whose condition names its enum declares
(``msgspec_best``): msgspec's best case, the stricter bar.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from benchmarks._common import Goal, Result, fmt_s, have

GOAL_VS_MSGSPEC = 3.0


def run_document(i: int) -> dict[str, Any]:
    """A finished run as the API sends it (three conditions, three blocks)."""
    run_id = f"run-{i:06d}-5f1c2a9e"
    link = f"/workspaces/org-bench/runs/{run_id}"
    return {
        "kind": "Run",
        "workspaceId": "org-bench",
        "runId": run_id,
        "selfLink": link,
        "etag": "a3f9c2e1b7d04f6e",
        "spec": {
            "flow": {
                "name": f"detector {i}",
                "schema": "v1",
                "tolerations": {"gpu": ["a100", "h100"]},
                "settings": {"epochs": 10, "learningRate": 0.001},
                "blocks": [
                    {"block": "dataset", "settings": {"split": 0.8}, "style": {"x": 1, "y": 2}},
                    {"block": "model", "settings": {"arch": "yolo", "size": "m"}, "style": {}},
                    {"block": "train", "settings": {"batch": 16}, "style": {}},
                ],
                "trainingProject": None,
            },
            "killedAt": None,
            "trainingProject": "project-1",
        },
        "status": {
            "log": f"{link}/logs",
            "observedGeneration": 1,
            "conditions": [
                {"condition": "Pending", "status": "Reached", "lastTransitionTime": 1700000000000,
                 "reason": None, "message": "Waiting for resources"},
                {"condition": "Running", "status": "Reached", "lastTransitionTime": 1700000002000,
                 "reason": None, "message": "Training in progress"},
                {"condition": "Succeeded", "status": "Reached",
                 "lastTransitionTime": 1700000007000, "reason": None, "message": "Run finished"},
            ],
        },
        "metadata": {
            "timeCreated": 1700000000000,
            "lastUpdated": 1700000007000,
            "generation": 1,
            "attributes": {"team": "vision"},
        },
    }


def page_bytes(n: int, *, declared_names: bool = False) -> bytes:
    """A list page of ``n`` runs as JSON bytes.

    ``declared_names`` renames the conditions to Started/Started/Finished, the
    names the official client's enum declares (its decoding fast path).
    """
    items = [run_document(i) for i in range(n)]
    if declared_names:
        for item in items:
            for cond, name in zip(item["status"]["conditions"], DECLARED_NAMES, strict=True):
                cond["condition"] = name
    page = {"items": items, "nextPage": "token-2", "prevPage": None}
    return json.dumps(page).encode()


DECLARED_NAMES = ("Started", "Started", "Finished")


def contenders(body: bytes, body_declared: bytes) -> dict[str, Callable[[], Any]]:
    """Name -> a zero-argument function decoding ``body``."""
    from vi_async._convert import converter
    from vi_async.models import Page, Run

    page_type = Page[Run]
    found: dict[str, Callable[[], Any]] = {}
    if have("orjson"):
        import orjson

        found["ours_orjson"] = lambda: converter.structure(orjson.loads(body), page_type)
    found["ours_json"] = lambda: converter.structure(json.loads(body), page_type)
    if have("msgspec") and have("vi"):
        import msgspec
        from vi.api.resources.training_projects.runs.responses import Run as OfficialRun
        from vi.api.responses import Pagination

        official_page = Pagination[OfficialRun]
        found["msgspec_official"] = lambda: msgspec.json.decode(body, type=official_page)
        found["msgspec_best"] = lambda: msgspec.json.decode(body_declared, type=official_page)
    found["json_loads"] = lambda: json.loads(body)
    return found


def check(result: Any, n: int) -> None:
    """Sanity-check that a decode produced n runs with their conditions."""
    items = result["items"] if isinstance(result, dict) else result.items
    if len(items) != n:
        raise RuntimeError(f"decoded {len(items)} items, expected {n}")


def run(quick: bool = False) -> Result:
    """Run the measure and return its result."""
    n = 1000
    rounds = 3 if quick else 25
    body = page_bytes(n)
    funcs = contenders(body, page_bytes(n, declared_names=True))
    times: dict[str, list[float]] = {name: [] for name in funcs}
    for func in funcs.values():
        check(func(), n)  # warm-up: hooks built, caches filled
    for _ in range(rounds):
        for name, func in funcs.items():
            started = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - started)
    best = {name: min(values) for name, values in times.items()}
    ours = best.get("ours_orjson", best["ours_json"])
    metrics: dict[str, Any] = {
        "runs": n,
        "bytes": len(body),
        "rounds": rounds,
        "best_s": best,
        "per_run_us": {name: t / n * 1e6 for name, t in best.items()},
    }
    parts = [f"{name} {fmt_s(t)}" for name, t in best.items()]
    summary = f"{n}-run page ({len(body) // 1024} KiB): " + ", ".join(parts)
    goals = []
    for key, label in (
        ("msgspec_official", "msgspec (official structs, documented names)"),
        ("msgspec_best", "msgspec best case (names its enum declares)"),
    ):
        text = f"ours within {GOAL_VS_MSGSPEC:.0f}x of {label}"
        if key not in best:
            goals.append(Goal(text, None, "msgspec or vi-sdk not installed"))
            continue
        ratio = ours / best[key]
        metrics[f"ours_over_{key}"] = ratio
        metrics[f"ours_json_over_{key}"] = best["ours_json"] / best[key]
        summary += f"; ours/{key}={ratio:.2f}"
        goals.append(Goal(text, ratio <= GOAL_VS_MSGSPEC, f"{ratio:.2f}x"))
    metrics["ours_over_json_loads"] = ours / best["json_loads"]
    summary += f", ours/json.loads={ours / best['json_loads']:.2f}"
    return Result("decode", summary, metrics, goals)


if __name__ == "__main__":
    print(run().line())
