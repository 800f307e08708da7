"""Test and benchmark routes under ``/_local/`` (loopback clients only).

- ``GET /_local/health``: ``{"status": "ok"}`` (open to any loopback client)
- ``GET /_local/stats``: ``{"requests": {"GET /workspaces/{org}/runs/{runId}": 12, ...}}``
- ``DELETE /_local/stats``: reset the counters
- ``POST /_local/seed``: bulk-insert flows in one transaction, off the event
  loop; answers ``{"organizationId", "flowIds"}``. Body (any other key is a 400
  naming it):

  - ``flows`` (required): how many, 0 to :data:`MAX_SEED_FLOWS`
  - ``namePrefix`` (default ``"seed-"``): names are ``<prefix>0``, ``<prefix>1``, ...
  - ``ageSeconds`` (default 0): created this many seconds before the server time
  - ``organizationId`` (default: the default organization)
- ``GET /_local/faults`` / ``PUT /_local/faults`` with FaultConfig fields as JSON

Every route but health needs the server's admin token (``LocalServer.admin_token``,
printed in the start-up banner) in the :data:`ADMIN_HEADER` header (401 without
it), refuses a request whose ``Origin`` is not the server itself (403: a web
page the developer visits cannot drive it) and reads only ``application/json``
bodies (415).
"""

from __future__ import annotations

import functools
import hmac

from aiohttp import web
from aiohttp.typedefs import Handler
from yarl import URL

from vi_async.local import seeding
from vi_async.local.body import read_json_object
from vi_async.local.errors import ApiError, bad_request
from vi_async.local.faults import FaultConfig
from vi_async.local.responses import json_response
from vi_async.local.state import STATE
from vi_async.local.validation import check_id, check_keys

LOOPBACK = ("127.0.0.1", "::1", "localhost")
ADMIN_HEADER = "X-Vi-Local-Admin"
MAX_SEED_FLOWS = 100_000
MAX_NAME_PREFIX = 200
SEED_KEYS = {"flows", "namePrefix", "ageSeconds", "organizationId"}


def _check_local(request: web.Request) -> None:
    remote = request.remote or ""
    if remote not in LOOPBACK and not remote.startswith(("127.", "::ffff:127.")):
        raise ApiError(403, "/_local routes are only served to loopback clients")


def _check_origin(request: web.Request) -> None:
    """Refuse a browser request sent from any page but the server's own origin."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    port = sockname[1] if isinstance(sockname, tuple) else None
    try:
        url = URL(origin)
        same = url.scheme in ("http", "https") and url.host in LOOPBACK and url.port == port
    except ValueError:
        same = False
    if not same:
        raise ApiError(403, "/_local routes refuse requests from a foreign Origin")


def _check_token(request: web.Request) -> None:
    given = request.headers.get(ADMIN_HEADER, "").strip().encode("utf-8", "surrogateescape")
    expected = request.app[STATE].admin_token.encode()
    if not (expected and hmac.compare_digest(given, expected)):
        raise ApiError(
            401, f"missing or wrong {ADMIN_HEADER} header (the admin token of the banner)"
        )


def _check_content_type(request: web.Request) -> None:
    if (request.body_exists or request.method in ("POST", "PUT", "PATCH")) and (
        request.content_type != "application/json"
    ):
        raise ApiError(415, "/_local routes accept only 'Content-Type: application/json'")


def _admin(handler: Handler) -> Handler:
    """Guard an admin route: loopback, same Origin, admin token, JSON bodies only."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        _check_local(request)
        _check_origin(request)
        _check_token(request)
        _check_content_type(request)
        return await handler(request)

    return guarded


async def health(request: web.Request) -> web.StreamResponse:
    """Liveness probe."""
    _check_local(request)
    return json_response({"status": "ok"})


@_admin
async def get_stats(request: web.Request) -> web.StreamResponse:
    """Request counts by ``METHOD route-template``."""
    state = request.app[STATE]
    return json_response({"requests": dict(state.counts), "rateLimited": state.faults.rate_limited})


@_admin
async def reset_stats(request: web.Request) -> web.StreamResponse:
    """Reset the request counters."""
    request.app[STATE].counts.clear()
    request.app[STATE].faults.rate_limited = 0
    return web.Response(status=204)


@_admin
async def seed(request: web.Request) -> web.StreamResponse:
    """Bulk-insert flows for benchmarks."""
    state = request.app[STATE]
    body = await read_json_object(request)
    check_keys(body, SEED_KEYS, "the seed body")
    org_id = check_id(str(body.get("organizationId") or state.default_org), "organizationId")
    count = body.get("flows")
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_SEED_FLOWS:
        raise bad_request(f"'flows' must be an integer from 0 to {MAX_SEED_FLOWS}")
    prefix = body.get("namePrefix", "seed-")
    if not isinstance(prefix, str) or len(prefix) > MAX_NAME_PREFIX:
        raise bad_request(f"'namePrefix' must be a string of at most {MAX_NAME_PREFIX} characters")
    age = body.get("ageSeconds", 0)
    if not isinstance(age, (int, float)) or isinstance(age, bool) or not 0 <= age < 1e11:
        raise bad_request("'ageSeconds' must be a number >= 0")
    ids = await seeding.seed_flows(state.store, org_id, count, prefix, float(age))
    return json_response({"organizationId": org_id, "flowIds": ids})


@_admin
async def get_faults(request: web.Request) -> web.StreamResponse:
    """The active fault configuration."""
    return json_response(request.app[STATE].faults.config.to_dict())


@_admin
async def put_faults(request: web.Request) -> web.StreamResponse:
    """Replace the fault configuration (missing fields take their defaults)."""
    body = await read_json_object(request)
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
