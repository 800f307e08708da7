"""Typed errors raised by the SDK.

Every error that comes from the API carries the HTTP ``status``, the server's
``message``, the ``request_id`` it was given, and the ``method`` and ``path`` of
the request. No error ever carries request headers, and every text a server can
provide (``message``, ``code``, ``request_id``, a redirect's ``location``) has any
secret key in it masked when it is set, so the key cannot leak through an exception.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._mask import mask

if TYPE_CHECKING:
    from ._http.rate_limit import RateLimitInfo
    from .models import Run, RunPhase

__all__ = [
    "InvalidIdError",
    "ViAuthenticationError",
    "ViConfigError",
    "ViConflictError",
    "ViConnectionError",
    "ViDecodeError",
    "ViDownloadError",
    "ViError",
    "ViNotFoundError",
    "ViPermissionError",
    "ViPlanError",
    "ViPreconditionFailedError",
    "ViProxyError",
    "ViRateLimitError",
    "ViRedirectError",
    "ViResponseTooLargeError",
    "ViRunFailedError",
    "ViServerError",
    "ViTLSError",
    "ViTimeoutError",
    "ViUnreachablePhaseError",
    "ViValidationError",
    "error_for_status",
]

# Attributes that can hold text from the server: secrets in them are masked when set.
_SERVER_TEXT = frozenset({"message", "code", "request_id", "location"})


class ViError(Exception):
    """Base class of every error raised by vi_async and vi_sync.

    ``retry_after`` is the server's Retry-After in seconds, when it sent one;
    ``after_lost_answer`` is true when this or an earlier attempt of the same
    request may have been processed but its answer never arrived (false when
    the request surely never reached the server, e.g. connection refused).

    Args:
        message: What went wrong (any secret key in it is masked).
        status: The HTTP status of the answer, if one came.
        request_id: The request id the server gave the request, if any.
        method: The HTTP method of the request.
        path: The request's path under the organization (``flows/flow_1``).
        code: The server's error code, if its answer had one.
    """

    retry_after: float | None = None
    after_lost_answer: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        code: str | None = None,
    ) -> None:
        self.message = message  # masked on the way in (see __setattr__), args too
        super().__init__(self.message)
        self.status = status
        self.request_id = request_id
        self.method = method
        self.path = path
        self.code = code

    if not TYPE_CHECKING:  # hidden from mypy, which would then allow any attribute name

        def __setattr__(self, name: str, value: Any) -> None:
            if name in _SERVER_TEXT and isinstance(value, str):
                value = mask(value)
            super().__setattr__(name, value)

    def __str__(self) -> str:
        parts = [self.message]
        where = " ".join(p for p in (self.method, self.path) if p)
        details = []
        if self.status is not None:
            details.append(f"status {self.status}")
        if where:
            details.append(where)
        if self.request_id:
            details.append(f"request id {self.request_id}")
        if details:
            parts.append(f"({', '.join(details)})")
        return " ".join(parts)

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.message!r}, status={self.status!r}, request_id={self.request_id!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[ViError], message: str, state: dict[str, Any]) -> ViError:
    err = cls.__new__(cls)
    ViError.__init__(err, message)
    err.__dict__.update(state)
    return err


class InvalidIdError(ValueError):
    """An id that cannot be a Vi resource id; raised before any request is sent."""


class ViConfigError(ViError, ValueError):
    """The client is missing a credential or was given an invalid setting."""


class ViValidationError(ViError):
    """The server rejected the request as malformed (400, 422 and other 4xx)."""


class ViAuthenticationError(ViError):
    """The secret key was missing or not accepted (401)."""


class ViPermissionError(ViAuthenticationError):
    """The key is valid but may not act on this organization or resource (403)."""


class ViNotFoundError(ViError):
    """The resource does not exist, or is not visible to this organization (404)."""


class ViConflictError(ViError):
    """The request conflicts with the resource's state (409), e.g. deleting a
    flow that has an active run."""


class ViPreconditionFailedError(ViError):
    """The resource changed since the version named in ``If-Match`` (412): nothing
    was changed."""


class ViPlanError(ViError, ValueError):
    """A cleanup plan cannot be read or applied here: malformed, written in a newer
    format, or made for another organization. Raised before any request."""


class ViRateLimitError(ViError):
    """The server asked us to slow down (429); ``retry_after`` is in seconds.

    ``rate_limit`` holds the answer's rate-limit headers (limit, remaining,
    reset), when it sent any.
    """

    rate_limit: RateLimitInfo | None = None


class ViServerError(ViError):
    """The server failed (5xx)."""


class ViTimeoutError(ViError, TimeoutError):
    """A request or a wait did not finish before its deadline.

    ``last_run`` holds the last Run seen when the timeout came from a wait.
    """

    last_run: Run | None = None


class ViRunFailedError(ViError):
    """A waited run ended Failed, Error or Cancelled (``raise_on_failure=True``).

    ``run`` is the run as last seen; ``phase``, and ``reason`` and
    ``condition_message`` of its latest condition, say how it ended.

    Args:
        run: The run as last seen.
        text: The message (default: the run's id and how it ended).
    """

    def __init__(self, run: Run, text: str | None = None) -> None:
        latest = run.status.conditions[-1] if run.status.conditions else None
        self.run: Run = run
        self.phase: RunPhase = run.phase
        self.reason: str | None = latest.reason if latest is not None else None
        self.condition_message: str | None = latest.message if latest is not None else None
        why = ": ".join(p for p in (self.reason, self.condition_message) if p)
        text = text or f"Run {run.run_id} ended {self.phase.value}"
        super().__init__(text + (f" ({why})" if why else ""), path=f"runs/{run.run_id}")


class ViUnreachablePhaseError(ViRunFailedError):
    """A run can no longer reach the phase(s) a wait was for (``until``): it ended,
    or moved past them, without reaching one. ``until`` holds those phases.

    Args:
        run: The run as last seen.
        until: The phases the wait was for.
    """

    def __init__(self, run: Run, until: frozenset[RunPhase]) -> None:
        self.until: frozenset[RunPhase] = until
        wanted = " or ".join(sorted(p.value for p in until))
        text = f"Run {run.run_id} is {run.phase.value} and can no longer become {wanted}"
        super().__init__(run, text)


class ViConnectionError(ViError, ConnectionError):
    """The connection failed or was dropped before a full answer arrived."""


class ViProxyError(ViConnectionError):
    """The proxy, not the API, failed: it could not be reached, refused the
    credentials (407), or could not open a tunnel to the API. The message names
    the proxy without its credentials."""


class ViTLSError(ViConnectionError):
    """The TLS handshake failed, most often because the server's certificate did not
    verify (an unknown CA, a wrong host name, an expired certificate). Never retried:
    the message names the host and OpenSSL's reason; pass ``verify=`` a CA bundle."""


class ViDecodeError(ViError):
    """The response was not the JSON the SDK expected (an HTML error page, a
    truncated body, a wrong shape)."""


class ViRedirectError(ViError):
    """The server answered with a redirect (3xx). The Vi API never redirects, so it
    is not followed: nothing is re-sent elsewhere. ``location`` is where it pointed
    (credentials and query values masked)."""

    location: str | None = None


class ViResponseTooLargeError(ViDecodeError):
    """The response body was larger than the client's ``max_response_bytes``; reading
    stopped there."""


class ViDownloadError(ViError):
    """A model download failed: storage refused or broke the transfer, the file
    did not verify against the server's hash, or the archive was unsafe or
    incomplete. Nothing half-done is ever published in the target directory."""


_BY_STATUS: dict[int, type[ViError]] = {
    400: ViValidationError,
    401: ViAuthenticationError,
    403: ViPermissionError,
    404: ViNotFoundError,
    407: ViProxyError,
    408: ViTimeoutError,
    409: ViConflictError,
    412: ViPreconditionFailedError,
    422: ViValidationError,
    429: ViRateLimitError,
}


def error_for_status(status: int) -> type[ViError]:
    """The error class for an HTTP status code.

    Args:
        status: The HTTP status code of an answer.

    Returns:
        The ViError subclass raised for it (ViServerError for any 5xx,
        ViValidationError for another 4xx, else ViError).
    """
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ViServerError
    if status >= 400:
        return ViValidationError
    return ViError
