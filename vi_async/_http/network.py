"""Proxies and TLS of one client, for its API calls and its storage downloads alike.

Guarantees: proxy credentials live only in the ``aiohttp.BasicAuth`` sent to the
proxy; every proxy URL this module shows (``Proxy.url``, reprs, messages) is
without them. Proxies come from ``proxy=``, else (``trust_env``) from
``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` in either case, read
as urllib (and so requests) reads them. TLS certificates are verified by default,
against the system store and ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` as OpenSSL reads
them; ``verify=False`` is logged once, when the client is made. Bad settings raise
ViConfigError when the client is made, before any request.
"""

from __future__ import annotations

import base64
import functools
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from .._observe.logging import sdk_logger
from ..errors import ViConfigError, ViConnectionError, ViProxyError, ViTLSError

if TYPE_CHECKING:
    import ssl

logger = sdk_logger()
PROXY_SCHEMES = ("http", "https")
INSECURE_WARNING = (
    "verify=False: TLS certificates are not verified; anyone on the network path can "
    "read and change this client's requests, its secret key included"
)


class Proxy:
    """A proxy to send requests through: its URL (no credentials) and its credentials."""

    __slots__ = ("_login", "_password", "source", "url")

    def __init__(self, text: str, source: str) -> None:
        """Parse a proxy URL.

        Args:
            text: ``http(s)://[user:password@]host:port``; ``http://`` is assumed
                when there is no scheme.
            source: Where it came from (``proxy=``, ``HTTPS_PROXY``), for messages.

        Raises:
            ViConfigError: Not an http(s) URL with a host (the value is not shown).
        """
        if "://" not in text:
            text = "http://" + text
        try:
            parts = urlsplit(text.strip())
            port = parts.port
        except ValueError:
            parts, port = None, None
        if parts is None or parts.scheme not in PROXY_SCHEMES or not parts.hostname:
            raise ViConfigError(
                f"{source} must be an http:// or https:// proxy URL with a host "
                "(the value is not shown: it may hold a password)"
            )
        self.source = source
        self._login = unquote(parts.username) if parts.username is not None else None
        self._password = unquote(parts.password or "")
        self.url = f"{parts.scheme}://{bracketed(parts.hostname)}" + (f":{port}" if port else "")

    def headers_for(self, url: str) -> tuple[dict[str, str] | None, dict[str, str] | None]:
        """Where the proxy's credentials go for a request to ``url``.

        Through a tunnel (an https URL) they go in the ``CONNECT`` request, so
        aiohttp's ``proxy_headers``; otherwise the request itself goes to the proxy
        and carries them.

        Args:
            url: The request's URL.

        Returns:
            ``(headers to add to the request, proxy_headers)``; both None without credentials.
        """
        if self._login is None:
            return None, None
        token = base64.b64encode(f"{self._login}:{self._password}".encode()).decode("ascii")
        header = {"Proxy-Authorization": f"Basic {token}"}
        return (None, header) if url.startswith("https:") else (header, None)

    def __repr__(self) -> str:
        shown = self.url.replace("://", "://***@", 1) if self._login is not None else self.url
        return f"Proxy({shown!r}, source={self.source!r})"


def bracketed(host: str) -> str:
    """``host``, in brackets when it is an IPv6 address (``[::1]``).

    Args:
        host: A host name or address, bracketed or not.

    Returns:
        The host as it is written in a URL or before ``:port``.
    """
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def host_port(host: str | None, port: int | None) -> str:
    """``host:port`` as written in a URL (``[::1]:8700``).

    Args:
        host: The host (None when unknown).
        port: The port (None when unknown).

    Returns:
        The address for a message.
    """
    where = bracketed(host or "?")
    return f"{where}:{port}" if port else where


class Network:
    """The proxy and TLS settings of one client (its API session and its downloads)."""

    def __init__(
        self, *, proxy: str | None, trust_env: bool, verify: Any, cert: Any = None
    ) -> None:
        """Check the settings and read the environment's proxies.

        Args:
            proxy: One proxy for every request, or None.
            trust_env: Read the proxy variables (ignored when ``proxy`` is given).
            verify: True, a CA bundle file or directory, an ``ssl.SSLContext``, or False.
            cert: A client certificate: a PEM file holding the key too, or a
                ``(certificate, key)`` pair of files; None for none.

        Raises:
            ViConfigError: A malformed proxy URL, a missing CA bundle or client
                certificate, a bundle OpenSSL cannot load, or a wrong ``verify`` type.
        """
        if not isinstance(trust_env, bool):
            raise ViConfigError(f"trust_env must be True or False, got {trust_env!r}")
        if proxy is not None and not isinstance(proxy, str):
            raise ViConfigError(f"proxy must be a URL string, got {type(proxy).__name__}")
        self.trust_env = trust_env
        self._explicit = Proxy(proxy, "proxy=") if proxy else None
        self._env: dict[str, str] = {}
        if trust_env and self._explicit is None:
            import urllib.request

            self._env = urllib.request.getproxies_environment()
        self._proxies: dict[tuple[str, str], Proxy | None] = {}
        for scheme in ("http", "https", "all"):  # malformed ones fail now, not on first use
            if self._env.get(scheme):
                _env_variable(scheme, self._env[scheme])
        self._ssl = _ssl_setting(verify, cert)
        self.verify = verify
        if verify is False:
            logger.warning(INSECURE_WARNING)

    def __repr__(self) -> str:
        return (
            f"<Network proxy={self._explicit!r} trust_env={self.trust_env} verify={self.verify!r}>"
        )

    def proxy_for(self, url: str) -> Proxy | None:
        """The proxy a request to ``url`` goes through, or None for a direct connection.

        Args:
            url: The request's URL (its scheme and host decide).

        Returns:
            ``proxy=``; else the environment's proxy for the scheme (or
            ``ALL_PROXY``) unless ``NO_PROXY`` names the host; else None.

        Raises:
            ViConfigError: The environment's proxy URL is malformed.
        """
        if self._explicit is not None or not self._env:
            return self._explicit
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc.rpartition("@")[2])
        if key not in self._proxies:
            self._proxies[key] = self._env_proxy(*key)
        return self._proxies[key]

    def _env_proxy(self, scheme: str, netloc: str) -> Proxy | None:
        import urllib.request

        name = scheme if self._env.get(scheme) else "all"
        value = self._env.get(name)
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        if not value or bypass(netloc, self._env):
            return None
        return _env_variable(name, value)

    def ssl(self) -> bool | ssl.SSLContext:
        """What aiohttp's connector takes as ``ssl=``: a context, or True/False."""
        if self._ssl is True and (
            os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")
        ):
            # aiohttp's own default context read the variables when aiohttp was
            # imported; these are read now, as OpenSSL reads them.
            return _default_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        return self._ssl


