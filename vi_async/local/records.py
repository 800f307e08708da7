"""Stored flows and runs as immutable Python records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vi_async.local.engine import RunPlan


@dataclass(frozen=True)
class Meta:
    """The bookkeeping fields shared by flows and runs."""

    seq: int
    org_id: str
    time_created: int
    last_updated: int
    generation: int
    etag: str
    attributes: dict[str, str]
    create_body: str


@dataclass(frozen=True)
class FlowRecord:
    """A stored flow."""

    flow_id: str
    spec: dict[str, Any]
    meta: Meta


@dataclass(frozen=True)
class RunRecord:
    """A stored run, with the flow it is linked to (if any) and its timing plan."""

    run_id: str
    flow_id: str | None
    spec: dict[str, Any]
    meta: Meta
    plan: RunPlan

    @property
    def blocks(self) -> tuple[str, ...]:
        """Names of the blocks of the run's flow spec, for log lines."""
        blocks = self.spec.get("flow", {}).get("blocks", [])
        return tuple(str(b.get("block")) for b in blocks if isinstance(b, dict))


@dataclass(frozen=True)
class ExtraLine:
    """A log line added with ``LocalServer.append_logs``.

    ``rank`` is how many of the run's own (computed) lines existed when it was
    added: it comes after those and before the next one.
    """

    rank: int
    at: int
    level: str
    block: str | None
    message: str


@dataclass(frozen=True)
class PageRows:
    """One page of rows plus whether more exist on either side."""

    records: list[Any]
    has_next: bool
    has_prev: bool
