"""Checkpoints ("run outputs") of Succeeded runs, on the WIRE.md paths.

::

    GET /workspaces/{org}/runs/{runId}/outputs?intent=sdkLocalDeploy[&contents=y][&s=&p=]
    GET /workspaces/{org}/runs/{runId}/outputs/{ckpt}?intent=sdkLocalDeploy[&contents=y]

Both answer a list envelope, oldest checkpoint first. Without ``s`` the first
form lists every checkpoint (so its last item is the latest, which is how the
official client's ``get`` reads it); with ``s`` it is paged like other lists.
The official client sends its page query after a second ``?``
(``intent=sdkLocalDeploy?s=10&p=…``): the ``intent`` value is split on ``?``
and the rest read as query. A run that is not Succeeded has no checkpoints.

Per run, from ``metadata.attributes``: ``vi-local/checkpoints`` (how many,
default 2) and ``vi-local/model-bytes`` (archive size, default 2 MiB).
Checkpoint ``n`` is ``checkpoint_<n>`` at epoch ``10 n``; from the second on
it carries an adapter. ``contents=y`` adds a pre-signed URL on this server
(:mod:`vi_async.local.storage`), valid ``LocalState.download_url_ttl`` seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from aiohttp import web

from vi_async.local import engine
from vi_async.local.blob import MAX_ARTIFACT_BYTES, ArtifactKey
from vi_async.local.database import Database
from vi_async.local.documents import run_link
from vi_async.local.errors import ApiError, bad_request
from vi_async.local.pagination import decode_token, encode_token, parse_page_size
from vi_async.local.records import RunRecord
from vi_async.local.responses import json_response
from vi_async.local.state import STATE, LocalState
from vi_async.local.storage import (
    STORAGE,
    STORAGE_PREFIX,
    Storage,
    UrlSigner,
    send_artifact,
    stop_hashing,
)
from vi_async.local.validation import canonical_json, check_id

ATTR_CHECKPOINTS = "vi-local/checkpoints"
ATTR_MODEL_BYTES = "vi-local/model-bytes"
DEFAULT_CHECKPOINTS = 2
DEFAULT_MODEL_BYTES = 2 * 1024 * 1024
MAX_CHECKPOINTS = 1000
MAX_MODEL_BYTES = MAX_ARTIFACT_BYTES
PAGE_KIND = "outputs"


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of a run: its id, when it was made and its archive."""

    index: int
    created_at: int
    key: ArtifactKey

    @property
    def checkpoint_id(self) -> str:
        """The checkpoint's id (``runOutputId``)."""
        return self.key.checkpoint_id


def _int_attribute(attrs: Mapping[str, str], name: str, default: int, limit: int) -> int:
    raw = attrs.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"attribute {name} must be an integer") from None
    if not 0 <= value <= limit:
        raise bad_request(f"attribute {name} must be between 0 and {limit}")
    return value


def check_attributes(attrs: Mapping[str, str]) -> tuple[int, int]:
    """Check a run's ``vi-local/checkpoints`` and ``vi-local/model-bytes``.

    Args:
        attrs: The run's metadata attributes.

    Returns:
        (checkpoints, archive size in bytes).

    Raises:
        ApiError: 400 when one is not an integer in its range (the archive at most
            ``MAX_MODEL_BYTES``, what the storage can serve).
    """
    count = _int_attribute(attrs, ATTR_CHECKPOINTS, DEFAULT_CHECKPOINTS, MAX_CHECKPOINTS)
    size = _int_attribute(attrs, ATTR_MODEL_BYTES, DEFAULT_MODEL_BYTES, MAX_MODEL_BYTES)
    return count, size


def checkpoints(record: RunRecord, now: int) -> list[Checkpoint]:
    """The checkpoints of a run at ``now``, oldest first (none unless Succeeded)."""
    if record.plan.phase(now) != engine.SUCCEEDED:
        return []
    count, size = check_attributes(record.meta.attributes)
    flow = record.spec.get("flow", {})
    name, spec = str(flow.get("name", "")), canonical_json(flow)
    plan = record.plan
    span = max(0, plan.finished_at - plan.running_at)
    return [
        Checkpoint(
            index=i,
            created_at=plan.running_at + span * i // count,
            key=ArtifactKey(record.run_id, f"checkpoint_{i}", i, size, name, spec),
        )
        for i in range(1, count + 1)
    ]


def storage_path(org_id: str, run_id: str, checkpoint_id: str) -> str:
    """The path of a checkpoint's archive on the storage route."""
    return f"{STORAGE_PREFIX}/{org_id}/{run_id}/{checkpoint_id}"


def output_document(
    record: RunRecord, ckpt: Checkpoint, download: tuple[str, int] | None
) -> dict[str, object]:
    """A run output as the API returns it; ``download`` is (URL, expiresAt ms)."""
    org_id = record.meta.org_id
    status: dict[str, object] = {
        "observedGeneration": 1,
        "conditions": [],
        "storageObject": f"gs://vi-local/{org_id}/{record.run_id}/{ckpt.checkpoint_id}.tar",
    }
    if download is not None:
        status["contents"] = {"downloadUrl": {"url": download[0], "expiresAt": download[1]}}
    return {
        "kind": "RunOutput",
        "runId": record.run_id,
        "workspaceId": org_id,
        "runOutputId": ckpt.checkpoint_id,
        "selfLink": f"{run_link(org_id, record.run_id)}/outputs/{ckpt.checkpoint_id}",
        "etag": ckpt.key.etag.strip('"'),
        "metadata": {
            "timeCreated": ckpt.created_at,
            "lastUpdated": ckpt.created_at,
            "generation": 1,
            "attributes": {},
        },
        "spec": {
            "kind": "Checkpoint",
            "epoch": 10 * ckpt.index,
            "evaluationMetrics": {"mAP": round(0.3 + 0.6 * (1 - 1 / (1 + ckpt.index)), 4)},
        },
        "status": status,
    }