def _env_variable(scheme: str, value: str) -> Proxy:
    """The proxy the variable ``<scheme>_proxy`` (either case) names."""
    return Proxy(value, f"the {scheme.upper()}_PROXY environment variable")


@functools.lru_cache(maxsize=4)
def _default_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """The system store as OpenSSL finds it with these variables (made once: ~40 ms)."""
    import ssl

    return ssl.create_default_context()


def _ssl_setting(verify: Any, cert: Any) -> bool | ssl.SSLContext:
    """``verify`` and ``cert`` as aiohttp's ``ssl=`` (see ``Network``)."""
    import ssl

    if isinstance(verify, ssl.SSLContext):
        if cert is not None:
            raise ViConfigError(
                "cert= cannot be combined with an SSLContext: load it into the context"
            )
        return verify
    if verify is True or verify is False:
        if cert is None:
            return verify
        context = ssl.create_default_context()
        if verify is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return _with_cert(context, cert)
    if not isinstance(verify, (str, os.PathLike)):
        raise ViConfigError(
            "verify must be True, False, a CA bundle path or an ssl.SSLContext, "
            f"got {type(verify).__name__}"
        )
    path = os.fspath(verify)
    if not os.path.exists(path):
        raise ViConfigError(f"verify: no CA bundle at {path!r}")
    try:
        if os.path.isdir(path):
            context = ssl.create_default_context(capath=path)
        else:
            context = ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError) as exc:
        raise ViConfigError(f"verify: cannot load the CA bundle {path!r}: {exc}") from None
    return _with_cert(context, cert) if cert is not None else context


def _with_cert(context: ssl.SSLContext, cert: Any) -> ssl.SSLContext:
    """``context`` with the client certificate ``cert`` loaded."""
    import ssl

    certfile, keyfile = cert if isinstance(cert, tuple) else (cert, None)
    for path in (certfile, keyfile):
        if path is not None and not os.path.isfile(os.fspath(path)):
            raise ViConfigError(f"cert: no file at {os.fspath(path)!r}")
    try:
        context.load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError) as exc:
        raise ViConfigError(f"cert: cannot load the client certificate: {exc}") from None
    return context


def proxy_refused(proxy: Proxy | None) -> str:
    """The message of a proxy's 407.

    Args:
        proxy: The proxy the request went through, if known.

    Returns:
        A message naming the proxy (without credentials) and what to check.
    """
    via = f"The proxy {proxy.url}" if proxy is not None else "A proxy"
    return (
        f"{via} refused the request: 407 Proxy Authentication Required "
        "(check the user name and password in the proxy URL)"
    )


def network_error(
    exc: BaseException, proxy: Proxy | None
) -> tuple[type[ViConnectionError], str] | None:
    """The typed error of a failure of the proxy or of TLS, or None for any other.

    Args:
        exc: What aiohttp raised for an exchange.
        proxy: The proxy the request went through, if any.

    Returns:
        ``(ViProxyError or ViTLSError, message)``; None when ``exc`` is neither.
    """
    import aiohttp

    if isinstance(exc, aiohttp.ClientHttpProxyError):
        if exc.status == 407:
            return ViProxyError, proxy_refused(proxy)
        via = proxy.url if proxy is not None else "the proxy"
        return ViProxyError, f"The proxy {via} could not reach the API: {exc.status} {exc.message}"
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        where = host_port(exc.host, exc.port)
        return ViProxyError, f"Cannot connect to the proxy {where}: {exc.os_error}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        where = host_port(exc.host, exc.port)
        reason = getattr(exc.certificate_error, "verify_message", None) or exc.certificate_error
        return ViTLSError, (
            f"The TLS certificate of {where} did not verify: {reason} "
            "(pass verify= a CA bundle, or set SSL_CERT_FILE)"
        )
    if isinstance(exc, aiohttp.ClientSSLError):
        where = host_port(exc.host, exc.port)
        return ViTLSError, f"The TLS handshake with {where} failed: {exc.os_error}"
    return None
