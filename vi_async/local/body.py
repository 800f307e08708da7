"""Reading request bodies: a deadline for slow senders, then strict JSON."""

from __future__ import annotations

import asyncio

from aiohttp import web

from vi_async.local.errors import ApiError
from vi_async.local.journal import BODY
from vi_async.local.state import STATE
from vi_async.local.validation import JsonObject, parse_json_object

REQUEST_TIMEOUT_STATUS = 408


async def read_json_object(request: web.Request) -> JsonObject:
    """The body as a JSON object; 408 (and the connection closed) if it does not arrive in time."""
    try:
        raw = await asyncio.wait_for(request.read(), request.app[STATE].read_timeout)
    except asyncio.TimeoutError:
        raise ApiError(REQUEST_TIMEOUT_STATUS, "the request body did not arrive in time") from None
    body = parse_json_object(raw)
    request[BODY] = body
    return body
