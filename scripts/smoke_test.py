"""Smoke test of an installed vi-async (``nox -s package`` runs it in fresh venvs).

    .venv-x/bin/python -I scripts/smoke_test.py

Run it with ``-I`` from outside the source tree, so that everything comes from
the installed wheel: it imports both packages, makes a round trip to an embedded
LocalServer (async and sync), runs ``vi-async --version`` and a user's pytest
session with the plugin's fixtures. Needs only the wheel and pytest.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

PLUGIN_TEST = """
import pytest

@pytest.fixture
def anyio_backend():
    return "asyncio"  # vi_async runs on asyncio (aiohttp); older anyio also tries trio

@pytest.mark.anyio
async def test_vi_client(vi_client):
    flow = await vi_client.flows.create({"name": "smoke"})
    run = await vi_client.runs.create(flow.flow_id, wait=True, timeout=30)
    assert run.phase.value == "Succeeded"

def test_vi_server_thread(vi_server_thread):
    import vi_sync
    with vi_sync.Client(**credentials(vi_server_thread)) as client:
        assert client.flows.list().items == []

def credentials(server):
    return {"secret_key": server.secret_key, "organization_id": server.organization_id,
            "endpoint": server.endpoint}
"""


def credentials(server: Any) -> dict[str, str]:
    """A client's arguments for a LocalServer."""
    return {
        "secret_key": server.secret_key,
        "organization_id": server.organization_id,
        "endpoint": server.endpoint,
    }


def step(name: str) -> None:
    print(f"smoke: {name}", flush=True)


def check_install() -> str:
    """Both packages come from site-packages, typed, at the distribution's version."""
    import vi_async
    import vi_sync

    dist = distribution("vi-async")
    for module in (vi_async, vi_sync):
        path = Path(str(module.__file__))
        assert "site-packages" in path.parts, f"{module.__name__} imported from {path}"
        assert (path.parent / "py.typed").is_file(), f"{module.__name__} has no py.typed"
    assert vi_async.__version__ == dist.version, (vi_async.__version__, dist.version)
    assert any(p.name == "LICENSE" for p in dist.files or []), "no LICENSE in the dist-info"
    return dist.version


async def async_round_trip() -> None:
    from vi_async import Client, FlowSpec, RunPhase
    from vi_async.local import LocalServer, RunSchedule

    schedule = RunSchedule(pending_seconds=0.05, running_seconds=0.2)
    async with LocalServer(schedule=schedule) as server:
        async with Client(**credentials(server)) as client:
            flow = await client.flows.create(spec=FlowSpec(name="smoke"))
            names = [f.spec.name async for f in client.flows.list().all_items()]
            assert names == ["smoke"], names
            run = await client.runs.create(flow=flow.flow_id, wait=True, timeout=30)
            assert run.phase is RunPhase.SUCCEEDED, run.phase
            await client.flows.delete(flow.flow_id)


def sync_round_trip() -> None:
    import vi_sync
    from vi_async.local import LocalServer

    with LocalServer() as server, vi_sync.Client(**credentials(server)) as client:
        flow = client.flows.create(spec={"name": "smoke-sync", "blocks": [{"block": "train"}]})
        assert client.flows.get(flow.flow_id).spec.name == "smoke-sync"


def command_line(version: str) -> None:
    """``vi-async --version`` (no extra needed) and the local server's ``--help``."""
    script = Path(sys.executable).parent / (
        "vi-async.exe" if sys.platform == "win32" else "vi-async"
    )
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"vi-async {version}", done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "vi_async.local", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "--port" in done.stdout, done.stderr


def pytest_plugin() -> None:
    """A user's pytest session gets the fixtures and the prefixed markers."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "pytest.ini").write_text("[pytest]\n")
        (Path(folder) / "test_user.py").write_text(PLUGIN_TEST)
        pytest = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W", "error"]
        done = subprocess.run([*pytest, "-q"], cwd=folder, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "4 passed" in done.stdout, done.stdout  # each test once per dialect
        done = subprocess.run([*pytest, "--markers"], cwd=folder, capture_output=True, text=True)
        assert "@pytest.mark.vi_strict:" in done.stdout, done.stdout
        assert "@pytest.mark.strict:" not in done.stdout, done.stdout


def main() -> None:
    step("install")
    version = check_install()
    step("async round trip")
    asyncio.run(async_round_trip())
    step("sync round trip")
    sync_round_trip()
    step("command line")
    command_line(version)
    step("pytest plugin")
    pytest_plugin()
    print(f"smoke: ok, vi-async {version} on Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
