"""Run lifecycle derived from the clock: conditions and log lines, no background tasks.

A run stores when it was created, when it starts running, when it finishes,
its outcome and, if it was killed, when it was cancelled. Everything else is
computed on read from the current time, so a given run at a given time always
looks the same and the server has nothing to stop on shutdown.

Timeline: ``Pending`` at creation, ``Running`` after ``pending_seconds``, then
the outcome (``Succeeded`` / ``Failed`` / ``Error``) after ``running_seconds``
more. Setting ``spec.killedAt`` while the run is Pending or Running ends it as
``Cancelled`` at the server time of that PATCH. Every condition reached stays
in ``status.conditions``; the last one is the latest.

Per-run overrides, read from ``metadata.attributes`` of the create body (so any
client can use them):

- ``vi-local/outcome``: ``Succeeded`` (default), ``Failed`` or ``Error``
- ``vi-local/pending-seconds``, ``vi-local/running-seconds``,
  ``vi-local/log-interval-seconds``: floats overriding the server's RunSchedule
  (a log interval below ``MIN_LOG_INTERVAL_SECONDS`` is refused: 400)

Logs: line 1 is the Pending line at creation; while Running one line is made
every ``log_interval_seconds`` (the first one at the start); a final line marks
the outcome or the cancellation. Lines are numbered from 1 (``seq``).

Driven runs (``LocalServer.set_run``, see :func:`drive`): a run moved to
Pending or Running stays there (its schedule no longer applies) until it is
moved again; a terminal run stays terminal. A phase reached this way carries
the reason and message it was given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from vi_async.local.errors import bad_request

PENDING = "Pending"
RUNNING = "Running"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
ERROR = "Error"
CANCELLED = "Cancelled"
OUTCOMES = (SUCCEEDED, FAILED, ERROR)
PHASES = (PENDING, RUNNING, *OUTCOMES, CANCELLED)
TERMINAL = (*OUTCOMES, CANCELLED)
#: A time no run reaches (epoch ms): a driven run waits there until moved again.
NEVER = 2**62
#: The longest duration a schedule or an attribute may ask for (30 days).
MAX_SECONDS = 30 * 24 * 3600.0

ATTR_OUTCOME = "vi-local/outcome"
ATTR_PENDING = "vi-local/pending-seconds"
ATTR_RUNNING = "vi-local/running-seconds"
ATTR_LOG_INTERVAL = "vi-local/log-interval-seconds"
MIN_LOG_INTERVAL_SECONDS = 0.01
"""The smallest log interval a client may ask for (100 lines a second)."""

_PHASE_TEXT: dict[str, tuple[str | None, str | None]] = {
    PENDING: (None, "Waiting for resources"),
    RUNNING: (None, "Training in progress"),
    CANCELLED: ("Killed", "Run was killed"),
}
_OUTCOME_TEXT = {
    SUCCEEDED: ("INFO", None, "Run finished: Succeeded"),
    FAILED: ("ERROR", "TrainingFailed", "Run finished: Failed (training failed)"),
    ERROR: ("ERROR", "InternalError", "Run finished: Error (internal error)"),
}


@dataclass(frozen=True)
class RunSchedule:
    """Default timing of simulated runs, in seconds."""

    pending_seconds: float = 2.0
    running_seconds: float = 5.0
    log_interval_seconds: float = 0.5

    def __post_init__(self) -> None:
        """Reject negative durations and a non-positive log interval."""
        if self.pending_seconds < 0 or self.running_seconds < 0:
            raise ValueError("pending_seconds and running_seconds must be >= 0")
        if self.log_interval_seconds <= 0:
            raise ValueError("log_interval_seconds must be > 0")
        durations = (self.pending_seconds, self.running_seconds, self.log_interval_seconds)
        if not all(value <= MAX_SECONDS for value in durations):
            raise ValueError(f"durations must be finite and at most {MAX_SECONDS:g} seconds")


@dataclass(frozen=True)
class RunPlan:
    """The stored, immutable timing of one run (epoch milliseconds)."""

    created_at: int
    running_at: int
    finished_at: int
    outcome: str
    log_interval_ms: int
    cancelled_at: int | None = None
    texts: tuple[tuple[str, str | None, str | None], ...] = ()
    """``(condition, reason, message)`` given by :func:`drive`, overriding the defaults."""

    @property
    def ends_at(self) -> int:
        """When the run reaches (or reached) its terminal condition."""
        return self.finished_at if self.cancelled_at is None else self.cancelled_at

    def is_terminal(self, now: int) -> bool:
        """Whether the run is Succeeded, Failed, Error or Cancelled at ``now``."""
        return now >= self.ends_at

    def phase(self, now: int) -> str:
        """The name of the latest condition at ``now``."""
        return conditions(self, now)[-1]["condition"]  # type: ignore[no-any-return]

    def text(self, name: str) -> tuple[str | None, str | None]:
        """The reason and message of condition ``name``: as driven, else the defaults."""
        for condition, reason, message in self.texts:
            if condition == name:
                return reason, message
        return _default_text(name)


def _seconds(attrs: Mapping[str, str], key: str, default: float) -> float:
    raw = attrs.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise bad_request(f"attribute {key} must be a number of seconds") from None
    if not 0 <= value <= MAX_SECONDS:
        raise bad_request(f"attribute {key} must be a number of seconds from 0 to {MAX_SECONDS:g}")
    return value


def plan_run(created_at: int, schedule: RunSchedule, attrs: Mapping[str, str]) -> RunPlan:
    """Make the plan of a new run from the schedule and its reserved attributes."""
    outcome = attrs.get(ATTR_OUTCOME, SUCCEEDED)
    if outcome not in OUTCOMES:
        raise bad_request(f"attribute {ATTR_OUTCOME} must be one of {', '.join(OUTCOMES)}")
    pending = _seconds(attrs, ATTR_PENDING, schedule.pending_seconds)
    running = _seconds(attrs, ATTR_RUNNING, schedule.running_seconds)
    interval = _seconds(attrs, ATTR_LOG_INTERVAL, schedule.log_interval_seconds)
    if ATTR_LOG_INTERVAL in attrs and interval < MIN_LOG_INTERVAL_SECONDS:
        raise bad_request(
            f"attribute {ATTR_LOG_INTERVAL} must be >= {MIN_LOG_INTERVAL_SECONDS} seconds"
        )
    running_at = created_at + round(pending * 1000)
    return RunPlan(
        created_at=created_at,
        running_at=running_at,
        finished_at=running_at + round(running * 1000),
        outcome=outcome,
        log_interval_ms=max(1, round(interval * 1000)),
    )


def _condition(plan: RunPlan, name: str, at: int) -> dict[str, Any]:
    reason, message = plan.text(name)
    return {
        "condition": name,
        "status": "Reached",
        "lastTransitionTime": at,
        "reason": reason,
        "message": message,
    }


def conditions(plan: RunPlan, now: int) -> list[dict[str, Any]]:
    """The run's conditions reached by ``now``, oldest first."""
    result = [_condition(plan, PENDING, plan.created_at)]
    if plan.running_at <= min(now, plan.ends_at):
        result.append(_condition(plan, RUNNING, plan.running_at))
    if now >= plan.ends_at:
        if plan.cancelled_at is not None:
            result.append(_condition(plan, CANCELLED, plan.cancelled_at))
        else:
            result.append(_condition(plan, plan.outcome, plan.finished_at))
    return result


