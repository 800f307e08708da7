"""The time-derived run engine, checked at chosen instants (no clock involved)."""

from __future__ import annotations

import pytest

from vi_async.local import RunSchedule
from vi_async.local.engine import RunPlan, conditions, iter_lines, line_count, plan_run
from vi_async.local.errors import ApiError

SCHEDULE = RunSchedule(pending_seconds=1, running_seconds=2, log_interval_seconds=0.5)


def _names(plan: RunPlan, now: int) -> list[str]:
    return [c["condition"] for c in conditions(plan, now)]


def test_conditions_over_time() -> None:
    plan = plan_run(10_000, SCHEDULE, {})
    assert _names(plan, 10_000) == ["Pending"]
    assert _names(plan, 10_999) == ["Pending"]
    assert _names(plan, 11_000) == ["Pending", "Running"]
    assert _names(plan, 12_999) == ["Pending", "Running"]
    assert _names(plan, 13_000) == ["Pending", "Running", "Succeeded"]
    assert plan.phase(99_999) == "Succeeded"
    assert not plan.is_terminal(12_999) and plan.is_terminal(13_000)


def test_outcome_and_overrides_from_attributes() -> None:
    plan = plan_run(
        0,
        SCHEDULE,
        {
            "vi-local/outcome": "Error",
            "vi-local/pending-seconds": "0.25",
            "vi-local/running-seconds": "0.5",
        },
    )
    assert (plan.running_at, plan.finished_at, plan.outcome) == (250, 750, "Error")
    last = conditions(plan, 750)[-1]
    assert last["condition"] == "Error" and last["reason"] == "InternalError"
    with pytest.raises(ApiError):
        plan_run(0, SCHEDULE, {"vi-local/outcome": "Maybe"})


def test_cancel_during_pending_skips_running() -> None:
    plan = plan_run(0, SCHEDULE, {})
    cancelled = RunPlan(**{**plan.__dict__, "cancelled_at": 500})
    assert _names(cancelled, 500) == ["Pending", "Cancelled"]
    assert [line["level"] for line in iter_lines(cancelled, 600, ())] == ["INFO", "WARNING"]


def test_lines_only_grow_across_time_and_cancellation() -> None:
    plan = plan_run(0, SCHEDULE, {})
    blocks = ("a", "b")
    previous: list[dict[str, object]] = []
    for now in range(0, 4000, 70):
        lines = list(iter_lines(plan, now, blocks))
        assert lines[: len(previous)] == previous
        previous = lines
    assert line_count(plan, 10_000) == 1 + 4 + 1

    # Cancelling at t keeps every line visible at t and adds one final line.
    for t in (1000, 1499, 1500, 2200):
        cancelled = RunPlan(**{**plan.__dict__, "cancelled_at": t})
        before = list(iter_lines(plan, t, blocks))
        after = list(iter_lines(cancelled, t + 10_000, blocks))
        assert after[:-1] == before
        assert after[-1]["level"] == "WARNING" and after[-1]["timestamp"] == t


def test_schedule_validation() -> None:
    with pytest.raises(ValueError):
        RunSchedule(pending_seconds=-1)
    with pytest.raises(ValueError):
        RunSchedule(log_interval_seconds=0)
