"""The rules about run phases: how callers name them, which count as failed, when a wait is over.

Guarantee: a phase argument (``runs.list(status=...)``, ``wait_for(until=...)``,
``watch(phases=...)``) is checked here before any request is sent, and a bad
one raises the same error everywhere: ``TypeError`` when it is not a phase, a
phase name or an iterable of them, ``ValueError`` (listing the valid phases)
for a name no phase has, or for an empty set.

How a run's phase follows from its condition history (``Run.phase``,
``RunPhase.is_terminal``) stays with the models: they sit below this package
and must not import from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..errors import ViUnreachablePhaseError
from ..models import PHASE_OF_CONDITION, ConditionStatus, Run, RunPhase, RunStatus

Phases = RunPhase | str | Iterable[RunPhase | str]
"""What callers may pass for phases: one phase or name (any case), or an iterable of them."""

FAILED_PHASES = frozenset({RunPhase.FAILED, RunPhase.ERROR, RunPhase.CANCELLED})
_VALID = "(valid, in any case: " + ", ".join(phase.value for phase in RunPhase) + ")"
# The order a run goes through; every terminal phase ranks 2.
_RANK = {RunPhase.PENDING: 0, RunPhase.RUNNING: 1}


def _one_phase(item: object, name: str) -> RunPhase:
    if isinstance(item, RunPhase):
        return item
    if not isinstance(item, str):
        raise TypeError(f"{name} must hold run phases or phase names, got {type(item).__name__}")
    try:
        return RunPhase(item)
    except ValueError:
        raise ValueError(f"{name}: {item!r} is not a run phase {_VALID}") from None


def phase_set(value: Phases | None, name: str) -> frozenset[RunPhase] | None:
    """Parse a phase argument into a set of phases, before any request.

    Args:
        value: One phase or phase name (any case), an iterable of them, or None.
        name: The argument's name, for the error message.

    Returns:
        The phases as a frozenset, or None when ``value`` is None.

    Raises:
        TypeError: ``value`` is not a phase, a name or an iterable of them.
        ValueError: A name is no phase's, or the iterable is empty.
    """
    if value is None:
        return None
    if isinstance(value, str):  # RunPhase is a str too
        return frozenset((_one_phase(value, name),))
    if not isinstance(value, Iterable):
        raise TypeError(
            f"{name} must be a run phase, a phase name or an iterable of them, "
            f"got {type(value).__name__}"
        )
    phases = frozenset(_one_phase(item, name) for item in value)
    if not phases:
        raise ValueError(f"{name} must name at least one phase {_VALID}")
    return phases


def phase_filter(status: Phases | None) -> Callable[[Run], bool] | None:
    """The ``runs.list(status=...)`` filter: keep runs in any of these phases.

    Args:
        status: The phases to keep (see ``phase_set``), or None to keep every run.

    Returns:
        A predicate on runs, or None when ``status`` is None.

    Raises:
        TypeError: ``status`` is not a phase, a name or an iterable of them.
        ValueError: A name is no phase's, or the iterable is empty.
    """
    wanted = phase_set(status, "status")
    if wanted is None:
        return None
    return lambda run: run.phase in wanted


def reached_phases(status: RunStatus) -> set[RunPhase]:
    """The phases a run's condition history shows it reached (the latest included).

    Args:
        status: The run's status, with its condition history.

    Returns:
        Every phase a condition with status ``Reached`` stands for.
    """
    return {
        PHASE_OF_CONDITION[c.condition.value]
        for c in status.conditions
        if c.status is ConditionStatus.REACHED and c.condition.value in PHASE_OF_CONDITION
    }


def _rank(phase: RunPhase) -> int:
    return _RANK.get(phase, 2)


def went_back(previous: Run, run: Run) -> bool:
    """Whether ``run`` is an older state than ``previous`` (a stale or lying answer).

    An ended run never changes phase again, and Running never goes back to
    Pending; an UNKNOWN phase is never taken for a step back.

    Args:
        previous: The run as seen before.
        run: The run as seen now.

    Returns:
        True when ``run`` shows a phase ``previous`` had already left behind.
    """
    if previous.is_terminal:
        return run.phase is not previous.phase
    old, new = _RANK.get(previous.phase), _RANK.get(run.phase)
    return old is not None and new is not None and new < old


def reached(run: Run, until: frozenset[RunPhase] | None) -> bool:
    """Whether a wait for ``until`` is over, given the run as last seen.

    A run seen past the wanted phases counts as having reached one when its
    condition history shows it was there between two polls.

    Args:
        run: The run as last seen.
        until: The phases waited for; None waits for any terminal phase.

    Returns:
        True once the run is in (or has been through) one of ``until``.

    Raises:
        ViUnreachablePhaseError: The run ended, or moved past ``until``, without
            reaching any of them.
    """
    if until is None:
        return run.is_terminal
    phase = run.phase
    if phase in until:
        return True
    if phase is RunPhase.UNKNOWN:
        return False
    if run.is_terminal or all(_rank(p) < _rank(phase) for p in until):
        if reached_phases(run.status) & until:
            return True
        raise ViUnreachablePhaseError(run, until)
    return False
