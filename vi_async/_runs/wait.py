"""Waiting on runs: one deadline per wait, every phase change reported in order.

Any number of concurrent waits within one client share the client's one
poller (``_list_poller``): waits on the same run share its observations, and
waits on many runs share list walks. A wait ends when the run reaches one of
the phases it waits for (by default: any terminal one), and fails fast once
that has become impossible (the run ended, or moved past them, without
reaching one). Leaving a wait (return, error, deadline or cancellation) hands
its place back to the poller at once, so nothing is left polling for it.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterable
from typing import Any

import anyio

from .._validate import check_number
from ..errors import ViRunFailedError, ViTimeoutError, ViUnreachablePhaseError
from ..models import Run, RunPhase, reached_phases
from .poller import ListPoller, Target

OnUpdate = Callable[[Run], Any]
Until = RunPhase | str | Iterable[RunPhase | str] | None

FAILED_PHASES = frozenset({RunPhase.FAILED, RunPhase.ERROR, RunPhase.CANCELLED})
# A wait has a deadline unless told otherwise (kubeflow/sdk#696 hung CI forever).
DEFAULT_WAIT_TIMEOUT = 3600.0
_RANK = {RunPhase.PENDING: 0, RunPhase.RUNNING: 1}  # terminal phases rank 2


def phases_of(until: Until, name: str = "until") -> frozenset[RunPhase] | None:
    """A phase or phases as a set (None stays None); ValueError when invalid."""
    if until is None:
        return None
    items = [until] if isinstance(until, (RunPhase, str)) else list(until)
    try:
        phases = frozenset(RunPhase(p) for p in items)
    except ValueError:
        names = ", ".join(p.value for p in RunPhase)
        raise ValueError(f"{name} must be run phases ({names}), got {until!r}") from None
    if not phases:
        raise ValueError(f"{name} must name at least one phase")
    return phases


def _rank(phase: RunPhase) -> int:
    return _RANK.get(phase, 2)


def reached(run: Run, until: frozenset[RunPhase] | None) -> bool:
    """Whether the wait is over; raises ViUnreachablePhaseError once it never can be."""
    if until is None:
        return run.is_terminal
    phase = run.phase
    if phase in until:
        return True
    if phase is RunPhase.UNKNOWN:
        return False
    if run.is_terminal or all(_rank(p) < _rank(phase) for p in until):
        if reached_phases(run.status) & until:
            return True  # it was there between two polls
        raise ViUnreachablePhaseError(run, until)
    return False


class RunWatcher:
    """Waits on runs through the client's poller."""

    def __init__(self, poller: ListPoller) -> None:
        self._poller = poller

    def active_streams(self) -> int:
        """How many runs are being polled right now."""
        return self._poller.active_runs()

    async def wait(
        self,
        run_id: str,
        *,
        timeout: float | None,
        poll_interval: float | None,
        on_update: OnUpdate | None,
        until: Until = None,
        raise_on_failure: bool = False,
    ) -> Run:
        """Wait until the run reaches ``until`` and return it (see RunsResource.wait_for)."""
        check_number(poll_interval, "poll_interval", positive=True)
        check_number(timeout, "timeout")
        phases = phases_of(until)
        target = self._poller.join(run_id, poll_interval)
        try:
            with anyio.move_on_after(timeout) as deadline:
                run = await self._follow(target, on_update, phases)
                if raise_on_failure and run.phase in FAILED_PHASES:
                    raise ViRunFailedError(run)
                return run
        finally:
            await self._poller.leave(target, poll_interval)
        # Only the deadline gets here: every other way out of _follow returns or raises.
        assert deadline.cancelled_caught
        last = target.latest
        phase = last.phase.value if last is not None else "never seen"
        goal = "finish" if phases is None else "become " + " or ".join(p.value for p in phases)
        err = ViTimeoutError(
            f"Run {run_id} did not {goal} within {timeout}s (last phase: {phase})",
            method="GET",
            path=f"runs/{run_id}",
        )
        err.last_run = last
        raise err

    @staticmethod
    async def _follow(
        target: Target, on_update: OnUpdate | None, until: frozenset[RunPhase] | None
    ) -> Run:
        phases = target.track_phases() if on_update is not None else []
        reported = 0  # how many of phases this waiter has passed to on_update
        while True:
            changed = target.changed
            run = target.latest
            # Every phase change is reported, even those seen while a slow callback ran.
            while on_update is not None and reported < len(phases):
                result = on_update(phases[reported])
                reported += 1
                if inspect.isawaitable(result):
                    await result
            if run is not None and reached(run, until):
                return run
            if target.error is not None:
                # A copy per waiter: one exception object raised in many tasks would
                # collect all their tracebacks.
                raise copy.copy(target.error) from target.error
            if changed is target.changed:
                await changed.wait()
