"""The strict dialect: only the Vi wire (WIRE.md), none of the local extensions.

Also the logs endpoint's cost: a page is computed from the run's plan, so a
run with a trillion lines answers a page as fast as one with ten.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from local_support import FAST, Api

from vi_async.local import LocalServer
from vi_async.local.engine import RunPlan
from vi_async.local.logs import LogQuery, logs_document
from vi_async.local.records import Meta, RunRecord

pytestmark = pytest.mark.anyio

FLOW = {"name": "logged", "blocks": [{"block": "train"}, {"block": "eval"}]}
WIRE_LINE = {"timestamp", "block", "level", "message"}


@pytest.fixture
async def strict_api() -> AsyncIterator[Api]:
    """An HTTP helper against a strict server."""
    async with LocalServer(schedule=FAST, strict=True) as srv, aiohttp.ClientSession() as s:
        assert srv.strict and srv.dialect == "strict" and "strict" in repr(srv)
        yield Api(s, srv.endpoint, srv.organization_id, srv.secret_key)


async def _logs(api: Api, run_id: str, **params: Any) -> dict[str, Any]:
    r = await api.get(f"runs/{run_id}/logs", params={k: str(v) for k, v in params.items()})
    assert r.status == 200, r.body
    return r.body  # type: ignore[no-any-return]


async def test_strict_logs_are_the_wire_shape_with_time_bounds(strict_api: Api) -> None:
    await strict_api.create_run("r", flow=FLOW)
    await strict_api.wait_terminal("r")
    page = await _logs(strict_api, "r", tail=2)  # tail is ignored
    assert set(page) == {"kind", "runId", "items"}
    lines = page["items"]
    assert len(lines) == 8 and all(set(line) == WIRE_LINE for line in lines)
    stamps = [line["timestamp"] for line in lines]
    middle = stamps[3]
    # since is inclusive, until exclusive, both epoch ms; limit cuts the page.
    assert (await _logs(strict_api, "r", since=middle))["items"] == lines[3:]
    assert (await _logs(strict_api, "r", until=middle))["items"] == lines[:3]
    assert (await _logs(strict_api, "r", since=middle, limit=2))["items"] == lines[3:5]
    assert (await _logs(strict_api, "r", since=stamps[-1] + 1))["items"] == []
    train = (await _logs(strict_api, "r", block="train"))["items"]
    assert train and all(line["block"] == "train" for line in train)
    bad = await strict_api.get("runs/r/logs", params={"since": "soon"})
    assert bad.status == 400


async def test_strict_ignores_the_flow_link_header_and_reports_no_link(strict_api: Api) -> None:
    await strict_api.create_flow("named", name="named")
    # The header names a flow whose spec differs: only the spec links a run in strict.
    run = await strict_api.create_run(
        "r", flow={"name": "other"}, attributes={"vi-local/running-seconds": "60"},
        headers={"Vi-Flow-Id": "named"},
    )
    assert "flowId" not in run["status"]
    listed = (await strict_api.get("runs")).body["items"]
    assert all("flowId" not in item["status"] for item in listed)
    assert (await strict_api.delete("flows/named")).status == 204  # not linked: no 409
    await strict_api.create_flow("same", name="other")
    await strict_api.create_run("r2", flow={"name": "other"},
                                attributes={"vi-local/running-seconds": "60"})
    assert (await strict_api.delete("flows/same")).status == 409  # linked by its spec


async def test_strict_neither_replays_nor_echoes_idempotency_keys(strict_api: Api) -> None:
    await strict_api.create_flow("f")
    headers = {**strict_api.auth(), "Idempotency-Key": "key-1"}
    first = await strict_api.delete("flows/f", headers=headers)
    assert first.status == 204 and "Idempotency-Key" not in first.headers
    again = await strict_api.delete("flows/f", headers=headers)
    assert again.status == 404 and "Idempotency-Key" not in again.headers


async def test_extended_replays_and_echoes_idempotency_keys(api: Api) -> None:
    await api.create_flow("f")
    headers = {**api.auth(), "Idempotency-Key": "key-1"}
    assert (await api.delete("flows/f", headers=headers)).headers["Idempotency-Key"] == "key-1"
    again = await api.delete("flows/f", headers=headers)
    assert again.status == 204 and again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("interval", ["0.009", "0.001", "0"])
async def test_log_intervals_below_the_floor_are_refused(api: Api, interval: str) -> None:
    body = {"spec": {"flow": {"name": "x"}}, "metadata": {"attributes": {
        "vi-local/log-interval-seconds": interval}}}
    r = await api.put("runs/fast", body)
    assert r.status == 400 and "log-interval-seconds" in r.body["message"]
    assert (await api.get("runs/fast")).status == 404


def _huge_run() -> RunRecord:
    """A run that has been writing a line every millisecond for about 31 years."""
    plan = RunPlan(created_at=0, running_at=0, finished_at=10**12, outcome="Succeeded",
                   log_interval_ms=1)
    meta = Meta(1, "org", 0, 0, 1, "e", {}, "{}")
    spec = {"flow": {"name": "huge", "blocks": [{"block": "a"}, {"block": "b"}, {"block": "a"}]}}
    return RunRecord("huge", None, spec, meta, plan)


@pytest.mark.parametrize("strict", [False, True])
def test_a_page_costs_the_page_not_the_whole_log(strict: bool) -> None:
    """Listing 10^12 lines would never end: each of these answers at once."""
    record, now = _huge_run(), 10**12 + 5
    last = logs_document(record, LogQuery(tail=3), now)
    assert [line["seq"] for line in last["items"]] == [10**12, 10**12 + 1, 10**12 + 2]
    assert last["complete"] is True and last["tail"] == 3
    deep = logs_document(record, LogQuery(since=5 * 10**11, limit=2), now, strict=strict)
    key = "timestamp" if strict else "seq"
    assert [line[key] for line in deep["items"]] == [5 * 10**11 + (0 if strict else 1),
                                                      5 * 10**11 + (1 if strict else 2)]
    blocks = logs_document(record, LogQuery(since=9 * 10**11, block="b", limit=3), now,
                           strict=strict)
    assert [line["block"] for line in blocks["items"]] == ["b", "b", "b"]
    stamps = [line["timestamp"] for line in blocks["items"]]
    assert stamps[0] >= 9 * 10**11 - 2 and stamps[1] - stamps[0] == 3  # 1 block in 3 is "b"
    if not strict:
        assert blocks["complete"] is False
        assert int(blocks["nextSince"]) == blocks["items"][-1]["seq"]
