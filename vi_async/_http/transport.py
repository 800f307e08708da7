"""HTTP transport: every request ends in a Response or a typed ViError, within its deadline.

One aiohttp session per client carries the auth headers. A request is retried
(with ``backoff``) only when the caller says it is safe to repeat, and aiohttp
never resends one on its own; redirects are never followed; bodies are read
within ``max_response_bytes``; no error, log record, hook or span holds the
secret key (``_mask``).
"""

from __future__ import annotations

import asyncio
import logging
import platform
import time
from collections.abc import Awaitable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, TypeVar

import backoff

from .. import _mask
from .._config import ClientConfig
from .._observe.attempt import AttemptObserver, Responses, full_url
from .._observe.hooks import Hook, normalize_hooks, path_template
from .._observe.logging import RepeatedWarnings, sdk_logger
from .._observe.otel import tracer_for
from .._validate import new_id, segment
from .._version import __version__
from ..errors import (
    ViConflictError,
    ViConnectionError,
    ViDecodeError,
    ViError,
    ViNotFoundError,
    ViRateLimitError,
    ViRedirectError,
    ViResponseTooLargeError,
    ViTimeoutError,
    error_for_status,
)
from . import json as _json
from .body import read_body
from .network import Network, Proxy, host_port, network_error, proxy_refused
from .rate_limit import header_names, parse_rate_limit
from .retry import (
    Call,
    Pacer,
    RetryQuota,
    current_call,
    current_pacer,
    is_transient,
    parse_retry_after,
    retry_waits,
)

logger = sdk_logger("vi_async.transport")
E = TypeVar("E", bound=ViError)

if TYPE_CHECKING:
    import aiohttp
    from opentelemetry.trace import Tracer

# aiohttp is imported on first use, not with vi_async: it is most of our import
# time (it loads the CA bundle), and `import vi_async` should stay cheap.
# _HTTP keeps (aiohttp, yarl.URL) once imported, so an attempt does not run two
# import statements.
_HTTP: tuple[Any, Any] | None = None


def _import_http() -> tuple[Any, Any]:
    global _HTTP
    import aiohttp
    from yarl import URL

    _HTTP = (aiohttp, URL)
    return _HTTP


IDEMPOTENCY_HEADER = "Idempotency-Key"
PACED_RETRY_FACTOR = 3
_REQUEST_ID_HEADERS = ("X-Request-Id", "Request-Id", "X-Amzn-RequestId")
_SNIPPET = 200


class Response:
    """A successful answer: status, decoded JSON body (or None), request id and headers.

    A plain slotted class, not attrs: one is made per request, and a frozen
    attrs ``__init__`` costs about a microsecond more. Treat it as read-only.
    """

    __slots__ = ("data", "headers", "request_id", "status")

    def __init__(self, status: int, data: Any, request_id: str | None, headers: Any = None) -> None:
        self.status = status
        self.data = data
        self.request_id = request_id
        self.headers = headers
        """The response headers (a case-insensitive mapping)."""

    def replace(self, data: Any) -> Response:
        """The same answer with another decoded body."""
        return Response(self.status, data, self.request_id, self.headers)

    def __repr__(self) -> str:
        return f"<Response {self.status} request_id={self.request_id!r}>"


