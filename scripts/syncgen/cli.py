"""The command line: generate vi_sync, then write it or check it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .discover import Registry
from .files import check_lines, diff_tree, write_tree
from .module_writer import generate
from .settings import COMMAND, REPO, SYNC_PKG

DESCRIPTION = "Generate the ``vi_sync`` package from the ``vi_async`` code."


def main(argv: list[str] | None = None) -> int:
    """Run the generator; 0 when done (or up to date with ``--check``), 1 when stale."""
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument(
        "--output", type=Path, default=REPO / SYNC_PKG, help="where to write vi_sync"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the output is stale")
    args = parser.parse_args(argv)
    files = generate(Registry())
    check_lines(files)
    if args.check:
        problems = diff_tree(files, args.output)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"vi_sync is stale; regenerate with: {COMMAND}", file=sys.stderr)
            return 1
        return 0
    write_tree(files, args.output)
    print(f"wrote {len(files)} files to {args.output}")
    return 0
