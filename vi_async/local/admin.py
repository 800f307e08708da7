"""Test and benchmark routes under ``/_local/`` (no auth, loopback clients only).

- ``GET /_local/health``: ``{"status": "ok"}``
- ``GET /_local/stats``: ``{"requests": {"GET /workspaces/{org}/runs/{runId}": 12, ...}}``
- ``DELETE /_local/stats``: reset the counters
- ``POST /_local/seed`` with ``{"organizationId"?, "flows": N, "namePrefix"?}``:
  bulk-insert N flows in one transaction; answers ``{"organizationId", "flowIds"}``
- ``GET /_local/faults`` / ``PUT /_local/faults`` with FaultConfig fields as JSON
"""

from __future__ import annotations

from aiohttp import web

from vi_async.local import service
from vi_async.local.errors import ApiError, bad_request
from vi_async.local.faults import FaultConfig
from vi_async.local.responses import json_response
from vi_async.local.state import STATE
from vi_async.local.validation import check_id, parse_json_object

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _check_local(request: web.Request) -> None:
    remote = request.remote or ""
    if remote not in LOOPBACK and not remote.startswith(("127.", "::ffff:127.")):
        raise ApiError(403, "/_local routes are only served to loopback clients")


async def health(request: web.Request) -> web.StreamResponse:
    """Liveness probe."""
    _check_local(request)
    return json_response({"status": "ok"})


async def get_stats(request: web.Request) -> web.StreamResponse:
    """Request counts by ``METHOD route-template``."""
    _check_local(request)
    state = request.app[STATE]
    return json_response({"requests": dict(state.counts), "rateLimited": state.faults.rate_limited})


async def reset_stats(request: web.Request) -> web.StreamResponse:
    """Reset the request counters."""
    _check_local(request)
    request.app[STATE].counts.clear()
    request.app[STATE].faults.rate_limited = 0
    return web.Response(status=204)


async def seed(request: web.Request) -> web.StreamResponse:
    """Bulk-insert flows for benchmarks."""
    _check_local(request)
    state = request.app[STATE]
    body = parse_json_object(await request.read())
    org_id = check_id(str(body.get("organizationId") or state.default_org), "organizationId")
    count = body.get("flows")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise bad_request("'flows' must be a non-negative integer")
    prefix = body.get("namePrefix", "seed-")
    if not isinstance(prefix, str):
        raise bad_request("'namePrefix' must be a string")
    ids = await service.seed_flows(state.store, org_id, count, prefix)
    return json_response({"organizationId": org_id, "flowIds": ids})


async def get_faults(request: web.Request) -> web.StreamResponse:
    """The active fault configuration."""
    _check_local(request)
    return json_response(request.app[STATE].faults.config.to_dict())


async def put_faults(request: web.Request) -> web.StreamResponse:
    """Replace the fault configuration (missing fields take their defaults)."""
    _check_local(request)
    body = parse_json_object(await request.read())
    try:
        config = FaultConfig.from_mapping(body)
    except (TypeError, ValueError) as exc:
        raise bad_request(f"invalid fault configuration: {exc}") from None
    request.app[STATE].faults.config = config
    return json_response(config.to_dict())


def add_admin_routes(app: web.Application) -> None:
    """Register the ``/_local/`` routes on ``app``."""
    app.router.add_get("/_local/health", health)
    app.router.add_get("/_local/stats", get_stats)
    app.router.add_delete("/_local/stats", reset_stats)
    app.router.add_post("/_local/seed", seed)
    app.router.add_get("/_local/faults", get_faults)
    app.router.add_put("/_local/faults", put_faults)