def _moved(plan: RunPlan, phase: str, current: str, now: int) -> dict[str, Any]:
    """The plan fields that put a run of phase ``current`` in ``phase`` at ``now``."""
    if phase == PENDING:
        if current != PENDING:
            raise ValueError(f"a {current} run cannot go back to Pending")
        return {"running_at": NEVER, "finished_at": NEVER}
    if phase == RUNNING:
        return {"running_at": plan.running_at if current == RUNNING else now, "finished_at": NEVER}
    if phase == CANCELLED:
        return {"cancelled_at": now}
    # An outcome reached from Pending skips Running: the run never started.
    running_at = plan.running_at if current == RUNNING else NEVER
    return {"outcome": phase, "finished_at": now, "running_at": running_at}


def drive(plan: RunPlan, phase: str, now: int, reason: str | None, message: str | None) -> RunPlan:
    """The plan of a run moved to ``phase`` at ``now`` (``LocalServer.set_run``).

    Args:
        plan: The run's plan.
        phase: Pending, Running, Succeeded, Failed, Error or Cancelled.
        now: The server time, epoch milliseconds.
        reason: The new condition's reason (the default one when None).
        message: The new condition's message (the default one when None).

    Returns:
        The new plan.

    Raises:
        ValueError: An unknown phase, a terminal run, or Running -> Pending.
    """
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
    current = plan.phase(now)
    if current in TERMINAL:
        raise ValueError(f"the run is {current}: a terminal run stays terminal")
    texts = tuple(t for t in plan.texts if t[0] != phase)
    if reason is not None or message is not None:
        default_reason, default_message = _default_text(phase)
        reason = default_reason if reason is None else reason
        texts += ((phase, reason, default_message if message is None else message),)
    return dataclasses.replace(plan, texts=texts, **_moved(plan, phase, current, now))


