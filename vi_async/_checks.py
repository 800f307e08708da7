"""Checks of the numbers users pass (timeouts, intervals, counts): a clear
TypeError or ValueError naming the argument, before any request is sent,
instead of a bare ``'<' not supported between 'str' and 'int'`` later on."""

from __future__ import annotations

import math
from typing import Any


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
