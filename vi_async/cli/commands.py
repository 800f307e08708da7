"""The command line's commands: each takes the client and the parsed arguments and
returns the exit code (0 success, 1 failures in the result)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, TypeVar

import anyio
import attrs

from .._client import Client
from .._convert import converter
from ..bulk.plan import CleanupPlan
from ..bulk.report import BulkReport
from ..models import Flow, PaginationParams, Run, RunPhase
from . import output as term

T = TypeVar("T")

PREVIEW_ROWS = 10
MAX_REASONS = 20


class UsageError(Exception):
    """The command line was well formed but cannot be acted on (exit code 2)."""


@attrs.define
class Context:
    """What the commands share with the entry point."""

    json: bool = False
    report: BulkReport | None = None
    """The running bulk job's report, so that Ctrl-C can still print it."""
    printed: bool = False
    """True once the bulk report has been printed (so it is printed once)."""


Command = Callable[[Client, argparse.Namespace, Context], Awaitable[int]]


# -- listing and showing --------------------------------------------------------------


async def print_items(
    items: AsyncIterator[T], ctx: Context, limit: int | None, view: term.View[T]
) -> None:
    """Print items as they arrive. With ``--json`` the array is closed however the
    listing ends, so stdout is always one valid JSON document (a listing that
    failed half way still exits non-zero, with the error on stderr)."""
    array, table = term.JsonArray(), term.Table(view.columns)
    shown = 0
    try:
        async for item in items:
            if limit is not None and shown >= limit:
                break
            shown += 1
            if ctx.json:
                array.add(view.to_json(item))
            else:
                view.row(table, item)
    finally:
        if ctx.json:
            array.close()
    if not ctx.json and shown == 0:
        print("(none)")


