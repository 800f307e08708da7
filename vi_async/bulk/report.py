"""The results of a bulk job: one ``BulkItemResult`` per item, and the ``BulkReport``
(public as ``vi_async.bulk``).

``delete_many`` and ``cleanup`` fill a ``BulkReport`` as they go (pass your own
``report=`` to keep it when the call is cancelled); each flow ends in exactly
one outcome. The engine that runs a job is ``vi_async.bulk.engine``.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Iterator
from typing import Any, Literal

import attrs

from ..errors import ViError

CHANGED_REASON = "changed since the plan"
"""The reason of a planned flow skipped by ``flows.apply``: its etag is not the plan's."""
CANCELLED_REASON = "cancelled"
"""The reason of a flow skipped because the job was cancelled before its DELETE was sent."""
UNKNOWN_REASON = "outcome unknown: the answer was lost and could not be confirmed"
"""The reason of an ``unknown`` flow whose DELETE may or may not have gone through: its
answer was lost and every check (GET) the retry budget allowed failed too."""
GRACE_REASON = "outcome unknown: the job was cancelled and the delete did not finish in time"
"""The reason of an ``unknown`` flow whose DELETE was still in flight when the
cancelled job's grace (the client's ``cancel_grace``) ran out."""


OnActiveRun = Literal["skip", "kill", "fail"]
"""What a bulk delete does with a flow that has an active (Pending/Running) run."""


class BulkOutcome(str, enum.Enum):
    """How one item of a bulk job ended."""

    DELETED = "deleted"
    """The flow was deleted (by this job; a lost answer is confirmed first)."""
    SKIPPED = "skipped"
    """Left in place on purpose: see ``reason`` (an active run, or ``"cancelled"``)."""
    NOT_FOUND = "not_found"
    """The flow was already gone."""
    FAILED = "failed"
    """The delete failed; ``error`` holds the typed ViError. The flow is still there."""
    WOULD_DELETE = "would_delete"
    """Dry run: the flow would have been deleted."""
    UNKNOWN = "unknown"
    """The DELETE may or may not have gone through (never counted as deleted or
    failed): its answer was lost and could not be confirmed, or the job was
    cancelled while it was in flight. Check the flow before acting on it."""

    def __str__(self) -> str:
        return self.value


def _without_traceback(error: ViError | None) -> ViError | None:
    """Drop the traceback of ``error`` and of its causes and contexts (in place):
    a stored error must not keep the stack frames of the failure alive."""
    if error is None:  # the common case: no walk, no set
        return None
    seen: set[int] = set()
    exc: BaseException | None = error
    pending: list[BaseException] = []
    while exc is not None or pending:
        if exc is None:
            exc = pending.pop()
        if id(exc) not in seen:
            seen.add(id(exc))
            exc.__traceback__ = None
            if exc.__context__ is not None:
                pending.append(exc.__context__)
            exc = exc.__cause__
        else:
            exc = None
    return error


@attrs.frozen
class BulkItemResult:
    """The outcome of one flow in a bulk job."""

    flow_id: str
    outcome: BulkOutcome
    reason: str | None = None
    """Why it was skipped or failed, in words."""
    error: ViError | None = attrs.field(default=None, converter=_without_traceback)
    """The typed error of a failed item (kept without its traceback)."""
    name: str | None = None
    """The flow's name, when the job saw the flow."""
    killed_runs: tuple[str, ...] = ()
    """Runs killed so that the flow could be deleted (``on_active_run="kill"``)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (snake_case keys; the error as type, message and status)."""
        error = None
        if self.error is not None:
            error = {
                "type": type(self.error).__name__,
                "message": self.error.message,
                "status": self.error.status,
            }
        return {
            "flow_id": self.flow_id,
            "name": self.name,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "error": error,
            "killed_runs": list(self.killed_runs),
        }


BulkProgress = Callable[[int, "int | None", BulkItemResult], object]
"""``progress(done, total_or_None, last_result)``: called after every item (sync)."""

Progress = BulkProgress
"""The public alias of ``BulkProgress`` (``vi_async.bulk.Progress``)."""


