"""Bulk jobs on flows: the per-item results and the report (public), and the
machinery behind ``delete_many``, ``cleanup`` and ``apply`` (private modules).

- ``report``: ``BulkItemResult``, ``BulkReport``, ``BulkOutcome``, ``BulkError``,
  ``BulkProgress`` (the ``progress`` callback; ``Progress`` is its public alias);
- ``options``: ``BulkOptions``, the knobs of one job, checked once;
- ``filter``: ``FlowFilter``, which flows a cleanup takes and why;
- ``plan``: ``CleanupPlan`` and ``PlannedDelete`` (reviewed first, applied exactly);
- ``delete``: one flow's delete under the active-run policy, ``delete_flows``;
- ``engine`` and ``adaptive``: a fixed pool of workers under an adaptive limit.

``import vi_async`` loads ``report``, ``options``, ``filter``, ``plan`` and
``delete``; ``engine`` and ``adaptive`` load with the first bulk call.
"""

from .report import (
    CANCELLED_REASON,
    CHANGED_REASON,
    GRACE_REASON,
    UNKNOWN_REASON,
    BulkError,
    BulkItemResult,
    BulkOutcome,
    BulkProgress,
    BulkReport,
    OnActiveRun,
    Progress,
)

__all__ = [
    "CANCELLED_REASON",
    "CHANGED_REASON",
    "GRACE_REASON",
    "UNKNOWN_REASON",
    "BulkError",
    "BulkItemResult",
    "BulkOutcome",
    "BulkProgress",
    "BulkReport",
    "OnActiveRun",
    "Progress",
]
