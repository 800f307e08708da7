"""Every python block of the README and of docs/ runs as written against a local server.

The convention (stated in docs/getting-started.md, "Code in these pages"): each
block is self-contained; blocks that talk to the API read the DATATURE_VI_*
variables, which this test points at a fresh local server per block. A block
added to the README or to a page of docs/ is picked up here with no change (the
machinery is tests/doc_blocks.py); one that defines ``test_`` functions runs
under pytest.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from doc_blocks import DOCS, README, ROOT, Block, fenced_blocks, run_block

from vi_async.local import LocalServer, RunSchedule

FAST = RunSchedule(pending_seconds=0.02, running_seconds=0.1, log_interval_seconds=0.02)
PYTHON_BLOCKS = fenced_blocks("python")


def test_the_readme_and_the_docs_have_python_blocks() -> None:
    pages = {block.page for block in PYTHON_BLOCKS}
    assert README in pages
    assert len(pages) >= 8, sorted(page.name for page in pages)
    assert {"waiting.md", "logs.md", "observability.md"} <= {p.name for p in pages}


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.id for b in PYTHON_BLOCKS])
def test_python_block_runs(block: Block, tmp_path: Path) -> None:
    with LocalServer(schedule=FAST) as server:
        result = run_block(block, tmp_path, {**os.environ, **server.env()})
    page = block.page.relative_to(ROOT)
    assert result.returncode == 0, (
        f"{page} block {block.id} failed:\n{block.code}\n{result.stdout}\n{result.stderr}"
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert server.secret_key not in result.stdout + result.stderr
    if block.page.name == "observability.md":
        assert result.stdout.strip(), "an observability example shows what it observes"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    commands = [line for b in fenced_blocks("bash", [README]) for line in b.code.splitlines()]
    [test_command] = [c for c in commands if c.endswith("nox -s tests")]
    assert "python3 -m venv .venv" in test_command  # works in a fresh venv, not as root
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci
    assert "set -euo pipefail" in ci


def test_docs_pages_are_all_in_the_site_nav() -> None:
    """mkdocs --strict (nox -s docs) warns about a page left out; this says so sooner."""
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert {p for p in pages if p not in nav} == set()


def test_the_readme_is_a_landing_page_with_absolute_links() -> None:
    """PyPI shows the README: short, and no relative link (they break there). Links
    into this repository name files that exist, and the site's repo_url is the same."""
    text = README.read_text()
    assert len(text.splitlines()) <= 220
    assert text.index("## Install") < text.index("## Set up")
    [repo] = re.findall(r'^Source = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert f"repo_url: {repo}\n" in (ROOT / "mkdocs.yml").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert [link for link in links if not link.startswith("https://")] == []
    prefix = re.compile(f"^{re.escape(repo)}/(blob|tree)/main/")
    paths = [prefix.sub("", link) for link in links if prefix.match(link)]
    assert [path for path in paths if not (ROOT / path).exists()] == []
    assert len([path for path in paths if path.startswith("docs/")]) >= 10
