"""Checks of what users pass, before any request is sent: numbers (timeouts,
intervals, counts) and resource ids.

A bad value is a clear ``TypeError`` or ``ValueError`` naming the argument,
instead of a bare ``'<' not supported between 'str' and 'int'`` later on or a
path segment that escapes its URL."""

from __future__ import annotations

import math
import os
import re
from typing import Any
from urllib.parse import quote

from .errors import InvalidIdError


def check_number(
    value: Any,
    name: str,
    *,
    minimum: float = 0,
    positive: bool = False,
    integer: bool = False,
    optional: bool = True,
) -> None:
    """Raise unless ``value`` is a number (an int if ``integer``) that is
    ``>= minimum`` (``> minimum`` if ``positive``), or None when ``optional``.

    A bool or a NaN is not a number here; ``"10"`` is a TypeError that says so.
    """
    if value is None and optional:
        return
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an integer" if integer else "a number"
        if optional:
            kind += " or None"
        shown = repr(value) if isinstance(value, (str, bytes, int, float)) else ""
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__} {shown}".rstrip())
    if math.isnan(value) or value < minimum or (positive and value == minimum):
        bound = f"> {minimum}" if positive else f">= {minimum}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")


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
    """Make a fresh client-side id (uuid4), so a retried create never duplicates.

    The same string as ``str(uuid.uuid4())`` (16 bytes of ``os.urandom`` with the
    version and variant bits set), without building a ``UUID`` object: a third
    of the cost, and one is made for every DELETE.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
