"""Bulk jobs on flows: the per-item results and the report (public), and the
machinery behind ``delete_many``, ``cleanup`` and ``apply`` (private modules).

- ``report``: ``BulkItemResult``, ``BulkReport``, ``BulkOutcome``, ``BulkError``,
  ``BulkProgress`` (the ``progress`` callback; ``Progress`` is its public alias);
- ``plan``: ``CleanupPlan`` and ``PlannedDelete`` (reviewed first, applied exactly);
- ``delete``: one flow's delete under the active-run policy, the cleanup filter;
- ``engine`` and ``adaptive``: a fixed pool of workers under an adaptive limit.

Only ``report`` loads with ``import vi_async``; the rest loads with the first bulk call.
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
