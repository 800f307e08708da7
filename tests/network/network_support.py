"""Helpers of the network tests: the forward proxy's handle, credentials, a finished run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vi_async import Client
from vi_async.local import LocalServer

PROXY_USER = "proxy-user"
PROXY_PASSWORD = "Pr0xy-Pa55word-xyz"
NETWORK_VARIABLES = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
    "http_proxy", "https_proxy", "all_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUEST_METHOD",
)  # fmt: skip


@dataclass
class ForwardProxy:
    """The running proxy: where it listens and what it forwarded."""

    port: int
    log: Path

    def url(self, password: str = PROXY_PASSWORD, user: str = PROXY_USER) -> str:
        """The proxy's URL with credentials (``http://user:password@127.0.0.1:port``)."""
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    def mark(self) -> int:
        """How many requests it has forwarded so far (for :meth:`since`)."""
        return len(self._lines())

    def since(self, mark: int) -> list[str]:
        """The requests forwarded after ``mark``: ``METHOD host:port path`` each."""
        return self._lines()[mark:]

    def _lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def credentials(server: LocalServer) -> dict[str, str]:
    """The server's endpoint and credentials, and nothing else (``verify`` left to default)."""
    return {
        "endpoint": server.endpoint,
        "organization_id": server.organization_id,
        "secret_key": server.secret_key,
    }


async def succeeded_run(client: Client, size: int = 256 * 1024) -> str:
    """A run that Succeeded with one checkpoint of ``size`` bytes; its id."""
    run = await client.runs.create(
        flow={"name": "network-test"},
        metadata={"vi-local/model-bytes": str(size), "vi-local/checkpoints": "1"},
        wait=True,
        timeout=30,
    )
    return run.run_id
