"""How long storage may keep failing before a download gives up.

Guarantees: transient failures (resets, timeouts, 408/429/5xx) are retried
with capped exponential backoff for as long as the streak of failures has
lasted less than the budget, measured in time from its first failure, so a
download rides out an outage of that length however many requests it makes
meanwhile; an answer that moves the download on ends the streak. Refreshing a
refused URL is not a failure: it is bounded on its own (MAX_REFRESHES) and
spends none of the budget.
"""

from __future__ import annotations

import asyncio
import time

from ..errors import ViDownloadError

BASE_DELAY = 0.05
MAX_DELAY = 2.0
MAX_REFRESHES = 8
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class Outage:
    """One streak of transient storage failures, bounded in time."""

    def __init__(self, budget: float) -> None:
        """Allow a streak of failures to last ``budget`` seconds."""
        self.budget = budget
        self._since: float | None = None
        self._failures = 0

    def ended(self) -> None:
        """Storage moved the download on: the next failure starts a new streak."""
        self._since, self._failures = None, 0

    async def wait(self, reason: str) -> None:
        """Sleep before the next try.

        Args:
            reason: What failed, for the error.

        Raises:
            ViDownloadError: The streak would outlast the budget.
        """
        now = time.monotonic()
        if self._since is None:
            self._since = now
        self._failures += 1
        delay = min(MAX_DELAY, BASE_DELAY * 2 ** min(self._failures, 16))
        if now - self._since + delay > self.budget:
            raise ViDownloadError(
                f"Storage kept failing for {now - self._since:.1f} s "
                f"({self._failures} tries; the budget is {self.budget:g} s): {reason}"
            )
        await asyncio.sleep(delay)
