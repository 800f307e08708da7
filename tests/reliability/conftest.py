"""Helpers of the reliability suite: a client for the hostile server, leak checks."""

from __future__ import annotations

import asyncio
from typing import Any

from vi_async import Client

from .hostile import HostileServer

# A well-formed key that no server knows: what the hostile-server tests send.
FAKE_SECRET = "dtvi_" + "S3cr3t" * 16 + "xy"
assert len(FAKE_SECRET) == 103


def hostile_client(server: HostileServer, **settings: Any) -> Client:
    """A real client pointed at the hostile server, with short timeouts and few retries."""
    options: dict[str, Any] = {
        "timeout": 0.5,
        "max_retries": 2,
        "retry_deadline": 10.0,
        "max_retry_after": 5.0,
    }
    options.update(settings)
    return Client(
        secret_key=FAKE_SECRET, organization_id="org", endpoint=server.endpoint, **options
    )


def vi_tasks() -> list[asyncio.Task[Any]]:
    """Tasks other than the current one that are still alive."""
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not current and not t.done()]
