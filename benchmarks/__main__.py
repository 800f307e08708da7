"""``python -m benchmarks [NAME ...] [--quick] [--json PATH]``: run the benchmarks.

Prints the machine, then one summary line per measure (ratios measured side by
side in the same run), then the goals. ``--quick`` is the smoke mode the test
suite uses: every measure in seconds, numbers indicative only.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from importlib import metadata
from typing import Any

from benchmarks import MEASURES
from benchmarks._common import Result

PACKAGES = ("vi-async", "aiohttp", "attrs", "cattrs", "anyio", "orjson", "msgspec", "vi-sdk")


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "uname": " ".join(platform.uname()),
        "cpus": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": versions,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the chosen measures; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"measures to run (default: all): {', '.join(MEASURES)}")
    parser.add_argument("--quick", action="store_true", help="smoke mode: seconds, not a claim")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in MEASURES]
    if unknown:
        parser.error(f"unknown measure(s) {', '.join(unknown)}; choose from {', '.join(MEASURES)}")
    names = args.names or list(MEASURES)

    info = machine()
    print(f"# {info['uname']} | {info['cpus']} CPUs | {info['python']}"
          + (" | QUICK MODE (numbers indicative only)" if args.quick else ""), flush=True)
    results: list[Result] = []
    errors: list[str] = []
    started = time.perf_counter()
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        try:
            result: Result = module.run(quick=args.quick)
        except Exception as exc:
            traceback.print_exc()
            errors.append(name)
            print(f"[{name}] ERROR: {type(exc).__name__}: {exc}", flush=True)
            continue
        results.append(result)
        print(result.line(), flush=True)
    total = time.perf_counter() - started
    missed = [
        f"{r.name}: {g.text} ({g.detail})" for r in results for g in r.goals if g.met is False
    ]
    print(f"# {len(results)} measure(s) in {total:.1f}s; goals missed: {len(missed)}"
          + (" (quick mode: not a claim)" if args.quick else "")
          + (f"; errors: {', '.join(errors)}" if errors else ""), flush=True)
    for line in missed:
        print(f"#   MISSED {line}")
    print("# regression lines, one per goal:")
    for r in results:
        for g in r.goals:
            print(f"#   [{r.name}] {g.text}: {g.regression()}")
    if args.json:
        payload = {
            "machine": info,
            "quick": args.quick,
            "command": ["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)],
            "total_s": total,
            "results": [r.to_json() for r in results],
            "errors": errors,
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
    if errors or (args.strict and missed):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