class Transport:
    """Sends requests for one client; owns its aiohttp session."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        extra_headers: dict[str, str] | None = None,
        event_hooks: Mapping[str, Sequence[Hook]] | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        tracing: bool | None = None,
        network: Network | None = None,
    ) -> None:
        self.config = config
        self.network = network or Network(proxy=None, trust_env=True, verify=True)
        self._proxy: Proxy | None = None
        self._proxy_url: str | None = None
        self._proxy_headers: dict[str, str] | None = None  # on CONNECT (https)
        self._request_headers: dict[str, str] | None = None  # on each request, when proxied
        self.hooks = normalize_hooks(event_hooks)
        self._hooked = bool(self.hooks[0] or self.hooks[1])
        self.tracing = tracing
        self._trace_configs = list(trace_configs) if trace_configs else None
        self._base = f"{config.endpoint}workspaces/{segment(config.organization_id)}/"
        self._session: aiohttp.ClientSession | None = None
        self._timeout: aiohttp.ClientTimeout | None = None
        self._closed = False
        self._repeated = RepeatedWarnings(logger)  # once per client per cause, then a count
        self._headers = {
            "Authorization": f"Bearer {config.secret_key}",
            "Organization-Id": config.organization_id,
            "User-Agent": f"vi-async/{__version__} (Python/{platform.python_version()})",
            "Accept": "application/json",
            **(extra_headers or {}),
        }
        self.responses = Responses(self._headers)
        self.quota = RetryQuota(config.retry_budget)
        _mask.remember(config.secret_key)
        # Retries are driven by backoff, entered only after a first attempt failed:
        # its set-up (wait generator, details dict, clock) costs more than a whole
        # attempt's own work, so a request that succeeds at once never pays it.
        self._retry_after_failure = backoff.on_exception(
            retry_waits,
            ViError,
            base=config.retry_base_delay,
            # _give_up applies the real limit (more attempts for a paced job's 429s).
            max_tries=config.max_retries * PACED_RETRY_FACTOR + 1,
            giveup=self._give_up,
            on_backoff=self._log_backoff,
            jitter=None,
            logger=None,
        )(self._replay_then_attempt)

    def __repr__(self) -> str:
        return f"<Transport {self.config.endpoint} org={self.config.organization_id!r}>"

    def _full_timeout(self) -> aiohttp.ClientTimeout:
        """The timeout of an attempt with the whole ``config.timeout`` left (made once)."""
        aiohttp, _ = _HTTP or _import_http()
        self._timeout = aiohttp.ClientTimeout(
            total=self.config.timeout, sock_read=self.config.read_timeout
        )
        return self._timeout

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._closed

    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session, opened on first use."""
        if self._closed:
            raise ViError("The client is closed")
        if self._session is None:
            aiohttp, _ = _HTTP or _import_http()
            connector = aiohttp.TCPConnector(
                limit=self.config.max_connections,
                limit_per_host=self.config.max_connections,
                ssl=self.network.ssl(),
            )
            default_headers: dict[str, str] | None = self._headers
            proxy = self._proxy = self.network.proxy_for(self._base)
            if proxy is not None:
                # aiohttp also sends a session's default headers to the proxy (and would
                # make the Authorization of a CONNECT its Proxy-Authorization, giving the
                # key to the proxy): through a proxy they go on each request instead.
                self._proxy_url = proxy.url
                on_request, self._proxy_headers = proxy.headers_for(self._base)
                self._request_headers = {**self._headers, **(on_request or {})}
                default_headers = None
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=default_headers,
                auto_decompress=True,
                trace_configs=self._trace_configs,
            )
            # aiohttp silently resends an idempotent request once when a kept-alive
            # connection drops. That hides a lost answer from us (a DELETE that was
            # processed would then look like a 404), so our own retries do it instead.
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
        return self._session

    async def close(self) -> None:
        """Close the session and its connections. Idempotent."""
        self._closed = True
        self._repeated.flush()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        retry: bool = True,
        deadline: float | None = None,
        raw_body: bool = False,
    ) -> Response:
        """Send ``method path`` (relative to the organization) and return the answer.

        Transient failures are retried when ``retry`` is true (the caller
        guarantees the request is safe to repeat). ``deadline`` is an absolute
        ``time.monotonic()`` bound on the whole call, retries included. With
        ``raw_body`` the answer's ``data`` is the body's bytes, not decoded.
        """
        budget = self.config.retry_deadline
        limit = time.monotonic() + budget if budget is not None else float("inf")
        call = Call(method, path, min(limit, deadline) if deadline else limit, retry)
        call.raw_body = raw_body
        token = current_call.set(call)
        try:
            payload = None if body is None else _json.dumps(body)
            if retry and self.config.max_retries > 0:
                failed: list[ViError] = []
                try:
                    response: Response = await self._attempt(call, params, payload, headers)
                except ViError as exc:
                    failed.append(exc)
                if failed:  # outside the except: the retries must not chain to this error
                    response = await self._retry_after_failure(
                        call, params, payload, headers, failed
                    )
            else:
                response = await self._attempt(call, params, payload, headers)
        finally:
            current_call.reset(token)
        self.quota.release(call.retry_tokens or 1)
        return response

    async def create(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Response:
        """PUT a new resource under a client-made id, with an exact outcome, retries included.

        A server whose PUT is idempotent (the local server) answers a retry of a
        create it already did with the resource. Where a server answers it with
        409 instead, a 409 met after an attempt whose answer was lost means that
        attempt created it (nobody else has the id): it is read back with a GET.
        """
        try:
            return await self.request("PUT", path, body=body, headers=headers)
        except ViConflictError as exc:
            if not exc.after_lost_answer:
                raise
            logger.info("PUT %s: answer lost, then 409: reading back what it created", path)
            return await self.request("GET", path)

    async def delete(self, path: str, headers: dict[str, str] | None = None) -> Response | None:
        """DELETE with an exact outcome, retries included.

        Every attempt carries the same ``Idempotency-Key``: a server that honours
        it answers a retry of a delete it already did as a success again (the local
        server does). Where a server does not (its 404 does not echo the key), a
        404 met after an attempt whose answer was lost means that attempt deleted
        it, so it counts as deleted (None).
        """
        try:
            sent = {IDEMPOTENCY_HEADER: new_id(), **(headers or {})}
            return await self.request("DELETE", path, headers=sent)
        except ViNotFoundError as exc:
            if exc.after_lost_answer:
                logger.info("DELETE %s: answer lost, then 404: counted as deleted", path)
                return None
            raise

    async def _replay_then_attempt(
        self,
        call: Call,
        params: dict[str, str] | None,
        payload: bytes | None,
        headers: dict[str, str] | None,
        failed: list[ViError],
    ) -> Response:
        """backoff's target: first raise the failure of the attempt already made (so
        backoff decides about it exactly as if it had made that attempt), then attempt."""
        if failed:
            raise failed.pop()
        return await self._attempt(call, params, payload, headers)

    async def _attempt(
        self,
        call: Call,
        params: dict[str, str] | None,
        payload: bytes | None,
        headers: dict[str, str] | None,
    ) -> Response:
        """Make one attempt of ``call``: one HTTP exchange within the call's deadline.

        Small steps, as httpx layers ``send``: the deadline, the pacer and the
        hooks; the exchange (``_send``; the body is read here, within bounds, as a
        coroutine of its own would cost every request one more); then
        ``_exchange_error`` for a failed exchange, ``_record_attempt`` for every
        attempt and ``_answer`` for the answer.

        Args:
            call: The request's state across attempts (counts this attempt).
            params: The query parameters.
            payload: The encoded JSON body, or None.
            headers: This request's headers, on top of the client's.

        Returns:
            The answer, decoded (``_answer``).

        Raises:
            ViTimeoutError: The deadline passed before or during the exchange.
            ViConnectionError: No connection, it dropped, or the answer was malformed.
            ViError: The answer's typed error (``_answer``), or, once the deadline
                has passed, the last attempt's.
        """
        aiohttp, URL = _HTTP or _import_http()
        call.attempts += 1
        started = time.monotonic()
        if started >= call.deadline:
            raise self._out_of_time(call)
        pacer = current_pacer.get()
        if pacer is not None:
            # A bulk job's gate: a Retry-After seen by any of its requests holds back
            # every new attempt of the job (this one's retries too), not just its own.
            await pacer.before_send(call.deadline)
            started = time.monotonic()
        timeout = self._attempt_timeout(call.deadline - started)
        send_headers = {"Content-Type": "application/json"} if payload is not None else {}
        if headers:
            send_headers.update(headers)
        url = URL(self._base + call.path, encoded=True)
        tracer = tracer_for(self.tracing)
        observer = None
        if self._hooked or tracer is not None:
            observer = await self._observe(call, url, params, send_headers, tracer)
        status = 0
        resp_headers: Any = None
        names: str | None = None
        request_id: str | None = None
        unchained: ViError | None = None
        try:
            async with self._send(call, url, params, payload, send_headers, timeout) as resp:
                status = resp.status
                resp_headers = resp.headers
                raw = await read_body(resp, call.method, self.config.max_response_bytes)
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            error, chain = self._exchange_error(call, exc, timeout, status)
            if chain:
                raise error from exc
            unchained = error  # raised below, outside this block: see _exchange_error
        finally:
            elapsed = time.monotonic() - started
            if resp_headers is not None:
                names, request_id = _names_and_request_id(resp_headers)
            _record_attempt(
                call, started, elapsed, status, request_id, resp_headers, pacer, observer
            )
        if unchained is not None:
            raise unchained
        self.responses.record(
            call, url, params, send_headers, status, elapsed, request_id, resp_headers, names
        )
        if observer is not None:
            await observer.responded(status, elapsed, request_id, resp_headers)
        return self._answer(call, headers, status, raw, resp_headers, request_id)

    def _attempt_timeout(self, remaining: float) -> aiohttp.ClientTimeout:
        """The timeout of an attempt: ``config.timeout``, or less near the deadline.

        Args:
            remaining: Seconds left before the call's deadline.

        Returns:
            The client's one ``ClientTimeout`` of the whole ``config.timeout`` (it is
            immutable, so every attempt shares it), or a new one of ``remaining``.
        """
        if remaining < self.config.timeout:
            aiohttp, _ = _HTTP or _import_http()
            return aiohttp.ClientTimeout(  # type: ignore[no-any-return]
                total=remaining, sock_read=self.config.read_timeout
            )
        return self._timeout or self._full_timeout()

    def _observe(
        self,
        call: Call,
        url: Any,
        params: dict[str, str] | None,
        send_headers: dict[str, str],
        tracer: Tracer | None,
    ) -> Awaitable[AttemptObserver]:
        """Start observing an attempt: its request hooks, then its span.

        Args:
            call: The request's state across attempts.
            url: The attempt's URL (a yarl URL), without its query.
            params: The query parameters.
            send_headers: This attempt's headers, on top of the client's.
            tracer: The tracer, when tracing is on.

        Returns:
            ``AttemptObserver.start``'s awaitable: a request hook's exception aborts the attempt.
        """
        sent = {**self._headers, **send_headers}
        return AttemptObserver.start(call, full_url(url, params), sent, self.hooks, tracer)

    def _send(
        self,
        call: Call,
        url: Any,
        params: dict[str, str] | None,
        payload: bytes | None,
        send_headers: dict[str, str],
        timeout: aiohttp.ClientTimeout,
    ) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        """Send one request on the session; redirects are not followed.

        Args:
            call: The request's state across attempts (method and path).
            url: The URL (a yarl URL), without its query.
            params: The query parameters.
            payload: The encoded JSON body, or None.
            send_headers: This attempt's headers, on top of the session's.
            timeout: The attempt's timeout (``_attempt_timeout``).

        Returns:
            aiohttp's context manager of the response: entering it sends the request
            and reads the status and headers.
        """
        return self.session().request(
            call.method,
            url,
            params=params,
            data=payload,
            headers=send_headers
            if self._request_headers is None
            else {**self._request_headers, **send_headers},
            timeout=timeout,
            allow_redirects=False,  # the API never redirects; another host is not trusted
            proxy=self._proxy_url,
            proxy_headers=self._proxy_headers,
        )

    def _out_of_time(self, call: Call) -> ViError:
        """The error of an attempt that would start after the call's deadline.

        Args:
            call: The request's state across attempts.

        Returns:
            The last attempt's error (the real reason the call did not succeed in
            time), else a ViTimeoutError.
        """
        if call.last_error is not None:
            return call.last_error
        return self._error(ViTimeoutError, call, "Deadline exceeded before the request was sent")

    def _exchange_error(
        self, call: Call, exc: Any, timeout: aiohttp.ClientTimeout, status: int
    ) -> tuple[ViError, bool]:
        """Map an exchange that failed with ``exc`` to a typed error.

        Marks ``call.answer_lost`` when the request may have reached the server.

        Args:
            call: The request's state across attempts.
            exc: What aiohttp or asyncio raised (a timeout or an ``aiohttp.ClientError``).
            timeout: The attempt's timeout (named in the message).
            status: The answer's status when its headers had arrived, else 0.

        Returns:
            The error, and whether ``exc`` may be its cause. It may not where ``exc``
            holds aiohttp's ``request_info``, whose request headers carry the key, nor
            through a proxy, whose credentials aiohttp's connection errors hold: that
            error must be raised outside the ``except`` block, so that ``exc``
            becomes neither its cause nor its context.
        """
        aiohttp, _ = _HTTP or _import_http()
        direct = self._proxy is None
        typed = network_error(exc, self._proxy)
        if typed is not None:  # the proxy or TLS: no answer from the API
            cls, message = typed
            return self._error(cls, call, message, status=getattr(exc, "status", None)), False
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return self._error(ViTimeoutError, call, "Could not connect in time"), direct
        if isinstance(exc, aiohttp.ClientConnectorError):
            where = host_port(exc.host, exc.port)  # a DNS failure's message does not name it
            message = f"Cannot connect to {where}: {exc.os_error}"
            return self._error(ViConnectionError, call, message), direct
        call.answer_lost = True
        if isinstance(exc, asyncio.TimeoutError):  # aiohttp's ServerTimeoutError too
            return self._error(
                ViTimeoutError, call, self._timeout_message(exc, timeout, status)
            ), True
        if isinstance(exc, aiohttp.ClientResponseError):
            message = f"Malformed HTTP response: {exc.message}"
            return self._error(ViConnectionError, call, message), False
        if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
            message = f"Connection dropped: {type(exc).__name__}"
            return self._error(ViConnectionError, call, message), True
        message = f"HTTP client error: {type(exc).__name__}"
        return self._error(ViConnectionError, call, message), False

    def _timeout_message(self, exc: Any, timeout: aiohttp.ClientTimeout, status: int) -> str:
        """Say which timeout passed, and whether the answer had begun to arrive.

        Args:
            exc: The timeout aiohttp or asyncio raised.
            timeout: The attempt's timeout.
            status: The answer's status when its headers had arrived, else 0.

        Returns:
            "No answer within ..." when nothing came, else that the body stopped arriving.
        """
        aiohttp, _ = _HTTP or _import_http()
        silent = isinstance(exc, getattr(aiohttp, "SocketTimeoutError", aiohttp.ServerTimeoutError))
        if silent and timeout.sock_read is not None:
            limit = f"nothing arrived for {timeout.sock_read:.3g}s (read_timeout)"
        else:
            limit = f"within {timeout.total:.3g}s"
        if not status:
            return f"No answer {limit}" if not silent else f"No answer: {limit}"
        return f"The answer's body stopped arriving after its headers (status {status}): " + (
            limit if silent else f"not complete {limit}"
        )

    def _answer(
        self,
        call: Call,
        headers: dict[str, str] | None,
        status: int,
        raw: bytes | None,
        resp_headers: Any,
        request_id: str | None,
    ) -> Response:
        """Map an answer that arrived to a Response, or raise its typed error.

        Args:
            call: The request's state across attempts.
            headers: The headers this request added (its ``Idempotency-Key``).
            status: The answer's status.
            raw: Its body (None: it passed ``max_response_bytes``).
            resp_headers: Its headers.
            request_id: Its request id, if it had one.

        Returns:
            The answer, with its JSON body decoded (None for a DELETE or an empty
            body; the bytes for a raw-body call).

        Raises:
            ViResponseTooLargeError: The body passed ``max_response_bytes``.
            ViRedirectError: A 3xx (never followed).
            ViError: The status's typed error (``error_for_status``) for a 4xx or 5xx.
            ViDecodeError: The body is not JSON.
        """
        if raw is None:
            raise self._error(
                ViResponseTooLargeError,
                call,
                f"The response is larger than max_response_bytes "
                f"({self.config.max_response_bytes} bytes); stopped reading it",
                status=status,
                request_id=request_id,
            )
        if 300 <= status < 400:
            raise self._redirect_error(call, status, resp_headers, request_id)
        if status >= 400:
            err = self._status_error(call, status, raw, resp_headers, request_id)
            key = headers.get(IDEMPOTENCY_HEADER) if headers else None
            if status == 404 and key is not None and resp_headers.get(IDEMPOTENCY_HEADER) == key:
                # The server honours idempotency keys: had an earlier attempt deleted the
                # resource, this one would have been answered as that success. So this
                # 404 is exact, whatever happened to earlier answers.
                err.after_lost_answer = False
            raise err
        data: Any = None
        if call.raw_body:
            data = raw
        elif call.method != "DELETE" and raw.strip():  # a DELETE's body carries nothing
            data = _parse(raw)
            if data is _NOT_JSON:  # no decoder error as the cause: it holds the whole body
                raise self._error(
                    ViDecodeError,
                    call,
                    f"The response is not JSON: {_snippet(raw)!r}",
                    status=status,
                    request_id=request_id,
                )
        return Response(status, data, request_id, resp_headers)

    def _status_error(
        self, call: Call, status: int, raw: bytes, headers: Any, request_id: str | None
    ) -> ViError:
        message, code = _error_message(raw, status)
        if status == 407:  # from a proxy on the way, not the API
            message = proxy_refused(self._proxy)
        err = self._error(
            error_for_status(status), call, message, status=status, request_id=request_id
        )
        err.code = code
        if status in (429, 503):
            err.retry_after = parse_retry_after(headers.get("Retry-After"))
        if isinstance(err, ViRateLimitError):
            err.rate_limit = parse_rate_limit(headers)
        return err

    def _redirect_error(
        self, call: Call, status: int, headers: Any, request_id: str | None
    ) -> ViRedirectError:
        location = headers.get("Location")
        shown = _mask.excerpt(_mask.mask_url(location), _SNIPPET) if location else None
        err = self._error(
            ViRedirectError,
            call,
            f"The server redirected to {shown or '(no Location)'}; the Vi API never redirects, "
            "so the request was not sent there",
            status=status,
            request_id=request_id,
        )
        err.location = shown
        return err

    @staticmethod
    def _error(
        cls: type[E],
        call: Call,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
    ) -> E:
        err = cls(message, status=status, request_id=request_id, method=call.method, path=call.path)
        err.after_lost_answer = call.answer_lost
        return err

    def _give_up(self, error: Exception) -> bool:
        call = current_call.get()
        if isinstance(error, ViError):
            call.last_error = error
        if not call.retryable or not isinstance(error, ViError) or not is_transient(error):
            return True
        max_retries = self.config.max_retries
        paced_429 = error.status == 429 and current_pacer.get() is not None
        if paced_429:
            # In a paced bulk job a 429 is the job's pacing signal (its gate slows every
            # request down), not this request's failure: allow it more attempts, and do
            # not charge the retry budget, which exists to stop storms the gate already stops.
            max_retries *= PACED_RETRY_FACTOR
        if call.attempts > max_retries:
            return True
        retry_after = getattr(error, "retry_after", None)
        left = call.deadline - time.monotonic()
        if retry_after is not None and (
            retry_after > self.config.max_retry_after or retry_after >= left
        ):
            logger.info(
                "%s %s: not waiting %.1fs for Retry-After (cap %.1fs, %.1fs left)",
                call.method,
                call.path,
                retry_after,
                self.config.max_retry_after,
                left,
            )
            return True
        if left <= 0:
            return True
        if paced_429:
            return False
        cost = self.quota.acquire(error)
        if cost is None:
            self._repeated.warning(
                "retry budget exhausted",
                "%s %s: retry budget exhausted, not retrying (repeats are counted)",
                call.method,
                call.path,
            )
            return True
        call.retry_tokens += cost
        return False

    @staticmethod
    def _log_backoff(details: Any) -> None:
        call = current_call.get()
        logger.info(
            "retrying %s %s in %.2fs after %s (attempt %d)",
            call.method,
            call.path,
            details["wait"],
            type(details["exception"]).__name__,
            details["tries"] + 1,
        )


def _record_attempt(
    call: Call,
    started: float,
    elapsed: float,
    status: int,
    request_id: str | None,
    resp_headers: Any,
    pacer: Pacer | None,
    observer: AttemptObserver | None,
) -> None:
    """Tell the pacer, the debug log and the attempt span how one attempt went.

    Called from the attempt's ``finally``, for every attempt, answered or not: the
    span reads the exception in flight.

    Args:
        call: The request's state across attempts.
        started: When the attempt was sent (``time.monotonic()``).
        elapsed: Seconds from sending to the end of the body (or the failure).
        status: The answer's status; 0 when no answer arrived.
        request_id: The answer's request id, if any.
        resp_headers: The answer's headers; None when no answer arrived.
        pacer: The bulk job's gate, if the request belongs to one.
        observer: The attempt's hooks and span, if observed.
    """
    if pacer is not None:
        pacer.after_answer(started, status or None, resp_headers if status else None)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "%s %s -> %s attempt=%d elapsed=%.3fs",
            call.method,
            call.path,
            status or "no answer",
            call.attempts,
            elapsed,
            extra={
                "method": call.method,
                "path_template": path_template(call.path),
                "status": status or None,
                "attempt": call.attempts,
                "request_id": _mask.masked(request_id),
                "elapsed": elapsed,
            },
        )
    if observer is not None:
        observer.finish(status, request_id)


