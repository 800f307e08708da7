"""The list poller against servers that refuse, garble, loop or never end the runs list."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio
import pytest
from aiohttp import web

from vi_async import ViDecodeError, ViError, ViValidationError

from .conftest import hostile_client, vi_tasks
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


RUNNING = [{"condition": "Running", "status": "Reached", "lastTransitionTime": 1}]


def _list_or_get(pages: Callable[[web.Request], Any]) -> Any:
    """A handler: ``pages(request)`` answers the runs list, a GET answers a Succeeded run."""

    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        if _is_list(request):
            return web.json_response(await pages(request))
        return web.json_response(run_doc(request.path.rsplit("/", 1)[-1]))

    return handle


async def _events_until_error(
    client: Any, seconds: float
) -> tuple[list[Any], BaseException | None]:
    """Watch every run for ``seconds``: its events, and the error that ended it, if any."""
    events: list[Any] = []
    with anyio.move_on_after(seconds):
        try:
            async for event in client.runs.watch(poll_interval=0.02):
                events.append(event)
        except ViError as exc:
            return events, exc
    return events, None


async def test_an_endless_list_is_given_up_while_other_waits_go_on(hostile: HostileServer) -> None:
    fresh = itertools.count()

    async def pages(request: web.Request) -> dict[str, Any]:
        await asyncio.sleep(0.025)  # a walk of 60 pages lasts longer than the poller's patience
        return page_doc([], next_page=f"t{next(fresh)}")

    hostile.handler = _list_or_get(pages)
    async with hostile_client(hostile) as client:
        client.runs._poller.max_walk_pages = 60  # the cap (1,000 by default), small for speed
        waited: list[float] = []
        started = time.monotonic()

        async def wait() -> None:
            await client.runs.wait_for("r1", timeout=10)
            waited.append(time.monotonic() - started)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            _, error = await _events_until_error(client, 10)
    assert isinstance(error, ViDecodeError) and "did not end after 60 pages" in str(error)
    lists = [r for r in hostile.api_requests() if r.path.endswith("/runs")]
    assert len(lists) == 60
    # The wait got its GET while the walk was still going (before its ~1.5 s end).
    assert waited and waited[0] < 0.025 * 60, waited
    assert [t for t in vi_tasks() if t.get_name().startswith("vi-async")] == []


async def test_a_token_cycle_is_a_broken_list_as_for_the_pager(hostile: HostileServer) -> None:
    cycle = {None: "A", "A": "B", "B": "A"}

    async def pages(request: web.Request) -> dict[str, Any]:
        token = request.query.get("p")
        return page_doc([run_doc(IDS[0], RUNNING)] if token is None else [], cycle[token])

    hostile.handler = _list_or_get(pages)
    async with hostile_client(hostile) as client:
        _, error = await _events_until_error(client, 5)
    assert isinstance(error, ViDecodeError) and "repeated page token" in str(error)
    assert len([r for r in hostile.api_requests() if r.path.endswith("/runs")]) == 3
    hostile.requests.clear()
    assert sorted(await _wait_all(hostile)) == sorted(IDS)  # the waits: per run


async def test_what_cannot_be_a_run_is_skipped_and_logged_once(
    hostile: HostileServer, caplog: pytest.LogCaptureFixture
) -> None:
    walks = itertools.count()
    bad = ["not a run", {"runId": "../../etc"}, {"runId": 7}, {"runId": "x" * 300}, {}]

    async def pages(request: web.Request) -> dict[str, Any]:
        first = next(walks) < 2  # listed twice, then dropped: no GET of what cannot be an id
        garbled = run_doc("garbled", status="nope")  # a valid id whose item does not decode
        return page_doc([*bad, garbled, *(run_doc(r) for r in IDS)] if first else [])

    hostile.handler = _list_or_get(pages)
    caplog.set_level(logging.WARNING, logger="vi_async")
    async with hostile_client(hostile) as client:
        async with anyio.create_task_group() as tg:
            for run_id in IDS[:3]:
                tg.start_soon(partial(client.runs.wait_for, run_id, timeout=5))
            events, error = await _events_until_error(client, 0.6)
    assert error is None
    assert {e.run.run_id for e in events} >= set(IDS)
    gets = {r.path.rsplit("/", 1)[-1] for r in hostile.api_requests() if "/runs/" in r.path}
    assert gets <= {"garbled", *IDS}  # never a request for an invalid id
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 2, skipped  # once per kind: not a run; not a valid Run


async def test_a_duplicated_or_backward_run_changes_once_not_every_walk(
    hostile: HostileServer,
) -> None:
    walks = itertools.count()

    async def pages(request: web.Request) -> dict[str, Any]:
        walk = next(walks)
        flip = run_doc("flip", RUNNING if walk % 2 == 0 else None)  # Running, Succeeded, ...
        return page_doc([run_doc("dup", RUNNING), run_doc("dup"), flip])

    hostile.handler = _list_or_get(pages)
    async with hostile_client(hostile) as client:
        events, error = await _events_until_error(client, 0.8)
    assert error is None and next(walks) > 6
    seen = [(e.type, e.run.run_id, e.run.phase.value) for e in events]
    assert seen == [
        ("added", "dup", "Running"),
        ("added", "flip", "Running"),
        ("changed", "flip", "Succeeded"),
    ]


async def test_a_few_waits_in_a_big_organization_stay_per_run(hostile: HostileServer) -> None:
    async def pages(request: web.Request) -> dict[str, Any]:
        token = request.query.get("p")
        n = 0 if token is None else int(token)
        return page_doc([run_doc(f"old{n}")], next_page=str(n + 1) if n < 20 else None)

    hostile.handler = _list_or_get(pages)
    async with hostile_client(hostile) as client:
        async with anyio.create_task_group() as tg:
            for run_id in IDS[:2]:
                tg.start_soon(partial(client.runs.wait_for, run_id, timeout=5))
    assert len([r for r in hostile.api_requests() if r.path.endswith("/runs")]) == 1  # a probe
