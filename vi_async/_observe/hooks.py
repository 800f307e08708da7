"""Event hooks: user callables that see every HTTP attempt, retries included.

``Client(event_hooks={"request": [...], "response": [...]})`` takes sync or
async callables. Request hooks get a ``RequestInfo`` just before an attempt
is sent, response hooks a ``ResponseInfo`` once its status and headers have
arrived (error statuses included; an attempt that got no answer has no
response). A hook that raises aborts that request with the hook's exception
(not retried), as in httpx. Both objects are frozen and hold no secret: the
``Authorization`` header reads ``Bearer ***``, and any Vi key in another
header value is masked. When no hook is configured nothing here runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from .._http.rate_limit import RateLimitInfo, parse_rate_limit

Hook = Callable[[Any], Any]
HOOK_EVENTS = ("request", "response")

# The name of the id placeholder after each collection segment of a path.
_ID_NAMES = {"flows": "flow_id", "runs": "run_id", "outputs": "ckpt"}


@attrs.frozen(slots=True)
class RequestInfo:
    """One HTTP attempt as it is sent: no secret in any field.

    ``path`` is relative to the organization (``flows/abc``), ``path_template``
    names its ids (``flows/{flow_id}``); ``attempt`` counts from 1 for each call.
    """

    method: str
    url: str
    path: str
    path_template: str
    attempt: int
    headers: Mapping[str, str]


@attrs.frozen(slots=True)
class ResponseInfo:
    """The answer to one attempt: status, elapsed seconds, request id, headers."""

    request: RequestInfo
    status: int
    elapsed: float
    request_id: str | None
    headers: Mapping[str, str]

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        """The rate-limit headers of this answer, if it had any."""
        return parse_rate_limit(self.headers)


def path_template(path: str) -> str:
    """``runs/r1/outputs/c2`` -> ``runs/{run_id}/outputs/{ckpt}``: ids named, no values."""
    parts = path.split("?", 1)[0].split("/")
    for i in range(1, len(parts), 2):
        parts[i] = "{" + _ID_NAMES.get(parts[i - 1], "id") + "}"
    return "/".join(parts)


def normalize_hooks(
    event_hooks: Mapping[str, Sequence[Hook]] | None,
) -> tuple[tuple[Hook, ...], tuple[Hook, ...]]:
    """Validate ``event_hooks`` into (request hooks, response hooks); TypeError/ValueError."""
    if event_hooks is None:
        return (), ()
    if not isinstance(event_hooks, Mapping):
        raise TypeError(
            f"event_hooks must be a dict of event name to list of callables, "
            f"not {type(event_hooks).__name__}"
        )
    unknown = set(event_hooks) - set(HOOK_EVENTS)
    if unknown:
        raise ValueError(
            f"unknown event hook name(s) {sorted(unknown)!r}; expected 'request' or 'response'"
        )
    found: list[tuple[Hook, ...]] = []
    for event in HOOK_EVENTS:
        hooks = event_hooks.get(event, ())
        if callable(hooks) or isinstance(hooks, (str, bytes)):
            raise TypeError(f"event_hooks[{event!r}] must be a list of callables")
        hooks = tuple(hooks)
        for hook in hooks:
            if not callable(hook):
                raise TypeError(f"event_hooks[{event!r}] holds a non-callable: {hook!r}")
        found.append(hooks)
    return found[0], found[1]


async def call_hooks(hooks: tuple[Hook, ...], info: Any) -> None:
    """Call each hook with ``info``, awaiting those that return an awaitable."""
    for hook in hooks:
        result = hook(info)
        if inspect.isawaitable(result):
            await result
