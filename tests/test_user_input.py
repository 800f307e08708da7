"""Specs given as dicts, typos in them, and numbers of the wrong type: a clear error
naming the field or argument, before any request is sent."""

from __future__ import annotations

from typing import Any

import pytest

import vi_async
import vi_sync
from vi_async import Client, FlowBlock, FlowSpec, PaginationParams, RunPhase, RunSpec
from vi_async.local import LocalServer

pytestmark = pytest.mark.anyio


def test_nested_dicts_become_models() -> None:
    spec = FlowSpec(name="x", blocks=[{"block": "train", "settings": {"lr": 0.1}}])
    assert spec.blocks == [FlowBlock("train", settings={"lr": 0.1})]
    assert FlowSpec(name="x", blocks=(FlowBlock("a"),)).blocks == [FlowBlock("a")]
    run_spec = RunSpec(flow={"name": "f", "training_project": "p"})
    assert run_spec.flow == FlowSpec(name="f", training_project="p")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: FlowSpec(name="x", blocks=[{"blok": "t"}]),
         "FlowSpec.blocks[0]: unknown key 'blok' for FlowBlock (known: block, settings, style)"),
        (lambda: FlowSpec(name="x", blocks=[3]), "FlowSpec.blocks[0] must be a FlowBlock or a"),
        (lambda: FlowSpec(name="x", blocks="train"), "FlowSpec.blocks must be a list"),
        (lambda: FlowSpec(name="x", blocks=[{}]), "FlowSpec.blocks[0]: "),
        (lambda: RunSpec(flow={"nmae": "x"}), "RunSpec.flow: unknown key 'nmae' for FlowSpec"),
        (lambda: PaginationParams(page_size="10"), "page_size must be an integer, got str"),
    ],
)  # fmt: skip
def test_bad_specs_raise_at_construction(build: Any, message: str) -> None:
    with pytest.raises(TypeError) as caught:
        build()
    assert message in str(caught.value)


async def test_dict_specs_with_unknown_keys_are_refused_before_sending(
    vi_server: LocalServer, vi_client: Client
) -> None:
    vi_server.reset_counts()
    with pytest.raises(TypeError, match=r"unknown key 'nmae' for FlowSpec \(known: name, "):
        await vi_client.flows.create(spec={"nmae": "typo"})
    with pytest.raises(TypeError, match=r"spec.blocks\[0\]: unknown key 'stlye' for FlowBlock"):
        await vi_client.flows.create(spec={"name": "x", "blocks": [{"block": "a", "stlye": {}}]})
    flow = await vi_client.flows.create(spec={"name": "ok", "trainingProject": "p",
                                              "blocks": [{"block": "train"}]})  # fmt: skip
    assert flow.spec.blocks == [FlowBlock("train")] and flow.spec.training_project == "p"
    with pytest.raises(TypeError, match="unknown key 'nmae'"):
        await vi_client.flows.update(flow.flow_id, spec={"nmae": "renamed"})
    run = await vi_client.runs.create(flow.flow_id)
    with pytest.raises(TypeError, match=r"unknown key 'killed' for RunSpec \(known: flow, "):
        await vi_client.runs.update(run.run_id, spec={"killed": 1})
    updated = await vi_client.runs.update(run.run_id, spec={"training_project": "q"})
    assert updated.spec.training_project == "q"
    assert sum(n for key, n in vi_server.request_counts.items() if "PATCH" in key) == 1
    await vi_client.runs.kill(run.run_id)


