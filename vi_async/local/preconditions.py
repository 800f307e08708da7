"""``If-Match`` on flow PATCH and DELETE (an extension: the strict dialect ignores it).

A request carrying ``If-Match: <etag>`` (quoted or not, a comma-separated list,
or ``*``) changes the flow only if its current etag is one of them; otherwise
it is answered ``412 Precondition Failed`` and nothing changes. The check runs
in the same transaction as the change, so nothing can slip in between. A
missing flow is still a 404, and an ``Idempotency-Key`` replay of a delete
that already happened is still its 204. Every API answer of a server that
honours ``If-Match`` carries ``Vi-Preconditions: If-Match``, so a client knows
before it relies on it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from vi_async.local.errors import ApiError

IF_MATCH_HEADER = "If-Match"
ADVERTISE_HEADER = "Vi-Preconditions"


def honoured(state: Any) -> bool:
    """Whether the server of ``state`` (a LocalState) honours If-Match: not in the
    strict dialect."""
    return not state.strict


def if_match(request: web.Request, state: Any) -> tuple[str, ...] | None:
    """The etags a request's If-Match accepts; None without one (or when ignored)."""
    raw = request.headers.get(IF_MATCH_HEADER)
    if raw is None or not honoured(state):
        return None
    return tuple(part.strip().removeprefix("W/").strip('"') for part in raw.split(","))


def check(etag: str, accepted: tuple[str, ...] | None, what: str) -> None:
    """412 unless ``etag`` is accepted (None: no precondition)."""
    if accepted is not None and "*" not in accepted and etag not in accepted:
        raise ApiError(412, f"{what} has changed: its etag is no longer the one given in If-Match")
