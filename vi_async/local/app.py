"""The aiohttp application: Vi API routes, request ids, JSON errors and counters.

Routes (served at the root, as the official client joins paths with urljoin)::

    GET                 /workspaces/{org}/flows            list (?s=size&p=token)
    GET|PUT|PATCH|DELETE /workspaces/{org}/flows/{flowId}
    GET                 /workspaces/{org}/runs             list
    GET|PUT|PATCH|DELETE /workspaces/{org}/runs/{runId}
    GET                 /workspaces/{org}/runs/{runId}/logs
    GET                 /workspaces/{org}/runs/{runId}/outputs[/{ckpt}]   (local.models)
    GET|HEAD            /_storage/{org}/{runId}/{ckpt}   pre-signed blobs (local.storage)

Every response carries an ``X-Request-Id`` header; errors are JSON
``{"error": "<CodeName>", "message": "...", "requestId": "..."}``.

Extensions (the extended dialect only; ``state.strict`` turns them off):

- A DELETE may carry an ``Idempotency-Key`` header: the server remembers which
  resource each key deleted, so a retry of a delete whose answer was lost gets
  the same 204 again (marked ``Idempotent-Replayed: true``) instead of a 404.
  Responses echo the key, so a client knows it was honoured.
- A run create may carry ``Vi-Flow-Id`` (see :mod:`vi_async.local.service`),
  and runs report the link as ``status.flowId``.
- Logs have ``seq`` cursors, ``nextSince``, ``complete`` and ``tail`` (see
  :mod:`vi_async.local.logs`).
- Flow PATCH and DELETE honour ``If-Match`` (412 on a stale etag; see
  :mod:`vi_async.local.preconditions`).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from vi_async.local import documents, preconditions, service
from vi_async.local.admin import add_admin_routes
from vi_async.local.body import REQUEST_TIMEOUT_STATUS, read_json_object
from vi_async.local.database import Database
from vi_async.local.errorlog import ErrorLog
from vi_async.local.errors import ApiError
from vi_async.local.faults import API_PREFIX, RESET_STATUS
from vi_async.local.logs import LogQuery, logs_document
from vi_async.local.models import add_model_routes
from vi_async.local.pagination import decode_token, parse_page_size
from vi_async.local.records import RunRecord
from vi_async.local.responses import error_response, json_response
from vi_async.local.state import STATE, LocalState
from vi_async.local.validation import JsonObject, check_id

logger: logging.Logger = logging.getLogger("vi_async.local")
ERROR_LOG = web.AppKey("vi_local_error_log", ErrorLog)

REQUEST_ID_HEADER = "X-Request-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_BODY_BYTES = 8 * 1024 * 1024


def _route_key(request: web.Request) -> str | None:
    route = request.match_info.route
    resource = route.resource if route is not None else None
    if resource is None:
        return None
    return f"{request.method} {resource.canonical}"


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count API requests, give every response a request id, render errors as JSON."""
    state = request.app[STATE]
    request_id = str(uuid.uuid4()) if state.request_ids else None
    key = _route_key(request)
    if key is not None and request.path.startswith(API_PREFIX):
        state.counts[key] += 1
    try:
        response = await handler(request)
    except ApiError as exc:
        response = error_response(exc, request_id)
    except web.HTTPException as exc:
        error = ApiError(exc.status, exc.reason or "error")
        if exc.status == 404:
            error = ApiError(404, f"no route for {request.method} {request.path}")
        elif exc.status == 405:
            error = ApiError(405, f"method {request.method} not allowed for {request.path}")
        response = error_response(error, request_id)
    except Exception:
        request.app[ERROR_LOG].report(f"{request.method} {request.path[:200]!r}")
        response = error_response(ApiError(500, "internal server error"), request_id)
    if response.status == REQUEST_TIMEOUT_STATUS:
        response.force_close()  # the rest of a late body must not be read as a request
    answered = None if response.status == RESET_STATUS else response.status
    state.journal.record(request, answered, state.clock())
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    idempotency_key = _idempotency_key(request)
    if idempotency_key is not None:
        # Echoed so that a client can tell its key was honoured (a 404 is then exact).
        response.headers[IDEMPOTENCY_HEADER] = idempotency_key
    if key is not None and preconditions.honoured(state):
        response.headers[preconditions.ADVERTISE_HEADER] = preconditions.IF_MATCH_HEADER
    return response


def _idempotency_key(request: web.Request) -> str | None:
    """The request's Idempotency-Key, when the dialect honours one."""
    if request.app[STATE].strict:
        return None
    return request.headers.get(IDEMPOTENCY_HEADER)


def _target(request: web.Request, name: str) -> tuple[LocalState, str, str]:
    """Authenticate, then return the state, the organization and the checked id."""
    state = request.app[STATE]
    org_id = state.keys.authenticate(request)
    return state, org_id, check_id(request.match_info[name], name)


async def _body(request: web.Request) -> JsonObject:
    return await read_json_object(request)


def _run_document(state: LocalState, record: RunRecord) -> dict[str, Any]:
    return documents.run_document(record, state.clock(), strict=state.strict)