async def test_numbers_of_the_wrong_type_are_named(
    vi_server: LocalServer, vi_client: Client
) -> None:
    flow = await vi_client.flows.create(FlowSpec(name="numbers"))
    run = await vi_client.runs.create(flow.flow_id)
    vi_server.reset_counts()
    with pytest.raises(TypeError, match=r"timeout must be a number or None, got str '10'"):
        await vi_client.runs.wait_for(run.run_id, timeout="10")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="poll_interval must be a number or None, got str"):
        await vi_client.runs.wait_for(run.run_id, poll_interval="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="poll_interval must be > 0, got 0"):
        await vi_client.runs.wait_for(run.run_id, poll_interval=0)
    with pytest.raises(ValueError, match="timeout must be >= 0, got nan"):
        await vi_client.runs.wait_for(run.run_id, timeout=float("nan"))
    with pytest.raises(TypeError, match="timeout must be a number or None, got str"):
        await vi_client.runs.create(flow.flow_id, wait=True, timeout="10")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="timeout must be a number or None"):
        async for _ in vi_client.runs.as_completed([run.run_id], timeout="1"):  # type: ignore[arg-type]
            pass
    with pytest.raises(TypeError, match="tail must be an integer or None, got float"):
        async for _ in vi_client.runs.logs(run.run_id, tail=1.5):  # type: ignore[arg-type]
            pass
    with pytest.raises(TypeError, match="limit must be an integer or None, got str"):
        await vi_client.runs.list(limit="5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="concurrency must be a positive integer, got '4'"):
        await vi_client.flows.delete_many(["a"], concurrency="4")  # type: ignore[arg-type]
    assert sum(vi_server.request_counts.values()) == 0  # nothing was sent
    await vi_client.runs.kill(run.run_id)


async def _list_by_status(client: Client, bad: Any) -> None:
    await client.runs.list(status=bad)


async def _wait_until(client: Client, bad: Any) -> None:
    await client.runs.wait_for("run-1", until=bad, timeout=5)


async def _watch_phases(client: Client, bad: Any) -> None:
    async for _ in client.runs.watch(phases=bad):
        pass


PHASE_ARGUMENTS = [(_list_by_status, "status"), (_wait_until, "until"), (_watch_phases, "phases")]
VALID = "(valid, in any case: Pending, Running, Succeeded, Failed, Error, Cancelled, Unknown)"


@pytest.mark.parametrize(("call", "name"), PHASE_ARGUMENTS)
@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ("bogus", ValueError, f"{{name}}: 'bogus' is not a run phase {VALID}"),
        (["Running", "bogus"], ValueError, "{name}: 'bogus' is not a run phase"),
        ([], ValueError, f"{{name}} must name at least one phase {VALID}"),
        (5, TypeError, "{name} must be a run phase, a phase name or an iterable of them, got int"),
        ([RunPhase.RUNNING, 5], TypeError, "{name} must hold run phases or phase names, got int"),
        (b"Running", TypeError, "{name} must hold run phases or phase names, got int"),
    ],
)  # fmt: skip
async def test_a_bad_phase_is_the_same_error_everywhere_before_any_request(
    vi_server: LocalServer, vi_client: Client, call: Any, name: str, bad: Any,
    error: type[Exception], message: str,
) -> None:  # fmt: skip
    vi_server.reset_counts()
    with pytest.raises(error) as caught:
        await call(vi_client, bad)
    assert type(caught.value) is error
    assert message.format(name=name) in str(caught.value)
    assert sum(vi_server.request_counts.values()) == 0  # nothing was sent


async def test_phases_may_be_named_in_any_case(vi_client: Client) -> None:
    flow = await vi_client.flows.create(FlowSpec(name="phases"))
    run = await vi_client.runs.create(flow.flow_id, metadata={"vi-local/pending-seconds": "30"})
    page = await vi_client.runs.list(status=["PENDING", " running", RunPhase.SUCCEEDED])
    assert run.run_id in {r.run_id for r in page.items}
    got = await vi_client.runs.wait_for(run.run_id, until=("pending", "Running"), timeout=10)
    assert got.phase is RunPhase.PENDING
    await vi_client.runs.kill(run.run_id)


@pytest.mark.parametrize("setting", ["timeout", "max_retries", "max_retry_after", "retry_deadline"])
def test_client_settings_of_the_wrong_type_are_named(setting: str) -> None:
    key = "dtvi_" + "k" * 98
    with pytest.raises(vi_async.ViConfigError, match=f"{setting} must be a"):
        Client(key, "org", "http://127.0.0.1:1/", **{setting: "10"})


def test_run_phase_in_any_case() -> None:
    assert RunPhase("running") is RunPhase.RUNNING
    assert RunPhase(" SUCCEEDED") is RunPhase.SUCCEEDED
    with pytest.raises(ValueError):
        RunPhase("done")


def test_the_official_names_are_aliases() -> None:
    assert vi_async.PaginatedResponse is vi_async.AsyncPager
    assert vi_sync.PaginatedResponse is vi_sync.SyncPager
    for package in (vi_async, vi_sync):
        assert package.DeletedFlow is vi_async.DeletedResource
        assert package.ResourceCondition is vi_async.RunCondition
        assert {"PaginatedResponse", "DeletedFlow", "ResourceCondition"} <= set(package.__all__)
