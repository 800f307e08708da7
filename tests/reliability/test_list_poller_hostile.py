"""The list poller against servers that refuse, garble or leave runs out of the runs list."""

from __future__ import annotations

import asyncio

import anyio
import pytest
from aiohttp import web

from vi_async import ViValidationError

from .conftest import hostile_client
from .hostile import HostileServer, page_doc, run_doc

pytestmark = pytest.mark.anyio

IDS = [f"r{i}" for i in range(20)]  # enough waits for the poller to try the list


def _is_list(request: web.Request) -> bool:
    return request.path.rstrip("/").endswith("/runs")


async def _wait_all(server: HostileServer) -> list[str]:
    done: list[str] = []
    async with hostile_client(server) as client:

        async def wait(run_id: str) -> None:
            run = await client.runs.wait_for(run_id, timeout=10, poll_interval=0.05)
            done.append(run.run_id)

        async with anyio.create_task_group() as tg:
            for run_id in IDS:
                tg.start_soon(wait, run_id)
    return done


@pytest.mark.parametrize("answer", ["refused", "not-json", "not-a-page"])
async def test_a_list_the_server_will_not_give_falls_back_to_gets(
    hostile: HostileServer, answer: str
) -> None:
    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        if _is_list(request):
            if answer == "refused":
                return web.json_response({"message": "no listing for you"}, status=400)
            if answer == "not-json":
                return web.Response(text="<html>oops</html>", content_type="text/html")
            return web.json_response({"runs": []})
        return web.json_response(run_doc(request.path.rsplit("/", 1)[-1]))

    hostile.handler = handle
    assert sorted(await _wait_all(hostile)) == sorted(IDS)
    lists = [r for r in hostile.api_requests() if r.path.endswith("/runs")]
    assert len(lists) == 1  # tried once, then per run
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("vi-async")] == []


async def test_runs_the_list_leaves_out_are_checked_with_a_get(hostile: HostileServer) -> None:
    listed = IDS[:15]  # the list lags behind: five runs are missing from it

    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        if _is_list(request):
            return web.json_response(page_doc([run_doc(r) for r in listed]))
        return web.json_response(run_doc(request.path.rsplit("/", 1)[-1]))

    hostile.handler = handle
    assert sorted(await _wait_all(hostile)) == sorted(IDS)
    gets = {r.path.rsplit("/", 1)[-1] for r in hostile.api_requests() if "/runs/" in r.path}
    assert gets == set(IDS) - set(listed)


async def test_a_watch_of_every_run_raises_when_the_server_refuses_the_list(
    hostile: HostileServer,
) -> None:
    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        if _is_list(request):
            return web.json_response({"message": "no listing for you"}, status=400)
        return web.json_response(run_doc(request.path.rsplit("/", 1)[-1]))

    hostile.handler = handle
    async with hostile_client(hostile) as client:
        for _ in range(2):  # refused once; the next watch is told at once
            with pytest.raises(ViValidationError), anyio.fail_after(5):
                async for _event in client.runs.watch(poll_interval=0.05):
                    pass
    lists = [r for r in hostile.api_requests() if r.path.endswith("/runs")]
    assert len(lists) == 1
