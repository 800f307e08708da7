"""Benchmarks of vi_async against the official ``vi`` client and a raw-aiohttp floor.

Run them all with ``python -m benchmarks`` (or ``nox -s bench``); each measure
is a module with ``run(quick: bool) -> Result`` and prints one summary line.
Results and the machine they were measured on: ``benchmarks/RESULTS.md``.
"""

MEASURES = (
    "bulk_delete",
    "bulk_delete_0ms",
    "rate_limited_delete",
    "client_overhead",
    "wait_fanout",
    "decode",
    "import_time",
    "sync_overhead",
    "memory",
    "log_page",
    "model_download",
    "observability",
)
