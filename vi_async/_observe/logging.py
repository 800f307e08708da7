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


def sdk_logger() -> logging.Logger:
    """The ``vi_async`` logger, with the structured-fields filter installed once."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(f, CallFields) for f in logger.filters):
        logger.addFilter(CallFields())
    return logger
