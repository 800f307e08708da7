"""Polling cadence, kept apart from per-request retries (like google-api-core's
polling futures): quick at first, backing off to a ceiling, with jitter."""

from __future__ import annotations

import random

from .._validate import check_number

DEFAULT_INITIAL = 0.2
DEFAULT_CEILING = 5.0
DEFAULT_FACTOR = 1.5


class PollSchedule:
    """The delay before the next poll: adaptive, or about ``interval`` when it is set."""

    def __init__(
        self,
        interval: float | None = None,
        *,
        initial: float = DEFAULT_INITIAL,
        ceiling: float = DEFAULT_CEILING,
        factor: float = DEFAULT_FACTOR,
    ) -> None:
        check_number(interval, "poll_interval", positive=True)
        self.interval = interval
        self._initial = initial
        self._ceiling = ceiling
        self._factor = factor
        self._current = initial

    def next_delay(self) -> float:
        """The next delay; adaptive delays grow by ``factor`` up to ``ceiling``."""
        if self.interval is not None:
            # A little jitter even when fixed, so that many loops started together
            # do not all wake in the same event-loop pass; only upwards, so that a
            # run is never polled more often than once per ``interval``.
            return self.interval * random.uniform(1.0, 1.2)
        delay = self._current * random.uniform(0.8, 1.2)
        self._current = min(self._ceiling, self._current * self._factor)
        return delay

    @property
    def current(self) -> float:
        """About the next delay (before jitter): ``interval``, or the adaptive step."""
        return self.interval if self.interval is not None else self._current

    def reset(self) -> None:
        """Go back to quick polling (something changed)."""
        self._current = self._initial
