"""``client.flows``: training workflow configurations."""

from __future__ import annotations

from typing import Any

from .._convert import spec_to_wire
from .._ids import new_id
from ..models import DeletedResource, Flow, FlowSpec, PaginationParams
from ..pagination import AsyncPager
from ._base import Resource, decode, request_body


class FlowsResource(Resource):
    """List, get, create, update and delete flows."""

    collection = "flows"
    id_name = "flow_id"

    def list(self, pagination: PaginationParams | dict[str, Any] | None = None) -> AsyncPager[Flow]:
        """All flows of the organization, oldest first.

        ``await`` the result for the first page, ``async for`` over it for every
        page, or use ``.all_items()`` for every flow.
        """
        return self._pager(Flow, pagination)

    async def get(self, flow_id: str) -> Flow:
        """Get one flow by id. Raises ViNotFoundError if it does not exist."""
        return decode(await self._transport.request("GET", self._path(flow_id)), Flow)

    async def create(
        self, spec: FlowSpec | dict[str, Any], metadata: dict[str, str] | None = None
    ) -> Flow:
        """Create a flow from a FlowSpec (or a dict of its fields).

        The id is made here, so a retried create can never make a duplicate.
        """
        body = request_body(spec_to_wire(spec), metadata)
        path = self._path(new_id())
        return decode(await self._transport.request("PUT", path, body=body), Flow)

    async def update(
        self,
        flow_id: str,
        spec: FlowSpec | dict[str, Any] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Flow:
        """Change a flow with PATCH semantics: only the given fields change."""
        path = self._path(flow_id)
        body = request_body(None if spec is None else spec_to_wire(spec), metadata)
        return decode(await self._transport.request("PATCH", path, body=body), Flow)

    async def delete(self, flow_id: str) -> DeletedResource:
        """Delete a flow; its runs stay. Raises ViConflictError while a run of it
        is active, ViNotFoundError if it does not exist."""
        return await self._deleted(flow_id)
