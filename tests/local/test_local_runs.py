"""Runs over HTTP: lifecycle outcomes, kill, PATCH rules, flow links and delete conflicts."""

from __future__ import annotations

import time

import pytest
from local_support import Api, Resp, phase

from vi_async.local import LocalServer, RunSchedule

pytestmark = pytest.mark.anyio

FLOW_SPEC = {"name": "pipeline", "blocks": [{"block": "train"}, {"block": "eval"}]}


async def test_run_shape(api: Api) -> None:
    run = await api.create_run("r", flow=FLOW_SPEC, attributes={"x": "y"})
    assert run["kind"] == "Run"
    assert run["workspaceId"] == api.org
    assert run["runId"] == "r"
    assert run["selfLink"] == f"/workspaces/{api.org}/runs/r"
    assert run["spec"]["killedAt"] is None
    assert run["spec"]["trainingProject"] is None
    assert run["spec"]["flow"]["name"] == "pipeline"
    assert run["spec"]["flow"]["blocks"][0] == {"block": "train", "settings": {}, "style": {}}
    status = run["status"]
    assert isinstance(status["log"], str) and status["log"]
    assert status["observedGeneration"] == 1
    assert status["conditions"] == [
        {
            "condition": "Pending",
            "status": "Reached",
            "lastTransitionTime": run["metadata"]["timeCreated"],
            "reason": None,
            "message": "Waiting for resources",
        }
    ]
    assert run["metadata"]["attributes"] == {"x": "y"}


@pytest.mark.parametrize("outcome", ["Succeeded", "Failed", "Error"])
async def test_lifecycle_to_outcome(api: Api, outcome: str) -> None:
    await api.create_run("life", attributes={"vi-local/outcome": outcome})
    seen = set()
    deadline = time.monotonic() + 10
    while True:
        run = (await api.get("runs/life")).body
        seen.add(phase(run))
        if phase(run) == outcome:
            break
        assert time.monotonic() < deadline
    names = [c["condition"] for c in run["status"]["conditions"]]
    assert names == ["Pending", "Running", outcome]
    assert all(c["status"] == "Reached" for c in run["status"]["conditions"])
    times = [c["lastTransitionTime"] for c in run["status"]["conditions"]]
    assert times == sorted(times)
    assert times[1] - times[0] == 50 and times[2] - times[1] == 300
    assert "Running" in seen


async def test_per_run_schedule_override(api: Api) -> None:
    run = await api.create_run(
        "quick", attributes={"vi-local/pending-seconds": "0", "vi-local/running-seconds": "0"}
    )
    assert phase(run) == "Succeeded"
    slow = await api.create_run("slow", attributes={"vi-local/pending-seconds": "3600"})
    assert phase(slow) == "Pending"


@pytest.mark.parametrize(
    "attributes",
    [
        {"vi-local/outcome": "Exploded"},
        {"vi-local/pending-seconds": "soon"},
        {"vi-local/running-seconds": "-1"},
        {"vi-local/log-interval-seconds": "nan"},
    ],
)
async def test_bad_reserved_attributes_are_400(api: Api, attributes: dict[str, str]) -> None:
    r = await api.put(
        "runs/bad", {"spec": {"flow": {"name": "x"}}, "metadata": {"attributes": attributes}}
    )
    assert r.status == 400, r.body
    assert (await api.get("runs/bad")).status == 404


@pytest.mark.parametrize(
    "body",
    [
        {"spec": {}},
        {"spec": {"flow": {"blocks": []}}},
        {"spec": {"flow": {"name": "x"}, "killedAt": 5}},
        {"spec": {"flow": {"name": "x"}, "other": 1}},
        {"spec": {"flow": {"name": "x"}, "trainingProject": 3}},
        {"kind": "Flow", "spec": {"flow": {"name": "x"}}},
    ],
)
async def test_bad_run_create_bodies_are_400(api: Api, body: dict[str, object]) -> None:
    assert (await api.put("runs/bad", body)).status == 400


async def test_run_put_retry_is_idempotent(api: Api) -> None:
    body = {"spec": {"flow": FLOW_SPEC, "trainingProject": "tp"}}
    first = await api.put("runs/same", body)
    second = await api.put("runs/same", body)
    assert (first.status, second.status) == (201, 200)
    assert second.body["metadata"] == first.body["metadata"]
    assert _run_ids(await api.get("runs")) == ["same"]
    conflict = await api.put("runs/same", {"spec": {"flow": {"name": "other"}}})
    assert conflict.status == 409


def _run_ids(resp: Resp) -> list[str]:
    return [item["runId"] for item in resp.body["items"]]


