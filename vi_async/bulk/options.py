"""The knobs of one bulk job, checked once, before the job sends anything.

Guarantee: a ``BulkOptions`` that exists is valid (a positive integer
``concurrency``, a known ``on_active_run``), so the public entry points that
make one (``delete_many``, ``cleanup``, ``apply``) refuse bad arguments
before any request, and nothing further down checks them again.
``check_on_active_run`` is the one check of the active-run policy, also used
by ``plan_cleanup`` and by ``CleanupPlan``.

Light on purpose: ``import vi_async`` loads this module, not the engine.
"""

from __future__ import annotations

from typing import Any, get_args

import attrs

from .._constants import DEFAULT_CANCEL_GRACE, DEFAULT_CONCURRENCY
from .._http.retry import RetryQuota
from .report import BulkProgress, BulkReport, OnActiveRun

__all__ = ["ON_ACTIVE_RUN", "BulkOptions", "check_on_active_run"]

ON_ACTIVE_RUN: tuple[str, ...] = get_args(OnActiveRun)
"""The active-run policies, in the order the messages list them."""


def check_on_active_run(value: object) -> OnActiveRun:
    """Check an active-run policy.

    Args:
        value: What the caller gave as ``on_active_run``.

    Returns:
        The value, typed as an ``OnActiveRun``.

    Raises:
        ValueError: The value is not one of ``"skip"``, ``"kill"``, ``"fail"``.
    """
    if value not in ON_ACTIVE_RUN:
        raise ValueError(f"on_active_run must be one of {', '.join(ON_ACTIVE_RUN)}; got {value!r}")
    return value  # type: ignore[return-value]


def _valid_policy(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    check_on_active_run(value)


def _positive_int(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


@attrs.frozen
class BulkOptions:
    """How one bulk job runs: its limits, its policy and where it reports.

    Args:
        concurrency: Items in flight at most (the ceiling of an adaptive job).
        on_active_run: What to do with a flow that has an active run.
        dry_run: Change nothing; list what would be deleted.
        adaptive: Adapt the concurrency to the server (else it is fixed).
        progress: ``progress(done, total_or_None, last_result)`` after every item.
        report: The report to fill as the job goes (a new one when None).
        cancel_grace: Seconds in-flight work may still take once the job is cancelled.
        quota: The client's retry budget, paid by the checks of lost answers.

    Raises:
        ValueError: ``concurrency`` is not a positive integer, or ``on_active_run``
            is not a known policy.
    """

    concurrency: int = attrs.field(default=DEFAULT_CONCURRENCY, validator=_positive_int)
    on_active_run: OnActiveRun = attrs.field(default="skip", validator=_valid_policy)
    dry_run: bool = False
    adaptive: bool = True
    progress: BulkProgress | None = attrs.field(default=None, eq=False)
    report: BulkReport | None = attrs.field(default=None, eq=False)
    cancel_grace: float = DEFAULT_CANCEL_GRACE
    quota: RetryQuota | None = attrs.field(default=None, eq=False)
