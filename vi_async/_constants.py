"""Defaults in one place: every default that more than one module (or a
signature and its documentation) states is named here and imported from here."""

from __future__ import annotations

#: Seconds one HTTP attempt may take (connect + send + the whole answer).
DEFAULT_TIMEOUT = 30.0
#: Transient failures retried per request (only for requests safe to repeat).
DEFAULT_MAX_RETRIES = 4
#: Seconds a request may spend retrying in all, or None for no overall cap.
DEFAULT_RETRY_DEADLINE = 120.0
#: The longest ``Retry-After`` honoured, in seconds; a longer one fails the request.
DEFAULT_MAX_RETRY_AFTER = 60.0
#: Connections the client's session opens at most.
DEFAULT_MAX_CONNECTIONS = 100
#: First backoff delay, in seconds (then jittered exponential growth).
DEFAULT_RETRY_BASE_DELAY = 0.25
#: Largest response body read into memory (a 1,000-run page is a few MiB).
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: Seconds a cancelled bulk job's in-flight deletes may still take.
DEFAULT_CANCEL_GRACE = 10.0
#: Requests a bulk job keeps in flight at most (a ceiling: the job adapts to 429s).
DEFAULT_CONCURRENCY = 32
#: Concurrent ranged requests of one model download.
DEFAULT_DOWNLOAD_WORKERS = 8
#: The largest model archive a download accepts, and the most its files may hold
#: (``max_bytes``): a ceiling against implausible sizes and archive bombs.
DEFAULT_MAX_MODEL_BYTES = 256 * 1024**3
#: The largest page the API serves on a list (flows, runs, log lines).
MAX_PAGE_SIZE = 1000
#: Seconds ``runs.wait_for`` waits by default; a wait has a deadline unless told
#: otherwise (kubeflow/sdk#696 hung CI forever).
DEFAULT_WAIT_TIMEOUT = 3600.0
