"""``client.flows``: training workflow configurations."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from datetime import timedelta
from typing import Any

from .._constants import DEFAULT_CONCURRENCY
from .._convert import patch_to_wire, spec_to_wire
from .._http.transport import Transport
from .._observe.otel import traced
from .._validate import new_id
from ..bulk.delete import ON_ACTIVE_RUN, FlowFilter, FlowRef, delete_flows, matching_flows
from ..bulk.plan import CleanupPlan, make_plan
from ..bulk.report import BulkProgress, BulkReport, OnActiveRun
from ..errors import ViPlanError
from ..models import DeletedResource, Flow, FlowSpec, PaginationParams
from ..pagination import AsyncPager
from ._base import Resource, decode, request_body
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

    def __init__(self, transport: Transport, runs: RunsResource | None = None) -> None:
        super().__init__(transport)
        # The client's runs resource: bulk deletes kill and wait for runs through it,
        # so a run waited on by the user and by a bulk job is polled once.
        self._runs = RunsResource(transport) if runs is None else runs

    def list(self, pagination: PaginationParams | dict[str, Any] | None = None) -> AsyncPager[Flow]:
        """All flows of the organization, oldest first.

        ``await`` the result for the first page, ``async for`` over it for every
        page, or use ``.all_items()`` for every flow.
        """
        return self._pager(Flow, pagination)

    @traced("vi.flows.get", id_param="flow_id")
    async def get(self, flow_id: str) -> Flow:
        """Get one flow by id. Raises ViNotFoundError if it does not exist."""
        return decode(await self._transport.request("GET", self._path(flow_id)), Flow)

    async def _get_for_delete(self, flow_id: str) -> tuple[Flow, bool]:
        """The flow, and whether the server says it honours If-Match (an extension)."""
        response = await self._transport.request("GET", self._path(flow_id))
        headers = response.headers or {}
        return decode(response, Flow), headers.get(PRECONDITIONS_HEADER) == IF_MATCH_HEADER

    @traced("vi.flows.create")
    async def create(
        self, spec: FlowSpec | dict[str, Any], metadata: dict[str, str] | None = None
    ) -> Flow:
        """Create a flow from a FlowSpec (or a dict of its fields).

        The id is made here, so a retried create can never make a duplicate.
        """
        body = request_body(spec_to_wire(spec), metadata)
        path = self._path(new_id())
        return decode(await self._transport.create(path, body), Flow)

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
        return decode(response, Flow)

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

        ``flow_ids`` is any iterable or async iterable of ids (or Flows), read
        lazily: at most ``concurrency`` deletes are in flight (a ceiling: the
        job starts lower and adapts to the server, backing off on 429/503 and
        slow answers, and one Retry-After pauses the whole job; with
        ``adaptive=False`` the concurrency is fixed), and an id given
        more than once is handled once (the ids seen are remembered for the
        job: about 100 bytes each). A flow with an active run is ``skipped``
        (``on_active_run="skip"``), has its active runs killed and awaited
        before the delete is retried (``"kill"``), or is ``failed``
        (``"fail"``). Under ``"kill"`` a run is the flow's when the server
        links it to the flow; when the server reports no links (the Vi API),
        when its embedded spec equals the flow's and it is not older than the
        flow. A flow already gone is ``not_found``; other errors make it
        ``failed`` with the typed ViError (kept without its traceback), and
        never stop the job. ``dry_run=True`` sends no DELETE: it checks each
        id exists and lists it under ``would_delete``.

        ``progress(done, total_or_None, last_result)`` is called after every
        flow; if it raises, the job stops as if cancelled, every flow taken
        still gets its result, ``report.error`` is set and the exception is
        raised. When the call is cancelled, no new delete starts, DELETEs in
        flight get the client's ``cancel_grace`` (default 10 s) to finish, with
        their retries and checks (what is still not known then is ``unknown``),
        and the cancellation propagates: pass your own ``report=BulkReport()``
        to read what was done (``report.cancelled`` is then true, interrupted
        flows are ``skipped`` with reason ``"cancelled"``). A DELETE whose
        answer was lost is confirmed by GET, paid from the client's retry
        budget; when that cannot tell, the flow is ``unknown``.
        """
        return await self._bulk(
            flow_ids, concurrency, on_active_run, dry_run, progress, report, adaptive
        )

    async def _bulk(
        self,
        items: Iterable[FlowRef] | AsyncIterable[FlowRef],
        concurrency: int,
        on_active_run: str,
        dry_run: bool,
        progress: BulkProgress | None,
        report: BulkReport | None,
        adaptive: bool,
    ) -> BulkReport:
        return await delete_flows(
            self,
            self._runs,
            items,
            concurrency=concurrency,
            on_active_run=on_active_run,
            dry_run=dry_run,
            progress=progress,
            report=report,
            quota=self._transport.quota,
            cancel_grace=self._transport.config.cancel_grace,
            adaptive=adaptive,
        )

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
        """Delete every flow that matches all the given filters, listing and
        deleting at the same time (see ``delete_many`` for outcomes, progress
        and cancellation).

        ``older_than``: created more than this long ago; ``name``: a glob on
        ``spec.name`` (``"tmp-*"``, case-sensitive); ``training_project``:
        ``spec.training_project`` equals it; ``where``: a predicate on the
        Flow. No filter at all matches every flow. With ``dry_run=True``
        nothing is deleted and the matches are listed under ``would_delete``.
        If the listing itself fails, started deletes finish and BulkError is
        raised carrying the partial report.
        """
        keep = FlowFilter.build(
            older_than=older_than, name=name, where=where, training_project=training_project
        )
        return await self._bulk(
            matching_flows(self, keep),
            concurrency,
            on_active_run,
            dry_run,
            progress,
            report,
            adaptive,
        )

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
        """Plan a cleanup without deleting anything: the flows that match (as in
        ``cleanup``), each with its etag, name and why it matched.

        Review ``plan.summary()``, keep ``plan.to_json()``, then ``apply(plan)``:
        only the planned flows are deleted, and only if unchanged since.
        """
        if on_active_run not in ON_ACTIVE_RUN:
            raise ValueError(
                f"on_active_run must be one of {', '.join(ON_ACTIVE_RUN)}; got {on_active_run!r}"
            )
        keep = FlowFilter.build(
            older_than=older_than, name=name, where=where, training_project=training_project
        )
        filters: dict[str, object] = {}
        if older_than is not None:
            filters["older_than"] = str(older_than)
        if name is not None:
            filters["name"] = name
        if training_project is not None:
            filters["training_project"] = training_project
        if where is not None:
            filters["where"] = getattr(where, "__name__", "predicate")
        return await make_plan(
            self,
            keep,
            organization_id=self._transport.config.organization_id,
            filters=filters,
            on_active_run=on_active_run,
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
        differs (an edit in that one round trip is not seen). Active runs are
        handled by the plan's policy unless ``on_active_run`` is given; outcomes,
        progress, adaptive concurrency and cancellation are as in
        ``delete_many``. Raises ViPlanError, before any request, for a plan
        made for another organization.
        """
        if not isinstance(plan, CleanupPlan):
            raise TypeError(f"plan must be a CleanupPlan, not {type(plan).__name__}")
        plan.check_organization(self._transport.config.organization_id)
        policy = plan.on_active_run if on_active_run is None else on_active_run
        if policy not in ON_ACTIVE_RUN:
            raise ViPlanError(f"The plan's on_active_run {policy!r} is not one of {ON_ACTIVE_RUN}")
        return await self._bulk(plan.items, concurrency, policy, False, progress, report, adaptive)
