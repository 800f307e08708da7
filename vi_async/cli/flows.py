"""The ``flows`` commands: list, get, create, and the bulk deletes (delete, cleanup, apply).

Guarantee: a cleanup that asks for confirmation asks on a plan and applies
exactly that plan (a flow that started matching after the question is left
alone, one changed since is skipped), and every bulk command prints its
report once, with the reason of each delete that did not happen on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio

from .._client import Client
from ..bulk.filter import FlowFilter
from ..bulk.plan import CleanupPlan
from ..bulk.report import BulkReport
from ..models import PaginationParams
from . import output as term
from .common import (
    Command,
    Context,
    UsageError,
    attributes,
    load_json,
    print_items,
    read_text,
    show,
)
from .terminal import echo

__all__ = ["FLOW_COMMANDS", "print_report", "report_exit"]

MAX_REASONS = 20
"""Deletes that did not happen listed on stderr at most (then a count)."""

Job = Callable[..., Awaitable[BulkReport]]


async def flows_list(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``flows list``."""
    pager = client.flows.list(pagination=PaginationParams(page_size=args.page_size))
    await print_items(pager.all_items(), ctx, args.limit, term.FLOW_VIEW)
    return 0


async def flows_get(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``flows get``."""
    show(await client.flows.get(args.flow_id), ctx)
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
        flow = await client.flows.create(spec=spec, metadata=attributes(args.attr))
    except TypeError as exc:  # a key FlowSpec does not have, or a value of the wrong type
        raise UsageError(f"the spec does not fit a flow: {exc}") from None
    show(flow, ctx)
    return 0


async def _read_spec(source: str) -> dict[str, Any]:
    """The JSON object in file ``source`` (``-``: stdin)."""
    spec = load_json(await read_text(source, "spec", stdin=True), "spec")
    if not isinstance(spec, dict):
        raise UsageError(f"the spec must be a JSON object, not {type(spec).__name__}")
    return spec


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


def report_exit(report: BulkReport, *, allow_skipped: bool = False) -> int:
    """The exit code a bulk report calls for.

    Args:
        report: The job's report.
        allow_skipped: ``--allow-skipped``: a flow skipped by policy (not by a
            cancellation) or already gone is fine.

    Returns:
        0 when every requested delete happened (or, in a dry run, nothing failed;
        or, with ``allow_skipped``, did not happen by policy); else 1.
    """
    if not report.ok:
        return 1
    if report.dry_run or allow_skipped:
        return 0
    return 0 if not (report.skipped or report.not_found) else 1


def _skipped_line(report: BulkReport) -> str:
    """``Skipped 3 flow(s) (allowed by --allow-skipped): 2 x active run, ...``."""
    reasons: dict[str, int] = {}
    for result in report.skipped:
        reason = result.reason or "no reason given"
        reasons[reason] = reasons.get(reason, 0) + 1
    why = ", ".join(f"{n} x {reason}" for reason, n in reasons.items())
    return f"Skipped {len(report.skipped)} flow(s) (allowed by --allow-skipped): {why}"


def _not_deleted(report: BulkReport) -> None:
    """Each flow that was asked for and not deleted, with the reason, on stderr."""
    missed = [*report.skipped, *report.not_found, *report.failed]
    for result in missed[:MAX_REASONS]:
        reason = result.reason or (str(result.error) if result.error else "no such flow")
        echo(f"vi-async: not deleted: {result.flow_id} ({result.outcome.value}: {reason})",
             err=True, lines=False)  # fmt: skip
    if len(missed) > MAX_REASONS:
        echo(f"vi-async: ... and {len(missed) - MAX_REASONS} more not deleted", err=True)


def print_report(report: BulkReport, ctx: Context) -> int:
    """Print a bulk report once: JSON with ``--json``, else its summary.

    The reason of each delete that did not happen goes to stderr. Also used by
    the entry point for a job that stopped early (BulkError) or was
    interrupted (Ctrl-C): the report then has ``error`` / ``cancelled`` set.

    Args:
        report: The job's report.
        ctx: The command's context (``--json``; whether it was printed already).

    Returns:
        The exit code the report calls for (``report_exit``).
    """
    code = report_exit(report, allow_skipped=ctx.allow_skipped)
    if ctx.printed:
        return code
    ctx.printed = True
    if not report.dry_run:
        _not_deleted(report)
    if ctx.json:
        term.dump(report.to_dict())
    else:
        if report.dry_run and (report.would_delete or report.skipped):
            table = term.Table(term.RESULT_COLUMNS)
            for result in [*report.would_delete, *report.skipped]:  # skipped: active runs
                term.result_row(table, result)
        echo(report.summary())
        if ctx.allow_skipped and report.skipped and not report.dry_run:
            echo(_skipped_line(report))
    return code


async def _bulk(ctx: Context, label: str, job: Job) -> int:
    """Run a bulk job with a progress bar, keeping its report in ``ctx`` for Ctrl-C."""
    ctx.report = BulkReport()
    bar = term.ProgressBar(label)
    try:
        await job(progress=term.BulkProgressBar(bar), report=ctx.report)
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


def _filter(args: argparse.Namespace) -> FlowFilter:
    """The cleanup filter of ``--older-than`` / ``--name`` / ``--training-project``.

    Raises:
        UsageError: No filter was given and ``--all`` was not either.
    """
    keep = FlowFilter(
        name=args.name, older_than=args.older_than, training_project=args.training_project
    )
    if keep.empty and not args.all:
        raise UsageError(
            "cleanup needs a filter (--older-than, --name, --training-project) "
            "or --all to delete every flow"
        )
    return keep


def _ask(question: str) -> bool:
    """Ask on stderr; the answer comes from stdin."""
    echo(f"{question} [y/N] ", end="", err=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


async def _apply(client: Client, plan: CleanupPlan, args: argparse.Namespace, ctx: Context) -> int:
    """Show a plan, ask unless ``--yes``, and apply it (only flows unchanged since)."""
    if not plan.items:
        echo("The plan deletes nothing: no flow matched.", err=True)
        return 1
    if not args.yes:
        echo(plan.summary(), err=True)
        if not _ask(f"Delete these {len(plan.items)} flow(s)? This cannot be undone."):
            echo("Nothing was deleted.", err=True)
            return 1

    async def job(**kwargs: Any) -> BulkReport:
        return await client.flows.apply(plan, concurrency=args.concurrency, **kwargs)

    return await _bulk(ctx, "applying the plan", job)


async def _write_plan(plan: CleanupPlan, path: str, ctx: Context) -> int:
    """Write ``plan`` to ``path`` and say how to apply it."""
    await anyio.Path(path).write_text(plan.to_json(), encoding="utf-8")
    if ctx.json:
        term.dump({"plan": path, "flows": len(plan.items)})
    else:
        echo(plan.summary())
        echo(f"Plan written to {path}: apply it with `vi-async flows apply {path}`")
    return 0


async def flows_cleanup(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``flows cleanup``: asks for confirmation unless ``--yes`` or ``--dry-run``;
    ``--plan FILE`` writes the plan instead of deleting."""
    keep = _filter(args)
    if args.plan is not None or not (args.dry_run or args.yes):
        plan = await client.flows.plan_cleanup(on_active_run=args.on_active_run, **keep.arguments())
        if args.plan is None:
            return await _apply(client, plan, args, ctx)
        return await _write_plan(plan, args.plan, ctx)

    async def job(**kwargs: Any) -> BulkReport:
        return await client.flows.cleanup(
            dry_run=args.dry_run,
            on_active_run=args.on_active_run,
            concurrency=args.concurrency,
            **keep.arguments(),
            **kwargs,
        )

    return await _bulk(ctx, "dry run" if args.dry_run else "cleaning up", job)


async def flows_apply(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``flows apply PLAN [--yes]``: show the plan, ask, delete what is unchanged."""
    text = await read_text(args.plan_file, "plan")
    plan = CleanupPlan.from_json(text, organization_id=client.organization_id)
    return await _apply(client, plan, args, ctx)


FLOW_COMMANDS: dict[tuple[str, str], Command] = {
    ("flows", "list"): flows_list,
    ("flows", "get"): flows_get,
    ("flows", "create"): flows_create,
    ("flows", "delete"): flows_delete,
    ("flows", "cleanup"): flows_cleanup,
    ("flows", "apply"): flows_apply,
}
