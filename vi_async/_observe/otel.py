"""OpenTelemetry spans (optional extra ``vi-async[otel]``: opentelemetry-api only).

Off until ``vi_async.instrument()`` is called, or per client with
``Client(tracing=True)`` (``tracing=False`` keeps one client quiet even when
instrumented). When on, every SDK call opens a span named after it
(``vi.flows.delete``) with the organization, the resource id, how many
retries it took and its outcome; each HTTP attempt is a child span (``DELETE
flows/{flow_id}``); a bulk job or a wait is a span too, with its counts, over
the spans of the calls it makes. No attribute holds the secret key or a
server message: errors are recorded by type only.

opentelemetry is imported on first use, never by ``import vi_async``; while
tracing is off a traced call costs one flag check.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .._version import __version__
from ..errors import ViConfigError

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
T = TypeVar("T")
Summary = Callable[[Any], dict[str, Any]]


# Plain slotted classes, not attrs, here and for Call: internal state whose
# generated attrs methods would only add to ``import vi_async``.
class _State:
    __slots__ = ("enabled", "provider", "tracer")

    def __init__(self) -> None:
        self.enabled = False
        self.provider: Any = None
        self.tracer: Any = None  # cached for ``provider``


class Operation:
    """Counts of one traced SDK call, folded into its parent when it ends."""

    __slots__ = ("attempts", "retries")

    def __init__(self) -> None:
        self.attempts = 0
        self.retries = 0


_state = _State()
current_operation: contextvars.ContextVar[Operation | None] = contextvars.ContextVar(
    "vi_async_operation", default=None
)


def instrument(tracer_provider: Any = None) -> None:
    """Turn on OpenTelemetry spans for every client (needs ``pip install vi-async[otel]``).

    ``tracer_provider`` defaults to the global one (``opentelemetry.trace``).
    """
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError:
        raise ViConfigError(
            "OpenTelemetry is not installed: pip install 'vi-async[otel]'"
        ) from None
    _state.enabled, _state.provider, _state.tracer = True, tracer_provider, None


def uninstrument() -> None:
    """Turn spans off again for clients that did not pass ``tracing=True``."""
    _state.enabled, _state.provider, _state.tracer = False, None, None


def tracer_for(flag: bool | None) -> Tracer | None:
    """The tracer to use for a client with ``tracing=flag``; None while tracing is off."""
    if not (flag or (flag is None and _state.enabled)):
        return None
    tracer = _state.tracer
    if tracer is None:
        from opentelemetry import trace

        tracer = _state.tracer = trace.get_tracer(
            "vi_async", __version__, tracer_provider=_state.provider
        )
    return tracer  # type: ignore[no-any-return]


def traced(
    name: str, *, id_param: str | None = None, summary: Summary | None = None
) -> Callable[[F], F]:
    """Decorate an async resource method: one span ``name`` per call while tracing is on.

    ``id_param`` names the parameter holding the resource id; ``summary(result)``
    gives attributes read from the result (a bulk report's counts).
    """

    def decorate(func: F) -> F:
        position = _position(func, id_param)

        @functools.wraps(func)
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            tracer = tracer_for(self._transport.tracing)
            if tracer is None:
                return await func(self, *args, **kwargs)
            resource_id = kwargs.get(id_param) if id_param else None
            if resource_id is None and position is not None and position < len(args):
                resource_id = args[position]
            return await traced_call(
                tracer,
                self._transport.config.organization_id,
                name,
                resource_id,
                summary,
                func(self, *args, **kwargs),
            )

        return wrapper  # type: ignore[return-value]

    return decorate


async def traced_call(
    tracer: Tracer,
    organization_id: str,
    name: str,
    resource_id: object,
    summary: Summary | None,
    work: Awaitable[T],
) -> T:
    """Await ``work`` inside an SDK-call span ``name``."""
    attributes: dict[str, Any] = {"vi.organization_id": organization_id}
    if isinstance(resource_id, str):
        attributes["vi.resource_id"] = resource_id
    async with operation(tracer, name, attributes) as span:
        result = await work
        if summary is not None:
            span.set_attributes(summary(result))
        return result


def _position(func: Callable[..., Any], param: str | None) -> int | None:
    """The index in ``*args`` (after self) of parameter ``param``."""
    if param is None:
        return None
    names = list(inspect.signature(func).parameters)
    return names.index(param) - 1


class operation:  # lower case: used like a function, ``async with operation(...)``
    """A span over one SDK call; records retries and outcome, nests under the current span."""

    def __init__(self, tracer: Tracer, name: str, attributes: dict[str, Any]) -> None:
        self._tracer, self._name, self._attributes = tracer, name, attributes
        self._op = Operation()

    async def __aenter__(self) -> Span:
        from opentelemetry.trace import use_span

        self._span = self._tracer.start_span(self._name, attributes=self._attributes)
        self._use = use_span(self._span, end_on_exit=False)
        self._use.__enter__()
        self._token = current_operation.set(self._op)
        return self._span

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        current_operation.reset(self._token)
        self._use.__exit__(None, None, None)
        op, span = self._op, self._span
        parent = current_operation.get()
        if parent is not None:
            parent.attempts += op.attempts
            parent.retries += op.retries
        span.set_attributes(
            {"vi.attempts": op.attempts, "vi.retries": op.retries, "vi.outcome": _outcome(exc)}
        )
        if exc is not None:
            _set_error(span, exc)
        span.end()


def start_attempt(tracer: Tracer, method: str, url: str, template: str, attempt: int) -> Span:
    """A CLIENT span for one HTTP attempt, child of the current SDK-call span."""
    from opentelemetry.trace import SpanKind

    op = current_operation.get()
    if op is not None:
        op.attempts += 1
        if attempt > 1:
            op.retries += 1
    return tracer.start_span(
        f"{method} {template}",
        kind=SpanKind.CLIENT,
        attributes={
            "http.request.method": method,
            "url.full": url,
            "url.template": template,
            "vi.attempt": attempt,
        },
    )


def end_attempt(span: Span, status: int, request_id: str | None, exc: BaseException | None) -> None:
    """Close an attempt span with its status code (and error type, if it failed)."""
    if status:
        span.set_attribute("http.response.status_code", status)
    if request_id:
        span.set_attribute("vi.request_id", request_id)
    if exc is not None:
        _set_error(span, exc)
    elif status >= 400:
        from opentelemetry.trace import Status, StatusCode

        span.set_attribute("error.type", str(status))
        span.set_status(Status(StatusCode.ERROR))
    span.end()


def _outcome(exc: BaseException | None) -> str:
    if exc is None:
        return "success"
    return "error" if isinstance(exc, Exception) else "cancelled"


def _set_error(span: Span, exc: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    # The type only: a message may quote anything a hook or a server put in it.
    span.set_attribute("error.type", type(exc).__qualname__)
    span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
