"""The shared state of one running local server, reachable from the aiohttp app.

``strict`` is the one switch every extension of the wire consults (see
WIRE.md): when true the server speaks only the Vi wire, so that tests prove
the SDK needs none of our additions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from vi_async.local.auth import KeyRing, new_admin_token
from vi_async.local.database import now_ms
from vi_async.local.engine import RunSchedule
from vi_async.local.faults import FaultInjector
from vi_async.local.journal import RequestJournal
from vi_async.local.store import Store


@dataclass
class LocalState:
    """Store, keys, faults, schedule, request counters, journal and download URL lifetime (s).

    ``clock`` is the server time in epoch milliseconds (see :mod:`vi_async.local.clock`).

    ``admin_token`` guards the ``/_local/`` routes; ``read_timeout`` bounds how
    long a request body may take to arrive.
    """

    store: Store
    keys: KeyRing
    faults: FaultInjector
    schedule: RunSchedule
    default_org: str
    counts: Counter[str] = field(default_factory=Counter)
    clock: Callable[[], int] = now_ms
    strict: bool = False
    """Serve only the Vi wire: no log cursors, flow-link header, idempotency replay."""
    request_ids: bool = True
    """Give every answer an ``X-Request-Id`` (and error bodies a ``requestId``); the
    plain mode does not (a server that is not ours may send neither)."""
    admin_token: str = field(default_factory=new_admin_token)
    read_timeout: float = 30.0
    download_url_ttl: float = 900.0
    journal: RequestJournal = field(default_factory=RequestJournal)
    """The requests answered (``LocalServer.requests``)."""

    @property
    def dialect(self) -> str:
        """``"strict"`` or ``"extended"``."""
        return dialect_name(self.strict)


def dialect_name(strict: bool) -> str:
    """The name of a dialect, as the banner and the test ids show it."""
    return "strict" if strict else "extended"


STATE = web.AppKey("vi_local_state", LocalState)
