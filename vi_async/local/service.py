"""Create and update operations: body validation, merge-patch, kill and flow links.

Run -> flow link rule (it drives the 409 on flow delete): when the create
request has a ``Vi-Flow-Id: <flowId>`` header naming a flow of the organization,
the run is linked to it; otherwise it is linked to the most recently updated
flow of the organization whose spec equals the run's embedded ``spec.flow``
(both normalized, compared as canonical JSON); otherwise it has no flow.
"""

from __future__ import annotations

from typing import Any

from vi_async.local import engine, models
from vi_async.local.database import Database
from vi_async.local.errors import bad_request
from vi_async.local.records import FlowRecord, RunRecord
from vi_async.local.store import Store
from vi_async.local.validation import (
    JsonObject,
    canonical_json,
    check_id,
    check_keys,
    check_kind,
    merge_patch,
    metadata_attributes,
    normalize_flow_spec,
    optional_epoch_ms,
    optional_str,
    spec_key,
)

FLOW_HEADER = "Vi-Flow-Id"


def _patch_parts(body: JsonObject) -> tuple[JsonObject | None, dict[str, Any] | None]:
    if "kind" in body:
        raise bad_request("'kind' must not be sent in a PATCH body")
    check_keys(body, {"spec", "metadata"}, "PATCH body")
    spec = body.get("spec")
    if spec is not None and not isinstance(spec, dict):
        raise bad_request("spec must be an object")
    return spec, metadata_attributes(body, patch=True)


def _merged_attributes(current: dict[str, str], patch: dict[str, Any] | None) -> dict[str, str]:
    return current if patch is None else merge_patch(current, patch)


async def create_flow(
    store: Store, org_id: str, flow_id: str, body: JsonObject
) -> tuple[FlowRecord, bool]:
    """PUT a flow with a client-made id; returns (flow, created)."""
    check_keys(body, {"spec", "metadata", "kind"}, "request body")
    check_kind(body, "Flow")
    spec = normalize_flow_spec(body.get("spec"))
    attributes = metadata_attributes(body, patch=False) or {}
    return await store.run(
        Database.create_flow,
        org_id,
        flow_id,
        spec,
        spec_key(spec),
        attributes,
        canonical_json(body),
    )


async def update_flow(
    store: Store,
    org_id: str,
    flow_id: str,
    body: JsonObject,
    if_match: tuple[str, ...] | None = None,
) -> FlowRecord:
    """PATCH a flow: merge-patch of ``spec`` and ``metadata.attributes`` (412 when
    ``if_match`` is given and the flow's etag is not among them)."""
    spec_patch, attrs_patch = _patch_parts(body)

    def change(record: FlowRecord) -> tuple[dict[str, Any], str, dict[str, str]]:
        spec = record.spec
        if spec_patch is not None:
            spec = normalize_flow_spec(merge_patch(spec, spec_patch))
        return spec, spec_key(spec), _merged_attributes(record.meta.attributes, attrs_patch)

    return await store.run(Database.update_flow, org_id, flow_id, change, if_match)


async def create_run(
    store: Store,
    schedule: engine.RunSchedule,
    org_id: str,
    run_id: str,
    body: JsonObject,
    flow_hint: str | None,
) -> tuple[RunRecord, bool]:
    """PUT a run with a client-made id; returns (run, created)."""
    check_keys(body, {"spec", "metadata", "kind"}, "request body")
    check_kind(body, "Run")
    raw_spec = body.get("spec")
    if not isinstance(raw_spec, dict):
        raise bad_request("spec must be an object")
    check_keys(raw_spec, {"flow", "trainingProject", "killedAt"}, "spec")
    if raw_spec.get("killedAt") is not None:
        raise bad_request("spec.killedAt cannot be set when creating a run")
    flow = normalize_flow_spec(raw_spec.get("flow"), "spec.flow")
    spec = {
        "flow": flow,
        "killedAt": None,
        "trainingProject": optional_str(raw_spec.get("trainingProject"), "spec.trainingProject"),
    }
    attributes = metadata_attributes(body, patch=False) or {}
    engine.plan_run(0, schedule, attributes)  # validates the reserved attributes up front
    models.check_attributes(attributes)  # an archive the storage could not serve is a 400
    if flow_hint is not None:
        check_id(flow_hint, f"{FLOW_HEADER} header")
    key = spec_key(flow)

    def plan_for(created_at: int) -> engine.RunPlan:
        return engine.plan_run(created_at, schedule, attributes)

    def link(db: Database) -> str | None:
        return db.find_flow(org_id, flow_hint, key)

    return await store.run(
        Database.create_run, org_id, run_id, spec, attributes, canonical_json(body), plan_for, link
    )


async def update_run(store: Store, org_id: str, run_id: str, body: JsonObject) -> RunRecord:
    """PATCH a run: ``spec.killedAt`` / ``spec.trainingProject`` and attributes.

    Setting ``killedAt`` while the run is active cancels it at the server time of
    the request; on a terminal run the value is stored and the outcome stays.
    """
    spec_patch, attrs_patch = _patch_parts(body)
    spec_patch = spec_patch or {}
    check_keys(spec_patch, {"killedAt", "trainingProject"}, "spec (a run PATCH)")
    killed_at = optional_epoch_ms(spec_patch.get("killedAt"), "spec.killedAt")
    optional_str(spec_patch.get("trainingProject"), "spec.trainingProject")

    def change(record: RunRecord, now: int) -> tuple[dict[str, Any], dict[str, str], int | None]:
        spec = dict(record.spec)
        spec.update(spec_patch)
        cancelled_at = record.plan.cancelled_at
        if killed_at is not None and not record.plan.is_terminal(now):
            cancelled_at = now
        attributes = _merged_attributes(record.meta.attributes, attrs_patch)
        models.check_attributes(attributes)
        return spec, attributes, cancelled_at

    return await store.run(Database.update_run, org_id, run_id, change)
