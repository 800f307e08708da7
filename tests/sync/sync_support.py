"""Helpers for the vi_sync tests (the ones shared with other tests are in run_support)."""

from __future__ import annotations

import time
from collections.abc import Callable

SPEC = {"name": "sync-test", "schema": "v1", "blocks": [], "settings": {}, "tolerations": {}}
GET_FLOWS = "GET /workspaces/{org}/flows"


def stays(read: Callable[[], object], seconds: float = 0.4) -> bool:
    """True if ``read()`` gives the same value over ``seconds``."""
    before = read()
    time.sleep(seconds)
    return read() == before
