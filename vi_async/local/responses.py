"""JSON responses, success and error alike."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from vi_async.local.errors import ApiError


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """Serialize ``data`` compactly as an ``application/json`` response."""
    return web.Response(
        status=status,
        text=json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False),
        content_type="application/json",
        headers=headers,
    )


def error_response(error: ApiError, request_id: str | None) -> web.Response:
    """Render an error as ``{"error", "message", "requestId"}`` (no id: without it)."""
    body = {"error": error.code, "message": error.message}
    if request_id is not None:
        body["requestId"] = request_id
    return json_response(body, error.status, error.headers)