def _default_text(phase: str) -> tuple[str | None, str | None]:
    """The reason and message a condition has unless ``set_run`` gave others."""
    if phase in _OUTCOME_TEXT:
        return _OUTCOME_TEXT[phase][1], _OUTCOME_TEXT[phase][2]
    return _PHASE_TEXT[phase]


def running_line_count(plan: RunPlan, now: int) -> int:
    """How many "Running" lines (one per log interval) the run has produced by ``now``."""
    limit = plan.finished_at - 1 if plan.cancelled_at is None else plan.cancelled_at
    bound = min(now, limit)
    if bound < plan.running_at:
        return 0
    return (bound - plan.running_at) // plan.log_interval_ms + 1


def line_count(plan: RunPlan, now: int) -> int:
    """How many log lines the run has produced by ``now``."""
    return 1 + running_line_count(plan, now) + (1 if plan.is_terminal(now) else 0)


def log_line(plan: RunPlan, seq: int, blocks: tuple[str, ...]) -> dict[str, Any]:
    """Line number ``seq`` (from 1) of a run whose flow has ``blocks``.

    The final line is only valid once the run is terminal; call with
    ``seq <= line_count(plan, now)``.
    """
    if seq == 1:
        return _line(seq, plan.created_at, None, "INFO", "Run queued (Pending)")
    k = seq - 2
    total_running = running_line_count(plan, plan.ends_at)
    if k < total_running:
        at = plan.running_at + k * plan.log_interval_ms
        block = blocks[k % len(blocks)] if blocks else None
        span = max(1, plan.finished_at - plan.running_at)
        percent = min(99, (at - plan.running_at) * 100 // span)
        text = "Run started (Running)" if k == 0 else f"step {k}: {percent}% of training done"
        return _line(seq, at, block, "INFO", text)
    if plan.cancelled_at is not None:
        return _line(seq, plan.cancelled_at, None, "WARNING", "Run cancelled (killed)")
    level, _, text = _OUTCOME_TEXT[plan.outcome]
    driven = [message for name, _, message in plan.texts if name == plan.outcome]
    if driven and driven[0]:
        text = f"Run finished: {plan.outcome} ({driven[0]})"
    return _line(seq, plan.finished_at, None, level, text)


def _line(seq: int, at: int, block: str | None, level: str, message: str) -> dict[str, Any]:
    return {"seq": seq, "timestamp": at, "block": block, "level": level, "message": message}


def iter_lines(
    plan: RunPlan, now: int, blocks: tuple[str, ...], after: int = 0
) -> Iterator[dict[str, Any]]:
    """Yield the lines with ``seq > after`` available at ``now``, in order."""
    for seq in range(after + 1, line_count(plan, now) + 1):
        yield log_line(plan, seq, blocks)
