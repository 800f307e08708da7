"""Single-resource answers that hold another resource than the one asked for."""

from __future__ import annotations

import anyio
import pytest
from aiohttp import web

from vi_async import ViDecodeError

from .conftest import hostile_client
from .hostile import HostileServer, flow_doc, page_doc, run_doc

pytestmark = pytest.mark.anyio

OTHER = "someone-else"


def _model_doc(run_id: str) -> dict[str, object]:
    return {"kind": "RunOutput", "runId": run_id, "runOutputId": "checkpoint_1", "spec": {}}


async def _someone_else(request: web.Request, server: HostileServer) -> web.StreamResponse:
    """Every answer is about another resource than the one in the path."""
    if request.path.endswith("/outputs"):
        return web.json_response(page_doc([_model_doc(OTHER)]))
    if "/flows/" in request.path:
        return web.json_response(flow_doc(OTHER))
    if request.method == "PUT":  # a create: echo a run with another id
        return web.json_response(run_doc(OTHER), status=201)
    return web.json_response(run_doc(OTHER))


async def test_an_answer_about_another_resource_is_a_decode_error(hostile: HostileServer) -> None:
    hostile.handler = _someone_else
    async with hostile_client(hostile) as client:
        calls = {
            "runs.get": lambda: client.runs.get("run-A"),
            "runs.update": lambda: client.runs.update("run-A", metadata={"a": "b"}),
            "runs.kill": lambda: client.runs.kill("run-A"),
            "runs.create": lambda: client.runs.create(flow={"name": "x"}),
            "runs.create(flow id)": lambda: client.runs.create(flow="flow-A"),
            "flows.get": lambda: client.flows.get("flow-A"),
            "flows.update": lambda: client.flows.update("flow-A", metadata={"a": "b"}),
            "flows.create": lambda: client.flows.create({"name": "x"}),
            "models.get": lambda: client.models.get("run-A"),
            "wait_for": lambda: client.runs.wait_for("run-A", timeout=5),
        }
        for name, call in calls.items():
            wrong = pytest.raises(ViDecodeError, match=f"answered with .*{OTHER}")
            with wrong, anyio.fail_after(5):
                await call()
                pytest.fail(f"{name} accepted another resource")


async def test_a_wrong_answer_fails_only_its_own_wait(hostile: HostileServer) -> None:
    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        run_id = request.path.rsplit("/", 1)[-1]
        return web.json_response(run_doc(OTHER if run_id == "liar" else run_id))

    hostile.handler = handle
    async with hostile_client(hostile) as client:
        with anyio.fail_after(5):
            good = await client.runs.wait_for("honest", timeout=5)
            with pytest.raises(ViDecodeError):
                await client.runs.wait_for("liar", timeout=5)
    assert good.run_id == "honest"