@attrs.define(eq=False)
class BulkReport:
    """What a bulk job did, one result per flow, grouped by outcome.

    The lists fill up while the job runs. ``cancelled`` is true as soon as
    the job was cancelled (it may not have read every item); ``finished`` is
    false while the job still runs (the report is partial); ``error`` holds
    the error that stopped it early (e.g. the flow listing failed), if any.
    """

    deleted: list[BulkItemResult] = attrs.field(factory=list)
    skipped: list[BulkItemResult] = attrs.field(factory=list)
    not_found: list[BulkItemResult] = attrs.field(factory=list)
    failed: list[BulkItemResult] = attrs.field(factory=list)
    would_delete: list[BulkItemResult] = attrs.field(factory=list)
    """Dry run only: the flows that would have been deleted."""
    unknown: list[BulkItemResult] = attrs.field(factory=list)
    """Flows whose delete may or may not have happened (see ``BulkOutcome.UNKNOWN``)."""
    dry_run: bool = False
    cancelled: bool = False
    finished: bool = True
    """False while the job that fills this report still runs: the report is then
    partial (e.g. read after a second Ctrl-C in vi_sync; in-flight deletes may land
    later). A job sets it when it starts and again once every item has its result."""
    error: BaseException | None = None
    not_reached: int | None = 0
    """Items the job never reached (left untouched) because it stopped early; None
    when that cannot be known (a listing it did not read to the end)."""
    elapsed: float = 0.0
    """Seconds the job took (set when it ends, however it ends)."""

    def add(self, result: BulkItemResult) -> None:
        """Record one item's result under its outcome."""
        getattr(self, result.outcome.value).append(result)

    def results(self) -> Iterator[BulkItemResult]:
        """Every result, grouped by outcome."""
        return itertools.chain(*(getattr(self, o.value) for o in BulkOutcome))

    @property
    def total(self) -> int:
        """How many items have a result."""
        return sum(self.counts.values())

    @property
    def counts(self) -> dict[str, int]:
        """The number of results per outcome, keyed by outcome value."""
        return {o.value: len(getattr(self, o.value)) for o in BulkOutcome}

    @property
    def complete(self) -> bool:
        """True when the job read and handled every item (finished, not cancelled, no error)."""
        return self.finished and not self.cancelled and self.error is None

    @property
    def partial(self) -> bool:
        """True while the job still runs: results may still be added."""
        return not self.finished

    @property
    def ok(self) -> bool:
        """True when the job is complete and no item failed or ended unknown."""
        return self.complete and not self.failed and not self.unknown

    def raise_for_failures(self) -> None:
        """Raise BulkError (carrying this report) if an item failed or is unknown, or the
        job stopped early."""
        if not self.ok:
            raise BulkError(self.summary(), report=self)

    def summary(self) -> str:
        """A readable multi-line summary: counts, reasons and failures."""
        verb = "Dry run" if self.dry_run else "Bulk delete"
        state = "cancelled" if self.cancelled else "stopped early" if self.error else "done"
        if self.partial:
            state += " (partial report: the job is still finishing)"
        lines = [f"{verb} {state}: {self.total} flow(s) in {self.elapsed:.2f}s"]
        lines += [f"  {outcome:<13} {n}" for outcome, n in self.counts.items() if n]
        lines += _grouped_reasons(self.skipped, "skipped")
        lines += [f"  failed {r.flow_id}: {r.reason or r.error}" for r in self.failed[:_MAX_LISTED]]
        if len(self.failed) > _MAX_LISTED:
            lines.append(f"  ... and {len(self.failed) - _MAX_LISTED} more failure(s)")
        lines += [f"  unknown {r.flow_id}: {r.reason}" for r in self.unknown[:_MAX_LISTED]]
        if self.error is not None:
            lines.append(f"  stopped by: {type(self.error).__name__}: {self.error}")
        if self.not_reached is None:
            lines.append("  not reached:  unknown (the listing was not read to its end: "
                         "more matching flows may be left untouched)")  # fmt: skip
        elif self.not_reached:
            lines.append(f"  not reached:  {self.not_reached} flow(s) left untouched")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: flags, counts and every result."""
        data: dict[str, Any] = {
            "dry_run": self.dry_run,
            "cancelled": self.cancelled,
            "finished": self.finished,
            "error": None if self.error is None else str(self.error),
            "elapsed": round(self.elapsed, 3),
            "not_reached": self.not_reached,
            "total": self.total,
            "counts": self.counts,
        }
        for outcome in BulkOutcome:
            data[outcome.value] = [r.to_dict() for r in getattr(self, outcome.value)]
        return data


_MAX_LISTED = 10


def _grouped_reasons(results: list[BulkItemResult], label: str) -> list[str]:
    counts: dict[str, int] = {}
    for result in results:
        reason = result.reason or "no reason given"
        counts[reason] = counts.get(reason, 0) + 1
    return [f"  {label}: {n} x {reason}" for reason, n in counts.items()]


class BulkError(ViError):
    """A bulk job had failures or stopped early; ``report`` says what was done."""

    def __init__(self, message: str, *, report: BulkReport) -> None:
        super().__init__(message)
        self.report = report
