"""Server crash: ``kill -9`` the local server (a subprocess on a SQLite file) during a
bulk delete, restart it on the same file and port, rerun the cleanup.

Checked: the server comes back with the same credentials and data; no flow the
first job reported deleted reappears (commits are durable); every flow that
job reported failed for a definite reason is still there; the rerun deletes
exactly what is left, and together the two reports account for every flow,
each exactly once; flows outside the cleanup's filter are untouched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from vi_async import Client, ViConnectionError, ViError
from vi_async.bulk import BulkError, BulkItemResult, BulkReport
from vi_async.local.admin import ADMIN_HEADER
from vi_async.local.cli import ADMIN_TOKEN_ENV, read_banner

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL"),
]

REPO = Path(__file__).resolve().parents[2]
DOOMED = 150
KEPT = 20
KILL_AT = 100  # results recorded before the server is killed
CONCURRENCY = 16


def free_port() -> int:
    """A loopback port that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``python -m vi_async.local`` on a fixed port and a SQLite file."""

    def __init__(self, db: Path, port: int, *extra: str) -> None:
        self.db, self.port, self.extra = db, port, extra
        self.proc: subprocess.Popen[str] | None = None
        self.env: dict[str, str] = {}

    def start(self) -> dict[str, str]:
        """Start the server and read the credentials it prints."""
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vi_async.local",
                "--port",
                str(self.port),
                "--db",
                str(self.db),
                "--pending-seconds",
                "0",
                "--running-seconds",
                "0.1",
                *self.extra,
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        exports = read_banner(proc.stdout)
        if exports is None:
            proc.kill()
            raise AssertionError(f"the server did not start: {proc.communicate()[1]}")
        self.proc, self.env = proc, exports
        return exports

    def kill9(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)

    def reap(self) -> int:
        """Wait for the process to end; close its pipes; return its exit code."""
        assert self.proc is not None
        try:
            self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
        return self.proc.returncode

    def stop(self) -> None:
        """SIGINT, then wait (kill if it will not stop)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        if self.proc is not None:
            self.reap()

    def client(self, **settings: Any) -> Client:
        """A client bound to this server."""
        return Client(
            self.env["DATATURE_VI_SECRET_KEY"],
            self.env["DATATURE_VI_ORGANIZATION_ID"],
            self.env["DATATURE_VI_API_ENDPOINT"],
            **settings,
        )


def _client_env(env: dict[str, str]) -> dict[str, str]:
    """The client's credentials of a banner (the admin token is new on every start)."""
    return {name: value for name, value in env.items() if name != ADMIN_TOKEN_ENV}


