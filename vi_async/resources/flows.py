"""``client.flows``: training workflow configurations."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from datetime import timedelta
from typing import Any

from .._bulk_flows import FlowFilter, delete_flows, matching_flows
from .._convert import patch_to_wire, spec_to_wire
from .._ids import new_id
from .._otel import traced
from .._transport import Transport
from ..bulk import BulkReport, OnActiveRun, Progress
from ..models import DeletedResource, Flow, FlowSpec, PaginationParams
from ..pagination import AsyncPager
from ._base import Resource, decode, request_body
from .runs import RunsResource


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
    ) -> Flow:
        """Change a flow with PATCH semantics: only the given fields change.

        ``spec`` is a dict of the fields to change, or a FlowSpec whose fields
        that differ from their defaults are sent (to set a field back to its
        default, such as ``blocks=[]``, pass a dict). ``metadata`` attributes
        are merged into the flow's.
        """
        path = self._path(flow_id)
        body = request_body(None if spec is None else patch_to_wire(spec), metadata)
        return decode(await self._transport.request("PATCH", path, body=body), Flow)

    @traced("vi.flows.delete", id_param="flow_id")
    async def delete(self, flow_id: str) -> DeletedResource:
        """Delete a flow; its runs stay. Raises ViConflictError while a run of it
        is active, ViNotFoundError if it does not exist."""
        return await self._deleted(flow_id)

    @traced("vi.flows.delete_many", summary=_report_attributes)
    async def delete_many(
        self,
        flow_ids: Iterable[str | Flow] | AsyncIterable[str | Flow],
        *,
        concurrency: int = 32,
        on_active_run: OnActiveRun = "skip",
        dry_run: bool = False,
        progress: Progress | None = None,
        report: BulkReport | None = None,
    ) -> BulkReport:
        """Delete many flows concurrently; every flow ends in exactly one outcome.

        ``flow_ids`` is any iterable or async iterable of ids (or Flows), read
        lazily: at most ``concurrency`` deletes are in flight, and an id given
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
        flight finish, and the cancellation propagates: pass your own
        ``report=BulkReport()`` to read what was done (``report.cancelled`` is
        then true, interrupted flows are ``skipped`` with reason
        ``"cancelled"``).
        """
        return await delete_flows(
            self,
            self._runs,
            flow_ids,
            concurrency=concurrency,
            on_active_run=on_active_run,
            dry_run=dry_run,
            progress=progress,
            report=report,
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
        concurrency: int = 32,
        progress: Progress | None = None,
        report: BulkReport | None = None,
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
        return await delete_flows(
            self,
            self._runs,
            matching_flows(self, keep),
            concurrency=concurrency,
            on_active_run=on_active_run,
            dry_run=dry_run,
            progress=progress,
            report=report,
        )