async def flows_list(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``flows list``."""
    pager = client.flows.list(pagination=PaginationParams(page_size=args.page_size))
    await print_items(pager.all_items(), ctx, args.limit, term.FLOW_VIEW)
    return 0


async def runs_list(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``runs list``."""
    pagination = PaginationParams(page_size=args.page_size)
    pager = client.runs.list(pagination=pagination, status=args.status or None)
    await print_items(pager.all_items(), ctx, args.limit, term.RUN_VIEW)
    return 0


def _show(obj: Flow | Run, ctx: Context) -> None:
    if ctx.json:
        term.dump(term.flow_json(obj) if isinstance(obj, Flow) else term.run_json(obj))
    else:
        print(obj.summary())


async def flows_get(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``flows get``."""
    _show(await client.flows.get(args.flow_id), ctx)
    return 0


async def flows_create(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``flows create --name NAME`` or ``--spec FILE`` (a FlowSpec as JSON, ``-``: stdin);
    ``--name`` and ``--training-project`` override the file's."""
    spec = await _read_spec(args.spec) if args.spec is not None else {}
    if args.name is not None:
        spec["name"] = args.name
    if args.training_project is not None:
        spec["training_project"] = args.training_project
    if not spec.get("name"):
        raise UsageError("a flow needs a name: give --name, or a spec file with one")
    try:
        flow = await client.flows.create(spec=spec, metadata=_attributes(args.attr))
    except TypeError as exc:  # a key FlowSpec does not have, or a value of the wrong type
        raise UsageError(f"the spec does not fit a flow: {exc}") from None
    _show(flow, ctx)
    return 0


async def _read_text(path: str, what: str, *, stdin: bool = False) -> str:
    """The text of file ``path`` (with ``stdin``, ``-`` reads stdin); UsageError naming
    ``what`` if it cannot be read."""
    try:
        if stdin and path == "-":
            return await anyio.to_thread.run_sync(sys.stdin.read)
        return await anyio.Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the {what}: {exc}") from None


async def _read_spec(source: str) -> dict[str, Any]:
    """The JSON object in file ``source`` (``-``: stdin)."""
    text = await _read_text(source, "spec", stdin=True)
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"the spec is not JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise UsageError(f"the spec must be a JSON object, not {type(spec).__name__}")
    return spec


async def runs_get(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``runs get``."""
    _show(await client.runs.get(args.run_id), ctx)
    return 0


# -- bulk deletes ---------------------------------------------------------------------


async def _ids(raw: list[str]) -> AsyncIterator[str]:
    """The ids given, with ``-`` standing for one id per line of stdin (read on a
    worker thread, so a slow pipe never stalls the deletes in flight)."""
    for value in raw:
        if value != "-":
            yield value
            continue
        while line := await anyio.to_thread.run_sync(sys.stdin.readline):
            if line.strip():
                yield line.strip()


def report_exit(report: BulkReport) -> int:
    """0 when every requested delete happened (or, in a dry run, nothing failed); else 1."""
    if not report.ok:
        return 1
    return 0 if report.dry_run or not (report.skipped or report.not_found) else 1


def _not_deleted(report: BulkReport) -> None:
    """Each flow that was asked for and not deleted, with the reason, on stderr."""
    missed = [*report.skipped, *report.not_found, *report.failed]
    for result in missed[:MAX_REASONS]:
        reason = result.reason or (str(result.error) if result.error else "no such flow")
        print(f"vi-async: not deleted: {result.flow_id} ({result.outcome.value}: {reason})",
              file=sys.stderr)  # fmt: skip
    if len(missed) > MAX_REASONS:
        print(f"vi-async: ... and {len(missed) - MAX_REASONS} more not deleted", file=sys.stderr)


def print_report(report: BulkReport, ctx: Context) -> int:
    """Print a bulk report (JSON with ``--json``, once); the exit code it calls for
    (``report_exit``), with the reason of each delete that did not happen on stderr.

    Also used by the entry point for a job that stopped early (BulkError) or
    was interrupted (Ctrl-C): the report then has ``error`` / ``cancelled`` set.
    """
    if ctx.printed:
        return report_exit(report)
    ctx.printed = True
    if not report.dry_run:
        _not_deleted(report)
    if ctx.json:
        term.dump(report.to_dict())
    else:
        if report.dry_run and report.would_delete:
            table = term.Table(term.RESULT_COLUMNS)
            for result in report.would_delete:
                term.result_row(table, result)
        print(report.summary())
    return report_exit(report)


async def _bulk(ctx: Context, label: str, job: Callable[..., Awaitable[BulkReport]]) -> int:
    ctx.report = BulkReport()
    bar = term.ProgressBar(label)
    try:
        await job(progress=term.BulkProgress(bar), report=ctx.report)
    finally:
        bar.close()
    return print_report(ctx.report, ctx)


async def flows_delete(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``flows delete ID... [-]``: delete_many, no confirmation (the ids are explicit)."""

    async def job(**kwargs: Any) -> BulkReport:
        return await client.flows.delete_many(
            _ids(args.flow_ids),
            concurrency=args.concurrency,
            on_active_run=args.on_active_run,
            dry_run=args.dry_run,
            **kwargs,
        )

    return await _bulk(ctx, "deleting", job)


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    filters = {
        "older_than": args.older_than,
        "name": args.name,
        "training_project": args.training_project,
    }
    if all(value is None for value in filters.values()) and not args.all:
        raise UsageError(
            "cleanup needs a filter (--older-than, --name, --training-project) "
            "or --all to delete every flow"
        )
    return filters


def _ask(question: str) -> bool:
    """Ask on stderr; the answer comes from stdin."""
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


async def _apply(client: Client, plan: CleanupPlan, args: argparse.Namespace, ctx: Context) -> int:
    """Show a plan, ask unless ``--yes``, and apply it (only flows unchanged since)."""
    if not plan.items:
        print("The plan deletes nothing: no flow matched.", file=sys.stderr)
        return 1
    if not args.yes:
        print(plan.summary(), file=sys.stderr)
        if not _ask(f"Delete these {len(plan.items)} flow(s)? This cannot be undone."):
            print("Nothing was deleted.", file=sys.stderr)
            return 1

    async def job(**kwargs: Any) -> BulkReport:
        return await client.flows.apply(plan, concurrency=args.concurrency, **kwargs)

    return await _bulk(ctx, "applying the plan", job)


async def flows_cleanup(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``flows cleanup``: asks for confirmation unless ``--yes`` or ``--dry-run``;
    ``--plan FILE`` writes the plan instead of deleting.

    A confirmation is asked on a plan, and exactly that plan is applied: a flow
    that started matching after the preview is left alone, and one changed
    since the preview is skipped ("changed since the plan").
    """
    filters = _filters(args)
    if args.plan is not None or (not args.dry_run and not args.yes):
        plan = await client.flows.plan_cleanup(on_active_run=args.on_active_run, **filters)
        if args.plan is None:
            return await _apply(client, plan, args, ctx)
        await anyio.Path(args.plan).write_text(plan.to_json(), encoding="utf-8")
        if ctx.json:
            term.dump({"plan": args.plan, "flows": len(plan.items)})
        else:
            print(plan.summary())
            print(f"Plan written to {args.plan}: apply it with `vi-async flows apply {args.plan}`")
        return 0

    async def job(**kwargs: Any) -> BulkReport:
        return await client.flows.cleanup(
            dry_run=args.dry_run,
            on_active_run=args.on_active_run,
            concurrency=args.concurrency,
            **filters,
            **kwargs,
        )

    return await _bulk(ctx, "dry run" if args.dry_run else "cleaning up", job)


async def flows_apply(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``flows apply PLAN [--yes]``: show the plan, ask, delete what is unchanged."""
    text = await _read_text(args.plan_file, "plan")
    plan = CleanupPlan.from_json(text, organization_id=client.organization_id)
    return await _apply(client, plan, args, ctx)


# -- runs -------------------------------------------------------------------------------


def _attributes(pairs: list[str]) -> dict[str, str] | None:
    attributes = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--attr expects KEY=VALUE, got {pair!r}")
        attributes[key] = value
    return attributes or None


def _wait_exit(runs: list[Run]) -> int:
    return 0 if all(run.phase is RunPhase.SUCCEEDED for run in runs) else 1


async def _wait_one(client: Client, run_id: str, timeout: float | None) -> Run:
    """Wait with a live status on stderr: a moving timer on a terminal, else one
    line per phase change."""
    status = term.LiveStatus(f"waiting for {run_id}")
    try:
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
        metadata=_attributes(args.attr),
    )
    if not args.wait:
        _show(run, ctx)
        return 0
    if not ctx.json:
        print(f"Started run {run.run_id}", flush=True)
    run = await _wait_one(client, run.run_id, args.timeout)
    _show(run, ctx)
    return _wait_exit([run])


async def runs_wait(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``runs wait ID...``: exit 0 only if every run succeeded."""
    ids = list(dict.fromkeys(args.run_ids))
    if len(ids) == 1:
        finished = [await _wait_one(client, ids[0], args.timeout)]
    else:
        finished = []
        bar, table = term.ProgressBar("waiting", rate=False), term.Table(term.RUN_COLUMNS)
        bar.update(0, len(ids), force=True)
        try:
            async for run in client.runs.as_completed(ids, timeout=args.timeout):
                finished.append(run)
                if not ctx.json:
                    term.run_row(table, run)  # printed above the bar
                bar.update(len(finished), len(ids), force=True)
        finally:
            bar.close()
    if ctx.json:
        term.dump([term.run_json(run) for run in finished])
    elif len(ids) == 1:
        print(f"{finished[0].run_id}: {finished[0].phase.value}")
    return _wait_exit(finished)


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
    with anyio.move_on_after(args.timeout):
        async with aclosing(events):
            async for event in events:
                if ctx.json:
                    term.dump_line(term.event_json(event))
                else:
                    print(term.event_line(event), flush=True)
    return 0


async def runs_logs(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``runs logs ID [-f]``: JSON Lines with ``--json``."""
    tail = None if args.tail < 0 else args.tail
    async for line in client.runs.logs(args.run_id, tail=tail, follow=args.follow):
        if ctx.json:
            term.dump_line(converter.unstructure(line))
        else:
            print(line, flush=True)
    return 0


async def runs_kill(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``runs kill ID``."""
    run = await client.runs.kill(args.run_id)
    if ctx.json:
        term.dump(term.run_json(run))
    else:
        print(f"{run.run_id}: {run.phase.value}")
    return 0


async def runs_delete(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``runs delete ID``."""
    deleted = await client.runs.delete(args.run_id)
    if ctx.json:
        term.dump({"id": deleted.id, "deleted": deleted.deleted})
    else:
        print(f"Deleted run {deleted.id}")
    return 0


COMMANDS: dict[tuple[str, str], Command] = {
    ("flows", "list"): flows_list,
    ("flows", "get"): flows_get,
    ("flows", "create"): flows_create,
    ("flows", "delete"): flows_delete,
    ("flows", "cleanup"): flows_cleanup,
    ("flows", "apply"): flows_apply,
    ("runs", "list"): runs_list,
    ("runs", "get"): runs_get,
    ("runs", "create"): runs_create,
    ("runs", "wait"): runs_wait,
    ("runs", "watch"): runs_watch,
    ("runs", "logs"): runs_logs,
    ("runs", "kill"): runs_kill,
    ("runs", "delete"): runs_delete,
}