async def seed(server: ServerProcess, count: int, prefix: str) -> list[str]:
    """Seed flows through the admin route."""
    async with aiohttp.ClientSession() as session:
        url = f"{server.env['DATATURE_VI_API_ENDPOINT']}_local/seed"
        body = {"flows": count, "namePrefix": prefix}
        headers = {ADMIN_HEADER: server.env[ADMIN_TOKEN_ENV]}
        async with session.post(url, json=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            return list((await resp.json())["flowIds"])


async def all_flows(server: ServerProcess) -> dict[str, str]:
    """flow id -> name, as the server stores them."""
    async with server.client() as client:
        return {
            f.flow_id: f.spec.name
            async for f in client.flows.list(pagination={"page_size": 1000}).all_items()
        }


@pytest.fixture
def server(tmp_path: Path) -> Any:
    """A server process on a SQLite file, slowed a little so a kill lands mid-job."""
    process = ServerProcess(tmp_path / "crash.sqlite", free_port(), "--faults", "latency=0.003")
    try:
        yield process
    finally:
        process.stop()


def check_accounting(
    first: BulkReport,
    rerun: BulkReport,
    doomed: set[str],
    at_restart: set[str],
) -> None:
    """Both reports together account for every doomed flow exactly once.

    A flow is deleted by the first job (reported deleted), or still there at the
    restart and deleted by the rerun, or, when its DELETE was in flight at the
    kill, reported by the first job as an unknown outcome and gone at the restart.
    """
    first_ids = [r.flow_id for r in first.results()]
    assert len(first_ids) == len(set(first_ids)), "a flow has two results in the first job"
    first_deleted = {r.flow_id for r in first.deleted}
    assert not first_deleted & at_restart, "a flow reported deleted came back"
    definite = {r.flow_id for r in first.failed}
    assert definite <= at_restart, "a flow reported failed was deleted anyway"
    assert rerun.ok and not rerun.failed and not rerun.skipped
    rerun_deleted = {r.flow_id for r in rerun.deleted}
    assert rerun_deleted == at_restart & doomed
    unknown = {r.flow_id for r in first.unknown}
    assert Counter([*first_deleted, *rerun_deleted, *(unknown - at_restart)]) == Counter(doomed)


async def run_crash(server: ServerProcess, *, restart_while_running: bool) -> None:
    """Seed, start a cleanup, kill -9 mid-job, restart, rerun; check the accounting."""
    env = await anyio.to_thread.run_sync(server.start)
    doomed = set(await seed(server, DOOMED, "crash-"))
    kept = set(await seed(server, KEPT, "keep-"))
    first = BulkReport()
    killed = anyio.Event()

    def progress(done: int, total: int | None, result: BulkItemResult) -> None:
        if done == KILL_AT and not killed.is_set():
            server.kill9()
            killed.set()

    async def restart_soon() -> None:
        await killed.wait()
        await anyio.to_thread.run_sync(server.reap)
        assert _client_env(await anyio.to_thread.run_sync(server.start)) == _client_env(env)

    async with server.client(max_retries=3, retry_base_delay=0.05, timeout=2) as client:
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                if restart_while_running:
                    tg.start_soon(restart_soon)
                try:
                    await client.flows.cleanup(
                        name="crash-*", concurrency=CONCURRENCY, progress=progress, report=first
                    )
                except BulkError as exc:  # the listing died with the server
                    assert exc.report is first
                    assert isinstance(first.error, ViError)
    assert killed.is_set()
    assert first.total >= KILL_AT
    if not restart_while_running:
        assert first.failed or first.unknown or first.error is not None
        # Only DELETEs in flight at the kill may have an unknown outcome; later ones
        # were refused at connect: definite failures.
        unknown = first.unknown
        assert len(unknown) <= CONCURRENCY, first.summary()
        await anyio.to_thread.run_sync(server.reap)
        assert _client_env(await anyio.to_thread.run_sync(server.start)) == _client_env(env)

    stored = await all_flows(server)
    at_restart = set(stored)
    assert kept <= at_restart
    assert at_restart <= doomed | kept
    async with server.client() as client:
        rerun = await client.flows.cleanup(name="crash-*")
    check_accounting(first, rerun, doomed, at_restart)
    assert set(await all_flows(server)) == kept


@pytest.mark.slow
async def test_kill_during_bulk_delete_then_restart_and_rerun(server: ServerProcess) -> None:
    """The server dies mid-job and stays down until the job has ended."""
    await run_crash(server, restart_while_running=False)


@pytest.mark.slow
async def test_kill_and_restart_while_the_job_runs(server: ServerProcess) -> None:
    """The server dies mid-job and a supervisor restarts it while the job still runs."""
    await run_crash(server, restart_while_running=True)


async def test_refused_deletes_are_definite_failures() -> None:
    """Deletes against a server that is down were never sent: the flows are still there,
    and the report says so (a definite failure, not an unknown outcome)."""
    dead = f"http://127.0.0.1:{free_port()}/"
    async with Client("dtvi_" + "d" * 98, "org", dead, max_retries=1) as client:
        with anyio.fail_after(60):
            report = await client.flows.delete_many(["a", "b", "c"])
    # Every id has one result, a failure to connect (the deletes run concurrently, so
    # the results come in any order); nothing is unknown, deleted or skipped.
    assert report.complete and not report.cancelled and not report.ok
    assert sorted(r.flow_id for r in report.results()) == ["a", "b", "c"]
    assert sorted(r.flow_id for r in report.failed) == ["a", "b", "c"], report.summary()
    assert not report.unknown, report.summary()
    assert not (report.deleted or report.not_found or report.skipped)
    for result in report.failed:
        assert isinstance(result.error, ViConnectionError), result
        assert not result.error.after_lost_answer
        assert (result.error.method, result.error.path) == ("DELETE", f"flows/{result.flow_id}")
