"""The pytest plugin (vi_async.testing), as a user's own pytest session sees it.

Installed with vi-async, the plugin loads in every pytest session of that
environment, so whatever it registers must not clash with a user's names: its
markers carry the ``vi_`` prefix. The unprefixed ``strict`` / ``extended`` are
aliases of this project's own test configuration only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

USER_TESTS = """
import pytest

@pytest.fixture
def anyio_backend():
    return "asyncio"  # vi_async runs on asyncio (aiohttp); older anyio also tries trio

@pytest.mark.anyio
async def test_round_trip(vi_client):
    flow = await vi_client.flows.create({"name": "plugin"})
    assert (await vi_client.flows.get(flow.flow_id)).flow_id == flow.flow_id

@pytest.mark.strict  # the user's own marker of that name, unrelated to the plugin
def test_users_own_marker():
    pass
"""


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in a directory of its own: none of this project's configuration applies."""
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W", "error", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_plugin_registers_only_prefixed_markers(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    done = _pytest(tmp_path, "--markers")
    assert done.returncode == 0, done.stderr
    assert "@pytest.mark.vi_strict:" in done.stdout
    assert "@pytest.mark.vi_extended:" in done.stdout
    assert "@pytest.mark.strict:" not in done.stdout
    assert "@pytest.mark.extended:" not in done.stdout


def test_a_users_session_selects_a_dialect_by_the_prefixed_marker(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    strict: the user's own\n")
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    done = _pytest(tmp_path, "-m", "not vi_strict", "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "extended] PASSED" in done.stdout  # test_round_trip[asyncio-extended]
    assert "strict]" not in done.stdout
    assert "test_users_own_marker PASSED" in done.stdout
