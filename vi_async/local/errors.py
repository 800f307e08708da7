"""API errors raised by the local server and their JSON rendering."""

from __future__ import annotations

from http import HTTPStatus

#: Error code names by HTTP status, used when an error does not name its own code.
CODE_BY_STATUS: dict[int, str] = {
    400: "InvalidArgument",
    401: "Unauthenticated",
    403: "PermissionDenied",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    412: "FailedPrecondition",
    413: "PayloadTooLarge",
    429: "TooManyRequests",
    500: "Internal",
    503: "ServiceUnavailable",
}


class ApiError(Exception):
    """An error answered to the client as ``{"error", "message", "requestId"}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Create an error with an HTTP status, a message and an optional code name."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.code: str = code or code_for_status(status)
        self.headers: dict[str, str] = dict(headers or {})


def code_for_status(status: int) -> str:
    """Return the error code name used for an HTTP status."""
    if status in CODE_BY_STATUS:
        return CODE_BY_STATUS[status]
    try:
        return HTTPStatus(status).phrase.replace(" ", "")
    except ValueError:
        return "Error"


def bad_request(message: str) -> ApiError:
    """Return a 400 error."""
    return ApiError(400, message)


def not_found(kind: str, resource_id: str) -> ApiError:
    """Return a 404 error for a missing flow or run."""
    return ApiError(404, f"{kind} {resource_id!r} not found")


def conflict(message: str, *, code: str = "Conflict") -> ApiError:
    """Return a 409 error."""
    return ApiError(409, message, code=code)
