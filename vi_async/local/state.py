"""The shared state of one running local server, reachable from the aiohttp app."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from vi_async.local.auth import KeyRing
from vi_async.local.engine import RunSchedule
from vi_async.local.faults import FaultInjector
from vi_async.local.store import Store, now_ms


@dataclass
class LocalState:
    """Store, keys, faults, schedule, request counters and download URL lifetime (s)."""

    store: Store
    keys: KeyRing
    faults: FaultInjector
    schedule: RunSchedule
    default_org: str
    counts: Counter[str] = field(default_factory=Counter)
    clock: Callable[[], int] = now_ms
    download_url_ttl: float = 900.0


STATE = web.AppKey("vi_local_state", LocalState)
