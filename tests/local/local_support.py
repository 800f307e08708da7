"""Shared helpers for the local server tests: an HTTP helper and run-state utilities."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
from multidict import CIMultiDictProxy

from vi_async.local import RunSchedule

FAST = RunSchedule(pending_seconds=0.05, running_seconds=0.3, log_interval_seconds=0.05)
TERMINAL = {"Succeeded", "Failed", "Error", "Cancelled"}


@dataclass
class Resp:
    """A decoded HTTP answer."""

    status: int
    body: Any
    headers: CIMultiDictProxy[str]


class Api:
    """Raw HTTP calls against ``/workspaces/{org}/...`` of a LocalServer."""

    def __init__(self, session: aiohttp.ClientSession, endpoint: str, org: str, key: str):
        self.session = session
        self.endpoint = endpoint
        self.org = org
        self.key = key

    def auth(self, org: str | None = None, key: str | None = None) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {key or self.key}",
            "Organization-Id": org or self.org,
        }

    def url(self, path: str, org: str | None = None) -> str:
        return f"{self.endpoint}workspaces/{org or self.org}/{path}"

    async def raw(self, method: str, url: str, **kwargs: Any) -> Resp:
        async with self.session.request(method, url, **kwargs) as r:
            text = await r.text()
            body: Any = text
            if text and r.content_type == "application/json":
                body = json.loads(text)
            return Resp(r.status, body, r.headers)

    async def call(
        self,
        method: str,
        path: str,
        *,
        org: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Resp:
        all_headers = self.auth(org) if headers is None else headers
        return await self.raw(method, self.url(path, org), headers=all_headers, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> Resp:
        return await self.call("GET", path, **kwargs)

    async def put(self, path: str, body: Any, **kwargs: Any) -> Resp:
        return await self.call("PUT", path, json=body, **kwargs)

    async def patch(self, path: str, body: Any, **kwargs: Any) -> Resp:
        return await self.call("PATCH", path, json=body, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Resp:
        return await self.call("DELETE", path, **kwargs)

    async def create_flow(self, flow_id: str, name: str = "flow", **spec: Any) -> dict[str, Any]:
        r = await self.put(f"flows/{flow_id}", {"spec": {"name": name, **spec}})
        assert r.status == 201, r.body
        return r.body  # type: ignore[no-any-return]

    async def create_run(
        self,
        run_id: str,
        flow: dict[str, Any] | None = None,
        attributes: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"spec": {"flow": flow or {"name": "adhoc"}}}
        if attributes is not None:
            body["metadata"] = {"attributes": attributes}
        r = await self.call(
            "PUT", f"runs/{run_id}", json=body, headers={**self.auth(), **(headers or {})}
        )
        assert r.status == 201, r.body
        return r.body  # type: ignore[no-any-return]

    async def wait_terminal(self, run_id: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            r = await self.get(f"runs/{run_id}")
            assert r.status == 200, r.body
            if phase(r.body) in TERMINAL:
                return r.body  # type: ignore[no-any-return]
            assert time.monotonic() < deadline, f"run {run_id} did not finish"
            await anyio.sleep(0.02)


def phase(run: dict[str, Any]) -> str:
    """The latest condition name of a run document."""
    return str(run["status"]["conditions"][-1]["condition"])
