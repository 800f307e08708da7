"""Validation of resource ids before they are put into a URL path."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

from .errors import InvalidIdError

_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,255}")
MAX_ID_LENGTH = 255


def check_id(value: object, name: str) -> str:
    """Return ``value`` if it is a valid Vi resource id, else raise InvalidIdError.

    InvalidIdError is a ValueError. Valid ids match ``^[A-Za-z0-9_-]{1,255}$``
    (the official client's rule), so empty ids, whitespace, ``/``, ``..``, ``%``,
    control characters and absurd lengths are refused here, before any request
    is sent.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value:
        raise InvalidIdError(f"{name} must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdError(
            f"{name} is {len(value)} characters long; the limit is {MAX_ID_LENGTH}"
        )
    if _ID_PATTERN.fullmatch(value) is None:
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise InvalidIdError(
            f"{name} {shown!r} is not a valid id: use only letters, digits, '-' and '_'"
        )
    return value


def segment(value: str) -> str:
    """URL-quote one already validated path segment."""
    return quote(value, safe="")


def new_id() -> str:
    """Make a fresh client-side id (uuid4), so a retried create never duplicates."""
    return str(uuid.uuid4())
