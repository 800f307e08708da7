"""The ``runs`` commands: list, get, create (and wait), wait, watch, logs, kill, delete.

Guarantee: a command that waits (``runs create --wait``, ``runs wait``) exits
0 only when every run it waited for succeeded. While one waits or watches, a
server that stops answering is said on stderr once per outage; once the outage
outlasts the client's retry deadline the command exits 1 (ViConnectionError).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import aclosing, contextmanager

import anyio

from .._client import Client
from .._convert import converter
from .._observe.logging import LOGGER_NAME
from ..models import PaginationParams, Run, RunPhase
from . import output as term
from .common import Command, Context, UsageError, attributes, print_items, show
from .terminal import echo

__all__ = ["RUN_COMMANDS"]


async def runs_list(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``runs list``."""
    pagination = PaginationParams(page_size=args.page_size)
    pager = client.runs.list(pagination=pagination, status=args.status or None)
    await print_items(pager.all_items(), ctx, args.limit, term.RUN_VIEW)
    return 0


async def runs_get(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``runs get``."""
    show(await client.runs.get(args.run_id), ctx)
    return 0


class _Notices(logging.Handler):
    """Prints the SDK's warnings on stderr, such as the poller's once-per-outage
    "the server is unreachable ...; retrying for up to 120s"."""

    def emit(self, record: logging.LogRecord) -> None:
        """Print one record as ``vi-async: <message>``."""
        echo(f"vi-async: {record.getMessage()}", err=True)


@contextmanager
def _notices() -> Iterator[None]:
    """Show the SDK's warnings on stderr while a command waits or watches."""
    handler = _Notices(logging.WARNING)
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _wait_exit(runs: list[Run]) -> int:
    """0 when every run succeeded, else 1."""
    return 0 if all(run.phase is RunPhase.SUCCEEDED for run in runs) else 1


async def _wait_one(client: Client, run_id: str, timeout: float | None) -> Run:
    """Wait with a live status on stderr: a moving timer on a terminal, else one
    line per phase change."""
    status = term.LiveStatus(f"waiting for {run_id}")
    try:
        with _notices():
            return await client.runs.wait_for(
                run_id, timeout=timeout, on_update=lambda run: status.update(run.phase.value)
            )
    finally:
        status.close()


async def runs_create(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``runs create FLOW_ID``; with ``--wait`` the exit code tells whether it succeeded."""
    run = await client.runs.create(
        args.flow_id,
        training_project=args.training_project,
        metadata=attributes(args.attr),
    )
    if not args.wait:
        show(run, ctx)
        return 0
    if not ctx.json:
        echo(f"Started run {run.run_id}")
    run = await _wait_one(client, run.run_id, args.timeout)
    show(run, ctx)
    return _wait_exit([run])


async def runs_wait(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``runs wait ID...``: exit 0 only if every run succeeded."""
    ids = list(dict.fromkeys(args.run_ids))
    if len(ids) == 1:
        finished = [await _wait_one(client, ids[0], args.timeout)]
    else:
        finished = await _wait_many(client, ids, args.timeout, ctx)
    if ctx.json:
        term.dump([term.run_json(run) for run in finished])
    elif len(ids) == 1:
        echo(f"{finished[0].run_id}: {finished[0].phase.value}")
    return _wait_exit(finished)


async def _wait_many(
    client: Client, ids: list[str], timeout: float | None, ctx: Context
) -> list[Run]:
    """Wait for several runs with a progress bar on stderr; each run, as it ends, is a
    table row above the bar (not with ``--json``)."""
    finished: list[Run] = []
    bar, table = term.ProgressBar("waiting", rate=False), term.Table(term.RUN_COLUMNS)
    bar.update(0, len(ids), force=True)
    try:
        async for run in client.runs.as_completed(ids, timeout=timeout):
            finished.append(run)
            if not ctx.json:
                term.run_row(table, run)
            bar.update(len(finished), len(ids), force=True)
    finally:
        bar.close()
    return finished


async def runs_watch(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``runs watch [ID...] [--status P]``: a line per event (JSON Lines with ``--json``)."""
    if args.interval is not None and args.interval <= 0:
        raise UsageError(f"--interval must be positive, got {args.interval}")
    events = client.runs.watch(
        args.run_ids or None,
        phases=args.status,
        poll_interval=args.interval,
        snapshot=not args.no_snapshot,
    )
    with anyio.move_on_after(args.timeout), _notices():
        async with aclosing(events):
            async for event in events:
                if ctx.json:
                    term.dump_line(term.event_json(event))
                else:
                    echo(term.event_line(event), lines=False)
    return 0


async def runs_logs(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``runs logs ID [-f]``: JSON Lines with ``--json``."""
    tail = None if args.tail < 0 else args.tail
    async for line in client.runs.logs(args.run_id, tail=tail, follow=args.follow):
        if ctx.json:
            term.dump_line(converter.unstructure(line))
        else:
            echo(line, lines=False)
    return 0


async def runs_kill(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``runs kill ID``."""
    run = await client.runs.kill(args.run_id)
    if ctx.json:
        term.dump(term.run_json(run))
    else:
        echo(f"{run.run_id}: {run.phase.value}")
    return 0


async def runs_delete(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``runs delete ID``."""
    deleted = await client.runs.delete(args.run_id)
    if ctx.json:
        term.dump({"id": deleted.id, "deleted": deleted.deleted})
    else:
        echo(f"Deleted run {deleted.id}")
    return 0


RUN_COMMANDS: dict[tuple[str, str], Command] = {
    ("runs", "list"): runs_list,
    ("runs", "get"): runs_get,
    ("runs", "create"): runs_create,
    ("runs", "wait"): runs_wait,
    ("runs", "watch"): runs_watch,
    ("runs", "logs"): runs_logs,
    ("runs", "kill"): runs_kill,
    ("runs", "delete"): runs_delete,
}