def parse_query(request: web.Request) -> dict[str, str]:
    """The query, with the rest of a doubled-``?`` ``intent`` value read as query too."""
    query = dict(request.query)
    intent = query.get("intent")
    if intent is not None and "?" in intent:
        query["intent"], rest = intent.split("?", 1)
        for key, value in parse_qsl(rest, keep_blank_values=True):
            query.setdefault(key, value)
    return query


async def _run(request: web.Request) -> tuple[LocalState, RunRecord, dict[str, str]]:
    state = request.app[STATE]
    org_id = state.keys.authenticate(request)
    run_id = check_id(request.match_info["runId"], "runId")
    record = await state.store.run(Database.get_run, org_id, run_id)
    return state, record, parse_query(request)


def _documents(
    request: web.Request,
    state: LocalState,
    record: RunRecord,
    items: list[Checkpoint],
    query: dict[str, str],
) -> list[dict[str, object]]:
    storage = request.app[STORAGE]
    contents = query.get("contents") == "y"
    origin = f"{request.scheme}://{request.host}"
    docs = []
    for ckpt in items:
        download = None
        if contents:
            path = storage_path(record.meta.org_id, record.run_id, ckpt.checkpoint_id)
            download = storage.signer.sign(origin, path, state.download_url_ttl)
        docs.append(output_document(record, ckpt, download))
    return docs


async def list_outputs(request: web.Request) -> web.StreamResponse:
    """List a run's checkpoints (all of them, or a page when ``s`` is given)."""
    state, record, query = await _run(request)
    items = checkpoints(record, state.clock())
    next_token = prev_token = None
    if query.get("s") is not None:
        size = parse_page_size(query.get("s"))
        after = decode_token(query.get("p"), PAGE_KIND).after or 0
        if not 0 <= after <= len(items):
            raise bad_request("invalid page token")
        page = items[after : after + size]
        if after + size < len(items):
            next_token = encode_token(PAGE_KIND, after=after + size)
        if after > 0:
            prev_token = encode_token(PAGE_KIND, before=after)
        items = page
    return _page(request, state, record, items, query, next_token, prev_token)


def _page(
    request: web.Request,
    state: LocalState,
    record: RunRecord,
    items: list[Checkpoint],
    query: dict[str, str],
    next_token: str | None = None,
    prev_token: str | None = None,
) -> web.StreamResponse:
    docs = _documents(request, state, record, items, query)
    return json_response({"items": docs, "nextPage": next_token, "prevPage": prev_token})


def find_checkpoint(record: RunRecord, now: int, ckpt_id: str, error: ApiError) -> Checkpoint:
    """The run's checkpoint ``ckpt_id``; raises ``error`` when there is none."""
    for ckpt in checkpoints(record, now):
        if ckpt.checkpoint_id == ckpt_id:
            return ckpt
    raise error


async def get_output(request: web.Request) -> web.StreamResponse:
    """One checkpoint, in a list envelope."""
    state, record, query = await _run(request)
    ckpt_id = check_id(request.match_info["ckpt"], "ckpt")
    missing = ApiError(404, f"checkpoint {ckpt_id!r} of run {record.run_id!r} not found")
    ckpt = find_checkpoint(record, state.clock(), ckpt_id, missing)
    return _page(request, state, record, [ckpt], query)


async def get_blob(request: web.Request) -> web.StreamResponse:
    """HEAD or GET a checkpoint's archive through its pre-signed URL (no API key)."""
    state = request.app[STATE]
    storage = request.app[STORAGE]
    storage.signer.check(request.path, request.query.get("exp"), request.query.get("sig"))
    org_id, run_id, ckpt_id = (request.match_info[k] for k in ("org", "runId", "ckpt"))
    record = await state.store.run(Database.get_run, org_id, run_id)
    missing = ApiError(404, "no such object", code="NoSuchKey")
    ckpt = find_checkpoint(record, state.clock(), ckpt_id, missing)
    artifact = storage.cache.get(ckpt.key)
    return await send_artifact(request, artifact, storage, state.faults)


def add_model_routes(app: web.Application) -> None:
    """Register the run output routes and the storage route on ``app``."""
    app[STORAGE] = Storage(signer=UrlSigner(clock=app[STATE].clock))
    app.on_shutdown.append(stop_hashing)
    base = "/workspaces/{org}/runs/{runId}/outputs"
    app.router.add_get(base, list_outputs)
    app.router.add_get(base + "/{ckpt}", get_output)
    app.router.add_route("GET", STORAGE_PREFIX + "/{org}/{runId}/{ckpt}", get_blob)
    app.router.add_route("HEAD", STORAGE_PREFIX + "/{org}/{runId}/{ckpt}", get_blob)
