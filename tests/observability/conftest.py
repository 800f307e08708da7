"""Fixtures of the observability tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .obs_support import Spans, instrumented


@pytest.fixture
def spans() -> Iterator[Spans]:
    """vi_async instrumented into an in-memory span exporter for the test."""
    yield from instrumented()
