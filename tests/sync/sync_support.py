"""Helpers for the vi_sync tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import vi_sync
from vi_async.local import LocalServer

SPEC = {"name": "sync-test", "schema": "v1", "blocks": [], "settings": {}, "tolerations": {}}
GET_RUN = "GET /workspaces/{org}/runs/{runId}"
GET_LOGS = "GET /workspaces/{org}/runs/{runId}/logs"
GET_FLOWS = "GET /workspaces/{org}/flows"
LOOP_THREAD = "vi_sync.Client-loop"


def make_client(server: LocalServer, **kwargs: Any) -> vi_sync.Client:
    """A vi_sync client for ``server``, built the way the official docs build one."""
    return vi_sync.Client(
        secret_key=server.secret_key,
        organization_id=server.organization_id,
        endpoint=server.endpoint,
        **kwargs,
    )


def run_meta(
    running: float = 0.3, pending: float = 0.05, outcome: str = "Succeeded"
) -> dict[str, str]:
    """Run metadata that sets the local server's timing and outcome for one run."""
    return {
        "vi-local/outcome": outcome,
        "vi-local/pending-seconds": str(pending),
        "vi-local/running-seconds": str(running),
    }


def loop_threads() -> list[threading.Thread]:
    """The event-loop threads of vi_sync clients alive now."""
    return [t for t in threading.enumerate() if t.name == LOOP_THREAD]


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``check()`` is true (polling), or fail."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def stays(read: Callable[[], object], seconds: float = 0.4) -> bool:
    """True if ``read()`` gives the same value over ``seconds``."""
    before = read()
    time.sleep(seconds)
    return read() == before
