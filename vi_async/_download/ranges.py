"""Fetching an object into a file: concurrent ``Range`` requests, or one stream.

Guarantees: at most ``workers`` requests are in flight and each streams
straight to its offset in the file (``os.pwrite``), so memory stays bounded
whatever the size. Every ranged answer is checked: a ``206`` whose
``Content-Range`` is exactly the range asked for, else it is not written.
Requests carry ``If-Range`` with the ETag, and every answer's ETag is
compared with it (storage may ignore ``If-Range``), so a changed object can
never be mixed with the old one: a ``200`` or ``206`` with another ETag, or a
``416``, raises :class:`ObjectChanged` (the caller restarts from zero); a
``200`` with the same ETag means the server ignores ``Range``
(:class:`RangesIgnored`: the caller falls back to one stream). A refused URL
(401/403) is refreshed and the request repeated at once; resets, timeouts,
short bodies, 408/429/5xx are retried with backoff, from the last byte
written, within the outage budget (``outage``). The first error that is not
retried cancels the other workers, which are awaited before it is raised.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from .._mask import url_without_query
from .._observe.logging import sdk_logger
from ..errors import ViDownloadError, ViProxyError, ViTLSError
from .manifest import Manifest
from .outage import MAX_REFRESHES, TRANSIENT_STATUS, Outage
from .storage import BlobInfo, StorageSession, UrlSource, same_etag

if TYPE_CHECKING:
    import aiohttp

logger = sdk_logger("vi_async.download")

READ_SIZE = 256 * 1024
_CONTENT_RANGE = re.compile(r"^bytes ([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19}|\*)$")


class ObjectChanged(Exception):
    """The object is not the one the manifest describes (new ETag, or 416)."""


class RangesIgnored(Exception):
    """The server answered a ranged request with the whole object."""


class _Retry(Exception):
    """A transient failure of one request."""


class _Refreshed(Exception):
    """Storage refused the URL; a fresh one is in place."""


def now_ms() -> float:
    """Wall-clock time in epoch milliseconds (URL expiry is wall-clock)."""
    return time.time() * 1000


@attrs.define
class Transfer:
    """One object's transfer: where it goes and what has happened so far."""

    session: StorageSession
    urls: UrlSource
    info: BlobInfo
    fd: int
    on_bytes: Callable[[], None]  # called after each write
    outage: float  # seconds a streak of transient failures may last
    fetched: int = 0  # body bytes received, refetches included
    refreshes: int = 0

    async def _refresh(self, url: str) -> None:
        self.refreshes += 1
        if self.refreshes > MAX_REFRESHES:
            raise ViDownloadError("Storage kept refusing fresh download URLs (403)")
        await self.urls.refresh(url)

    async def _write(
        self, response: aiohttp.ClientResponse, start: int, end: int, advance: Callable[[int], None]
    ) -> None:
        """Stream the body to ``[start, end)`` of the file."""
        position = start
        async for data in response.content.iter_chunked(READ_SIZE):
            if len(data) > end - position:
                raise _Retry("storage sent more bytes than asked for")
            os.pwrite(self.fd, data, position)
            position += len(data)
            self.fetched += len(data)
            advance(len(data))
            self.on_bytes()
        if position != end:
            raise _Retry(f"short body: {end - position} bytes missing")

    async def _attempt(
        self, start: int, end: int, ranged: bool, advance: Callable[[int], None]
    ) -> None:
        import aiohttp

        url = await self.urls.current(now_ms)
        headers = (
            {"Range": f"bytes={start}-{end - 1}", "If-Range": self.info.etag} if ranged else {}
        )
        try:
            async with self.session.request("GET", url, headers) as response:
                status = response.status
                if status in (401, 403):
                    await self._refresh(url)
                    raise _Refreshed()
                if status == 416:
                    raise ObjectChanged("storage answered 416 for a range inside the object")
                if status in TRANSIENT_STATUS:
                    raise _Retry(f"storage answered {status}")
                if not same_etag(response.headers.get("ETag"), self.info.etag):
                    raise ObjectChanged("the object's ETag changed")
                if ranged and status == 200:
                    raise RangesIgnored()
                if status != (206 if ranged else 200):
                    shown = url_without_query(url)
                    raise ViDownloadError(f"Storage answered {status} for {shown!r}")
                if ranged:
                    _check_content_range(
                        response.headers.get("Content-Range"), start, end, self.info
                    )
                await self._write(response, start, end, advance)
        except (ViProxyError, ViTLSError):
            raise  # the proxy or the certificate: another try would fail the same way
        except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
            raise _Retry(f"{type(exc).__name__}") from None

    async def fetch(
        self, start: int, end: int, advance: Callable[[int], None], *, ranged: bool
    ) -> None:
        """Fetch ``[start, end)``, retrying transient failures from the last byte written.

        ``advance(n)`` is called with the bytes written by each attempt. Without
        ``ranged`` the whole object is requested and a retry starts over.
        """
        outage = Outage(self.outage)
        position = start

        def moved(n: int) -> None:
            nonlocal position
            position += n
            advance(n)

        while position < end:
            before = position
            try:
                await self._attempt(position if ranged else start, end, ranged, moved)
            except _Refreshed:
                continue
            except _Retry as exc:
                if not ranged:
                    moved(start - position)  # the stream starts over
                elif position > before:
                    outage.ended()
                logger.info("storage: %s; retrying bytes %d-%d", exc, position, end - 1)
                await outage.wait(str(exc))


def _check_content_range(header: str | None, start: int, end: int, info: BlobInfo) -> None:
    match = _CONTENT_RANGE.match((header or "").strip())
    if match is None:
        raise _Retry("a 206 without a valid Content-Range")
    first, last, total = match.groups()
    if total != "*" and int(total) != info.size:
        raise ObjectChanged("the object's size changed")
    if (int(first), int(last) + 1) != (start, end):
        raise _Retry(f"storage sent bytes {first}-{last}, not {start}-{end - 1}")


async def fetch_chunks(transfer: Transfer, manifest: Manifest, workers: int) -> None:
    """Fetch every chunk the manifest lacks, ``workers`` at a time."""
    queue = [
        i for i, n in enumerate(manifest.done) if manifest.chunk(i)[0] + n < manifest.chunk(i)[1]
    ]
    queue.reverse()

    async def worker() -> None:
        while queue:
            index = queue.pop()
            start, end = manifest.chunk(index)

            def advance(n: int, index: int = index) -> None:
                manifest.done[index] += n

            await transfer.fetch(start + manifest.done[index], end, advance, ranged=True)

    await run_all([worker() for _ in range(min(workers, len(queue)))])


async def fetch_whole(transfer: Transfer, manifest: Manifest) -> None:
    """Fetch the object in one stream (a server that ignores ``Range``)."""
    for index in range(len(manifest.done)):
        manifest.done[index] = 0
    counted = [0]

    def advance(n: int) -> None:
        # Credit the stream's bytes to the chunks in order (n < 0: it started over).
        counted[0] += n
        left = counted[0]
        for index in range(len(manifest.done)):
            start, end = manifest.chunk(index)
            manifest.done[index] = max(0, min(end - start, left))
            left -= end - start

    await transfer.fetch(0, manifest.size, advance, ranged=False)


async def run_all(coros: list[Any]) -> None:
    """Run coroutines concurrently; the first error cancels the rest, which are
    awaited, then it is raised (cancellation of the caller cancels them all)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc,unused-ignore]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
