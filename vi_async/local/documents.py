"""JSON documents sent to clients: flows, runs, pages (camelCase, epoch ms)."""

from __future__ import annotations

from typing import Any

from vi_async.local import engine
from vi_async.local.pagination import encode_token
from vi_async.local.records import FlowRecord, Meta, PageRows, RunRecord


def _metadata(meta: Meta) -> dict[str, Any]:
    return {
        "timeCreated": meta.time_created,
        "lastUpdated": meta.last_updated,
        "generation": meta.generation,
        "attributes": dict(meta.attributes),
    }


def flow_link(org_id: str, flow_id: str) -> str:
    """The selfLink of a flow."""
    return f"/workspaces/{org_id}/flows/{flow_id}"


def run_link(org_id: str, run_id: str) -> str:
    """The selfLink of a run."""
    return f"/workspaces/{org_id}/runs/{run_id}"


def flow_document(record: FlowRecord) -> dict[str, Any]:
    """A flow as the API returns it."""
    org_id = record.meta.org_id
    return {
        "kind": "Flow",
        "workspaceId": org_id,
        "flowId": record.flow_id,
        "selfLink": flow_link(org_id, record.flow_id),
        "etag": record.meta.etag,
        "spec": record.spec,
        "metadata": _metadata(record.meta),
    }


def run_document(record: RunRecord, now: int, *, strict: bool = False) -> dict[str, Any]:
    """A run as the API returns it, its status computed at ``now``.

    ``status.flowId`` (the flow the server linked the run to, or null) is a
    local-server extension that official clients ignore; ``strict`` leaves it out.
    """
    org_id = record.meta.org_id
    link = run_link(org_id, record.run_id)
    document: dict[str, Any] = {
        "kind": "Run",
        "workspaceId": org_id,
        "runId": record.run_id,
        "selfLink": link,
        "etag": record.meta.etag,
        "spec": record.spec,
        "status": {
            "log": f"{link}/logs",
            "observedGeneration": record.meta.generation,
            "conditions": engine.conditions(record.plan, now),
            "flowId": record.flow_id,
        },
        "metadata": _metadata(record.meta),
    }
    if strict:
        del document["status"]["flowId"]
    return document


def page_document(kind: str, rows: PageRows, now: int, *, strict: bool = False) -> dict[str, Any]:
    """A list page with opaque next/prev tokens."""
    if kind == "flows":
        items = [flow_document(r) for r in rows.records]
    else:
        items = [run_document(r, now, strict=strict) for r in rows.records]
    seqs = [r.meta.seq for r in rows.records]
    return {
        "items": items,
        "nextPage": encode_token(kind, after=seqs[-1]) if rows.has_next and seqs else None,
        "prevPage": encode_token(kind, before=seqs[0]) if rows.has_prev and seqs else None,
    }
