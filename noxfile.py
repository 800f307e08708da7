"""Developer tasks: tests, lint, typecheck, generate, bench, demo; minimums, package, docs.

The tools each session needs are the PEP 735 dependency groups of pyproject.toml
(``[dependency-groups]``): not published as extras, installed here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nox
from packaging.requirements import Requirement

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).resolve().parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PYTHON = None  # the interpreter nox runs on
OFFICIAL_CLIENT = "vi-sdk==0.1.0b7"
EXTRAS = sorted(PYPROJECT["project"]["optional-dependencies"])  # fast, cli, otel

# The fast part of the suite that `minimums` runs: the SDK's decoding, transport,
# pagination, waits, bulk jobs, downloads, observability and vi_sync, and the guarantees
# against hostile peers that older aiohttp versions break, on one dialect, without the
# slow end-to-end command-line and fault-storm files (about a minute).
MINIMUMS_TESTS = [
    "tests/test_flows.py",
    "tests/test_runs.py",
    "tests/test_models.py",
    "tests/test_transport.py",
    "tests/test_pytest_plugin.py",
    "tests/bulk",
    "--ignore=tests/bulk/test_bulk_faults.py",
    "tests/models",
    "tests/observability",
    "--ignore=tests/observability/test_readme.py",
    "tests/sync",
    "tests/cli/test_cli_models.py",
    "tests/reliability/test_hostile_server.py",
    "tests/reliability/test_hostile_client.py::test_half_sent_requests_are_closed_in_time",
    "-m",
    "not vi_strict",
]


def group(*names: str) -> tuple[str, ...]:
    """The requirements of dependency groups of pyproject.toml (include-group resolved)."""
    return nox.project.dependency_groups(PYPROJECT, *names)


def lowest_versions() -> dict[str, str]:
    """Each dependency's lowest allowed version (its ``>=`` bound), core and extras alike."""
    project = PYPROJECT["project"]
    requirements = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        requirements.extend(extra)
    pins = {}
    for text in requirements:
        requirement = Requirement(text)
        [lowest] = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        pins[requirement.name] = lowest
    return pins


def oldest_python() -> str | None:
    """The oldest Python that requires-python allows, if this machine has it (else None:
    the session then runs on the interpreter nox runs on)."""
    version = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    found = shutil.which(f"python{version}")
    if found and subprocess.run([found, "-V"], capture_output=True, check=False).returncode == 0:
        return version
    # pyenv keeps versions that its shims do not expose unless selected.
    pyenv = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    return str(pyenv[-1]) if pyenv else None


WORKERS = 4  # test workers (see tests)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (warnings are errors) against the local server, on 4 workers.

    Extra arguments go to pytest: ``nox -s tests -- -m "not vi_strict"`` runs one dialect,
    ``nox -s tests -- -m "not slow"`` leaves out the soak-type tests.

    Most tests wait (on run schedules, timeouts, child processes): two workers keep
    a 2-core machine about 30% busy, so 4 workers, even on 2 cores. Slow tests
    start first (tests/conftest.py) and an idle worker takes queued tests from a
    busy one (``--dist worksteal``), so that no worker idles at the end while
    another still has a queue.
    """
    session.install("-e", ".", *group("test"), OFFICIAL_CLIENT)
    session.run("pytest", "-n", str(WORKERS), "--dist", "worksteal", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff on the whole tree."""
    session.install(*group("lint"))
    session.run("ruff", "check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on vi_async and vi_sync; tests/typing (a user's code over the
    public API, with ``assert_type``) under mypy --strict and basedpyright strict; and
    ``basedpyright --verifytypes`` of each package, which fails below 100% (a public
    name whose type a user's checker would see as unknown or ambiguous)."""
    session.install("-e", ".", *group("typecheck"))
    session.run("mypy", "--strict", "vi_async", "vi_sync")
    session.run("mypy", "--strict", "tests/typing")
    session.run("basedpyright", "tests/typing")
    for package in ("vi_async", "vi_sync"):
        session.run("basedpyright", "--verifytypes", package, "--ignoreexternal")


@nox.session(python=oldest_python())
def minimums(session: nox.Session) -> None:
    """The lowest allowed version of every dependency (core and each extra) on the oldest
    supported Python, and a fast subset of the suite (``MINIMUMS_TESTS``).

    The ``>=`` bounds of pyproject.toml become ``==`` constraints, so the test tools
    resolve around them; the session fails if any dependency is not at its bound.
    Extra arguments replace the test selection.
    """
    pins = [f"{name}=={version}" for name, version in lowest_versions().items()]
    constraints = Path(session.create_tmp()) / "minimums.txt"
    constraints.write_text("\n".join(pins) + "\n")
    session.install("-c", str(constraints), "-e", f".[{','.join(EXTRAS)}]", *group("test"))
    session.run("python", "scripts/check_pins.py", *pins)
    session.run("pytest", "-n", "2", "-p", "no:cacheprovider", *(session.posargs or MINIMUMS_TESTS))


@nox.session(python=PYTHON)
def package(session: nox.Session) -> None:
    """Build the sdist and the wheel, ``twine check`` them, check what they hold, then
    install the wheel alone (no source tree) into fresh venvs, one with the latest
    dependencies and one at the minimums on the oldest Python, and smoke-test each
    (scripts/smoke_test.py: both packages, a LocalServer round trip, the command line,
    the pytest plugin)."""
    session.install(*group("package"))
    tmp = Path(session.create_tmp()).resolve()
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist), ".")
    artifacts = sorted(str(path) for path in dist.iterdir())
    session.run("twine", "check", "--strict", *artifacts)
    session.run("python", "scripts/check_dist.py", *artifacts)
    [wheel] = dist.glob("*.whl")
    pins = [f"{name}=={version}" for name, version in lowest_versions().items()]
    smoke = str(ROOT / "scripts" / "smoke_test.py")
    for label, python, constraints in [
        ("latest", sys.executable, []),
        ("minimums", oldest_python() or sys.executable, pins),
    ]:
        venv = tmp / f"smoke-{label}"
        bin_dir = venv / ("Scripts" if sys.platform == "win32" else "bin")
        session.log(f"smoke test of the wheel with the {label} dependencies")
        session.run(python, "-m", "venv", "--clear", str(venv), external=True)
        extras = f"{wheel}[{','.join(EXTRAS)}]" if constraints else str(wheel)
        pin_file = tmp / f"{label}.txt"
        pin_file.write_text("\n".join(constraints) + "\n")
        install = [str(bin_dir / "python"), "-m", "pip", "install", "-q", "-c", str(pin_file)]
        session.run(*install, extras, "pytest", external=True)
        if constraints:
            check = str(ROOT / "scripts" / "check_pins.py")
            session.run(str(bin_dir / "python"), check, *pins, external=True)
        # -I: the script's folder and the working directory are not on sys.path, so
        # everything is imported from the installed wheel.
        with session.chdir(tmp):
            session.run(str(bin_dir / "python"), "-I", smoke, external=True)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site (MkDocs Material + mkdocstrings) with ``--strict``:
    a warning or a broken link fails. ``nox -s docs -- serve`` serves it instead."""
    session.install("-e", ".", *group("docs"))
    env = {"NO_MKDOCS_2_WARNING": "1"}  # Material's banner about MkDocs 2, not a warning
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:], env=env)
        return
    site = Path(session.create_tmp()) / "site"
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site), env=env)
    session.log(f"the site is in {site}")


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
