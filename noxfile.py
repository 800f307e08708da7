"""Developer tasks: tests, lint, typecheck, generate, bench, demo."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = None  # the interpreter nox runs on
OFFICIAL_CLIENT = "vi-sdk==0.1.0b7"
WORKERS = 4  # test workers (see tests)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (warnings are errors) against the local server, on 4 workers.

    Extra arguments go to pytest: ``nox -s tests -- -k extended`` runs one dialect,
    ``nox -s tests -- -m "not slow"`` leaves out the soak-type tests.

    Most tests wait (on run schedules, timeouts, child processes): two workers keep
    a 2-core machine about 30% busy, so 4 workers, even on 2 cores. Slow tests
    start first (tests/conftest.py) and an idle worker takes queued tests from a
    busy one (``--dist worksteal``), so that no worker idles at the end while
    another still has a queue.
    """
    session.install("-e", ".[test]", OFFICIAL_CLIENT)
    session.run("pytest", "-n", str(WORKERS), "--dist", "worksteal", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff on the whole tree."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on vi_async and vi_sync."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "vi_async", "vi_sync")


@nox.session(python=PYTHON)
def generate(session: nox.Session) -> None:
    """Regenerate vi_sync from vi_async."""
    session.install("-e", ".")
    session.run("python", "scripts/generate_sync.py")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: ours vs the official client vs raw aiohttp, in one run."""
    session.install("-e", ".[fast]", OFFICIAL_CLIENT, "msgspec")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The SDK demo on the embedded local server (no account needed)."""
    session.install("-e", ".[cli]")
    session.run("python", "-m", "vi_async", "demo", *session.posargs)
