"""The Observability page (docs/observability.md) shows one runnable example per feature.

Its python blocks run, with warnings as errors, among all the blocks of the docs
in tests/test_readme.py; this checks what the page covers.
"""

from __future__ import annotations

from doc_blocks import DOCS, fenced_blocks

PAGE = DOCS / "observability.md"


def test_the_page_has_one_example_per_feature() -> None:
    blocks = [block.code for block in fenced_blocks("python", [PAGE])]
    assert len(blocks) == 5
    for needle in ("event_hooks", "trace_configs", "instrument(", "last_response", "getLogger"):
        assert any(needle in block for block in blocks), needle
