"""A tiny hostile HTTP server: real aiohttp.web on loopback, canned bad answers.

The local Vi server never produces malformed answers, so this one does: HTML
error pages, truncated JSON, bodies that are not objects, repeating page
tokens, garbage Retry-After headers, stalled or dropped connections. Tests set
``server.handler`` to an async function ``(request, server) -> response`` and
point a real ``vi_async.Client`` at ``server.endpoint``; every request that
arrives is recorded in ``server.requests``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request, "HostileServer"], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Seen:
    """One request as the hostile server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


async def not_configured(request: web.Request, server: HostileServer) -> web.StreamResponse:
    """Default handler: a plain 500, so a test that forgot to configure one fails loudly."""
    return web.Response(status=500, text="hostile server: no handler configured")


@dataclass
class HostileServer:
    """Serves whatever ``handler`` returns for every path and method."""

    handler: Handler = not_configured
    requests: list[Seen] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def endpoint(self) -> str:
        """Base URL of the server, with a trailing slash."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def open_connections(self) -> int:
        """How many client connections the server currently holds open."""
        if self._runner is None or self._runner.server is None:
            return 0
        return len(self._runner.server.connections)

    def api_requests(self) -> list[Seen]:
        """Requests to the Vi API paths (``/workspaces/...``)."""
        return [r for r in self.requests if r.path.startswith("/workspaces/")]

    async def start(self) -> None:
        """Serve on a free loopback port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Wake stalled handlers and stop serving."""
        self.stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def stall(self, seconds: float = 30.0) -> None:
        """Sleep until the server stops (or ``seconds`` pass)."""
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            Seen(request.method, request.path, dict(request.query), dict(request.headers))
        )
        return await self.handler(request, self)


# -- canned answers -------------------------------------------------------------------------


def raw(
    body: bytes | str,
    status: int = 200,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Handler:
    """Always answer ``status`` with exactly ``body``."""
    data = body.encode() if isinstance(body, str) else body

    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        resp = web.Response(status=status, body=data, headers=headers)
        resp.content_type = content_type
        return resp

    return handle


def as_json(
    value: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Handler:
    """Always answer ``status`` with ``value`` as JSON."""
    return raw(json.dumps(value), status, headers=headers)


def sequence(*handlers: Handler) -> Handler:
    """Answer the n-th request with the n-th handler (the last one repeats)."""
    calls = 0

    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        nonlocal calls
        current = handlers[min(calls, len(handlers) - 1)]
        calls += 1
        return await current(request, server)

    return handle


def by_token(pages: dict[str | None, Any]) -> Handler:
    """List pages keyed by the ``p`` query parameter (None: the first page)."""

    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        return web.json_response(pages[request.query.get("p")])

    return handle


async def truncated_transfer(request: web.Request, server: HostileServer) -> web.StreamResponse:
    """Promise 1000 bytes, send a few, then drop the connection."""
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    resp.content_length = 1000
    await resp.prepare(request)
    await resp.write(b'{"kind": "Flow", "flowId": "f')
    if request.transport is not None:
        request.transport.abort()
    return resp


async def hang_up(request: web.Request, server: HostileServer) -> web.StreamResponse:
    """Drop the connection without answering."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=499)


async def stall_headers(request: web.Request, server: HostileServer) -> web.StreamResponse:
    """Never answer (until the server stops)."""
    await server.stall()
    return web.Response(status=503)


async def stall_body(request: web.Request, server: HostileServer) -> web.StreamResponse:
    """Send the headers and the start of a body, then nothing more."""
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    resp.content_length = 1000
    await resp.prepare(request)
    await resp.write(b'{"items": [')
    await server.stall()
    return resp


# -- documents ------------------------------------------------------------------------------


def flow_doc(flow_id: str = "f1", **overrides: Any) -> dict[str, Any]:
    """A well-formed Flow document; ``overrides`` replace top-level keys."""
    doc: dict[str, Any] = {
        "kind": "Flow",
        "workspaceId": "org",
        "flowId": flow_id,
        "selfLink": f"/workspaces/org/flows/{flow_id}",
        "etag": "e1",
        "spec": {
            "name": "hostile",
            "schema": "v1",
            "tolerations": {},
            "settings": {},
            "blocks": [{"block": "b", "settings": {}, "style": {}}],
            "trainingProject": None,
        },
        "metadata": {"timeCreated": 1, "lastUpdated": 1, "generation": 1, "attributes": {}},
    }
    doc.update(overrides)
    return doc


def run_doc(
    run_id: str = "r1", conditions: list[dict[str, Any]] | None = None, **overrides: Any
) -> dict[str, Any]:
    """A well-formed Run document; ``overrides`` replace top-level keys."""
    doc: dict[str, Any] = {
        "kind": "Run",
        "workspaceId": "org",
        "runId": run_id,
        "selfLink": f"/workspaces/org/runs/{run_id}",
        "etag": "e1",
        "spec": {"flow": flow_doc()["spec"], "killedAt": None, "trainingProject": None},
        "status": {
            "log": "",
            "observedGeneration": 1,
            "conditions": conditions
            if conditions is not None
            else [{"condition": "Succeeded", "status": "Reached", "lastTransitionTime": 1}],
        },
        "metadata": {"timeCreated": 1, "lastUpdated": 1, "generation": 1, "attributes": {}},
    }
    doc.update(overrides)
    return doc


def page_doc(items: list[Any], next_page: Any = None) -> dict[str, Any]:
    """A list page."""
    return {"items": items, "nextPage": next_page, "prevPage": None}
