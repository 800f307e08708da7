"""``client.flows``: training workflow configurations."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from datetime import timedelta
from typing import Any

import attrs

from .._constants import DEFAULT_CONCURRENCY
from .._convert import patch_to_wire, spec_to_wire
from .._observe.otel import traced
from .._validate import new_id
from ..bulk.delete import FlowRef, delete_flows
from ..bulk.filter import FlowFilter, matching_flows
from ..bulk.options import BulkOptions, check_on_active_run
from ..bulk.plan import CleanupPlan, make_plan
from ..bulk.report import BulkProgress, BulkReport, OnActiveRun
from ..models import DeletedResource, Flow, FlowSpec, PaginationParams
from ..pagination import AsyncPager
from ._base import Resource, request_body
from .runs import RunsResource

IF_MATCH_HEADER = "If-Match"
PRECONDITIONS_HEADER = "Vi-Preconditions"


def _report_attributes(report: BulkReport) -> dict[str, Any]:
    counts = {f"vi.bulk.{outcome}": n for outcome, n in report.counts.items()}
    return {**counts, "vi.bulk.total": report.total, "vi.bulk.cancelled": report.cancelled}


class FlowsResource(Resource):
    """List, get, create, update and delete flows."""

    collection = "flows"
    id_name = "flow_id"

    def __init__(self, transport: object, runs: RunsResource | None = None) -> None:
        """Bind to a client's transport (the client makes ``client.flows``).

        Args:
            transport: The client's HTTP transport (private: not part of the API).
            runs: The client's runs resource, shared so that a run is polled once.
        """
        super().__init__(transport)
        # The client's runs resource: bulk deletes kill and wait for runs through it,
        # so a run waited on by the user and by a bulk job is polled once.
        self._runs = RunsResource(self._transport) if runs is None else runs

    def list(self, pagination: PaginationParams | dict[str, Any] | None = None) -> AsyncPager[Flow]:
        """All flows of the organization, oldest first.

        ``await`` the result for the first page, ``async for`` over it for every
        page, or use ``.all_items()`` for every flow.
        """
        return self._pager(Flow, pagination)

    @traced("vi.flows.get", id_param="flow_id")
    async def get(self, flow_id: str) -> Flow:
        """Get one flow by id. Raises ViNotFoundError if it does not exist."""
        return self._decode_one(
            await self._transport.request("GET", self._path(flow_id)), Flow, flow_id
        )

    async def _get_for_delete(self, flow_id: str) -> tuple[Flow, bool]:
        """The flow, and whether the server says it honours If-Match (an extension)."""
        response = await self._transport.request("GET", self._path(flow_id))
        headers = response.headers or {}
        flow = self._decode_one(response, Flow, flow_id)
        return flow, headers.get(PRECONDITIONS_HEADER) == IF_MATCH_HEADER

    @traced("vi.flows.create")
    async def create(
        self, spec: FlowSpec | dict[str, Any], metadata: dict[str, str] | None = None
    ) -> Flow:
        """Create a flow from a FlowSpec (or a dict of its fields).

        The id is made here, so a retried create can never make a duplicate.
        """
        body = request_body(spec_to_wire(spec), metadata)
        flow_id = new_id()
        return self._decode_one(
            await self._transport.create(self._path(flow_id), body), Flow, flow_id
        )

    @traced("vi.flows.update", id_param="flow_id")
    async def update(
        self,
        flow_id: str,
        spec: FlowSpec | dict[str, Any] | None = None,
        metadata: dict[str, str] | None = None,
        *,
        if_match: str | None = None,
    ) -> Flow:
        """Change a flow with PATCH semantics: only the given fields change.

        ``spec`` is a dict of the fields to change, or a FlowSpec whose fields
        that differ from their defaults are sent (to set a field back to its
        default, such as ``blocks=[]``, pass a dict). ``metadata`` attributes
        are merged into the flow's. ``if_match``: an etag sent as ``If-Match``;
        a server that honours it answers ViPreconditionFailedError when the
        flow has changed since (the Vi API may ignore it).
        """
        path = self._path(flow_id)
        body = request_body(None if spec is None else patch_to_wire(spec), metadata)
        headers = None if if_match is None else {IF_MATCH_HEADER: if_match}
        response = await self._transport.request("PATCH", path, body=body, headers=headers)
        return self._decode_one(response, Flow, flow_id)

    @traced("vi.flows.delete", id_param="flow_id")
    async def delete(self, flow_id: str, *, if_match: str | None = None) -> DeletedResource:
        """Delete a flow; its runs stay. Raises ViConflictError while a run of it
        is active, ViNotFoundError if it does not exist. ``if_match``: as in
        ``update`` (ViPreconditionFailedError when the flow has changed)."""
        headers = None if if_match is None else {IF_MATCH_HEADER: if_match}
        await self._transport.delete(self._path(flow_id), headers)
        return DeletedResource(id=flow_id)

    @traced("vi.flows.delete_many", summary=_report_attributes)
    async def delete_many(
        self,
        flow_ids: Iterable[str | Flow] | AsyncIterable[str | Flow],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_active_run: OnActiveRun = "skip",
        dry_run: bool = False,
        progress: BulkProgress | None = None,
        report: BulkReport | None = None,
        adaptive: bool = True,
    ) -> BulkReport:
        """Delete many flows concurrently; every flow ends in exactly one outcome.

        The ids are read lazily, at most ``concurrency`` deletes are in flight,
        and an id given more than once is handled once. A flow already gone is
        ``not_found``; any other error makes it ``failed`` (with its typed
        ViError) and never stops the job; a DELETE whose answer was lost is
        confirmed by GET (paid from the client's retry budget), else it is
        ``unknown``. When the call is cancelled no new delete starts, DELETEs
        in flight get the client's ``cancel_grace`` to finish, and the
        cancellation propagates. The rules (adaptive concurrency, which runs
        are a flow's under ``"kill"``, cancellation) are in the README's
        "Clean up flows in bulk".

        Args:
            flow_ids: Any iterable or async iterable of flow ids or Flows.
            concurrency: Deletes in flight at most: a ceiling that the job adapts
                to the server under (429/503 and slow answers slow it down).
            on_active_run: A flow with an active run is left in place and
                reported ``skipped`` (``"skip"``), has its runs killed and awaited
                before its delete is retried (``"kill"``), or is reported
                ``failed`` (``"fail"``).
            dry_run: Send no DELETE: check that each flow exists and list it under
                ``would_delete``.
            progress: ``progress(done, total_or_None, last_result)``, called after
                every flow; if it raises, the job stops as if cancelled and the
                exception is raised once every flow taken has its result.
            report: The report to fill as the job goes: pass your own to read
                what was done after a cancellation (``report.cancelled``).
            adaptive: False keeps the concurrency fixed at ``concurrency``.

        Returns:
            The report: one result per flow, grouped by outcome.

        Raises:
            ValueError: ``concurrency`` or ``on_active_run`` is invalid (before any
                request).
        """
        options = BulkOptions(concurrency=concurrency, on_active_run=on_active_run, dry_run=dry_run,
                              progress=progress, report=report, adaptive=adaptive)  # fmt: skip
        return await self._bulk(flow_ids, options)

    async def _bulk(
        self, items: Iterable[FlowRef] | AsyncIterable[FlowRef], options: BulkOptions
    ) -> BulkReport:
        """Delete ``items`` under ``options``, with this client's grace and retry budget."""
        grace, quota = self._transport.config.cancel_grace, self._transport.quota
        options = attrs.evolve(options, cancel_grace=grace, quota=quota)
        return await delete_flows(self, self._runs, items, options)

    @traced("vi.flows.cleanup", summary=_report_attributes)
    async def cleanup(
        self,
        *,
        older_than: timedelta | None = None,
        name: str | None = None,
        where: Callable[[Flow], bool] | None = None,
        training_project: str | None = None,
        dry_run: bool = False,
        on_active_run: OnActiveRun = "skip",
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: BulkProgress | None = None,
        report: BulkReport | None = None,
        adaptive: bool = True,
    ) -> BulkReport:
        """Delete every flow that matches all the given filters, listing and deleting at once.

        No filter at all matches every flow. Outcomes, progress and
        cancellation are as in ``delete_many``.

        Args:
            older_than: Only flows created more than this long ago.
            name: A glob on ``spec.name`` (``"tmp-*"``, case-sensitive).
            where: A predicate on the Flow.
            training_project: Only flows whose ``spec.training_project`` equals it.
            dry_run: Delete nothing; list the matches under ``would_delete``.
            on_active_run: As in ``delete_many``.
            concurrency: As in ``delete_many``.
            progress: As in ``delete_many``.
            report: As in ``delete_many``.
            adaptive: As in ``delete_many``.

        Returns:
            The report: one result per matching flow.

        Raises:
            TypeError: ``older_than`` is not a timedelta, or ``where`` is not callable.
            ValueError: ``older_than`` is negative, or ``concurrency`` or
                ``on_active_run`` is invalid (all before any request).
            BulkError: The listing itself failed: the started deletes finished,
                and the partial report is attached.
        """
        keep = FlowFilter(
            name=name, older_than=older_than, where=where, training_project=training_project
        )
        options = BulkOptions(concurrency=concurrency, on_active_run=on_active_run, dry_run=dry_run,
                              progress=progress, report=report, adaptive=adaptive)  # fmt: skip
        return await self._bulk(matching_flows(self, keep), options)

    @traced("vi.flows.plan_cleanup")
    async def plan_cleanup(
        self,
        *,
        older_than: timedelta | None = None,
        name: str | None = None,
        where: Callable[[Flow], bool] | None = None,
        training_project: str | None = None,
        on_active_run: OnActiveRun = "skip",
    ) -> CleanupPlan:
        """Plan a cleanup without deleting anything.

        The plan holds the flows that match (as in ``cleanup``), each with its
        etag, name and why it matched. Review ``plan.summary()``, keep
        ``plan.to_json()``, then ``apply(plan)``: only the planned flows are
        deleted, and only if unchanged since.

        Args:
            older_than: As in ``cleanup``.
            name: As in ``cleanup``.
            where: As in ``cleanup``.
            training_project: As in ``cleanup``.
            on_active_run: The policy the plan records for ``apply``.

        Returns:
            The plan.

        Raises:
            TypeError: ``older_than`` is not a timedelta, or ``where`` is not callable.
            ValueError: ``older_than`` is negative, or ``on_active_run`` is invalid
                (before any request).
        """
        check_on_active_run(on_active_run)
        keep = FlowFilter(
            name=name, older_than=older_than, where=where, training_project=training_project
        )
        organization_id = self._transport.config.organization_id
        return await make_plan(
            self, self._runs, keep, organization_id=organization_id, on_active_run=on_active_run
        )

    @traced("vi.flows.apply", summary=_report_attributes)
    async def apply(
        self,
        plan: CleanupPlan,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_active_run: OnActiveRun | None = None,
        progress: BulkProgress | None = None,
        report: BulkReport | None = None,
        adaptive: bool = True,
    ) -> BulkReport:
        """Delete the flows of a plan that are unchanged since it was made.

        Each DELETE carries ``If-Match: <the plan's etag>``: a flow changed since
        is ``skipped`` ("changed since the plan"), one already gone is
        ``not_found``. Against a server that does not say it honours If-Match,
        each flow is read right before its DELETE and skipped when its etag
        differs (an edit in that one round trip is not seen). Outcomes,
        progress, adaptive concurrency and cancellation are as in ``delete_many``.

        Args:
            plan: The plan (``plan_cleanup``, or ``CleanupPlan.from_json``).
            concurrency: Deletes in flight at most (a ceiling, as in ``delete_many``).
            on_active_run: Overrides the plan's active-run policy.
            progress: Called after every flow, as in ``delete_many``.
            report: The report to fill as the job goes, as in ``delete_many``.
            adaptive: False keeps the concurrency fixed at ``concurrency``.

        Returns:
            The report: one result per planned flow.

        Raises:
            TypeError: ``plan`` is not a CleanupPlan.
            ViPlanError: The plan was made for another organization (before any
                request).
            ValueError: ``concurrency`` or ``on_active_run`` is invalid.
        """
        if not isinstance(plan, CleanupPlan):
            raise TypeError(f"plan must be a CleanupPlan, not {type(plan).__name__}")
        plan.check_organization(self._transport.config.organization_id)
        options = BulkOptions(
            concurrency=concurrency,
            on_active_run=plan.on_active_run if on_active_run is None else on_active_run,
            progress=progress,
            report=report,
            adaptive=adaptive,
        )
        return await self._bulk(plan.items, options)
