"""Logging of unhandled request errors: rate-limited and written off the event loop.

A crafted request that trips a bug could otherwise make the server write a full
traceback per request, synchronously, on the event loop (a slow or blocked
stderr then stalls every client). :class:`ErrorLog` logs the first ``burst``
errors of each ``window`` with their traceback, counts the rest and reports the
count with the next logged error; records go through a queue to a listener
thread, so the loop never waits for a handler.
"""

from __future__ import annotations

import logging
import queue
import sys
import time
from collections.abc import Callable
from logging.handlers import QueueListener

BURST = 5
WINDOW_SECONDS = 60.0


class _Forward(logging.Handler):
    """Hands a queued record to the logger's own handlers (on the listener thread)."""

    def __init__(self, target: logging.Logger) -> None:
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        self.target.handle(record)


class ErrorLog:
    """Rate-limited, non-blocking logging of the errors a handler did not expect."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = BURST,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Log to ``logger`` at most ``burst`` tracebacks per ``window`` seconds."""
        self.logger = logger
        self.burst = burst
        self.window = window
        self._clock = clock
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._listener: QueueListener | None = None
        self._window_start = -float("inf")
        self._logged = 0
        self.suppressed: int = 0

    def start(self) -> None:
        """Start the listener thread that writes the records."""
        if self._listener is None:
            self._listener = QueueListener(self._queue, _Forward(self.logger))
            self._listener.start()

    def stop(self) -> None:
        """Write what is queued (and the count of suppressed errors), then stop the thread."""
        if self.suppressed:
            self._put(f"{self.suppressed} more unhandled errors were not logged", None)
            self.suppressed = 0
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()

    def report(self, what: str) -> None:
        """Log the exception being handled, as an error while serving ``what``."""
        now = self._clock()
        if now - self._window_start >= self.window:
            self._window_start, self._logged = now, 0
        if self._logged >= self.burst:
            self.suppressed += 1
            return
        self._logged += 1
        message = f"unhandled error for {what}"
        if self.suppressed:
            message += f" ({self.suppressed} more since the last one were not logged)"
            self.suppressed = 0
        self._put(message, sys.exc_info())

    def _put(self, message: str, exc_info: logging._SysExcInfoType | None) -> None:
        if not self.logger.isEnabledFor(logging.ERROR):
            return
        record = self.logger.makeRecord(
            self.logger.name, logging.ERROR, __file__, 0, message, (), exc_info
        )
        if self._listener is None:
            self.logger.handle(record)  # not started (a bare app in a test): write now
        else:
            self._queue.put(record)
