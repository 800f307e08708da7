"""The storage side of model downloads: pre-signed URLs and the blob route.

``GET|HEAD /_storage/{org}/{runId}/{ckpt}?exp=<epoch ms>&sig=<hmac>`` serves a
checkpoint's archive (see :mod:`vi_async.local.blob`) like a cloud bucket
does: no API key (the HMAC signature, made with a per-server random secret,
is the credential, and it expires), ``ETag``, ``Accept-Ranges: bytes``,
``x-goog-hash: md5=…,crc32c=…``, one ``Range`` per request answered ``206``
with ``Content-Range`` (``416`` when unsatisfiable), ``If-Range`` honoured (a
validator that does not match gets the whole archive, ``200``). Bodies are
streamed in chunks, never compressed, so memory does not grow with the size.
Storage faults and the bandwidth limit come from the server's FaultConfig.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from vi_async.local.blob import Artifact, ArtifactCache
from vi_async.local.clock import wall_ms
from vi_async.local.errors import ApiError
from vi_async.local.faults import FaultInjector

STORAGE_PREFIX = "/_storage"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class StorageStats:
    """What the storage route served: requests by method, body bytes, and how
    many requests carried an ``Authorization`` header (there should be none)."""

    requests: Counter[str] = field(default_factory=Counter)
    bytes_sent: int = 0
    with_authorization: int = 0

    def reset(self) -> None:
        """Start counting from zero."""
        self.requests.clear()
        self.bytes_sent = self.with_authorization = 0


class UrlSigner:
    """Signs and checks storage paths with an expiry, HMAC-SHA256."""

    def __init__(self, secret: bytes | None = None, clock: Callable[[], int] = wall_ms) -> None:
        self._secret = secret or os.urandom(32)
        self._clock = clock  # the server's: URLs expire in server time

    def _signature(self, path: str, expires_at: int) -> str:
        message = f"{path}|{expires_at}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, origin: str, path: str, ttl_seconds: float) -> tuple[str, int]:
        """A URL for ``path`` on ``origin`` valid ``ttl_seconds``; and its expiry (ms)."""
        expires_at = self._clock() + int(ttl_seconds * 1000)
        return (
            f"{origin}{path}?exp={expires_at}&sig={self._signature(path, expires_at)}",
            expires_at,
        )

    def check(self, path: str, expires: str | None, signature: str | None) -> None:
        """Raise a 403 ApiError unless the signature is ours and not expired."""
        try:
            expires_at = int(expires or "")
        except ValueError:
            raise ApiError(403, "missing or malformed signature", code="AccessDenied") from None
        expected = self._signature(path, expires_at)
        if not signature or not hmac.compare_digest(expected, signature):
            raise ApiError(403, "the signature does not match", code="SignatureDoesNotMatch")
        if expires_at <= self._clock():
            raise ApiError(403, "the download URL has expired", code="ExpiredToken")


class Throttle:
    """A shared bytes-per-second limit over every storage answer."""

    def __init__(self) -> None:
        self._next = 0.0

    async def take(self, n: int, rate: float) -> None:
        """Wait until ``n`` more bytes fit in the limit (no wait when rate is 0)."""
        if rate <= 0:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._next = max(now, self._next) + n / rate
        if self._next > now:
            await asyncio.sleep(self._next - now)


@dataclass
class Storage:
    """The blob route's state: signer, artifact cache, counters, throttle."""

    signer: UrlSigner = field(default_factory=UrlSigner)
    cache: ArtifactCache = field(default_factory=ArtifactCache)
    stats: StorageStats = field(default_factory=StorageStats)
    throttle: Throttle = field(default_factory=Throttle)


STORAGE = web.AppKey("vi_local_storage", Storage)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``[start, end)`` of a single ``bytes=`` range; None to ignore it (several
    ranges or another unit: the whole body is sent); 416 when unsatisfiable."""
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        n = int(last)
        if n == 0:
            raise _unsatisfiable(size)
        return max(0, size - n), size
    start = int(first)
    end = size if not last else min(size, int(last) + 1)
    if start >= size or end <= start:
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> ApiError:
    return ApiError(
        416,
        "range not satisfiable",
        code="InvalidRange",
        headers={"Content-Range": f"bytes */{size}"},
    )


def _hash_header(hashes: dict[str, str]) -> str:
    return ",".join(f"{name}={value}" for name, value in sorted(hashes.items(), reverse=True))


async def send_artifact(
    request: web.Request, artifact: Artifact, storage: Storage, faults: FaultInjector
) -> web.StreamResponse:
    """Answer a HEAD or GET of ``artifact`` (ranges, validators, faults)."""
    stats = storage.stats
    stats.requests[request.method] += 1
    if "Authorization" in request.headers:
        stats.with_authorization += 1
    range_header = request.headers.get("Range")
    fault = None  # faults hit bodies: a HEAD never uses one up
    if request.method == "GET":
        fault = faults.blob_fault(request.method, request.path, range_header)
    if fault == "expired":
        raise ApiError(403, "the download URL has expired (injected)", code="ExpiredToken")
    hashes = await asyncio.to_thread(lambda: artifact.hashes)
    headers = {
        "ETag": artifact.etag,
        "Accept-Ranges": "bytes",
        "x-goog-hash": _hash_header(hashes),
        "Content-Type": "application/x-tar",
    }
    start, end, status = 0, artifact.size, 200
    if_range = request.headers.get("If-Range")
    if range_header and request.method == "GET" and (if_range is None or if_range == artifact.etag):
        parsed = parse_range(range_header, artifact.size)
        if parsed is not None:
            start, end = parsed
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{artifact.size}"
    if request.method == "HEAD":
        return web.Response(status=200, headers={**headers, "Content-Length": str(artifact.size)})
    response = web.StreamResponse(status=status, headers=headers)
    try:
        await _stream(request, response, artifact, storage, faults, fault, start, end)
    except ConnectionResetError:
        pass  # the client hung up (a cancelled or finished download): nothing to answer
    return response


async def _stream(
    request: web.Request,
    response: web.StreamResponse,
    artifact: Artifact,
    storage: Storage,
    faults: FaultInjector,
    fault: str | None,
    start: int,
    end: int,
) -> None:
    stats = storage.stats
    response.content_length = end - start
    await response.prepare(request)
    corrupt_at = artifact.size // 3 if fault == "corrupt" else -1
    reset_at = start + max(1, (end - start) // 2) if fault == "reset" else -1
    position = start
    rate = faults.config.blob_bandwidth
    for chunk in artifact.read(start, end):
        if position <= corrupt_at < position + len(chunk):
            flipped = bytearray(chunk)
            flipped[corrupt_at - position] ^= 0xFF
            chunk = bytes(flipped)
        await storage.throttle.take(len(chunk), rate)
        transport = request.transport
        if transport is None or transport.is_closing():
            return  # the client hung up
        if 0 <= reset_at < position + len(chunk):
            await response.write(chunk[: max(0, reset_at - position)])
            transport.abort()
            return
        await response.write(chunk)
        stats.bytes_sent += len(chunk)
        position += len(chunk)
    await response.write_eof()
