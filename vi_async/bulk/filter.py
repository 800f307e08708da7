"""The cleanup filter: which flows a cleanup (or a cleanup plan) takes, and why.

Guarantee: a flow is taken only when every condition given holds (no
condition: every flow), and the filter is the one place that says so in
words: the reason of each planned flow (``reason``), the record a plan keeps
(``to_record``, read back by ``describe_record``) and the keyword arguments
the command line passes on (``arguments``) all come from ``FlowFilter``.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from datetime import timedelta
from typing import Any, Protocol

import attrs

from ..models import Flow, PaginationParams
from ..pagination import AsyncPager

__all__ = ["FlowFilter", "FlowLister", "age_text", "describe_record", "matching_flows"]

LIST_PAGE_SIZE = 200
EVERY_FLOW = "no filter: every flow"


class FlowLister(Protocol):
    """What the filter needs from ``client.flows``: the listing."""

    def list(self, pagination: PaginationParams | None = None) -> AsyncPager[Flow]: ...


def _valid_age(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, timedelta):
        raise TypeError(f"older_than must be a timedelta, not {type(value).__name__}")
    if value < timedelta(0):
        raise ValueError(f"older_than must not be negative, got {value}")


def _valid_where(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not callable(value):
        raise TypeError("where must be a callable taking a Flow")


def _predicate_name(where: Callable[[Flow], bool]) -> str:
    return getattr(where, "__name__", "predicate")


@attrs.frozen
class FlowFilter:
    """Which flows a cleanup deletes: every given condition must hold.

    Args:
        name: A glob (``fnmatch``, case-sensitive) on ``spec.name``.
        older_than: Only flows created more than this long before ``now``.
        where: A predicate on the Flow.
        training_project: Only flows whose ``spec.training_project`` equals it.
        now: Epoch seconds that ``older_than`` counts back from (default: now).

    Raises:
        TypeError: ``older_than`` is not a timedelta, or ``where`` is not callable.
        ValueError: ``older_than`` is negative.
    """

    name: str | None = None
    older_than: timedelta | None = attrs.field(default=None, validator=_valid_age)
    where: Callable[[Flow], bool] | None = attrs.field(default=None, validator=_valid_where)
    training_project: str | None = None
    now: float = attrs.field(factory=time.time, eq=False, repr=False)

    @property
    def created_before(self) -> int | None:
        """Epoch milliseconds: only flows created before then (from ``older_than``)."""
        if self.older_than is None:
            return None
        return int((self.now - self.older_than.total_seconds()) * 1000)

    @property
    def empty(self) -> bool:
        """True when no condition is given (the filter takes every flow)."""
        return not self.to_record()

    def __call__(self, flow: Flow) -> bool:
        """Tell whether a flow matches.

        Args:
            flow: The flow to test.

        Returns:
            True when every given condition holds for it.
        """
        cutoff = self.created_before
        if cutoff is not None and flow.metadata.time_created >= cutoff:
            return False
        if self.name is not None and not fnmatch.fnmatchcase(flow.spec.name, self.name):
            return False
        if self.training_project is not None and (
            flow.spec.training_project != self.training_project
        ):
            return False
        return self.where is None or bool(self.where(flow))

    def reason(self, flow: Flow) -> str:
        """Say, in words, why a matching flow matched.

        Args:
            flow: A flow this filter accepted.

        Returns:
            The conditions it met, e.g. ``"name matches 'tmp-*'; created 8.0 days ago"``.
        """
        parts = []
        if self.name is not None:
            parts.append(f"name matches {self.name!r}")
        if self.older_than is not None:
            age = (self.now * 1000 - flow.metadata.time_created) / 86_400_000
            parts.append(f"created {age:.1f} days ago")
        if self.training_project is not None:
            parts.append(f"training project {self.training_project!r}")
        if self.where is not None:
            parts.append(f"where={_predicate_name(self.where)} is true")
        return "; ".join(parts) or EVERY_FLOW

    def to_record(self) -> dict[str, str]:
        """The given conditions as the JSON-ready record a cleanup plan keeps.

        Returns:
            ``older_than`` / ``name`` / ``training_project`` / ``where`` (the
            predicate's name) for the conditions given, in that order.
        """
        record: dict[str, str] = {}
        if self.older_than is not None:
            record["older_than"] = age_text(self.older_than)
        if self.name is not None:
            record["name"] = self.name
        if self.training_project is not None:
            record["training_project"] = self.training_project
        if self.where is not None:
            record["where"] = _predicate_name(self.where)
        return record

    def describe(self) -> str:
        """The given conditions on one line (see ``describe_record``)."""
        return describe_record(self.to_record())

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``flows.cleanup`` / ``flows.plan_cleanup`` that make
        this filter again."""
        return {
            "older_than": self.older_than,
            "name": self.name,
            "where": self.where,
            "training_project": self.training_project,
        }


_UNITS = (("d", 86400), ("h", 3600), ("m", 60))
_TIMEDELTA_TEXT = re.compile(r"(?:(-?\d+) days?, )?(\d+):(\d\d):(\d\d(?:\.\d+)?)")


def age_text(age: timedelta) -> str:
    """A duration as the command line reads it: ``7d``, ``1d12h``, ``90s`` -> ``1m30s``.

    Args:
        age: A non-negative duration.

    Returns:
        Days, hours, minutes and seconds that are not zero, largest first
        (``0s`` for zero; fractions of a second kept).
    """
    rest = age.total_seconds()
    parts = []
    for unit, seconds in _UNITS:
        count, rest = divmod(rest, seconds)
        if count:
            parts.append(f"{int(count)}{unit}")
    if rest or not parts:
        parts.append(f"{rest:g}s")
    return "".join(parts)


def _readable(key: str, value: object) -> object:
    """An ``older_than`` written by older versions (``7 days, 0:00:00``) as ``7d``."""
    match = _TIMEDELTA_TEXT.fullmatch(value) if isinstance(value, str) else None
    if key != "older_than" or match is None:
        return value
    days, hours, minutes, seconds = match.groups()
    age = timedelta(
        days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=float(seconds)
    )
    return age_text(age) if age >= timedelta(0) else value


def describe_record(record: Mapping[str, object]) -> str:
    """Put a filter record (``FlowFilter.to_record``, or a plan's ``filters``) in words.

    Args:
        record: The conditions, by name.

    Returns:
        ``"name=tmp-*, older_than=7d"``, or ``"none (every flow)"``.
    """
    words = (f"{key}={_readable(key, value)}" for key, value in record.items())
    return ", ".join(words) or "none (every flow)"


async def matching_flows(flows: FlowLister, keep: FlowFilter) -> AsyncGenerator[Flow, None]:
    """List the organization's flows that ``keep`` accepts, one page at a time.

    Args:
        flows: ``client.flows``.
        keep: The filter.

    Yields:
        Each matching flow, oldest first.
    """
    pager = flows.list(pagination=PaginationParams(page_size=LIST_PAGE_SIZE))
    async with aclosing(pager.all_items()) as items:
        async for flow in items:
            if keep(flow):
                yield flow
