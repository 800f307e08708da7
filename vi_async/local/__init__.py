"""A Vi-compatible local API server (flows, runs, logs) backed by SQLite.

``async with LocalServer() as server`` (or ``with LocalServer() as server`` from
synchronous code) serves the Vi API on a free loopback port; point any Vi client
at ``server.endpoint`` with ``server.organization_id`` and ``server.secret_key``
(or ``server.env()``). See :mod:`vi_async.local.engine` for the simulated run
lifecycle and its ``vi-local/*`` attributes, :mod:`vi_async.local.faults` for
fault injection, :mod:`vi_async.local.service` for the run -> flow link rule and
:mod:`vi_async.local.admin` for the ``/_local/`` test routes (they need
``server.admin_headers()``) and :mod:`vi_async.local.seeding` for test data
(``server.seed_flows``, ``add_organization``, ``flow_ids``, ``run_ids``).

As a test double: ``LocalServer(clock="manual")`` with ``server.advance()``,
``server.set_run()``, ``server.append_logs()``, the ``server.requests`` journal
and ``server.inject(FaultRule(...))`` (see :mod:`vi_async.local.control`).
"""

from vi_async.local.engine import RunSchedule
from vi_async.local.faults import FaultConfig
from vi_async.local.journal import JournalEntry, RequestJournal
from vi_async.local.rules import FaultHandle, FaultRule
from vi_async.local.server import LocalServer

__all__ = [
    "FaultConfig",
    "FaultHandle",
    "FaultRule",
    "JournalEntry",
    "LocalServer",
    "RequestJournal",
    "RunSchedule",
]
