"""The local server as a test double: manual clock, set_run, append_logs, journal, FaultRule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from local_support import FAST, Api, phase

from vi_async import RunPhase
from vi_async.local import FaultRule, LocalServer

pytestmark = pytest.mark.anyio
MANUAL = pytest.mark.vi_clock("manual")
EXTENDED = pytest.mark.parametrize("vi_dialect", ["extended"])


@pytest.fixture
async def api(vi_server: LocalServer) -> AsyncIterator[Api]:
    """Raw HTTP against ``vi_server`` (the plugin's, in the test's dialect and clock)."""
    async with aiohttp.ClientSession() as session:
        yield Api(session, vi_server.endpoint, vi_server.organization_id, vi_server.secret_key)


def _ms(server: LocalServer) -> int:
    return round(server.now.timestamp() * 1000)


async def _run(api: Api, run_id: str) -> dict[str, Any]:
    r = await api.get(f"runs/{run_id}")
    assert r.status == 200, r.body
    return r.body  # type: ignore[no-any-return]


async def _messages(api: Api, run_id: str, query: str = "") -> list[dict[str, Any]]:
    r = await api.get(f"runs/{run_id}/logs{query}")
    assert r.status == 200, r.body
    return r.body["items"]  # type: ignore[no-any-return]


@MANUAL
async def test_manual_clock_moves_runs_logs_and_timestamps(
    vi_server: LocalServer, api: Api
) -> None:
    start = _ms(vi_server)
    created = await api.create_run("r1")
    assert created["metadata"]["timeCreated"] == start
    assert phase(await _run(api, "r1")) == "Pending"  # however long the test takes
    vi_server.advance(0.049)
    assert phase(await _run(api, "r1")) == "Pending"
    vi_server.advance(0.001)
    assert phase(await _run(api, "r1")) == "Running"
    assert vi_server.advance(timedelta(seconds=1)) == vi_server.now
    done = await _run(api, "r1")
    times = [(c["condition"], c["lastTransitionTime"]) for c in done["status"]["conditions"]]
    assert times == [("Pending", start), ("Running", start + 50), ("Succeeded", start + 350)]
    lines = await _messages(api, "r1")
    assert [line["timestamp"] for line in lines[:3]] == [start, start + 50, start + 100]
    patched = await api.patch("runs/r1", {"metadata": {"attributes": {"k": "v"}}})
    assert patched.body["metadata"]["lastUpdated"] == start + 1050


async def test_clock_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="clock"):
        LocalServer(clock="fast")
    with pytest.raises(ValueError, match="journal_size"):
        LocalServer(journal_size=0)
    async with LocalServer(schedule=FAST) as real:
        with pytest.raises(RuntimeError, match="manual"):
            real.advance(1)
    manual = LocalServer(clock="manual")
    for bad in (-1, float("nan"), float("inf"), "1", True):
        with pytest.raises(ValueError):
            manual.advance(bad)  # type: ignore[arg-type]


@MANUAL
@EXTENDED
async def test_signed_urls_and_seeded_ages_follow_the_clock(
    vi_server: LocalServer, api: Api
) -> None:
    (flow_id,) = await vi_server.seed_flows(1, age=timedelta(days=8))
    flow = (await api.get(f"flows/{flow_id}")).body
    assert flow["metadata"]["timeCreated"] == _ms(vi_server) - 8 * 86_400_000
    await api.create_run("done", attributes={"vi-local/model-bytes": "4096"})
    vi_server.advance(1)
    r = await api.get("runs/done/outputs?intent=sdkLocalDeploy&contents=y")
    url = r.body["items"][-1]["status"]["contents"]["downloadUrl"]
    assert url["expiresAt"] == _ms(vi_server) + round(vi_server.download_url_ttl * 1000)
    assert (await api.raw("HEAD", url["url"])).status == 200
    vi_server.advance(vi_server.download_url_ttl)
    expired = await api.raw("GET", url["url"])
    assert expired.status == 403 and expired.body["error"] == "ExpiredToken"


@MANUAL
async def test_set_run_drives_a_run(vi_server: LocalServer, api: Api) -> None:
    await api.create_run("held")
    vi_server.set_run("held", RunPhase.RUNNING)
    vi_server.advance(timedelta(days=2))
    assert phase(await _run(api, "held")) == "Running"  # its schedule no longer applies
    vi_server.set_run("held", "failed", reason="OOM", message="CUDA out of memory")
    last = (await _run(api, "held"))["status"]["conditions"][-1]
    assert (last["condition"], last["reason"], last["message"]) == (
        "Failed",
        "OOM",
        "CUDA out of memory",
    )
    assert last["lastTransitionTime"] == _ms(vi_server)
    query = f"?since={_ms(vi_server)}" if vi_server.strict else "?tail=1"
    assert (await _messages(api, "held", query))[-1]["message"].endswith("(CUDA out of memory)")
    with pytest.raises(ValueError, match="terminal"):
        vi_server.set_run("held", RunPhase.RUNNING)

    await api.create_run("never-ran")
    vi_server.set_run("never-ran", RunPhase.ERROR)  # straight from Pending: no Running
    conditions = (await _run(api, "never-ran"))["status"]["conditions"]
    assert [c["condition"] for c in conditions] == ["Pending", "Error"]
    assert conditions[-1]["reason"] == "InternalError"


@MANUAL
@EXTENDED
async def test_set_run_refuses_bad_moves_before_changing_anything(
    vi_server: LocalServer, api: Api
) -> None:
    await api.create_run("r")
    vi_server.advance(0.1)
    etag = (await _run(api, "r"))["etag"]
    with pytest.raises(ValueError, match="back to Pending"):
        vi_server.set_run("r", RunPhase.PENDING)
    with pytest.raises(ValueError, match="phase"):
        vi_server.set_run("r", "Paused")
    with pytest.raises(ValueError, match="run id"):
        vi_server.set_run("bad id!", RunPhase.FAILED)
    with pytest.raises(LookupError, match="nope"):
        vi_server.set_run("nope", RunPhase.FAILED)
    assert (await _run(api, "r"))["etag"] == etag
    vi_server.set_run("r", RunPhase.CANCELLED, message="stopped by the test")
    assert (await _run(api, "r"))["status"]["conditions"][-1]["message"] == "stopped by the test"


@MANUAL
async def test_append_logs_merges_lines_at_server_time(vi_server: LocalServer, api: Api) -> None:
    await api.create_run("r", flow={"name": "f", "blocks": [{"block": "x"}, {"block": "y"}]})
    start = _ms(vi_server)
    vi_server.append_logs("r", ["a", "b"], block="y")
    vi_server.advance(0.05)
    vi_server.append_logs("r", "c", level="warning")
    lines = await _messages(api, "r")
    assert [line["message"] for line in lines] == [
        "Run queued (Pending)",
        "a",
        "b",
        "Run started (Running)",
        "c",
    ]
    assert [line["timestamp"] for line in lines] == [start] * 3 + [start + 50] * 2
    assert (lines[1]["block"], lines[4]["level"]) == ("y", "WARNING")
    assert [line["message"] for line in await _messages(api, "r", "?block=y")] == ["a", "b"]
    if not vi_server.strict:
        assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5]
        assert [line["message"] for line in await _messages(api, "r", "?since=2")] == [
            "b",
            "Run started (Running)",
            "c",
        ]
    else:
        later = await _messages(api, "r", f"?since={start + 50}")
        assert [line["message"] for line in later] == ["Run started (Running)", "c"]
    vi_server.advance(1)
    with pytest.raises(ValueError, match="terminal"):
        vi_server.append_logs("r", "too late")
    for bad in ({"messages": []}, {"messages": [1]}, {"messages": "m", "level": "LOUD"}):
        with pytest.raises(ValueError):
            vi_server.append_logs("r", **bad)  # type: ignore[arg-type]


@EXTENDED
async def test_journal_records_masked_requests(vi_server: LocalServer, api: Api) -> None:
    await api.create_flow("f1", name="one")
    await api.delete("flows/f1")
    await api.get("flows/f1")
    await api.raw("GET", f"{vi_server.endpoint}_local/stats", headers=vi_server.admin_headers())
    assert [(e.method, e.relative_path, e.status) for e in vi_server.requests] == [
        ("PUT", "flows/f1", 201),
        ("DELETE", "flows/f1", 204),
        ("GET", "flows/f1", 404),
    ]  # the admin route is not journaled
    put = vi_server.requests[0]
    assert put.body == {"spec": {"name": "one"}} and put.path.startswith("/workspaces/")
    assert put.headers["Authorization"] == "***"
    assert vi_server.secret_key not in repr(list(vi_server.requests))
    assert [e.method for e in vi_server.requests.filter(method="delete", path="flows/*")] == [
        "DELETE"
    ]
    assert vi_server.requests.filter(path="runs/*") == []
    assert len(vi_server.requests.filter(status=404)) == 1
    vi_server.requests.clear()
    assert len(vi_server.requests) == 0


async def test_journal_is_bounded() -> None:
    async with (
        LocalServer(schedule=FAST, journal_size=3) as server,
        aiohttp.ClientSession() as session,
    ):
        api = Api(session, server.endpoint, server.organization_id, server.secret_key)
        for i in range(5):
            await api.get(f"flows/f{i}")
        assert [e.relative_path for e in server.requests] == ["flows/f2", "flows/f3", "flows/f4"]


@EXTENDED
async def test_fault_rules_fail_exactly_the_requests_chosen(
    vi_server: LocalServer, api: Api
) -> None:
    await api.create_flow("f1")
    first = vi_server.inject(FaultRule(method="DELETE", path="flows/*", status=503, retry_after=2))
    second = vi_server.inject(FaultRule(method="DELETE", path="flows/f1", status=409))
    r = await api.delete("flows/f1")
    assert (r.status, r.headers["Retry-After"]) == (503, "2")
    assert (await api.get("flows/f1")).status == 200  # nothing changed
    assert (await api.delete("flows/f1")).status == 409  # the next rule in order
    assert (await api.delete("flows/f1")).status == 204  # both are used up
    assert (first.hits, first.remaining, second.hits, second.remaining) == (1, 0, 1, 0)

    spy = vi_server.inject(FaultRule(path="flows", times=None))
    await api.get("flows")
    await api.get("flows")
    assert (spy.hits, spy.remaining) == (2, None)
    spy.remove()
    await api.get("flows")
    assert spy.hits == 2


@EXTENDED
async def test_fault_rule_reset_drops_the_connection_and_changes_nothing(
    vi_server: LocalServer, api: Api
) -> None:
    # Every time: aiohttp itself silently resends a PUT whose connection dropped.
    rule = vi_server.inject(FaultRule(method="PUT", path="flows/*", reset=True, times=None))
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.put("flows/f1", {"spec": {"name": "n"}})
    assert (await api.get("flows/f1")).status == 404
    puts = vi_server.requests.filter(method="PUT")
    assert len(puts) == rule.hits >= 1 and {e.status for e in puts} == {None}


@EXTENDED
async def test_the_sdk_meets_a_scripted_failure_exactly(vi_server: LocalServer) -> None:
    async with vi_server.client() as client:
        flow = await client.flows.create(spec={"name": "f"})
        vi_server.inject(FaultRule(method="DELETE", times=2, status=503, retry_after=0))
        await client.flows.delete(flow.flow_id)
    statuses = [e.status for e in vi_server.requests.filter(method="DELETE")]
    assert statuses == [503, 503, 204]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": 200},
        {"status": 503, "reset": True},
        {"retry_after": 1},
        {"times": 0},
        {"delay": -1},
        {"method": "DEL ETE"},
        {"path": ""},
    ],
)
def test_fault_rule_is_checked(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FaultRule(**kwargs)


def test_inject_takes_a_fault_rule() -> None:
    with pytest.raises(TypeError):
        LocalServer().inject({"status": 503})  # type: ignore[arg-type]


@MANUAL
def test_control_methods_from_a_sync_test(vi_server_thread: LocalServer) -> None:
    from vi_sync import Client

    server = vi_server_thread
    with Client(**_credentials(server)) as client:
        run = client.runs.create(flow={"name": "sync"})
        server.append_logs(run.run_id, ["from the test"])
        server.advance(0.05)
        assert client.runs.get(run.run_id).phase is RunPhase.RUNNING
        server.set_run(run.run_id, RunPhase.SUCCEEDED, message="done early")
        done = client.runs.wait_for(run.run_id, timeout=5, poll_interval=0.01)
        assert done.phase is RunPhase.SUCCEEDED
        messages = [line.message for line in client.runs.logs(run.run_id, follow=False)]
    assert "from the test" in messages and messages[-1].endswith("(done early)")
    assert server.requests.filter(method="PUT", path="runs/*")[0].status == 201


def _credentials(server: LocalServer) -> dict[str, str]:
    return {
        "endpoint": server.endpoint,
        "organization_id": server.organization_id,
        "secret_key": server.secret_key,
    }
