"""What the transport shows of each attempt: hooks, attempt spans, the last answer.

``AttemptObserver`` runs the event hooks and the attempt span of one attempt; the
transport makes one only when a hook is configured or tracing is on, so an
unobserved attempt builds none of these objects. ``Responses`` keeps, for
every attempt, the raw pieces of the last answer (a tuple: no header copy, no
masking until someone reads it) and the last rate-limit headers seen.

The last answer is kept per context (a ContextVar, so concurrent tasks each
read their own) and per client (for code that reads it from elsewhere, such as
vi_sync, whose calls run in tasks on the loop thread).
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._http.rate_limit import RateLimitInfo, parse_rate_limit
from .._mask import masked, masked_headers
from .hooks import Hook, RequestInfo, ResponseInfo, call_hooks, path_template
from .otel import end_attempt, start_attempt

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

    from .._http.retry import Call

# method, yarl URL, params, path, attempt, sent headers, status, elapsed, request id,
# answer headers
_Seen = tuple[Any, ...]


def full_url(url: Any, params: Mapping[str, str] | None) -> str:
    """The URL an attempt is sent to, query included (a yarl URL and the params)."""
    return str(url.update_query(params) if params else url)


def request_info(
    method: str, url: str, path: str, attempt: int, headers: Mapping[str, str]
) -> RequestInfo:
    """The masked, read-only view of one attempt."""
    return RequestInfo(method, url, path, path_template(path), attempt, masked_headers(headers))


class AttemptObserver:
    """Runs the hooks and the span of one observed attempt."""

    __slots__ = ("_response_hooks", "_span", "request")

    def __init__(self, request: RequestInfo, response_hooks: tuple[Hook, ...]) -> None:
        self.request = request
        self._response_hooks = response_hooks
        self._span: Span | None = None

    @classmethod
    async def start(
        cls,
        call: Call,
        url: str,
        headers: Mapping[str, str],
        hooks: tuple[tuple[Hook, ...], tuple[Hook, ...]],
        tracer: Tracer | None,
    ) -> AttemptObserver:
        """Run the request hooks (their exception aborts the attempt), then open the span.

        Args:
            call: The request, with its attempt number.
            url: The full URL the attempt is sent to.
            headers: The headers sent (masked before any hook sees them).
            hooks: The request hooks and the response hooks.
            tracer: The tracer for the attempt span, or None when tracing is off.

        Returns:
            The observer, to ``finish`` and ``responded`` once the attempt ends.
        """
        info = request_info(call.method, url, call.path, call.attempts, headers)
        observer = cls(info, hooks[1])
        await call_hooks(hooks[0], observer.request)
        if tracer is not None:
            observer._span = start_attempt(
                tracer, call.method, url, info.path_template, call.attempts
            )
        return observer

    def finish(self, status: int, request_id: str | None) -> None:
        """End the attempt span; call from the attempt's ``finally`` (reads the exception)."""
        if self._span is not None:
            end_attempt(self._span, status, masked(request_id), sys.exc_info()[1])

    async def responded(
        self, status: int, elapsed: float, request_id: str | None, headers: Mapping[str, str]
    ) -> None:
        """Run the response hooks on an answer that arrived (any status)."""
        if self._response_hooks:
            info = ResponseInfo(
                self.request, status, elapsed, masked(request_id), masked_headers(headers)
            )
            await call_hooks(self._response_hooks, info)


class Responses:
    """The last answer a client received (per context and overall) and its rate limit."""

    def __init__(self, default_headers: Mapping[str, str]) -> None:
        self._default_headers = default_headers
        self._var: contextvars.ContextVar[_Seen | None] = contextvars.ContextVar(
            "vi_async_last_response", default=None
        )
        self._last: _Seen | None = None
        self.rate_limit: RateLimitInfo | None = None
        """The rate-limit headers of the latest answer that had any."""

    def record(
        self,
        call: Call,
        url: Any,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        status: int,
        elapsed: float,
        request_id: str | None,
        answer_headers: Any,
        names: str | None = None,
    ) -> None:
        """Remember one answer (cheap: a tuple), and its rate-limit headers (``names``:
        their names, as ``header_names`` joins them, when the caller has them)."""
        seen: _Seen = (
            call.method, url, params, call.path, call.attempts, headers or {},
            status, elapsed, request_id, answer_headers,
        )  # fmt: skip
        self._last = seen
        self._var.set(seen)
        rate_limit = parse_rate_limit(answer_headers, names)
        if rate_limit is not None:
            self.rate_limit = rate_limit

    def last(self) -> ResponseInfo | None:
        """The last answer seen by this context, else by the client; None before any."""
        seen = self._var.get() or self._last
        if seen is None:
            return None
        method, url, params, path, attempt, sent, status, elapsed, request_id, answer = seen
        headers = {**self._default_headers, **sent}
        request = request_info(method, full_url(url, params), path, attempt, headers)
        return ResponseInfo(request, status, elapsed, masked(request_id), masked_headers(answer))
