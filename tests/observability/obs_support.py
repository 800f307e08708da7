"""Helpers for the observability tests: an in-memory span exporter, secret scans."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import vi_async
from vi_async import RequestInfo
from vi_async.local import FaultConfig, LocalServer


class Spans:
    """Spans finished while vi_async was instrumented with an in-memory exporter."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def all(self) -> list[ReadableSpan]:
        """Every finished span, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        """The finished spans called ``name``."""
        return [s for s in self.all() if s.name == name]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        """The finished spans whose parent is ``parent``."""
        own = parent.context.span_id
        return [s for s in self.all() if s.parent is not None and s.parent.span_id == own]


def instrumented() -> Iterator[Spans]:
    """Instrument vi_async into a fresh in-memory exporter; undo it afterwards."""
    spans = Spans()
    vi_async.instrument(tracer_provider=spans.provider)
    try:
        yield spans
    finally:
        vi_async.uninstrument()
        spans.provider.shutdown()


class FailFirstAttempts:
    """Request and response hooks that make the local server answer 503 to the first
    ``n`` attempts of every call, through its fault injection: deterministic retries."""

    def __init__(self, server: LocalServer, n: int) -> None:
        self.server, self.n = server, n

    def on_request(self, info: RequestInfo) -> None:
        failing = info.attempt <= self.n
        self.server.faults = FaultConfig(error_503_rate=1.0 if failing else 0.0, retry_after=0)

    def hooks(self) -> dict[str, list[Any]]:
        """The ``event_hooks`` argument."""
        return {"request": [self.on_request]}


def texts(value: Any) -> Iterable[str]:
    """Every string reachable in ``value`` (attrs objects, mappings, sequences, attributes)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif hasattr(value, "items"):
        for key, item in value.items():
            yield from texts(key)
            yield from texts(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from texts(item)
    elif hasattr(value, "__attrs_attrs__"):
        yield repr(value)
        for field in value.__attrs_attrs__:
            yield from texts(getattr(value, field.name))
    elif value is not None:
        yield repr(value)


def assert_no_secret(secret: str, *values: Any) -> None:
    """No string reachable from ``values`` holds the secret (or its tail)."""
    for text in (t for v in values for t in texts(v)):
        assert secret not in text, text
        assert secret[-20:] not in text
