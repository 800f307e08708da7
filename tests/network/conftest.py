"""Fixtures of the network tests: a real forward proxy (proxy.py) and the local server over TLS.

The proxy is proxy.py from PyPI, started once per test process on a free
loopback port with basic auth; ``proxy_counter.CountRequests`` (a proxy.py
plugin) logs every request it forwards, so a test can tell which requests went
through it. Every test starts with no proxy or CA variable set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from network_support import NETWORK_VARIABLES, PROXY_PASSWORD, PROXY_USER, ForwardProxy
from proxy_counter import LOG_ENV

from vi_async.local import LocalServer, RunSchedule


@pytest.fixture(scope="session")
def forward_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForwardProxy]:
    """proxy.py on a free loopback port, requiring basic auth (PROXY_USER/PROXY_PASSWORD)."""
    work = tmp_path_factory.mktemp("proxy")
    port_file, log = work / "port", work / "requests.log"
    env = {k: v for k, v in os.environ.items() if k not in NETWORK_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    env[LOG_ENV] = str(log)
    command = [
        sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0",
        "--port-file", str(port_file), "--basic-auth", f"{PROXY_USER}:{PROXY_PASSWORD}",
        "--num-workers", "1", "--num-acceptors", "1", "--log-level", "WARNING",
        "--log-file", str(work / "proxy.log"), "--plugins", "proxy_counter.CountRequests",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"proxy.py did not start: {process.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.02)  # proxy.py writes its port file once it listens
        yield ForwardProxy(int(port_file.read_text()), log)
    finally:
        process.terminate()
        process.wait(10)
        process.stderr.close()  # type: ignore[union-attr]


@pytest.fixture(autouse=True)
def clean_network_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy or CA variable of the developer's shell reaches a test."""
    for name in NETWORK_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def tls_server(vi_run_schedule: RunSchedule, vi_dialect: str) -> AsyncIterator[LocalServer]:
    """The local server over HTTPS, its CA made at start-up, in each dialect."""
    async with LocalServer(
        schedule=vi_run_schedule, strict=vi_dialect == "strict", tls=True
    ) as server:
        yield server


@pytest.fixture
def tls_server_thread(vi_run_schedule: RunSchedule, vi_dialect: str) -> Iterator[LocalServer]:
    """The local server over HTTPS on a background thread (for blocking clients)."""
    with LocalServer(schedule=vi_run_schedule, strict=vi_dialect == "strict", tls=True) as server:
        yield server
