"""Cleanup plans: what a cleanup would delete, reviewed first, applied exactly.

Guarantee: applying a plan deletes only flows named in it, and only in the
version the plan saw: each ``PlannedDelete`` keeps the flow's etag, and the
apply skips ("changed since the plan") a flow whose etag differs (see
``vi_async.bulk.delete`` for how, and for the one round trip of risk left
against a server that ignores ``If-Match``). Nothing is matched again at
apply time, so a flow created or changed to match after the plan is never
touched.

An etag is taken only as one opaque token (``PLAN_ETAG``: printable ASCII
without blanks, quotes inside or commas, optionally in double quotes), since
it is sent as ``If-Match``: ``*`` would match any version, a list ``a, b`` an
older one too, a weak ``W/"a"`` never matches under If-Match's strong
comparison, and CR/LF would break the header. ``CleanupPlan.from_json`` keeps
such an item, and the apply fails it alone (``PlannedDelete.problem``) and
goes on with the others.

The JSON form is versioned: ``{"format": "vi-async/cleanup-plan", "version": 1,
...}``. A reader refuses a newer version (it may carry rules it does not know)
and, when told its organization, a plan made for another one. The plan's
``filters`` is the filter's record (``FlowFilter.to_record``), kept for the
reader and never applied again.
"""

from __future__ import annotations

import json
import math
import re
import time
from contextlib import aclosing
from datetime import datetime, timezone
from typing import Any

import attrs

from ..errors import ViPlanError
from ..models import Flow
from .active import ActiveRuns, RunApi, active_run_verdict
from .filter import FlowFilter, FlowLister, describe_record, matching_flows
from .options import check_on_active_run
from .report import OnActiveRun

__all__ = [
    "PLAN_ETAG",
    "PLAN_FORMAT",
    "PLAN_VERSION",
    "CleanupPlan",
    "PlannedDelete",
    "etag_problem",
    "make_plan",
]

PLAN_FORMAT = "vi-async/cleanup-plan"
PLAN_VERSION = 1
_LISTED = 20
_ETAG_CHAR = r"[\x21\x23-\x2b\x2d-\x7e]"  # visible ASCII but '"' and ','
PLAN_ETAG = re.compile(rf'(?!W/){_ETAG_CHAR}{{1,256}}|"{_ETAG_CHAR}{{1,256}}"')
"""One opaque etag token: what a plan's item may carry (see the module notes)."""


def etag_problem(etag: str) -> str | None:
    """Say why ``etag`` cannot stand in a plan, if it cannot.

    Args:
        etag: The etag of a planned flow.

    Returns:
        None for one opaque token, else the reason in words.
    """
    if PLAN_ETAG.fullmatch(etag) and etag.strip('"') != "*":
        return None
    return f"the plan's etag {etag[:80]!r} is not one opaque token (refused for If-Match)"


@attrs.frozen
class PlannedDelete:
    """One flow of a cleanup plan: deleted only while its etag is still ``etag``."""

    flow_id: str
    etag: str
    name: str
    reason: str
    """Why the flow matched the plan's filters, in words."""
    active_runs: tuple[str, ...] = ()
    """The flow's active runs when the plan was made (what the policy will act on)."""

    @property
    def problem(self) -> str | None:
        """Why this item cannot be applied (an etag that is not one opaque token), or None."""
        return etag_problem(self.etag)


