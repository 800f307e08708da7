"""Run logs over HTTP: cursors, limit, tail, block filter and the complete flag."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from local_support import Api

pytestmark = pytest.mark.anyio

FLOW = {"name": "logged", "blocks": [{"block": "train"}, {"block": "eval"}]}


async def _logs(api: Api, run_id: str, **params: Any) -> dict[str, Any]:
    r = await api.get(f"runs/{run_id}/logs", params={k: str(v) for k, v in params.items()})
    assert r.status == 200, r.body
    return r.body  # type: ignore[no-any-return]


async def test_follow_returns_every_line_once(api: Api) -> None:
    await api.create_run("f", flow=FLOW, attributes={"vi-local/outcome": "Failed"})
    lines: list[dict[str, Any]] = []
    since = None
    deadline = time.monotonic() + 10
    while True:
        params = {"limit": 2} | ({"since": since} if since is not None else {})
        page = await _logs(api, "f", **params)
        assert page["kind"] == "RunLogs" and page["runId"] == "f"
        assert len(page["items"]) <= 2
        lines += page["items"]
        since = page["nextSince"]
        if page["complete"]:
            break
        assert time.monotonic() < deadline
        await anyio.sleep(0.01)
    seqs = [line["seq"] for line in lines]
    assert seqs == list(range(1, len(lines) + 1))
    # 1 pending line + one per 50 ms over 300 ms of running + 1 final line.
    assert len(lines) == 1 + 6 + 1
    assert lines[0]["message"] == "Run queued (Pending)"
    assert lines[-1]["level"] == "ERROR" and "Failed" in lines[-1]["message"]
    assert {line["block"] for line in lines[1:-1]} == {"train", "eval"}
    stamps = [line["timestamp"] for line in lines]
    assert stamps == sorted(stamps)
    # Reading everything again gives the same lines (deterministic from time).
    everything = await _logs(api, "f")
    assert everything["items"] == lines
    assert everything["complete"] is True
    assert (await _logs(api, "f", since=since))["items"] == []


async def test_complete_only_after_terminal_and_fully_read(api: Api) -> None:
    await api.create_run("c", attributes={"vi-local/pending-seconds": "3600"})
    page = await _logs(api, "c")
    assert [line["seq"] for line in page["items"]] == [1]
    assert page["complete"] is False
    assert page["nextSince"]
    await api.patch("runs/c", {"spec": {"killedAt": int(time.time() * 1000)}})
    page = await _logs(api, "c", since=page["nextSince"])
    assert [line["level"] for line in page["items"]] == ["WARNING"]
    assert "cancel" in page["items"][0]["message"].lower()
    assert page["complete"] is True
    partial = await _logs(api, "c", limit=1)
    assert partial["complete"] is False


async def test_tail_and_until_and_block(api: Api) -> None:
    await api.create_run("t", flow=FLOW)
    await api.wait_terminal("t")
    full = (await _logs(api, "t"))["items"]
    assert len(full) == 8
    tail = await _logs(api, "t", tail=3)
    assert tail["items"] == full[-3:]
    assert tail["complete"] is True
    assert (await _logs(api, "t", tail=0))["items"] == []
    assert (await _logs(api, "t", tail=0))["nextSince"] == str(full[-1]["seq"])
    head = await _logs(api, "t", tail=3, limit=1)
    assert head["items"] == full[-3:-2]
    rest = await _logs(api, "t", since=head["nextSince"])
    assert rest["items"] == full[-2:]
    until = await _logs(api, "t", until=3)
    assert [line["seq"] for line in until["items"]] == [1, 2]
    assert until["complete"] is False
    train = await _logs(api, "t", block="train")
    assert train["items"] and all(line["block"] == "train" for line in train["items"])
    assert train["complete"] is True


@pytest.mark.parametrize(
    "params",
    [
        {"since": "abc"},
        {"since": "-1"},
        {"limit": "0"},
        {"limit": "10001"},
        {"tail": "-2"},
        {"until": "x"},
    ],
)
async def test_bad_log_params_are_400(api: Api, params: dict[str, str]) -> None:
    await api.create_run("b")
    r = await api.get("runs/b/logs", params=params)
    assert r.status == 400, r.body


async def test_status_log_points_at_logs(api: Api) -> None:
    run = await api.create_run("s")
    r = await api.raw("GET", api.endpoint + run["status"]["log"].lstrip("/"), headers=api.auth())
    assert r.status == 200 and r.body["runId"] == "s"
