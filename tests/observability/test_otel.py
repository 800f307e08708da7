"""OpenTelemetry spans: one per SDK call, one child per attempt, bulk jobs over both."""

from __future__ import annotations

import subprocess
import sys

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from vi_async import Client, FlowSpec, ViNotFoundError
from vi_async.local import LocalServer

from .obs_support import FailFirstAttempts, Spans, assert_no_secret

pytestmark = pytest.mark.anyio

SPEC = FlowSpec(name="traced")


def everything(spans: Spans) -> list[object]:
    """What an exporter sends: names, attributes, events, status text of every span."""
    out: list[object] = []
    for span in spans.all():
        out += [span.name, dict(span.attributes or {}), span.status.description]
        out += [(e.name, dict(e.attributes or {})) for e in span.events]
    return out


async def test_a_call_is_a_span_with_one_child_per_attempt(
    vi_server: LocalServer, spans: Spans
) -> None:
    async with vi_server.client() as client:
        flow = await client.flows.create(SPEC)
    async with vi_server.client(event_hooks=FailFirstAttempts(vi_server, 2).hooks()) as client:
        vi_server.reset_counts()
        await client.flows.delete(flow.flow_id)  # two 503s, then deleted
    attempts = vi_server.request_counts["DELETE /workspaces/{org}/flows/{flowId}"]
    assert attempts == 3
    (call,) = spans.named("vi.flows.delete")
    attrs = dict(call.attributes or {})
    assert attrs["vi.organization_id"] == vi_server.organization_id
    assert attrs["vi.resource_id"] == flow.flow_id
    assert attrs["vi.outcome"] == "success"
    assert attrs["vi.attempts"] == attempts
    assert attrs["vi.retries"] == attempts - 1
    children = spans.children(call)
    assert [c.name for c in children] == ["DELETE flows/{flow_id}"] * attempts
    assert [c.attributes["vi.attempt"] for c in children] == list(range(1, attempts + 1))
    assert all(c.kind is SpanKind.CLIENT for c in children)
    codes = [c.attributes["http.response.status_code"] for c in children]
    assert codes[:-1] == [503] * (attempts - 1) and 200 <= codes[-1] < 300
    assert [c.status.status_code for c in children[:-1]] == [StatusCode.ERROR] * (attempts - 1)
    assert children[0].attributes["url.template"] == "flows/{flow_id}"
    assert_no_secret(vi_server.secret_key, everything(spans))


async def test_a_failed_call_records_the_error_type_only(
    vi_client: Client, spans: Spans, vi_server: LocalServer
) -> None:
    with pytest.raises(ViNotFoundError):
        await vi_client.flows.get("missing-flow")
    (call,) = spans.named("vi.flows.get")
    assert call.attributes["vi.outcome"] == "error"
    assert call.attributes["error.type"] == "ViNotFoundError"
    assert call.status.status_code is StatusCode.ERROR
    assert call.status.description == "ViNotFoundError"
    (attempt,) = spans.children(call)
    assert attempt.attributes["http.response.status_code"] == 404
    assert attempt.attributes["vi.request_id"]
    assert_no_secret(vi_server.secret_key, everything(spans))


async def test_spans_nest_for_a_bulk_job(
    vi_client: Client, vi_server: LocalServer, spans: Spans
) -> None:
    flows = [await vi_client.flows.create(SPEC) for _ in range(4)]
    report = await vi_client.flows.delete_many([f.flow_id for f in flows] + ["gone-already"])
    assert len(report.deleted) == 4
    (job,) = spans.named("vi.flows.delete_many")
    attrs = dict(job.attributes or {})
    assert attrs["vi.bulk.deleted"] == 4 and attrs["vi.bulk.not_found"] == 1
    assert attrs["vi.bulk.total"] == 5 and attrs["vi.outcome"] == "success"
    deletes = spans.named("vi.flows.delete")
    assert len(deletes) == 5
    assert {d.attributes["vi.resource_id"] for d in deletes} == {f.flow_id for f in flows} | {
        "gone-already"
    }
    for delete in deletes:
        assert delete.parent is not None and delete.parent.span_id == job.context.span_id
        assert delete.context.trace_id == job.context.trace_id
        assert [c.name for c in spans.children(delete)] == ["DELETE flows/{flow_id}"]
    assert attrs["vi.attempts"] == sum(d.attributes["vi.attempts"] for d in deletes)
    assert_no_secret(vi_server.secret_key, everything(spans))


async def test_a_wait_and_a_list_are_spans(vi_client: Client, spans: Spans) -> None:
    flow = await vi_client.flows.create(SPEC)
    run = await vi_client.runs.create(flow.flow_id)
    done = await vi_client.runs.wait_for(run.run_id, timeout=30)
    await vi_client.flows.list()
    (wait,) = spans.named("vi.runs.wait_for")
    assert wait.attributes["vi.run.phase"] == done.phase.value
    assert wait.attributes["vi.resource_id"] == run.run_id
    assert wait.attributes["vi.attempts"] >= 1
    (create,) = spans.named("vi.runs.create")
    # a run of a flow id: the flow's GET and the run's PUT are attempts of one call
    assert [c.name for c in spans.children(create)] == ["GET flows/{flow_id}", "PUT runs/{run_id}"]
    (listing,) = spans.named("vi.flows.list")
    assert [c.name for c in spans.children(listing)] == ["GET flows"]


async def test_tracing_false_keeps_a_client_quiet(vi_server: LocalServer, spans: Spans) -> None:
    async with vi_server.client(tracing=False) as client:
        await client.flows.create(SPEC)
    assert spans.all() == []


async def test_uninstrument_stops_the_spans(vi_client: Client, spans: Spans) -> None:
    import vi_async

    await vi_client.flows.create(SPEC)
    assert [s.name for s in spans.all()] == ["PUT flows/{flow_id}", "vi.flows.create"]
    vi_async.uninstrument()
    await vi_client.flows.create(SPEC)
    assert len(spans.all()) == 2


def test_import_does_not_load_opentelemetry() -> None:
    code = "import sys, vi_async, vi_sync; sys.exit('opentelemetry' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
