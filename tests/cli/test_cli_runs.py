"""``vi-async runs ...``, credentials, ``local`` (a process of its own) and ``demo``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from cli_support import clean_env, cli

from vi_async import Client, FlowSpec
from vi_async.local import LocalServer
from vi_async.local.cli import ENV_NAMES

pytestmark = pytest.mark.anyio

FAILING = "vi-local/outcome=Failed"
LONG = "vi-local/running-seconds=60"


async def test_create_wait_logs_list(vi_server: LocalServer, vi_client: Client) -> None:
    flow = await vi_client.flows.create(FlowSpec(name="cli-flow"))
    ok = await cli(vi_server, "runs", "create", flow.flow_id, "--wait", "--timeout", "20", "--json")
    assert ok.code == 0
    run = ok.json()
    assert run["phase"] == "Succeeded" and run["spec"]["flow"]["name"] == "cli-flow"
    bad = await cli(vi_server, "runs", "create", flow.flow_id, "--attr", FAILING, "--wait")
    assert bad.code == 1 and "Failed" in bad.out

    logs = await cli(vi_server, "runs", "logs", run["runId"], "--json", "--tail", "-1")
    lines = [json.loads(line) for line in logs.out.splitlines()]
    assert logs.code == 0 and "Succeeded" in lines[-1]["message"]
    assert lines[0]["message"] == "Run queued (Pending)"
    assert lines[0].get("seq") == (None if vi_server.strict else 1)
    human = await cli(vi_server, "runs", "logs", run["runId"], "--tail", "2")
    assert len(human.out.splitlines()) == 2

    listed = await cli(vi_server, "runs", "list", "--json", "--status", "Succeeded")
    assert [r["runId"] for r in listed.json()] == [run["runId"]]
    table = await cli(vi_server, "runs", "list")
    assert table.code == 0 and "RUN ID" in table.out and "Failed" in table.out
    got = await cli(vi_server, "runs", "get", run["runId"])
    assert got.code == 0 and f"Run {run['runId']}" in got.out


async def test_follow_kill_wait_delete(vi_server: LocalServer, vi_client: Client) -> None:
    flow = await vi_client.flows.create(FlowSpec(name="cli-flow"))
    short = await vi_client.runs.create(flow.flow_id)
    followed = await cli(vi_server, "runs", "logs", "-f", short.run_id, "--tail", "-1")
    assert followed.code == 0 and "Run finished: Succeeded" in followed.out.splitlines()[-1]

    long_run = await cli(vi_server, "runs", "create", flow.flow_id, "--attr", LONG, "--json")
    long_id = long_run.json()["runId"]
    assert long_run.json()["phase"] in ("Pending", "Running")
    killed = await cli(vi_server, "runs", "kill", long_id, "--json")
    assert killed.code == 0 and killed.json()["phase"] == "Cancelled"

    waited = await cli(vi_server, "runs", "wait", short.run_id, long_id, "--json")
    assert waited.code == 1  # one was cancelled
    assert {r["runId"]: r["phase"] for r in waited.json()} == {
        short.run_id: "Succeeded",
        long_id: "Cancelled",
    }
    one = await cli(vi_server, "runs", "wait", short.run_id)
    assert one.code == 0 and one.out.strip() == f"{short.run_id}: Succeeded"

    deleted = await cli(vi_server, "runs", "delete", long_id, "--json")
    assert deleted.code == 0 and deleted.json() == {"id": long_id, "deleted": True}
    assert await vi_server.run_ids() == [short.run_id]
    again = await cli(vi_server, "runs", "delete", long_id)
    assert again.code == 1 and "not" in again.err.lower()


async def test_credentials_from_flags_and_missing(vi_server: LocalServer) -> None:
    missing = await cli(None, "flows", "list")
    assert missing.code == 2 and "DATATURE_VI_SECRET_KEY" in missing.err
    flags = [
        "--endpoint", vi_server.endpoint,
        "--organization-id", vi_server.organization_id,
        "--secret-key", vi_server.secret_key,
    ]  # fmt: skip
    ok = await cli(None, *flags, "flows", "list", "--json")
    assert ok.code == 0 and ok.json() == [] and vi_server.secret_key not in ok.out + ok.err
    after = await cli(None, "flows", "list", "--json", *flags)
    assert after.code == 0
    wrong = await cli(
        vi_server, "flows", "list", env={"DATATURE_VI_SECRET_KEY": "dtvi_" + "x" * 98}
    )
    assert wrong.code == 1 and "error" in wrong.err


async def test_local_subcommand_serves_until_sigint(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "vi_async", "local", "--port", "0", "--db", "local.sqlite",
               "--seed-flows", "3", "--seed-prefix", "old-", "--seed-age-days", "8"]  # fmt: skip
    async with await anyio.open_process(
        command, cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE
    ) as process:
        assert process.stdout is not None
        env: dict[str, str] = {}
        buffer = b""
        with anyio.fail_after(20):
            async for chunk in process.stdout:
                buffer += chunk
                env = dict(
                    line[len("export ") :].split("=", 1)
                    for line in buffer.decode().splitlines()
                    if line.startswith("export ")
                )
                if ENV_NAMES <= env.keys():
                    break
        result = await cli(None, "flows", "list", "--json", env=env)
        assert result.code == 0 and [f["spec"]["name"] for f in result.json()] == [
            "old-0", "old-1", "old-2"
        ]  # fmt: skip
        old = await cli(None, "flows", "cleanup", "--older-than", "7d", "--dry-run", "--json",
                        env=env)  # fmt: skip
        assert old.json()["counts"]["would_delete"] == 3
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(10):
            assert await process.wait() == 0
    assert (tmp_path / "local.sqlite").exists()


async def test_demo_runs_and_exits_zero() -> None:
    result = await cli(None, "demo", "--flows", "40")
    assert result.code == 0, result.err
    assert "deleted       40" in result.out and "Done in" in result.out
    assert "Cancelled" in result.out and "Succeeded" in result.out


async def test_runs_watch_prints_a_line_per_event(
    vi_server: LocalServer, vi_client: Client
) -> None:
    done = await vi_client.runs.create(flow=FlowSpec(name="cli-watch"), wait=True, timeout=10)
    live = await vi_client.runs.create(
        flow=FlowSpec(name="cli-watch"), metadata={"vi-local/running-seconds": "60"}
    )
    watched = await cli(
        vi_server,
        "runs",
        "watch",
        "--json",
        "--status",
        "Succeeded",
        "--interval",
        "0.05",
        "--timeout",
        "1",
    )
    assert watched.code == 0, watched.err
    events = [json.loads(line) for line in watched.out.splitlines()]
    assert [(e["type"], e["runId"], e["phase"]) for e in events] == [
        ("added", done.run_id, "Succeeded")
    ]
    assert events[0]["run"]["runId"] == done.run_id and events[0]["previousPhase"] is None

    human = await cli(vi_server, "runs", "watch", live.run_id, "--timeout", "1")
    assert human.code == 0, human.err
    (line,) = human.out.splitlines()
    assert "added" in line and live.run_id in line and "Running" in line
    await vi_client.runs.kill(live.run_id)
