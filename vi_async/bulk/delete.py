"""Flow deletion in bulk: every flow given ends in exactly one outcome, and one
that has an active run is handled by the job's active-run policy.

Active-run rule. Deleting a flow that has a Pending or Running run is refused
with 409. Under ``on_active_run="kill"`` the flow's active runs are found by
listing the organization's runs and keeping the non-terminal ones that belong
to the flow, by this rule:

- When the server reports run -> flow links (the local server's
  ``status.flowId``; known to be reported as soon as any listed run carries a
  non-null link), the link alone decides: a run belongs to flow F only if its
  link is F's id. A run linked to another flow, or to no flow (``null``: e.g.
  started from a bare spec before any flow had it), is never killed.
- When the server reports no link at all (the Vi API embeds only the flow's
  spec in a run), a run belongs to F only if its embedded ``spec.flow``
  equals F's ``spec`` *and* it was created no earlier than F (a run older
  than the flow cannot have been started from it). This is the best the API
  allows, and it cannot tell apart flows with equal specs, nor a flow from a
  run started from the same bare spec after the flow was made: such runs are
  killed too. Use ``on_active_run="skip"`` (the default) when that matters.

Those runs are killed and waited for (concurrently, under one deadline of
``KILL_WAIT_TIMEOUT`` seconds), then the delete is retried; if it is still
refused after ``KILL_ROUNDS`` rounds, the flow is reported as failed.

Applying a plan (``PlannedDelete`` items). The DELETE carries ``If-Match:
<etag of the plan>``, so a flow changed since the plan is answered 412 and
skipped ("changed since the plan"), atomically, by a server that honours it
(it says so with ``Vi-Preconditions: If-Match`` on its answers). Until a
server has said so (the Vi API promises nothing), the flow is read right
before its DELETE and skipped when its etag differs; an edit that lands in
the one round trip between that read and the DELETE is then not seen: that
window is the remaining risk against such a server.

Cancellation. The DELETE and the check of its outcome run in the job's
grace shield (see ``vi_async.bulk.engine``): a DELETE still in flight when the grace
ends is reported ``unknown``. Confirming a lost answer (GET) draws on the
client's retry budget like a retry does: with the budget spent, the flow is
``unknown`` without another request.

A flow id given more than once is handled once (one result); see
``vi_async.bulk.engine`` for the memory this takes. The flows a cleanup takes
are chosen by ``vi_async.bulk.filter``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, Iterable
from typing import Any, Protocol

import anyio

from .._http.retry import RetryQuota
from .._validate import check_id
from ..errors import (
    ViConflictError,
    ViError,
    ViNotFoundError,
    ViPreconditionFailedError,
    ViValidationError,
)
from ..models import DeletedResource, Flow
from .active import ACTIVE_RUN_REASON, ActiveRuns, RunApi, active_run_verdict, belongs_to
from .filter import FlowLister
from .options import BulkOptions
from .plan import PlannedDelete
from .report import (
    CANCELLED_REASON,
    CHANGED_REASON,
    GRACE_REASON,
    UNKNOWN_REASON,
    BulkItemResult,
    BulkOutcome,
    BulkReport,
)

# The bulk engine (``engine``, ``adaptive``) is imported where a job starts,
# so ``import vi_async`` does not load it.


class FlowApi(FlowLister, Protocol):
    """What bulk deletes need from ``client.flows`` (the engine never imports resources)."""

    async def get(self, flow_id: str) -> Flow: ...

    async def _get_for_delete(self, flow_id: str) -> tuple[Flow, bool]:
        """The flow, and whether the server said it honours If-Match."""

    async def delete(self, flow_id: str, *, if_match: str | None = None) -> DeletedResource: ...


KILL_ROUNDS = 2
"""How many times the runs of one flow are killed before its delete is given up."""
KILL_WAIT_TIMEOUT = 300.0
"""Seconds to wait, all together, for the runs killed for one flow to end."""
CONFIRM_ATTEMPTS = 6
"""GETs (each with the client's retries) spent confirming a delete whose answer was lost."""

FlowRef = str | Flow | PlannedDelete


class FlowDeleter:
    """Deletes one flow under the job's active-run policy; returns its result.

    Args:
        flows: ``client.flows``.
        runs: ``client.runs`` (its kills and waits: one poll stream per run).
        options: The job's options (policy, dry run, grace, retry budget).
    """

    def __init__(self, flows: FlowApi, runs: RunApi, options: BulkOptions) -> None:
        from .engine import Grace

        self._flows = flows
        self._policy = options.on_active_run
        self._dry_run = options.dry_run
        self._runs = runs  # the client's own: one poller, one poll stream per run
        self._active = ActiveRuns(self._runs)
        self._cut_short: dict[str, _Outcome] = {}
        self._quota = RetryQuota(0) if options.quota is None else options.quota
        self.grace: Grace = Grace(options.cancel_grace)
        self._if_match_honoured = False

    def interrupted(self, item: FlowRef) -> BulkItemResult:
        """The result of an item whose work was cut short before its DELETE was
        sent: it is still there (with the runs killed for it, if any)."""
        flow_id, name, _ = _parts(item)
        out = self._cut_short.pop(str(flow_id), None) or _Outcome(str(flow_id), name)
        return out.result(BulkOutcome.SKIPPED, CANCELLED_REASON)

    async def __call__(self, item: FlowRef) -> BulkItemResult:
        """Delete (or, in a dry run, look at) one flow."""
        flow = item if isinstance(item, Flow) else None
        raw_id, name, etag = _parts(item)
        try:
            flow_id = check_id(raw_id, "flow_id")
        except (TypeError, ValueError) as exc:
            error = ViValidationError(str(exc))
            return BulkItemResult(str(raw_id), BulkOutcome.FAILED, "invalid flow id", error)
        problem = item.problem if isinstance(item, PlannedDelete) else None
        if problem is not None:  # never sent: "*" or a list would match another version
            error = ViValidationError(problem)
            return BulkItemResult(flow_id, BulkOutcome.FAILED, problem, error, name=name)
        out = self._cut_short[flow_id] = _Outcome(flow_id, name, etag)
        result = await (self._look(out, flow) if self._dry_run else self._delete(out, flow))
        self._cut_short.pop(flow_id, None)  # kept only when cancellation cuts the work short
        return result

    async def _look(self, out: _Outcome, flow: Flow | None) -> BulkItemResult:
        """A dry run's result: what the policy would do with the flow's active runs
        (one listing of runs for the whole job)."""
        try:
            if flow is None:
                flow = await self._flows.get(out.flow_id)
                out.name = flow.spec.name
            active = await self._active.of(flow)
        except ViNotFoundError:
            return out.result(BulkOutcome.NOT_FOUND)
        except ViError as exc:
            return out.result(BulkOutcome.FAILED, "could not read the flow or its runs", exc)
        if not active:
            return out.result(BulkOutcome.WOULD_DELETE)
        verdict = active_run_verdict(self._policy, len(active))
        if self._policy == "kill":
            return out.result(BulkOutcome.WOULD_DELETE, f"{verdict}: {', '.join(active)}")
        return out.result(BulkOutcome.SKIPPED, verdict)

    async def _delete(self, out: _Outcome, flow: Flow | None) -> BulkItemResult:
        for round_ in range(KILL_ROUNDS + 1):
            result = await self._send_delete(out)
            if not isinstance(result, ViConflictError):
                return result
            if self._policy == "skip":
                return out.result(BulkOutcome.SKIPPED, ACTIVE_RUN_REASON, result)
            if self._policy == "fail" or round_ == KILL_ROUNDS:
                return out.result(BulkOutcome.FAILED, self._conflict_reason(out), result)
            try:
                if flow is None:
                    flow = await self._flows.get(out.flow_id)
                    out.name = flow.spec.name
                await self._stop_runs(out, flow, time.monotonic())
            except ViNotFoundError:
                return out.result(BulkOutcome.NOT_FOUND)
            except ViError as exc:
                return out.result(BulkOutcome.FAILED, "could not stop its active runs", exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _conflict_reason(self, out: _Outcome) -> str:
        if self._policy == "fail":
            return ACTIVE_RUN_REASON
        return f"still has an active run after killing {len(out.killed)} run(s)"

    async def _send_delete(self, out: _Outcome) -> BulkItemResult | ViConflictError:
        """DELETE in the job's grace shield, so that its outcome is known unless the
        grace of a cancelled job runs out first (then: skipped if it was not sent
        yet, unknown if it was).

        Returns the 409 error when the flow has an active run. After a
        transient failure that may have hidden a successful delete, a GET
        confirms the outcome.
        """
        result: BulkItemResult | ViConflictError | None = None
        out.sent = False
        with self.grace.shield():
            result = await self._delete_once(out)
        if result is not None:
            return result
        if out.sent:
            return out.result(BulkOutcome.UNKNOWN, GRACE_REASON)
        return out.result(BulkOutcome.SKIPPED, CANCELLED_REASON)

    async def _delete_once(self, out: _Outcome) -> BulkItemResult | ViConflictError:
        if out.etag is not None and not self._if_match_honoured:
            try:
                flow, honoured = await self._flows._get_for_delete(out.flow_id)
            except ViNotFoundError:
                return out.result(BulkOutcome.NOT_FOUND)
            except ViError as exc:
                return out.result(BulkOutcome.FAILED, "could not read the flow", exc)
            self._if_match_honoured = self._if_match_honoured or honoured
            if flow.etag != out.etag:
                return out.result(BulkOutcome.SKIPPED, CHANGED_REASON)
        out.sent = True
        try:
            await self._flows.delete(out.flow_id, if_match=out.etag)
        except ViPreconditionFailedError as exc:
            return out.result(BulkOutcome.SKIPPED, CHANGED_REASON, exc)
        except ViConflictError as exc:
            return exc
        except ViNotFoundError:
            return out.result(BulkOutcome.NOT_FOUND)
        except ViError as exc:
            return await self._confirm(out, exc)
        return out.result(BulkOutcome.DELETED)

    async def _confirm(self, out: _Outcome, error: ViError) -> BulkItemResult:
        """Find out by GET whether a delete whose answer was lost went through; each
        GET is paid from the client's retry budget, like a retry."""
        if not error.after_lost_answer:
            return out.result(BulkOutcome.FAILED, None, error)
        for attempt in range(CONFIRM_ATTEMPTS):
            cost = self._quota.acquire(error)
            if cost is None:
                break  # the budget is spent: no more requests for this flow
            try:
                flow = await self._flows.get(out.flow_id)
            except ViNotFoundError:
                self._quota.release(cost)
                return out.result(BulkOutcome.DELETED, "confirmed after a lost answer")
            except ViError:
                await anyio.sleep(min(2.0, 0.1 * 2**attempt))
                continue
            self._quota.release(cost)
            if out.etag is not None and flow.etag != out.etag:
                return out.result(BulkOutcome.SKIPPED, CHANGED_REASON, error)
            return out.result(BulkOutcome.FAILED, None, error)
        return out.result(BulkOutcome.UNKNOWN, UNKNOWN_REASON, error)

    async def _stop_runs(self, out: _Outcome, flow: Flow, conflict_at: float) -> None:
        """Kill the flow's active runs and wait until they have ended, all at once,
        under one deadline. The first error (other than a run already gone)
        stops the others and is raised."""
        mine = await self._active.of(flow, conflict_at)
        errors: list[ViError] = []
        deadline = time.monotonic() + KILL_WAIT_TIMEOUT

        async def stop(run_id: str, scope: anyio.CancelScope) -> None:
            try:
                await self._runs.kill(run_id)
                out.killed.append(run_id)
                timeout = max(0.0, deadline - time.monotonic())
                await self._runs.wait_for(run_id, timeout=timeout)
            except ViNotFoundError:
                return
            except ViError as exc:
                errors.append(exc)
                scope.cancel()

        async with anyio.create_task_group() as tg:
            for run_id in mine:
                tg.start_soon(stop, run_id, tg.cancel_scope)
        out.killed.sort(key=mine.index)
        if errors:
            raise errors[0]


class _Outcome:
    """What is known about one flow while it is being handled."""

    def __init__(self, flow_id: str, name: str | None, etag: str | None = None) -> None:
        self.flow_id = flow_id
        self.name = name
        self.etag = etag
        """The plan's etag: delete only this version of the flow."""
        self.sent = False
        """True once the DELETE was sent (its outcome may be unknown)."""
        self.killed: list[str] = []

    def result(
        self, outcome: BulkOutcome, reason: str | None = None, error: ViError | None = None
    ) -> BulkItemResult:
        """The flow's result with this outcome."""
        return BulkItemResult(
            self.flow_id, outcome, reason, error, name=self.name, killed_runs=tuple(self.killed)
        )


def _parts(item: Any) -> tuple[Any, str | None, str | None]:
    """(id, name, etag of the plan) of an item: an id, a Flow or a PlannedDelete."""
    if isinstance(item, Flow):
        return item.flow_id, item.spec.name, None
    if isinstance(item, PlannedDelete):
        return item.flow_id, item.name, item.etag
    return item, None, None


def _flow_key(item: FlowRef) -> str | None:
    """The id that makes two items the same flow (None: not an id, never merged)."""
    key = _parts(item)[0]
    return key if isinstance(key, str) else None


async def delete_flows(
    flows: FlowApi,
    runs: RunApi,
    items: Iterable[FlowRef] | AsyncIterable[FlowRef],
    options: BulkOptions,
) -> BulkReport:
    """Run the bulk delete of ``items`` (see ``FlowsResource.delete_many``).

    Args:
        flows: ``client.flows``.
        runs: ``client.runs``.
        items: Flow ids, Flows or PlannedDeletes, read lazily.
        options: The job's options.

    Returns:
        The report: one result per distinct flow.

    Raises:
        BulkError: The source (a listing) failed; the report is attached.
    """
    from .engine import run_bulk

    deleter = FlowDeleter(flows, runs, options)
    return await run_bulk(
        items,
        deleter,
        interrupted=deleter.interrupted,
        options=options,
        key=_flow_key,
        grace=deleter.grace,
    )


__all__ = [
    "ACTIVE_RUN_REASON",
    "KILL_WAIT_TIMEOUT",
    "FlowApi",
    "FlowDeleter",
    "FlowRef",
    "RunApi",
    "belongs_to",
    "delete_flows",
]