def _names_and_request_id(headers: Any) -> tuple[str, str | None]:
    """An answer's header names (``header_names``) and its request id, if it has one."""
    names = header_names(headers)
    if "request" not in names:  # in each of _REQUEST_ID_HEADERS; rare on other servers
        return names, None
    return names, _first_header(headers, _REQUEST_ID_HEADERS)


def _first_header(headers: Any, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = headers.get(name)
        if value:
            return str(value)
    return None


def _snippet(raw: bytes) -> str:
    return _mask.excerpt(raw.decode("utf-8", "replace").strip(), _SNIPPET)


_NOT_JSON = object()


def _parse(raw: bytes) -> Any:
    """The JSON value of ``raw``, or ``_NOT_JSON``."""
    try:
        return _json.loads(raw)
    except ValueError:
        return _NOT_JSON


def _error_message(raw: bytes, status: int) -> tuple[str, str | None]:
    """The server's message: JSON ``message``, then ``error``, else the raw text."""
    data = _parse(raw) if raw.strip() else None
    if isinstance(data, dict):
        code = data.get("error") if isinstance(data.get("error"), str) else None
        message = data.get("message") or code
        if isinstance(message, str) and message:
            return message, code
    text = _snippet(raw)
    return (f"HTTP {status}: {text}" if text else f"HTTP {status}"), None
