"""The async client: settings, one transport, and the resource namespaces."""

from __future__ import annotations

import os
import ssl  # loaded already (the network settings); public annotations must resolve
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._config import ClientConfig
from ._constants import (
    DEFAULT_CANCEL_GRACE,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_RETRY_BASE_DELAY,
    DEFAULT_RETRY_DEADLINE,
    DEFAULT_TIMEOUT,
)
from ._download.progress import DownloadProgress
from ._http.network import Network
from ._http.rate_limit import RateLimitInfo
from ._http.transport import Transport
from ._observe.hooks import ResponseInfo
from .models import ModelDownload
from .resources import FlowsResource, ModelsResource, RunsResource

if sys.version_info >= (3, 11):
    from typing import Self
elif TYPE_CHECKING:  # typing_extensions is no dependency: type checkers ship it
    from typing_extensions import Self


class Client:
    """Async client of the Vi training API.

    Credentials and endpoint default to the environment variables the official
    SDK reads (DATATURE_VI_SECRET_KEY, DATATURE_VI_ORGANIZATION_ID,
    DATATURE_VI_API_ENDPOINT). The HTTP session opens on first use; close it
    with ``await client.close()`` or ``async with Client() as client:``.

    Transient failures are retried for requests that are safe to repeat, after
    jittered exponential waits (or the server's Retry-After). Redirects are never
    followed (ViRedirectError). A proxy failure raises ViProxyError, a TLS failure
    ViTLSError (never retried); both are ViConnectionErrors. Networks: README
    "Proxies and TLS"; hooks and tracing: README "Observability".

    Args:
        secret_key: The secret key (default: DATATURE_VI_SECRET_KEY).
        organization_id: The organization to act for (default:
            DATATURE_VI_ORGANIZATION_ID).
        endpoint: The API's URL (default: DATATURE_VI_API_ENDPOINT, else Vi's).
        timeout: Seconds each attempt may take.
        max_retries: Transient failures retried per call (requests that are
            safe to repeat only).
        retry_deadline: Seconds a whole call may take with its retries (None:
            no bound beyond ``max_retries``).
        max_retry_after: The longest Retry-After, in seconds, that is waited for.
        max_connections: Concurrent connections at most.
        retry_base_delay: Seconds near which the jittered exponential waits
            between retries start.
        max_response_bytes: The largest API answer body; a larger one raises
            ViResponseTooLargeError without being read further.
        cancel_grace: Once a bulk job is cancelled, the seconds its in-flight
            deletes (with their retries and checks) may still take; what is not
            known by then is reported as ``unknown``.
        event_hooks: ``{"request": [...], "response": [...]}``: sync or async
            callables called once per attempt, retries included, with a
            ``RequestInfo`` / ``ResponseInfo`` (no secret in either); a hook
            that raises aborts the request with its exception.
        trace_configs: ``aiohttp.TraceConfig`` objects given to the session.
        tracing: OpenTelemetry spans for this client: True, False (never), or
            None (as ``vi_async.instrument()`` says).
        proxy: A proxy URL (``"http://user:pw@host:3128"``) for every request,
            API and model downloads alike.
        trust_env: Without ``proxy``, read HTTP_PROXY / HTTPS_PROXY / ALL_PROXY
            / NO_PROXY (either case), as requests and httpx do.
        verify: True (the system store, and SSL_CERT_FILE / SSL_CERT_DIR), a
            CA bundle file or directory, an ``ssl.SSLContext``, or False (not
            verified: logged as a warning once per client).
        cert: A client certificate: a PEM file, or a ``(cert, key)`` pair.
        read_timeout: Also end an attempt when the server sends nothing for
            that many seconds, before the answer or in the middle of its body
            (None: off).

    Raises:
        ViConfigError: A credential is missing, or a setting is invalid.
    """

    def __init__(
        self,
        secret_key: str | None = None,
        organization_id: str | None = None,
        endpoint: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_deadline: float | None = DEFAULT_RETRY_DEADLINE,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        retry_base_delay: float = DEFAULT_RETRY_BASE_DELAY,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        cancel_grace: float = DEFAULT_CANCEL_GRACE,
        event_hooks: Mapping[str, Sequence[Callable[[Any], Any]]] | None = None,
        trace_configs: Sequence[Any] | None = None,
        tracing: bool | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        verify: bool | str | os.PathLike[str] | ssl.SSLContext = True,
        cert: str | tuple[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> None:
        self._config = ClientConfig.resolve(
            secret_key,
            organization_id,
            endpoint,
            timeout=timeout,
            max_retries=max_retries,
            retry_deadline=retry_deadline,
            max_retry_after=max_retry_after,
            max_connections=max_connections,
            retry_base_delay=retry_base_delay,
            max_response_bytes=max_response_bytes,
            cancel_grace=cancel_grace,
            read_timeout=read_timeout,
        )
        network = Network(proxy=proxy, trust_env=trust_env, verify=verify, cert=cert)
        self._transport = Transport(
            self._config,
            event_hooks=event_hooks,
            trace_configs=trace_configs,
            tracing=tracing,
            network=network,
        )
        self.runs: RunsResource = RunsResource(self._transport)
        """Runs: executions of flows."""
        self.flows: FlowsResource = FlowsResource(self._transport, self.runs)
        """Flows: training workflow configurations."""
        self.models: ModelsResource = ModelsResource(self._transport)
        """Models: checkpoints of Succeeded runs, and their download."""

    @property
    def organization_id(self) -> str:
        """The organization this client acts for."""
        return self._config.organization_id

    @property
    def endpoint(self) -> str:
        """The API endpoint URL."""
        return self._config.endpoint

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        """The last rate-limit headers the server sent (limit, remaining, reset), if any."""
        return self._transport.responses.rate_limit

    @property
    def last_response(self) -> ResponseInfo | None:
        """Status, request id, headers and timing of the last HTTP answer.

        Kept per task: read right after a call, it describes that call's answer
        even while other tasks use the client. Where the reader's task made no
        request it is the client's latest answer; that is the case in vi_sync,
        whose calls run on the client's loop thread (so with one sync client
        shared by several threads, it is whichever answer came last). None
        before the first answer.
        """
        return self._transport.responses.last()

    def __repr__(self) -> str:
        return f"Client(organization_id={self.organization_id!r}, endpoint={self.endpoint!r})"

    async def get_model(
        self,
        run_id: str,
        ckpt: str | None = None,
        save_dir: str | Path | None = None,
        overwrite: bool = False,
        progress: DownloadProgress | None = None,
    ) -> ModelDownload:
        """Download a run's checkpoint: the official SDK's shortcut for
        ``client.models.download`` (see there).

        Args:
            run_id: The run.
            ckpt: The checkpoint's id; None for the latest.
            save_dir: Where models go; defaults to ``~/.datature/vi/models``.
            overwrite: Download again, replacing whatever ``save_dir/<run_id>`` holds.
            progress: Called as ``progress(done_bytes, total_bytes)`` as bytes arrive.

        Returns:
            The model on disk: its paths, checkpoint, size, sha256, and whether
            it was ``reused``.

        Raises:
            ViNotFoundError: The run or checkpoint does not exist, or the run has
                no checkpoint.
            ViDownloadError: Storage, verification or archive failure, or a
                directory in the way without ``overwrite``.
        """
        return await self.models.download(run_id, ckpt, save_dir, overwrite, progress)

    async def close(self) -> None:
        """Close the HTTP session. Idempotent."""
        await self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
