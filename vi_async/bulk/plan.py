"""Cleanup plans: what a cleanup would delete, reviewed first, applied exactly.

Guarantee: applying a plan deletes only flows named in it, and only in the
version the plan saw: each ``PlannedDelete`` keeps the flow's etag, and the
apply skips ("changed since the plan") a flow whose etag differs (see
``vi_async.bulk.delete`` for how, and for the one round trip of risk left
against a server that ignores ``If-Match``). Nothing is matched again at
apply time, so a flow created or changed to match after the plan is never
touched.

The JSON form is versioned: ``{"format": "vi-async/cleanup-plan", "version": 1,
...}``. A reader refuses a newer version (it may carry rules it does not know)
and, when told its organization, a plan made for another one. The plan's
``filters`` is the filter's record (``FlowFilter.to_record``), kept for the
reader and never applied again.
"""

from __future__ import annotations

import json
import time
from contextlib import aclosing
from datetime import datetime, timezone
from typing import Any

import attrs

from ..errors import ViPlanError
from .filter import FlowFilter, FlowLister, describe_record, matching_flows
from .options import check_on_active_run
from .report import OnActiveRun

__all__ = ["PLAN_FORMAT", "PLAN_VERSION", "CleanupPlan", "PlannedDelete", "make_plan"]

PLAN_FORMAT = "vi-async/cleanup-plan"
PLAN_VERSION = 1
_LISTED = 20


@attrs.frozen
class PlannedDelete:
    """One flow of a cleanup plan: deleted only while its etag is still ``etag``."""

    flow_id: str
    etag: str
    name: str
    reason: str
    """Why the flow matched the plan's filters, in words."""


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
        made = datetime.fromtimestamp(self.created_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        filters = describe_record(self.filters)
        lines = [
            f"Cleanup plan: {len(self.items)} flow(s) to delete in organization "
            f"{self.organization_id!r}",
            f"  made:          {made} UTC",
            f"  filters:       {filters}",
            f"  active runs:   {self.on_active_run}",
            "  a flow changed since the plan is skipped, never deleted",
        ]
        for item in self.items[:_LISTED]:
            lines.append(f"  - {item.flow_id}  {item.name!r}: {item.reason}")
        if len(self.items) > _LISTED:
            lines.append(f"  ... and {len(self.items) - _LISTED} more")
        return "\n".join(lines)

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
                {"flowId": i.flow_id, "etag": i.etag, "name": i.name, "reason": i.reason}
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
            items = tuple(
                PlannedDelete(
                    _text(i["flowId"]), _text(i["etag"]), _text(i["name"]), _text(i["reason"])
                )
                for i in data["items"]
            )
            plan = cls(
                organization_id=_text(data["organizationId"]),
                items=items,
                filters=dict(data.get("filters") or {}),
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


async def make_plan(
    flows: FlowLister, keep: FlowFilter, *, organization_id: str, on_active_run: str
) -> CleanupPlan:
    """List the flows ``keep`` matches and plan their deletion (no change is made).

    Args:
        flows: ``client.flows``.
        keep: The filter; its record and its reasons go into the plan, and its
            ``now`` is the plan's ``created_at``.
        organization_id: The organization the plan is for.
        on_active_run: The active-run policy the plan asks for.

    Returns:
        The plan: each matching flow with its etag, name and reason.

    Raises:
        ValueError: ``on_active_run`` is not a known policy.
        ViError: The listing failed.
    """
    items = []
    async with aclosing(matching_flows(flows, keep)) as matches:
        async for flow in matches:
            items.append(PlannedDelete(flow.flow_id, flow.etag, flow.spec.name, keep.reason(flow)))
    return CleanupPlan(organization_id, tuple(items), keep.to_record(), on_active_run, keep.now)