async def test_kill_active_run_is_cancelled(api: Api) -> None:
    await api.create_run("k", attributes={"vi-local/running-seconds": "60"})
    killed_at = int(time.time() * 1000)
    r = await api.patch("runs/k", {"spec": {"killedAt": killed_at}})
    assert r.status == 200, r.body
    run = r.body
    assert run["spec"]["killedAt"] == killed_at
    assert phase(run) == "Cancelled"
    assert run["metadata"]["generation"] == 2
    assert run["status"]["observedGeneration"] == 2
    # Still cancelled later, and a second kill is harmless.
    again = await api.patch("runs/k", {"spec": {"killedAt": killed_at + 1}})
    assert phase(again.body) == "Cancelled"
    assert [c["condition"] for c in again.body["status"]["conditions"]][-1] == "Cancelled"


async def test_kill_terminal_run_keeps_outcome(api: Api) -> None:
    await api.create_run("done", attributes={"vi-local/outcome": "Failed"})
    await api.wait_terminal("done")
    r = await api.patch("runs/done", {"spec": {"killedAt": 123}})
    assert r.status == 200
    assert r.body["spec"]["killedAt"] == 123
    assert phase(r.body) == "Failed"


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "Run"},
        {"spec": {"flow": {"name": "x"}}},
        {"spec": {"killedAt": "now"}},
        {"spec": {"killedAt": True}},
        {"spec": {"killedAt": -5}},
        {"spec": {"trainingProject": 1}},
        {"status": {}},
        {"metadata": {"attributes": {"a": 2}}},
    ],
)
async def test_bad_run_patches_are_400(api: Api, body: dict[str, object]) -> None:
    await api.create_run("p")
    r = await api.patch("runs/p", body)
    assert r.status == 400, r.body
    assert phase((await api.get("runs/p")).body) != "Cancelled"


async def test_run_patch_training_project_and_attributes(api: Api) -> None:
    await api.create_run("m", attributes={"a": "1"})
    r = await api.patch(
        "runs/m",
        {"spec": {"trainingProject": "tp"}, "metadata": {"attributes": {"a": None, "b": "2"}}},
    )
    assert r.body["spec"]["trainingProject"] == "tp"
    assert r.body["metadata"]["attributes"] == {"b": "2"}


async def test_run_delete_and_404(api: Api) -> None:
    await api.create_run("d")
    r = await api.delete("runs/d")
    assert (r.status, r.body) == (204, "")
    for method in ("GET", "DELETE"):
        assert (await api.call(method, "runs/d")).status == 404
    assert (await api.patch("runs/d", {})).status == 404
    assert (await api.get("runs/d/logs")).status == 404


async def test_delete_flow_with_active_run_conflicts_until_done(
    server: LocalServer, api: Api
) -> None:
    flow = await api.create_flow("busy", blocks=[{"block": "train"}])
    run = await api.create_run("busy-run", flow=flow["spec"])
    assert run["status"]["flowId"] == "busy"  # linked by spec
    r = await api.delete("flows/busy")
    assert r.status == 409
    assert "active" in r.body["message"] and "busy-run" in r.body["message"]
    await api.wait_terminal("busy-run")
    assert (await api.delete("flows/busy")).status == 204
    assert (await api.get("runs/busy-run")).status == 200  # runs survive their flow
    assert await server.run_ids() == ["busy-run"]


async def test_delete_flow_after_kill(api: Api) -> None:
    flow = await api.create_flow("k", name="kill-me")
    await api.create_run("kr", flow=flow["spec"], attributes={"vi-local/running-seconds": "60"})
    assert (await api.delete("flows/k")).status == 409
    await api.patch("runs/kr", {"spec": {"killedAt": int(time.time() * 1000)}})
    assert (await api.delete("flows/k")).status == 204


async def test_flow_link_by_header(api: Api) -> None:
    await api.create_flow("a", name="same")
    await api.create_flow("b", name="same")
    # Without header: the most recently updated flow with an equal spec.
    run = await api.create_run("by-spec", flow={"name": "same"})
    assert run["status"]["flowId"] == "b"
    await api.patch("flows/a", {"metadata": {"attributes": {"touched": "yes"}}})
    run = await api.create_run("by-spec-2", flow={"name": "same"})
    assert run["status"]["flowId"] == "a"
    # With header: that flow, whatever the spec.
    run = await api.create_run("by-header", flow={"name": "different"}, headers={"Vi-Flow-Id": "b"})
    assert run["status"]["flowId"] == "b"
    # Unknown flow in the header: fall back to the spec rule.
    run = await api.create_run(
        "fallback", flow={"name": "unmatched"}, headers={"Vi-Flow-Id": "ghost"}
    )
    assert run["status"]["flowId"] is None
    bad = await api.call(
        "PUT",
        "runs/bad-header",
        json={"spec": {"flow": {"name": "x"}}},
        headers={**api.auth(), "Vi-Flow-Id": "not valid!"},
    )
    assert bad.status == 400


async def test_schedule_can_change_at_runtime(server: LocalServer, api: Api) -> None:
    server.schedule = RunSchedule(pending_seconds=0, running_seconds=0)
    assert phase(await api.create_run("instant")) == "Succeeded"
    server.schedule = RunSchedule(pending_seconds=3600)
    assert phase(await api.create_run("waiting")) == "Pending"