@attrs.frozen
class CleanupPlan:
    """The flows a cleanup matched, with their etags, the filters and when it was made.

    Raises:
        ValueError: ``on_active_run`` is not ``"skip"``, ``"kill"`` or ``"fail"``.
    """

    organization_id: str
    items: tuple[PlannedDelete, ...]
    filters: dict[str, Any] = attrs.field(factory=dict)
    """The filters that made the plan, for the record (not applied again)."""
    on_active_run: OnActiveRun = attrs.field(default="skip", converter=check_on_active_run)
    created_at: float = attrs.field(factory=time.time)
    """Epoch seconds when the plan was made."""

    def __len__(self) -> int:
        return len(self.items)

    def summary(self) -> str:
        """A readable multi-line summary: what, where, when, and the first flows."""
        filters = describe_record(self.filters)
        lines = [
            f"Cleanup plan: {len(self.items)} flow(s) to delete in organization "
            f"{self.organization_id!r}",
            f"  made:          {_made(self.created_at)}",
            f"  filters:       {filters}",
            f"  active runs:   {self.on_active_run}",
            "  a flow changed since the plan is skipped, never deleted",
        ]
        busy = [item for item in self.items if item.active_runs]
        if busy:
            lines.append(f"  {len(busy)} flow(s) with active runs: {self._verdict(busy)}")
        bad = sum(1 for item in self.items if item.problem is not None)
        if bad:
            lines.append(f"  {bad} flow(s) will fail: their etag is not one opaque token")
        for item in self.items[:_LISTED]:
            lines.append(f"  - {item.flow_id}  {item.name!r}: {self._line(item)}")
        if len(self.items) > _LISTED:
            lines.append(f"  ... and {len(self.items) - _LISTED} more")
        return "\n".join(lines)

    def _verdict(self, busy: list[PlannedDelete]) -> str:
        runs = sum(len(item.active_runs) for item in busy)
        return active_run_verdict(self.on_active_run, runs).replace("active run:", "they")

    def _line(self, item: PlannedDelete) -> str:
        """One planned flow: why it matched, and what its active runs mean."""
        if item.problem is not None:
            return item.problem
        if not item.active_runs:
            return item.reason
        return f"{item.reason} [{active_run_verdict(self.on_active_run, len(item.active_runs))}]"

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (see the module notes)."""
        return {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "organizationId": self.organization_id,
            "createdAt": self.created_at,
            "onActiveRun": self.on_active_run,
            "filters": self.filters,
            "items": [
                {
                    "flowId": i.flow_id,
                    "etag": i.etag,
                    "name": i.name,
                    "reason": i.reason,
                    "activeRuns": list(i.active_runs),
                }
                for i in self.items
            ],
        }

    def to_json(self) -> str:
        """The plan as JSON text (``CleanupPlan.from_json`` reads it back)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, *, organization_id: str | None = None) -> CleanupPlan:
        """Read a plan written by ``to_json``.

        Args:
            text: The JSON text.
            organization_id: When given, the organization the plan must be for.

        Returns:
            The plan.

        Raises:
            ViPlanError: The text is not a plan, is malformed, has a newer format
                version, or was made for another organization.
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ViPlanError(f"The plan is not JSON: {exc}") from None
        except RecursionError:
            raise ViPlanError("The plan is not a plan: its JSON nests too deeply") from None
        plan = cls.from_dict(data)
        plan.check_organization(organization_id)
        return plan

    @classmethod
    def from_dict(cls, data: Any) -> CleanupPlan:
        """Read the dict form of ``to_dict``.

        Args:
            data: The decoded JSON.

        Returns:
            The plan (its organization is not checked: see ``from_json``).

        Raises:
            ViPlanError: ``data`` is not a plan, is malformed (an unknown
                ``onActiveRun`` included) or has a newer format version.
        """
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise ViPlanError(f"Not a cleanup plan (expected format {PLAN_FORMAT!r})")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ViPlanError(f"The plan has no valid format version: {version!r}")
        if version > PLAN_VERSION:
            raise ViPlanError(
                f"The plan was written in format version {version}, newer than this "
                f"vi-async reads ({PLAN_VERSION}): upgrade vi-async to apply it"
            )
        try:
            items = tuple(_item(i) for i in data["items"])
            plan = cls(
                organization_id=_text(data["organizationId"]),
                items=items,
                filters=_filters(data.get("filters")),
                on_active_run=_text(data.get("onActiveRun", "skip")),
                created_at=float(data["createdAt"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ViPlanError(f"The plan is malformed: {type(exc).__name__}: {exc}") from None
        return plan

    def check_organization(self, organization_id: str | None) -> None:
        """Check that the plan is for ``organization_id``.

        Args:
            organization_id: The organization it is to be applied in (None: any).

        Raises:
            ViPlanError: The plan was made for another organization.
        """
        if organization_id is not None and organization_id != self.organization_id:
            raise ViPlanError(
                f"The plan was made for organization {self.organization_id!r}, "
                f"not {organization_id!r}: refusing to apply it here"
            )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _item(data: Any) -> PlannedDelete:
    """One item of a plan's JSON (``activeRuns`` is optional: older plans lack it)."""
    runs = data.get("activeRuns") or []
    if not isinstance(runs, list):
        raise TypeError(f"activeRuns must be a list, got {type(runs).__name__}")
    return PlannedDelete(
        _text(data["flowId"]),
        _text(data["etag"]),
        _text(data["name"]),
        _text(data["reason"]),
        tuple(_text(run) for run in runs),
    )


def _filters(value: Any) -> dict[str, str]:
    """A plan's filter record: names to strings (as ``FlowFilter.to_record`` writes it)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"filters must be an object, got {type(value).__name__}")
    return {_text(key): _text(text) for key, text in value.items()}


def _made(created_at: float) -> str:
    """When a plan was made, in UTC; ``unknown`` for a time no clock can show (NaN, 1e400)."""
    if not math.isfinite(created_at):
        return "unknown"
    try:
        made = datetime.fromtimestamp(created_at, timezone.utc)
    except (OverflowError, ValueError, OSError):
        return "unknown"
    return made.strftime("%Y-%m-%d %H:%M:%S UTC")


async def make_plan(
    flows: FlowLister, runs: RunApi, keep: FlowFilter, *, organization_id: str, on_active_run: str
) -> CleanupPlan:
    """List the flows ``keep`` matches and plan their deletion (no change is made).

    The organization's runs are listed once (not once per flow) to find each
    planned flow's active runs.

    Args:
        flows: ``client.flows``.
        runs: ``client.runs``.
        keep: The filter; its record and its reasons go into the plan, and its
            ``now`` is the plan's ``created_at``.
        organization_id: The organization the plan is for.
        on_active_run: The active-run policy the plan asks for.

    Returns:
        The plan: each matching flow with its etag, name, reason and active runs.

    Raises:
        ValueError: ``on_active_run`` is not a known policy.
        ViError: A listing failed.
    """
    matched: list[Flow] = []
    async with aclosing(matching_flows(flows, keep)) as matches:
        async for flow in matches:
            matched.append(flow)
    active = ActiveRuns(runs)
    items = [
        PlannedDelete(f.flow_id, f.etag, f.spec.name, keep.reason(f), tuple(await active.of(f)))
        for f in matched
    ]
    return CleanupPlan(organization_id, tuple(items), keep.to_record(), on_active_run, keep.now)
