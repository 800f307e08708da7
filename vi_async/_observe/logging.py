"""Structured log records: every record of the ``vi_async`` logger carries the same
``extra`` fields, so a JSON formatter can use them without parsing messages.

The fields are ``method``, ``path_template`` (``flows/{flow_id}``: ids named, never
their values), ``status``, ``attempt``, ``request_id`` and ``elapsed`` (seconds);
a field that does not apply is None. Records about a request (an attempt, a retry)
take them from the request being made; none ever holds a header, so none holds
the key. The filter runs only for records that are emitted.
"""

from __future__ import annotations

import logging

from .._http.retry import current_call
from .hooks import path_template

LOGGER_NAME = "vi_async"
FIELDS = ("method", "path_template", "status", "attempt", "request_id", "elapsed")


class CallFields(logging.Filter):
    """Fills the structured fields a record does not already carry."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the fields (from the current request, else None); never drops a record."""
        fields = record.__dict__
        call = current_call.get(None)
        if call is not None:
            fields.setdefault("method", call.method)
            fields.setdefault("path_template", path_template(call.path))
            fields.setdefault("attempt", call.attempts)
        for name in FIELDS:
            fields.setdefault(name, None)
        return True


def sdk_logger(name: str = LOGGER_NAME) -> logging.Logger:
    """A logger of the SDK, with the structured-fields filter installed once.

    Args:
        name: ``vi_async`` or a logger below it, one per part of the SDK
            (``vi_async.transport``, ``vi_async.download``, ``vi_async.runs``), so
            that users can set each part's level. A logger's filters see only the
            records logged on it, hence one filter per logger.

    Returns:
        The logger.
    """
    logger = logging.getLogger(name)
    if not any(isinstance(f, CallFields) for f in logger.filters):
        logger.addFilter(CallFields())
    return logger


class RepeatedWarnings:
    """Warnings that repeat for one cause, collapsed: the first is logged at WARNING,
    the repeats at DEBUG, and ``flush()`` (when the client closes) logs one WARNING
    with how many there were. Without it, 60 calls failing against a down server
    printed 27 identical "retry budget exhausted" lines."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._counts: dict[str, int] = {}

    def warning(self, cause: str, message: str, *args: object) -> None:
        """Log ``message`` at WARNING the first time ``cause`` happens, else at DEBUG."""
        seen = self._counts.get(cause, 0)
        self._counts[cause] = seen + 1
        level = logging.DEBUG if seen else logging.WARNING
        if self._logger.isEnabledFor(level):
            self._logger.log(level, message, *args)

    def flush(self) -> None:
        """Log how many times each repeated cause happened; start counting again."""
        for cause, count in self._counts.items():
            if count > 1:
                self._logger.warning("%s %d times in all", cause, count)
        self._counts.clear()
