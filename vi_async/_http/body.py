"""Reading response bodies within bounds: a server cannot make the client hold more
than ``max_response_bytes`` of an answer, nor more than ``ERROR_BODY_LIMIT`` of an
error (or of anything else whose body only goes into a message or is ignored).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiohttp

ERROR_BODY_LIMIT = 64 * 1024  # far more than any error message needs


def read_body(resp: aiohttp.ClientResponse, method: str, limit: int) -> Awaitable[bytes | None]:
    """The body of ``resp``: None when an API answer's body passes ``limit`` bytes.

    Reading stops as soon as the limit is passed (at once, when Content-Length
    says so), and the rest is never read: the connection is closed instead of
    reused. Errors, redirects and DELETE answers are read only up to
    ``ERROR_BODY_LIMIT`` and cut there.

    A plain function returning the read to await, not a coroutine: an answer of
    known size within the limit (nearly every answer) is then aiohttp's one
    ``read()``, without a coroutine of ours around it on every request.
    """
    status = resp.status
    strict = status < 300 and method != "DELETE"
    if strict:
        length = _plain_length(resp)
        if length is not None and length <= limit:
            return resp.read()
    return _read_within(resp, status, strict, limit)


def _plain_length(resp: aiohttp.ClientResponse) -> int | None:
    """The size of a body sent as it is (it cannot grow past its Content-Length); None
    when unknown, or compressed (its size once decompressed is not known)."""
    length = resp.content_length
    return None if length is None or "Content-Encoding" in resp.headers else length


async def _read_within(
    resp: aiohttp.ClientResponse, status: int, strict: bool, limit: int
) -> bytes | None:
    """Read ``resp``'s body chunk by chunk, stopping once it passes the limit.

    A body without Content-Length (chunked, or up to the connection's end) or
    compressed (its size after decompression is unknown) may be endless: it is
    read as it arrives, and aiohttp decompresses it in bounded chunks.
    """
    if 300 <= status < 400:
        return b""  # a redirect's body is never used
    if not strict:
        limit = ERROR_BODY_LIMIT
    length = _plain_length(resp)
    if length is not None:
        if length <= limit:
            return await resp.read()
        if strict:
            return None
    size = 0
    parts: list[bytes] = []
    content = resp.content
    while True:
        chunk = await content.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            if strict:
                return None
            parts.append(chunk[: len(chunk) - (size - limit)])
            break
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)
