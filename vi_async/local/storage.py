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

A ``Range`` is parsed without trusting its numbers (5,000 digits are just
"beyond the end"). The archive's hashes (for ``x-goog-hash``) are computed
by ``Hasher``: once per archive however many requests wait for them, on
``HASH_WORKERS`` threads of the storage's own (never the loop's default
pool), and given up as soon as no request waits any more (every client
hung up) or the server stops, so dropped HEADs neither starve other clients
nor keep the process alive after ``stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import re
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from aiohttp import web

from vi_async.local.blob import Artifact, ArtifactCache
from vi_async.local.clock import wall_ms
from vi_async.local.errors import ApiError
from vi_async.local.faults import FaultInjector

STORAGE_PREFIX = "/_storage"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
HASH_WORKERS = 2
"""Threads hashing archives at most, for the whole server."""
HANG_UP_POLL = 0.1
"""Seconds between checks that a request waiting for hashes still has its client."""
_MAX_DIGITS = 19
"""A byte position with more digits is beyond any archive (and int() of 5,000 digits fails)."""


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
class _HashJob:
    """One archive being hashed: its future, its stop flag, who waits for it."""

    future: asyncio.Future[dict[str, str] | None]
    stop: threading.Event
    waiters: int = 0


class Hasher:
    """Archive hashes: one computation per archive, on a small pool of its own,
    stopped when nobody waits for it any more (see the module notes)."""

    def __init__(self, workers: int = HASH_WORKERS) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="vi-local-hash")
        self._jobs: dict[Artifact, _HashJob] = {}

    @property
    def active(self) -> int:
        """How many archives are being hashed (or queued) now."""
        return len(self._jobs)

    async def hashes(self, artifact: Artifact, request: web.Request) -> dict[str, str]:
        """The hashes of ``artifact``, for ``request``.

        Args:
            artifact: The archive.
            request: The request that needs them (its hang-up counts as no longer waiting).

        Returns:
            The hashes.

        Raises:
            ApiError: 503 when the hashing was stopped (the server stops) or the
                client hung up.
        """
        if artifact.hashes is not None:
            return artifact.hashes
        job = self._jobs.get(artifact)
        if job is None:
            stop = threading.Event()
            future = asyncio.get_running_loop().run_in_executor(
                self._pool, artifact.compute_hashes, stop
            )
            job = self._jobs[artifact] = _HashJob(future, stop)
        job.waiters += 1
        try:
            while not job.future.done() and _connected(request):
                await asyncio.wait({job.future}, timeout=HANG_UP_POLL)
        finally:
            job.waiters -= 1
            if job.waiters == 0:
                self._forget(artifact, job)
        if artifact.hashes is None:
            raise ApiError(503, "the archive's hashes are not available", code="SlowDown")
        return artifact.hashes

    def _forget(self, artifact: Artifact, job: _HashJob) -> None:
        job.stop.set()
        if self._jobs.get(artifact) is job:
            del self._jobs[artifact]
        if not job.future.done():  # retrieve its end, so no "never retrieved" warning
            job.future.add_done_callback(_ignore_result)

    def close(self) -> None:
        """Stop every hashing now and let the pool's threads end (without waiting)."""
        for artifact, job in list(self._jobs.items()):
            self._forget(artifact, job)
        self._pool.shutdown(wait=False, cancel_futures=True)


def _ignore_result(future: asyncio.Future[dict[str, str] | None]) -> None:
    with contextlib.suppress(BaseException):
        future.result()


def _connected(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


@dataclass
class Storage:
    """The blob route's state: signer, artifact cache, counters, throttle, hasher."""

    signer: UrlSigner = field(default_factory=UrlSigner)
    cache: ArtifactCache = field(default_factory=ArtifactCache)
    stats: StorageStats = field(default_factory=StorageStats)
    throttle: Throttle = field(default_factory=Throttle)
    hasher: Hasher = field(default_factory=Hasher)


STORAGE = web.AppKey("vi_local_storage", Storage)


async def stop_hashing(app: web.Application) -> None:
    """``on_shutdown``: stop the storage's hashing, so stop() need not wait for it."""
    app[STORAGE].hasher.close()


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
        n = _position(last, size)
        if n == 0:
            raise _unsatisfiable(size)
        return max(0, size - n), size
    start = _position(first, size)
    end = size if not last else min(size, _position(last, size) + 1)
    if start >= size or end <= start:
        raise _unsatisfiable(size)
    return start, end


def _position(digits: str, size: int) -> int:
    """A byte position of a Range header; any number past ``size`` counts as ``size``
    (so a huge one is never converted: int() refuses 5,000 digits)."""
    digits = digits.lstrip("0") or "0"
    return size if len(digits) > _MAX_DIGITS else min(int(digits), size)


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
    hashes = await storage.hasher.hashes(artifact, request)
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