def _list_handler(kind: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        org_id = state.keys.authenticate(request)
        size = parse_page_size(request.query.get("s"))
        cursor = decode_token(request.query.get("p"), kind)
        rows, now = await state.store.run(
            Database.at, lambda db: db.page(kind, org_id, cursor.after, cursor.before, size)
        )
        page = documents.page_document(kind, rows, now, strict=state.strict)
        return json_response(page)

    return handle


async def get_flow(request: web.Request) -> web.StreamResponse:
    """GET a flow."""
    state, org_id, flow_id = _target(request, "flowId")
    record = await state.store.run(Database.get_flow, org_id, flow_id)
    return json_response(documents.flow_document(record))


async def put_flow(request: web.Request) -> web.StreamResponse:
    """PUT (create) a flow; an identical retry answers 200 with the existing flow."""
    state, org_id, flow_id = _target(request, "flowId")
    record, created = await service.create_flow(state.store, org_id, flow_id, await _body(request))
    return json_response(documents.flow_document(record), 201 if created else 200)


async def patch_flow(request: web.Request) -> web.StreamResponse:
    """PATCH a flow."""
    state, org_id, flow_id = _target(request, "flowId")
    accepted = preconditions.if_match(request, state)
    record = await service.update_flow(state.store, org_id, flow_id, await _body(request), accepted)
    return json_response(documents.flow_document(record))


def _deleted(replayed: bool) -> web.StreamResponse:
    """The empty 204 of a DELETE, marked when it replays an earlier success."""
    response = web.Response(status=204)
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return response


async def delete_flow(request: web.Request) -> web.StreamResponse:
    """DELETE a flow (409 while a linked run is active); the body is empty."""
    state, org_id, flow_id = _target(request, "flowId")
    key = _idempotency_key(request)
    accepted = preconditions.if_match(request, state)
    return _deleted(await state.store.run(Database.delete_flow, org_id, flow_id, key, accepted))


async def get_run(request: web.Request) -> web.StreamResponse:
    """GET a run."""
    state, org_id, run_id = _target(request, "runId")
    record, now = await state.store.run(Database.at, lambda db: db.get_run(org_id, run_id))
    return json_response(documents.run_document(record, now, strict=state.strict))


async def put_run(request: web.Request) -> web.StreamResponse:
    """PUT (create) a run; an identical retry answers 200 with the existing run."""
    state, org_id, run_id = _target(request, "runId")
    record, created = await service.create_run(
        state.store,
        state.schedule,
        org_id,
        run_id,
        await _body(request),
        None if state.strict else request.headers.get(service.FLOW_HEADER) or None,
    )
    return json_response(_run_document(state, record), 201 if created else 200)


async def patch_run(request: web.Request) -> web.StreamResponse:
    """PATCH a run (``spec.killedAt`` kills it)."""
    state, org_id, run_id = _target(request, "runId")
    record = await service.update_run(state.store, org_id, run_id, await _body(request))
    return json_response(_run_document(state, record))


async def delete_run(request: web.Request) -> web.StreamResponse:
    """DELETE a run; the body is empty."""
    state, org_id, run_id = _target(request, "runId")
    key = _idempotency_key(request)
    return _deleted(await state.store.run(Database.delete_run, org_id, run_id, key))


async def get_logs(request: web.Request) -> web.StreamResponse:
    """GET the logs of a run (see :mod:`vi_async.local.logs`)."""
    state, org_id, run_id = _target(request, "runId")
    query = LogQuery.parse(request.query, strict=state.strict)
    (record, extras), now = await state.store.run(
        Database.at, lambda db: db.run_with_logs(org_id, run_id)
    )
    document = logs_document(record, query, now, strict=state.strict, extras=extras)
    return json_response(document)


def build_app(state: LocalState) -> web.Application:
    """Create the aiohttp application serving ``state``."""
    app = web.Application(
        middlewares=[observe_middleware, state.faults.middleware],
        client_max_size=MAX_BODY_BYTES,
    )
    app[STATE] = state
    app[ERROR_LOG] = errors = ErrorLog(logger)

    async def start_error_log(_: web.Application) -> None:
        errors.start()

    async def stop_error_log(_: web.Application) -> None:
        errors.stop()

    app.on_startup.append(start_error_log)
    app.on_cleanup.append(stop_error_log)
    base = "/workspaces/{org}"
    app.router.add_get(f"{base}/flows", _list_handler("flows"))
    app.router.add_get(f"{base}/flows/{{flowId}}", get_flow)
    app.router.add_put(f"{base}/flows/{{flowId}}", put_flow)
    app.router.add_patch(f"{base}/flows/{{flowId}}", patch_flow)
    app.router.add_delete(f"{base}/flows/{{flowId}}", delete_flow)
    app.router.add_get(f"{base}/runs", _list_handler("runs"))
    app.router.add_get(f"{base}/runs/{{runId}}", get_run)
    app.router.add_put(f"{base}/runs/{{runId}}", put_run)
    app.router.add_patch(f"{base}/runs/{{runId}}", patch_run)
    app.router.add_delete(f"{base}/runs/{{runId}}", delete_run)
    app.router.add_get(f"{base}/runs/{{runId}}/logs", get_logs)
    add_model_routes(app)
    add_admin_routes(app)
    return app
