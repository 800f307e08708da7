"""Exit codes, a closed pipe, a non-terminal ``--wait``, the missing ``cli`` extra, and
what the command line says about credentials, endpoints and old flows."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from functools import partial
from pathlib import Path

import anyio
import pytest
from cli_support import clean_env, cli

from vi_async import Client, FlowSpec
from vi_async.cli import EXIT_CODES, MISSING_EXTRA
from vi_async.local import LocalServer

pytestmark = pytest.mark.anyio

# Runs the command line with `import rich` failing, as in an install without the extra.
WITHOUT_RICH = (
    "import runpy, sys; sys.modules['rich'] = None; "
    "runpy.run_module('vi_async', run_name='__main__', alter_sys=True)"
)


async def test_every_exit_code_is_documented() -> None:
    assert set(EXIT_CODES) == {0, 1, 2, 130, 141}
    helped = await cli(None, "--help")
    assert helped.code == 0
    for code in EXIT_CODES:
        assert f"  {code} " in helped.out


async def test_a_delete_that_did_not_happen_exits_1_with_the_reason(
    vi_server: LocalServer, vi_client: Client
) -> None:
    [flow_id] = await vi_server.seed_flows(1)
    ok = await cli(vi_server, "flows", "delete", flow_id)
    assert ok.code == 0 and ok.err == ""
    gone = await cli(vi_server, "flows", "delete", flow_id)
    assert gone.code == 1
    assert f"not deleted: {flow_id} (not_found" in gone.err

    busy = await vi_client.flows.create(FlowSpec(name="busy"))
    run = await vi_client.runs.create(
        busy.flow_id, metadata={"vi-local/running-seconds": "60", "vi-local/pending-seconds": "0"}
    )
    skipped = await cli(vi_server, "flows", "delete", busy.flow_id)
    assert skipped.code == 1
    assert f"not deleted: {busy.flow_id} (skipped: active run)" in skipped.err
    dry = await cli(vi_server, "flows", "delete", busy.flow_id, "--dry-run")
    assert dry.code == 0  # a dry run asks for no delete
    await vi_client.runs.kill(run.run_id)


async def test_usage_errors_exit_2_and_name_the_option() -> None:
    no_key = await cli(None, "flows", "list")
    assert no_key.code == 2
    assert "--secret-key" in no_key.err and "DATATURE_VI_SECRET_KEY" in no_key.err
    assert "secret_key=" not in no_key.err
    no_org = await cli(None, "flows", "list", env={"DATATURE_VI_SECRET_KEY": "dtvi_" + "k" * 98})
    assert no_org.code == 2
    assert "--organization-id" in no_org.err and "DATATURE_VI_ORGANIZATION_ID" in no_org.err
    for args in (["runs", "wait", "x", "--timeout", "soon"], ["runs", "list", "--status", "done"]):
        bad = await cli(None, *args)
        assert bad.code == 2 and "usage:" in bad.err, args


async def test_without_an_endpoint_it_says_which_one_is_used() -> None:
    env = {"DATATURE_VI_SECRET_KEY": "dtvi_" + "k" * 98, "DATATURE_VI_ORGANIZATION_ID": "org"}
    result = await cli(None, "flows", "get", "../x", env=env)  # refused before any request
    assert result.code == 2
    assert "https://api.vi.datature.com/" in result.err and "DATATURE_VI_API_ENDPOINT" in result.err


async def test_a_dns_failure_names_the_host() -> None:
    env = {
        "DATATURE_VI_SECRET_KEY": "dtvi_" + "k" * 98,
        "DATATURE_VI_ORGANIZATION_ID": "org",
        "DATATURE_VI_API_ENDPOINT": "http://no-such-host.invalid/",
    }
    result = await cli(None, "flows", "list", env=env)
    assert result.code == 1 and "no-such-host.invalid" in result.err


def _read_then_close(command: list[str], env: dict[str, str]) -> tuple[bytes, str, int]:
    """Like ``command | head -c 200``: read 200 bytes, close the pipe, wait."""
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        head = process.stdout.read(200)
        process.stdout.close()
        err = process.stderr.read().decode()
        return head, err, process.wait(timeout=30)


async def test_a_closed_pipe_exits_quietly(vi_server: LocalServer) -> None:
    await vi_server.seed_flows(1500)  # ~600 kB of JSON: more than a pipe holds
    command = [sys.executable, "-m", "vi_async", "flows", "list", "--json", "--page-size", "500"]
    with anyio.fail_after(60):
        head, err, code = await anyio.to_thread.run_sync(
            _read_then_close, command, clean_env(vi_server.env())
        )
    assert head.startswith(b"[")
    assert err == ""  # no traceback
    assert code == 141


async def test_wait_off_a_terminal_prints_plain_lines(
    vi_server: LocalServer, vi_client: Client
) -> None:
    flow = await vi_client.flows.create(FlowSpec(name="plain"))
    result = await cli(
        vi_server, "runs", "create", flow.flow_id, "--wait", "--timeout", "30",
        "--attr", "vi-local/pending-seconds=0.3", "--attr", "vi-local/running-seconds=0.6",
    )  # fmt: skip
    assert result.code == 0, result.err
    run_id = result.out.splitlines()[0].removeprefix("Started run ")
    lines = result.err.splitlines()
    assert lines, "nothing was printed while waiting"
    assert all(line.startswith(f"waiting for {run_id}: ") for line in lines), lines
    assert lines[-1].startswith(f"waiting for {run_id}: Succeeded (")
    phases = [line.split(": ", 1)[1].split(" (")[0] for line in lines]
    assert len(phases) == len(set(phases))  # one line per change, no repeats
    assert "\r" not in result.err and "\x1b" not in result.err + result.out


async def test_runs_list_status_in_any_case(vi_server: LocalServer, vi_client: Client) -> None:
    flow = await vi_client.flows.create(FlowSpec(name="case"))
    run = await vi_client.runs.create(flow.flow_id, metadata={"vi-local/running-seconds": "60"})
    listed = await cli(vi_server, "runs", "list", "--status", "pending", "--status", "RUNNING",
                       "--json")  # fmt: skip
    assert listed.code == 0 and [r["runId"] for r in listed.json()] == [run.run_id]
    await vi_client.runs.kill(run.run_id)


async def test_cleanup_older_than_matches_back_dated_flows(vi_server: LocalServer) -> None:
    old = await vi_server.seed_flows(3, name_prefix="old-", age=timedelta(days=8))
    await vi_server.seed_flows(2, name_prefix="new-")
    dry = await cli(vi_server, "flows", "cleanup", "--older-than", "7d", "--dry-run", "--json")
    assert dry.code == 0
    assert sorted(r["flow_id"] for r in dry.json()["would_delete"]) == sorted(old)


async def test_local_help_names_the_program_and_shows_defaults() -> None:
    result = await cli(None, "local", "--help")
    assert result.code == 0
    assert result.out.startswith("usage: vi-async local")
    text = " ".join(result.out.split())
    assert "(default: 8700)" in text and "(default: vi-local.sqlite)" in text


async def test_without_the_cli_extra_it_says_what_to_install() -> None:
    done = await anyio.run_process(
        [sys.executable, "-c", WITHOUT_RICH, "flows", "list"], env=clean_env(), check=False
    )
    assert done.returncode == 1
    assert done.stderr.decode() == MISSING_EXTRA + "\n"
    assert "pip install 'vi-async[cli]'" in MISSING_EXTRA
    # The SDK itself, vi_sync and the local server need no rich.
    sdk = "import sys; sys.modules['rich'] = None; import vi_async, vi_sync, vi_async.local"
    assert (await anyio.run_process([sys.executable, "-c", sdk], check=False)).returncode == 0
    local = await anyio.run_process(
        [sys.executable, "-c", WITHOUT_RICH, "local", "--help"], env=clean_env(), check=False
    )
    assert local.returncode == 0 and b"vi-async local" in local.stdout


async def test_deeply_nested_spec_and_plan_files_are_usage_errors(tmp_path: Path) -> None:
    crashing = "[" * 100_000 + "]" * 100_000  # the decoder's recursion gives up
    deep = json.dumps({"name": "deep", "settings": json.loads("[" * 200 + "]" * 200)})
    (tmp_path / "plan.json").write_text(crashing)
    async with LocalServer() as server:
        server.reset_counts()
        async with anyio.create_task_group() as tg:
            results = []

            async def run(*args: str, stdin: str | None = None) -> None:
                results.append(await cli(server, *args, stdin=stdin))

            tg.start_soon(partial(run, "flows", "create", "--spec", "-", stdin=crashing))
            tg.start_soon(partial(run, "flows", "create", "--spec", "-", stdin=deep))
            tg.start_soon(run, "flows", "apply", str(tmp_path / "plan.json"), "--yes")
        assert sum(server.request_counts.values()) == 0  # nothing was sent
    for result in results:
        assert result.code == 2 and "Traceback" not in result.err, result.err
        assert "nests" in result.err, result.err
