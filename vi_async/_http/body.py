"""Reading response bodies within bounds: a server cannot make the client hold more
than ``max_response_bytes`` of an answer, nor more than ``ERROR_BODY_LIMIT`` of an
error (or of anything else whose body only goes into a message or is ignored).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiohttp

ERROR_BODY_LIMIT = 64 * 1024  # far more than any error message needs


async def read_body(resp: aiohttp.ClientResponse, method: str, limit: int) -> bytes | None:
    """The body of ``resp``: None when an API answer's body passes ``limit`` bytes.

    Reading stops as soon as the limit is passed (at once, when Content-Length
    says so), and the rest is never read: the connection is closed instead of
    reused. Errors, redirects and DELETE answers are read only up to
    ``ERROR_BODY_LIMIT`` and cut there.
    """
    status = resp.status
    if 300 <= status < 400:
        return b""  # a redirect's body is never used
    strict = status < 300 and method != "DELETE"
    if not strict:
        limit = ERROR_BODY_LIMIT
    length = resp.content_length
    if length is not None and "Content-Encoding" not in resp.headers:
        # A plain body of known size: it cannot grow past it.
        if length <= limit:
            return await resp.read()
        if strict:
            return None
    size = 0
    parts: list[bytes] = []
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > limit:
            if strict:
                return None
            parts.append(chunk[: len(chunk) - (size - limit)])
            break
        parts.append(chunk)
    return b"".join(parts)
