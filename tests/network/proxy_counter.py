"""A proxy.py plugin that writes one line per request the proxy forwards.

proxy.py's own access log has one line per client connection (the last request
on it), so a kept-alive connection hides requests; this plugin, loaded by the
real proxy with ``--plugins``, records every request it forwards, after its
authentication check: ``METHOD host:port path auth=<scheme>`` (no path for a
``CONNECT`` tunnel), where ``<scheme>`` is that of its ``Proxy-Authorization``
(``Basic``), and ``key!`` is appended when a Vi key reached the proxy in its headers.
"""

from __future__ import annotations

import os
from typing import Any

from proxy.http.proxy import HttpProxyBasePlugin

LOG_ENV = "VI_TEST_PROXY_REQUEST_LOG"


class CountRequests(HttpProxyBasePlugin):  # type: ignore[misc]
    """Appends each forwarded request to the file named by ``VI_TEST_PROXY_REQUEST_LOG``."""

    def handle_client_request(self, request: Any) -> Any:
        """Record ``request`` and forward it unchanged."""
        host = (request.host or b"").decode()
        tunnel = request.method == b"CONNECT"
        path = "" if tunnel else (request.path or b"").decode()
        headers = {k.lower(): v for k, v in (request.headers or {}).values()}
        scheme = headers.get(b"proxy-authorization", b"none").split()[0].decode()
        line = f"{request.method.decode()} {host}:{request.port} {path} auth={scheme}"
        if tunnel and any(b"dtvi_" in value for value in headers.values()):
            line += " key!"
        with open(os.environ[LOG_ENV], "a", encoding="utf-8") as log:
            log.write(" ".join(line.split()) + "\n")
        return request
