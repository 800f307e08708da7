"""Waiting on runs: one deadline per wait, every phase change reported in order.

Any number of concurrent waits within one client share the client's one
poller (``poller.ListPoller``): waits on the same run share its observations,
and waits on many runs share list walks. A wait ends when the run reaches one
of the phases it waits for (by default: any terminal one), and fails fast once
that has become impossible (``phases.reached``). Leaving a wait (return,
error, deadline or cancellation) hands its place back to the poller at once,
so nothing is left polling for it.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any

import anyio

from ..errors import ViRunFailedError, ViTimeoutError
from ..models import Run, RunPhase
from .phases import FAILED_PHASES, reached
from .poller import ListPoller, PolledRun

OnUpdate = Callable[[Run], Any]


def _timed_out(
    run_id: str, timeout: float | None, until: frozenset[RunPhase] | None, last: Run | None
) -> ViTimeoutError:
    """The error of a wait that hit its deadline, naming the goal and the last phase seen."""
    phase = last.phase.value if last is not None else "never seen"
    goal = "finish" if until is None else "become " + " or ".join(p.value for p in until)
    err = ViTimeoutError(
        f"Run {run_id} did not {goal} within {timeout}s (last phase: {phase})",
        method="GET",
        path=f"runs/{run_id}",
    )
    err.last_run = last
    return err


class RunWaiter:
    """Waits on runs (``runs.wait_for``) through the client's poller."""

    def __init__(self, poller: ListPoller) -> None:
        self._poller = poller

    def active_runs(self) -> int:
        """How many runs the client's poller follows right now, for waits and watches."""
        return self._poller.active_runs()

    async def wait(
        self,
        run_id: str,
        *,
        timeout: float | None,
        poll_interval: float | None,
        on_update: OnUpdate | None,
        until: frozenset[RunPhase] | None,
        raise_on_failure: bool,
    ) -> Run:
        """Wait until the run reaches ``until`` and return it; arguments are already checked.

        Args:
            run_id: The run to wait on.
            timeout: Seconds the whole wait may take, or None for no deadline.
            poll_interval: Poll at least this often (seconds), or None to adapt.
            on_update: Called (sync or async) with the run at each phase change.
            until: The phases to wait for; None means any terminal phase.
            raise_on_failure: Raise when the run ended Failed, Error or Cancelled.

        Returns:
            The run as first seen in one of ``until``.

        Raises:
            ViTimeoutError: The deadline passed (``last_run`` is the last run seen).
            ViRunFailedError: The run failed and ``raise_on_failure`` is set.
            ViUnreachablePhaseError: The run can no longer reach ``until``.
        """
        polled = self._poller.join(run_id, poll_interval)
        try:
            with anyio.move_on_after(timeout) as deadline:
                run = await self._follow(polled, on_update, until)
                if raise_on_failure and run.phase in FAILED_PHASES:
                    raise ViRunFailedError(run)
                return run
        finally:
            await self._poller.leave(polled, poll_interval)
        # Only the deadline gets here: every other way out of _follow returns or raises.
        assert deadline.cancelled_caught
        raise _timed_out(run_id, timeout, until, polled.latest)

    @staticmethod
    async def _follow(
        polled: PolledRun, on_update: OnUpdate | None, until: frozenset[RunPhase] | None
    ) -> Run:
        """Report each phase change to ``on_update`` until the wait is over."""
        phases = polled.track_phases() if on_update is not None else []
        reported = 0  # how many of phases this waiter has passed to on_update
        while True:
            changed = polled.changed
            run = polled.latest
            # Every phase change is reported, even those seen while a slow callback ran.
            while on_update is not None and reported < len(phases):
                result = on_update(phases[reported])
                reported += 1
                if inspect.isawaitable(result):
                    await result
            if run is not None and reached(run, until):
                return run
            if polled.error is not None:
                # A copy per waiter: one exception object raised in many tasks would
                # collect all their tracebacks.
                raise copy.copy(polled.error) from polled.error
            if changed is polled.changed:
                await changed.wait()
