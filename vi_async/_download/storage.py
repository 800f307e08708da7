"""Requests to the storage host behind a pre-signed download URL.

Guarantees: storage requests go through their own aiohttp session that
carries no API header at all (the secret key can never reach the storage
host); a URL, and every redirect, must be ``https`` or plain ``http`` to a
loopback address; redirects are followed here, not by aiohttp, so each hop is
checked before it is requested. Error messages never contain the URL's query
(the signature is a credential for the object). The client's proxy and TLS
settings (``Network``) apply here as to the API: a failure of the proxy or of
TLS is its typed ViProxyError / ViTLSError, raised as it is, never retried here.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import platform
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import attrs

from .._http.network import Network, network_error, proxy_refused
from .._mask import url_without_query
from .._version import __version__
from ..errors import ViDownloadError, ViProxyError
from ..models import ModelDownloadUrl

if TYPE_CHECKING:
    import aiohttp

MAX_REDIRECTS = 5
REFRESH_MARGIN_MS = 30_000
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_TOTAL = re.compile(r"^bytes [0-9]{1,19}-[0-9]{1,19}/([0-9]{1,19})$")


def check_storage_url(url: str) -> None:
    """Refuse a storage URL that is neither https nor http to loopback.

    Args:
        url: A pre-signed storage URL, or a redirect's target.

    Raises:
        ViDownloadError: The URL is refused (its query, the signature, not shown).
    """
    from yarl import URL

    parsed = URL(url)
    if parsed.scheme == "https" and parsed.host:
        return
    if parsed.scheme == "http" and parsed.host and _is_loopback(parsed.host):
        return
    raise ViDownloadError(
        f"Refusing the storage URL {url_without_query(url)!r}: "
        "only https, or http to a loopback address"
    )


def same_etag(answer: str | None, expected: str) -> bool:
    """Whether an answer's ETag names the object being fetched (when the answer
    or the object has none, nothing tells them apart: taken as the same)."""
    if not answer or not expected:
        return True
    return answer.removeprefix("W/") == expected.removeprefix("W/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@attrs.frozen
class BlobInfo:
    """What storage says about the object: size, validator, hashes, ranges."""

    size: int
    etag: str
    md5: bytes | None = None
    crc32c: bytes | None = None
    accepts_ranges: bool = True

    @classmethod
    def from_headers(cls, headers: Any, *, size: int | None = None) -> BlobInfo:
        """Read Content-Length, ETag, Accept-Ranges, x-goog-hash and Content-MD5.

        With ``size`` (read from a ``206``'s Content-Range), the answer is of a
        part: its Content-MD5 is the part's and is ignored, and ranges work.
        """
        get = headers.get
        ranged = size is not None
        if size is None:
            length = str(get("Content-Length") or "").strip()
            # int() of 5,000 digits raises; 19 digits hold any file size.
            if not (length.isascii() and length.isdigit() and len(length) <= 19):
                raise ViDownloadError("Storage did not give the object's size")
            size = int(length)
        md5 = crc32c = None
        for header in headers.getall("x-goog-hash", []):
            for part in str(header).split(","):
                name, _, value = part.strip().partition("=")
                if name == "md5":
                    md5 = _b64(value)
                elif name == "crc32c":
                    crc32c = _b64(value)
        if md5 is None and get("Content-MD5") and not ranged:
            md5 = _b64(str(get("Content-MD5")))
        return cls(
            size=size,
            etag=str(get("ETag") or ""),
            md5=md5,
            crc32c=crc32c,
            accepts_ranges=ranged or str(get("Accept-Ranges") or "").lower() == "bytes",
        )

    @classmethod
    def from_probe(cls, status: int, headers: Any, *, head: bool = False) -> BlobInfo:
        """Read the answer to ``HEAD`` (``head``), or to ``GET`` with ``Range:
        bytes=0-0``: a ``206`` whose ``Content-Range`` gives the size, or a
        ``200`` with the whole object (storage that ignores ``Range``)."""
        if head:
            return cls.from_headers(headers)
        if status == 200:
            return attrs.evolve(cls.from_headers(headers), accepts_ranges=False)
        match = _TOTAL.match(str(headers.get("Content-Range") or "").strip())
        if match is None:
            raise ViDownloadError("Storage did not give the object's size")
        return cls.from_headers(headers, size=int(match.group(1)))


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value.strip(), validate=True) or None
    except (binascii.Error, ValueError):
        return None


class UrlSource:
    """The current download URL; refreshed (once for all concurrent callers)
    when storage refuses it or it is about to expire."""

    def __init__(
        self, first: ModelDownloadUrl, refresh: Callable[[], Awaitable[ModelDownloadUrl]]
    ) -> None:
        self._refresh = refresh
        self._lock = asyncio.Lock()
        self.refreshes = 0
        self._set(first)

    def _set(self, url: ModelDownloadUrl) -> None:
        self._url = url
        # Renew this long before expiry: 30 s, or a quarter of a short lifetime.
        lifetime = url.expires_at - time.time() * 1000
        self._margin = max(0.0, min(REFRESH_MARGIN_MS, lifetime / 4))

    async def current(self, now_ms: Callable[[], float]) -> str:
        """The URL to use now; a new one if this one expires within the margin."""
        url = self._url
        if url.expires_at and url.expires_at - self._margin <= now_ms():
            return await self.refresh(url.url)
        return url.url

    async def refresh(self, stale: str) -> str:
        """A new URL, unless another caller already replaced ``stale``."""
        async with self._lock:
            if self._url.url == stale:
                fresh = await self._refresh()
                check_storage_url(fresh.url)
                self._set(fresh)
                self.refreshes += 1
            return self._url.url


class StorageSession:
    """An aiohttp session for storage only: no API headers, checked redirects."""

    def __init__(
        self, *, connections: int, read_timeout: float, network: Network | None = None
    ) -> None:
        import aiohttp

        self._network = network or Network(proxy=None, trust_env=True, verify=True)
        connector = aiohttp.TCPConnector(
            limit=connections, limit_per_host=connections, ssl=self._network.ssl()
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": f"vi-async/{__version__} (Python/{platform.python_version()})"},
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30.0, sock_read=read_timeout),
            auto_decompress=False,
        )

    async def close(self) -> None:
        """Close the session and its connections."""
        await self._session.close()

    @asynccontextmanager
    async def request(
        self, method: str, url: str, headers: dict[str, str] | None = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send ``method url``, following up to MAX_REDIRECTS checked redirects."""
        from yarl import URL

        for _ in range(MAX_REDIRECTS + 1):
            check_storage_url(url)
            response = await self._send(method, URL(url, encoded=True), headers)
            location = response.headers.get("Location")
            if response.status not in _REDIRECTS or not location:
                try:
                    yield response
                finally:
                    response.release()
                return
            response.release()
            url = str(URL(url, encoded=True).join(URL(location, encoded=True)))
        raise ViDownloadError(f"More than {MAX_REDIRECTS} redirects from storage")

    async def _send(
        self, method: str, url: Any, headers: dict[str, str] | None
    ) -> aiohttp.ClientResponse:
        """Send one request, through the proxy the client's settings name for ``url``.

        Args:
            method: The HTTP method.
            url: The URL (a yarl URL).
            headers: The request's headers.

        Returns:
            The response, its body unread.

        Raises:
            ViProxyError: The proxy failed or refused the request (407).
            ViTLSError: The TLS handshake failed (the certificate did not verify).
        """
        import aiohttp

        proxy = self._network.proxy_for(str(url))
        extra, proxy_headers = proxy.headers_for(str(url)) if proxy is not None else (None, None)
        failed = None
        try:
            response = await self._session.request(
                method,
                url,
                headers={**(headers or {}), **extra} if extra else headers,
                allow_redirects=False,
                proxy=proxy.url if proxy is not None else None,
                proxy_headers=proxy_headers,
            )
        except aiohttp.ClientError as exc:
            failed = network_error(exc, proxy)
            if failed is None:
                raise
        if failed is not None:  # outside the except: aiohttp's error holds the credentials
            cls, message = failed
            raise cls(message)
        if response.status == 407:
            response.release()
            raise ViProxyError(proxy_refused(proxy), status=407)
        return response
