"""``vi-async flows ...``: exit codes, --json output, the server's state.

Commands run through ``cli_support.cli`` (the command host); Ctrl-C tests start
processes of their own."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import anyio.abc
import pytest
from cli_support import clean_env, cli
from run_support import LONG_RUN

from vi_async import Client, FlowSpec
from vi_async.local import FaultConfig, LocalServer

pytestmark = pytest.mark.anyio


async def test_list_and_get(vi_server: LocalServer) -> None:
    empty = await cli(vi_server, "flows", "list", "--json")
    assert empty.code == 0 and empty.json() == []
    flows = await vi_server.seed_flows(5, name_prefix="cli-")
    listed = await cli(vi_server, "flows", "list", "--json", "--page-size", "2")
    assert [f["flowId"] for f in listed.json()] == flows
    assert listed.json()[0]["spec"]["name"] == "cli-0"
    limited = await cli(vi_server, "--json", "flows", "list", "--limit", "2")
    assert len(limited.json()) == 2
    table = await cli(vi_server, "flows", "list")
    assert table.out.splitlines()[0].split() == ["FLOW", "ID", "NAME", "CREATED", "BLOCKS"]
    assert len(table.out.splitlines()) == 6
    got = await cli(vi_server, "flows", "get", flows[1])
    assert got.code == 0 and f"Flow {flows[1]}" in got.out and "cli-1" in got.out
    as_json = await cli(vi_server, "flows", "get", flows[1], "--json")
    assert as_json.json()["flowId"] == flows[1]
    missing = await cli(vi_server, "flows", "get", "nope")
    assert missing.code == 1 and "error" in missing.err and missing.out == ""


async def test_create_by_name_spec_file_and_stdin(vi_server: LocalServer, tmp_path: Path) -> None:
    made = await cli(
        vi_server, "flows", "create", "--name", "nightly", "--training-project", "vision",
        "--attr", "team=cv", "--json",
    )  # fmt: skip
    assert made.code == 0, made.err
    flow = made.json()
    assert flow["spec"]["name"] == "nightly" and flow["spec"]["trainingProject"] == "vision"
    spec = {"name": "from-file", "blocks": [{"block": "train"}], "settings": {"epochs": 3}}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    from_file = await cli(vi_server, "flows", "create", "--spec", str(path), "--json")
    assert from_file.code == 0, from_file.err
    piped = await cli(
        vi_server, "flows", "create", "--spec", "-", "--name", "renamed", stdin=json.dumps(spec)
    )
    assert piped.code == 0 and "renamed" in piped.out
    async with vi_server.client() as client:
        stored = {f.spec.name: f async for f in client.flows.list().all_items()}
    assert set(stored) == {"nightly", "from-file", "renamed"}
    assert stored["nightly"].metadata.attributes["team"] == "cv"
    assert [b.block for b in stored["from-file"].spec.blocks] == ["train"]
    assert stored["from-file"].spec.settings == {"epochs": 3}
    assert stored["renamed"].spec.settings == {"epochs": 3}


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        ((), None, "needs a name"),
        (("--spec", "-"), "[1, 2]", "JSON object"),
        (("--spec", "-"), "{not json", "not JSON"),
        (("--spec", "-"), '{"name": "x", "colour": "red"}', "colour"),
        (("--spec", "/nonexistent/spec.json"), None, "cannot read the spec"),
        (("--name", "x", "--attr", "novalue"), None, "KEY=VALUE"),
    ],
)
async def test_create_refuses_bad_input_before_any_request(
    vi_server: LocalServer, args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    vi_server.reset_counts()
    bad = await cli(vi_server, "flows", "create", *args, stdin=stdin)
    assert bad.code == 2, (bad.out, bad.err)
    assert message in bad.err and "Traceback" not in bad.err
    assert await vi_server.flow_ids() == []
    assert not any(key.startswith("PUT") for key in vi_server.request_counts)


async def test_cleanup_dry_run_then_yes(vi_server: LocalServer) -> None:
    stale = await vi_server.seed_flows(60, name_prefix="tmp-")
    keep = await vi_server.seed_flows(4, name_prefix="keep-")
    dry = await cli(vi_server, "flows", "cleanup", "--name", "tmp-*", "--dry-run", "--json")
    assert dry.code == 0
    report = dry.json()
    assert report["dry_run"] is True and report["counts"]["would_delete"] == 60
    assert {r["flow_id"] for r in report["would_delete"]} == set(stale)
    assert len(await vi_server.flow_ids()) == 64
    human = await cli(vi_server, "flows", "cleanup", "--name", "tmp-*", "--dry-run")
    assert "would_delete" in human.out and "tmp-59" in human.out

    done = await cli(vi_server, "flows", "cleanup", "--name", "tmp-*", "--yes", "--json")
    assert done.code == 0
    assert done.json()["counts"]["deleted"] == 60 and done.json()["cancelled"] is False
    assert await vi_server.flow_ids() == keep


async def test_cleanup_asks_for_confirmation(vi_server: LocalServer) -> None:
    await vi_server.seed_flows(3, name_prefix="tmp-")
    no = await cli(vi_server, "flows", "cleanup", "--older-than", "0s", stdin="n\n")
    assert no.code == 1 and "3 flow(s) to delete" in no.err and "Nothing was deleted" in no.err
    assert len(await vi_server.flow_ids()) == 3
    eof = await cli(vi_server, "flows", "cleanup", "--name", "tmp-*", stdin="")
    assert eof.code == 1 and len(await vi_server.flow_ids()) == 3
    yes = await cli(vi_server, "flows", "cleanup", "--name", "tmp-*", stdin="y\n")
    assert yes.code == 0 and "deleted       3" in yes.out
    assert await vi_server.flow_ids() == []


async def test_cleanup_usage_errors(vi_server: LocalServer) -> None:
    await vi_server.seed_flows(2)
    for args in (
        ["flows", "cleanup", "--yes"],  # no filter and no --all
        ["flows", "cleanup", "--older-than", "soon", "--yes"],
        ["flows", "cleanup", "--all", "--yes", "--concurrency", "0"],
        ["flows", "cleanup", "--all", "--on-active-run", "maybe"],
        ["flows"],
        [],
    ):
        result = await cli(vi_server, *args)
        assert result.code == 2, args
        assert "usage" in result.err or "error" in result.err
    assert len(await vi_server.flow_ids()) == 2
    everything = await cli(vi_server, "flows", "cleanup", "--all", "--yes")
    assert everything.code == 0 and await vi_server.flow_ids() == []


async def test_cleanup_active_run_policies_exit_codes(
    vi_server: LocalServer, vi_client: Client
) -> None:
    flow = await vi_client.flows.create(FlowSpec(name="busy"))
    run = await vi_client.runs.create(flow.flow_id, metadata=LONG_RUN)
    skip = await cli(vi_server, "flows", "cleanup", "--name", "busy", "--yes", "--json")
    assert skip.code == 1 and skip.json()["skipped"][0]["reason"] == "active run"
    assert f"not deleted: {flow.flow_id} (skipped: active run)" in skip.err
    fail = await cli(
        vi_server, "flows", "cleanup", "--name", "busy", "-y", "--on-active-run", "fail", "--json"
    )
    assert fail.code == 1
    [failed] = fail.json()["failed"]
    assert failed["error"]["type"] == "ViConflictError" and failed["error"]["status"] == 409
    kill = await cli(
        vi_server, "flows", "cleanup", "--name", "busy", "-y", "--on-active-run", "kill", "--json"
    )
    assert kill.code == 0 and kill.json()["deleted"][0]["killed_runs"] == [run.run_id]
    assert await vi_server.flow_ids() == [] and await vi_server.run_ids() == [run.run_id]


async def test_delete_ids_and_stdin(vi_server: LocalServer) -> None:
    flows = await vi_server.seed_flows(6)
    result = await cli(vi_server, "flows", "delete", flows[0], flows[1], "gone", "--json")
    assert result.code == 1  # "gone" was asked for and not deleted
    assert "not deleted: gone (not_found" in result.err
    assert result.json()["counts"] == {
        "deleted": 2,
        "skipped": 0,
        "not_found": 1,
        "failed": 0,
        "would_delete": 0,
        "unknown": 0,
    }
    piped = await cli(vi_server, "flows", "delete", "-", stdin="\n".join(flows[2:]) + "\n")
    assert piped.code == 0 and "deleted       4" in piped.out
    assert await vi_server.flow_ids() == []
    bad = await cli(vi_server, "flows", "delete", "bad/id", "--json")
    assert bad.code == 1 and bad.json()["failed"][0]["error"]["type"] == "ViValidationError"


async def test_ctrl_c_during_cleanup_prints_the_partial_report(vi_server: LocalServer) -> None:
    flows = await vi_server.seed_flows(400)
    vi_server.faults = FaultConfig(latency=0.03, paths=r"/flows/")
    command = [sys.executable, "-m", "vi_async", "flows", "cleanup", "--all", "-y"]
    async with await anyio.open_process(
        command, env=clean_env(vi_server.env()), stderr=subprocess.PIPE
    ) as process:
        for _ in range(400):  # until the first deletes have gone through
            if len(await vi_server.flow_ids()) < len(flows):
                break
            await anyio.sleep(0.05)
        process.send_signal(signal.SIGINT)
        assert process.stderr is not None
        with anyio.fail_after(20):
            err = b"".join([chunk async for chunk in process.stderr]).decode()
            code = await process.wait()
    vi_server.faults = FaultConfig()
    assert code == 130
    assert "Bulk delete cancelled" in err and "interrupted" in err
    deleted = int(err.split("deleted")[1].split()[0])
    assert len(await vi_server.flow_ids()) == len(flows) - deleted


async def _read_until(stream: anyio.abc.ByteReceiveStream, marker: str) -> str:
    text = ""
    with anyio.fail_after(20):
        while marker not in text:
            text += (await stream.receive()).decode()
    return text


async def test_confirmed_cleanup_deletes_exactly_the_previewed_flows(
    vi_server: LocalServer, vi_client: Client
) -> None:
    previewed = await vi_server.seed_flows(3, name_prefix="tmp-")
    command = [sys.executable, "-m", "vi_async", "flows", "cleanup", "--name", "tmp-*", "--json"]
    async with await anyio.open_process(command, env=clean_env(vi_server.env())) as process:
        assert process.stdin is not None and process.stdout is not None
        assert process.stderr is not None
        prompt = await _read_until(process.stderr, "[y/N]")
        assert "3 flow(s) to delete" in prompt
        # A flow that starts matching after the preview was shown is not deleted,
        # nor one changed since.
        late = await vi_client.flows.create(FlowSpec(name="tmp-late"))
        edited = previewed.pop()
        await vi_client.flows.update(edited, metadata={"keep": "me"})
        vi_server.reset_counts()
        await process.stdin.send(b"y\n")
        with anyio.fail_after(20):
            out = b"".join([chunk async for chunk in process.stdout]).decode()
            code = await process.wait()
    assert code == 1  # the edited flow was asked for and not deleted
    report = json.loads(out)
    assert sorted(r["flow_id"] for r in report["deleted"]) == sorted(previewed)
    assert [(r["flow_id"], r["reason"]) for r in report["skipped"]] == [
        (edited, "changed since the plan")
    ]
    assert report["total"] == 3
    assert sorted(await vi_server.flow_ids()) == sorted([late.flow_id, edited])
    assert vi_server.request_counts["GET /workspaces/{org}/flows"] == 0  # not listed again


async def _fail_listing_after_first_page(server: LocalServer) -> None:
    """Let the first page through (slowly), then make every later listing request fail."""
    server.faults = FaultConfig(latency=0.5, paths=r"/flows$")
    for _ in range(2000):
        if server.request_counts["GET /workspaces/{org}/flows"] > 0:
            break
        await anyio.sleep(0.01)
    server.faults = FaultConfig(error_503_rate=1.0, retry_after=0.01, paths=r"/flows$")


async def test_json_list_failing_half_way_is_still_valid_json(vi_server: LocalServer) -> None:
    flows = await vi_server.seed_flows(6)
    vi_server.reset_counts()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_fail_listing_after_first_page, vi_server)
        result = await cli(vi_server, "flows", "list", "--json", "--page-size", "2")
    vi_server.faults = FaultConfig()
    assert result.code == 1 and "error" in result.err
    assert [f["flowId"] for f in result.json()] == flows[:2]


async def test_json_cleanup_stopped_early_prints_the_report(vi_server: LocalServer) -> None:
    flows = await vi_server.seed_flows(250)
    vi_server.reset_counts()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_fail_listing_after_first_page, vi_server)
        result = await cli(vi_server, "flows", "cleanup", "--all", "--yes", "--json")
    vi_server.faults = FaultConfig()
    assert result.code == 1
    report = result.json()
    assert report["error"] and "503" in report["error"] and report["cancelled"] is False
    assert report["counts"]["deleted"] == 200 == report["total"]
    assert set(await vi_server.flow_ids()) == set(flows[200:])


async def test_json_ctrl_c_prints_the_partial_report(vi_server: LocalServer) -> None:
    flows = await vi_server.seed_flows(400)
    vi_server.faults = FaultConfig(latency=0.03, paths=r"/flows/")
    command = [sys.executable, "-m", "vi_async", "flows", "cleanup", "--all", "-y", "--json"]
    async with await anyio.open_process(command, env=clean_env(vi_server.env())) as process:
        for _ in range(400):  # until the first deletes have gone through
            if len(await vi_server.flow_ids()) < len(flows):
                break
            await anyio.sleep(0.05)
        process.send_signal(signal.SIGINT)
        assert process.stdout is not None
        with anyio.fail_after(20):
            out = b"".join([chunk async for chunk in process.stdout]).decode()
            code = await process.wait()
    vi_server.faults = FaultConfig()
    assert code == 130
    report = json.loads(out)
    assert report["cancelled"] is True
    gone = {r["flow_id"] for r in report["deleted"]}
    assert set(await vi_server.flow_ids()) == set(flows) - gone


async def test_cleanup_writes_a_plan_and_apply_applies_it(
    vi_server: LocalServer, vi_client: Client, tmp_path: Path
) -> None:
    doomed = await vi_server.seed_flows(4, name_prefix="tmp-")
    kept = await vi_server.seed_flows(2, name_prefix="keep-")
    plan_file = tmp_path / "plan.json"
    done = await cli(vi_server, "flows", "cleanup", "--name", "tmp-*", "--plan", str(plan_file))
    assert done.code == 0 and "4 flow(s) to delete" in done.out
    assert len(await vi_server.flow_ids()) == 6  # a plan deletes nothing
    plan = json.loads(plan_file.read_text())
    assert [i["flowId"] for i in plan["items"]] == doomed
    await vi_client.flows.update(doomed[0], metadata={"edited": "yes"})
    await vi_client.flows.delete(doomed[1])
    no = await cli(vi_server, "flows", "apply", str(plan_file), stdin="n\n")
    assert no.code == 1 and "Nothing was deleted" in no.err and "4 flow(s)" in no.err
    done = await cli(vi_server, "flows", "apply", str(plan_file), "--yes", "--json")
    # Two planned deletes did not happen: exit 1, each reason on stderr.
    assert done.code == 1, done.err
    assert "changed since the plan" in done.err and "not_found" in done.err
    report = done.json()
    assert report["counts"] == {
        "deleted": 2,
        "skipped": 1,
        "not_found": 1,
        "failed": 0,
        "would_delete": 0,
        "unknown": 0,
    }
    assert report["skipped"][0]["reason"] == "changed since the plan"
    assert sorted(await vi_server.flow_ids()) == sorted([doomed[0], *kept])


async def test_apply_refuses_a_foreign_or_broken_plan(
    vi_server: LocalServer, tmp_path: Path
) -> None:
    await vi_server.seed_flows(2, name_prefix="tmp-")
    plan_file = tmp_path / "plan.json"
    assert (await cli(vi_server, "flows", "cleanup", "--all", "--plan", str(plan_file))).code == 0
    data = json.loads(plan_file.read_text())
    data["organizationId"] = "another-org"
    plan_file.write_text(json.dumps(data))
    foreign = await cli(vi_server, "flows", "apply", str(plan_file), "--yes")
    assert foreign.code == 2 and "another-org" in foreign.err
    plan_file.write_text("{not json")
    broken = await cli(vi_server, "flows", "apply", str(plan_file), "--yes")
    assert broken.code == 2 and "not JSON" in broken.err
    missing = await cli(vi_server, "flows", "apply", str(tmp_path / "nope.json"), "--yes")
    assert missing.code == 2 and "cannot read the plan" in missing.err
    assert len(await vi_server.flow_ids()) == 2


async def test_allow_skipped_lets_policy_skips_exit_0(
    vi_server: LocalServer, vi_client: Client, tmp_path: Path
) -> None:
    busy = await vi_client.flows.create(FlowSpec(name="tmp-busy"))
    await vi_client.runs.create(busy.flow_id, metadata=LONG_RUN)
    await vi_server.seed_flows(2, name_prefix="tmp-")
    plan = tmp_path / "plan.json"
    written = await cli(vi_server, "flows", "cleanup", "--name", "tmp-*", "--plan", str(plan))
    assert written.code == 0, written.err
    strict, allowed = await cli(vi_server, "flows", "apply", str(plan), "--yes"), None
    assert strict.code == 1 and "skipped: active run" in strict.err
    await vi_server.seed_flows(2, name_prefix="tmp-")
    allowed = await cli(
        vi_server, "flows", "cleanup", "--name", "tmp-*", "--yes", "--allow-skipped"
    )
    assert allowed.code == 0, allowed.err
    assert "Skipped 1 flow(s) (allowed by --allow-skipped): 1 x active run" in allowed.out
    assert await vi_server.flow_ids() == [busy.flow_id]
    again = await cli(vi_server, "flows", "apply", str(plan), "--yes", "--allow-skipped")
    assert again.code == 0, again.err  # two already gone, one skipped by policy
    missing_flag = await cli(vi_server, "flows", "cleanup", "--name", "tmp-*", "--yes")
    assert missing_flag.code == 1
