"""Active runs: which Pending/Running runs belong to which flow, from one list walk.

Guarantee: however many flows ask, one snapshot of the organization's runs
is listed per conflict wave (a bulk delete) or per job (a plan, a dry run),
never one request per flow. Which runs belong to a flow is the active-run
rule of ``vi_async.bulk.delete`` (``belongs_to``).
"""

from __future__ import annotations

import math
import time
from contextlib import aclosing
from typing import Protocol

import anyio

from .._constants import MAX_PAGE_SIZE
from ..models import Flow, PaginationParams, Run
from ..pagination import AsyncPager

__all__ = ["ACTIVE_RUN_REASON", "ActiveRuns", "RunApi", "active_run_verdict", "belongs_to"]

ACTIVE_RUN_REASON = "active run"
RUNS_PAGE_SIZE = MAX_PAGE_SIZE


def active_run_verdict(policy: str, runs: int) -> str:
    """What ``policy`` will do with a flow that has ``runs`` active runs, in words.

    Args:
        policy: ``skip``, ``kill`` or ``fail``.
        runs: How many active runs the flow has.

    Returns:
        E.g. ``"active run: will be skipped"``, ``"will kill 2 active run(s)"``.
    """
    if policy == "kill":
        return f"will kill {runs} active run(s)"
    return f"{ACTIVE_RUN_REASON}: will {'be skipped' if policy == 'skip' else 'fail'}"


class RunApi(Protocol):
    """What bulk deletes need from ``client.runs`` (kills under ``on_active_run="kill"``)."""

    def list(self, pagination: PaginationParams | None = None) -> AsyncPager[Run]: ...

    async def kill(self, run_id: str) -> Run: ...

    async def wait_for(self, run_id: str, *, timeout: float | None = ...) -> Run: ...


def belongs_to(run: Run, flow: Flow, *, links_reported: bool) -> bool:
    """The active-run rule (see the module notes).

    ``links_reported``: the server reports run -> flow links, so the link alone
    decides; otherwise equal specs and a run no older than the flow.
    """
    if links_reported:
        return run.status.flow_id == flow.flow_id
    return run.spec.flow == flow.spec and run.metadata.time_created >= flow.metadata.time_created


class ActiveRuns:
    """The organization's active runs, listed at most once per conflict wave.

    A snapshot is reused by every flow whose 409 arrived before that listing
    started, so many conflicting flows cost one listing, not one each.
    ``links_reported`` becomes true (for the rest of the job) once any listed
    run, active or not, carries a run -> flow link.
    """

    def __init__(self, runs: RunApi) -> None:
        self._runs = runs
        self._lock = anyio.Lock()
        self._taken_at: float | None = None  # None: never listed
        self._active: list[Run] = []
        self.links_reported: bool = False

    async def since(self, not_before: float) -> list[Run]:
        """Active runs, from a listing started at ``not_before`` (monotonic) or later."""
        async with self._lock:
            if self._taken_at is None or self._taken_at < not_before:
                taken_at = time.monotonic()
                active: list[Run] = []
                pager = self._runs.list(pagination=PaginationParams(page_size=RUNS_PAGE_SIZE))
                async with aclosing(pager.all_items()) as runs:
                    async for run in runs:
                        if run.status.flow_id is not None:
                            self.links_reported = True
                        if not run.is_terminal:
                            active.append(run)
                self._active = active
                self._taken_at = taken_at
            return self._active

    async def of(self, flow: Flow, not_before: float = -math.inf) -> list[str]:
        """The ids of ``flow``'s active runs, from a listing started at ``not_before``
        (monotonic) or later (default: any listing already made)."""
        active = await self.since(not_before)
        links = self.links_reported
        return [run.run_id for run in active if belongs_to(run, flow, links_reported=links)]
