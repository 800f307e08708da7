"""The bulk jobs through vi_sync: a sync generator of ids, and Ctrl-C mid-job."""

from __future__ import annotations

import json
import signal
import threading
import urllib.request
from collections.abc import Iterator

import pytest

import vi_sync
from vi_async.bulk import BulkOutcome, BulkReport
from vi_async.local import FaultConfig, LocalServer


def _seed(server: LocalServer, n: int) -> list[str]:
    request = urllib.request.Request(
        f"{server.endpoint}_local/seed",
        data=json.dumps({"flows": n}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        ids: list[str] = json.load(answer)["flowIds"]
    return ids


@pytest.fixture
def client(vi_server_thread: LocalServer) -> Iterator[vi_sync.Client]:
    """A vi_sync client bound to the threaded server."""
    server = vi_server_thread
    with vi_sync.Client(server.secret_key, server.organization_id, server.endpoint) as client:
        yield client


def _remaining(client: vi_sync.Client) -> set[str]:
    return {flow.flow_id for flow in client.flows.list().all_items()}


def test_sync_delete_many_from_a_generator(
    vi_server_thread: LocalServer, client: vi_sync.Client
) -> None:
    flows = _seed(vi_server_thread, 40)
    report = client.flows.delete_many(flow_id for flow_id in flows)
    assert report.ok and {r.flow_id for r in report.deleted} == set(flows)
    assert _remaining(client) == set()


def test_ctrl_c_in_vi_sync_leaves_an_exact_report(
    vi_server_thread: LocalServer, client: vi_sync.Client
) -> None:
    flows = _seed(vi_server_thread, 300)
    vi_server_thread.faults = FaultConfig(latency=0.02, paths=r"/flows/")
    report = BulkReport()
    main = threading.main_thread().ident
    assert main is not None and threading.get_ident() == main
    timer = threading.Timer(0.3, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            client.flows.cleanup(concurrency=8, report=report)
    finally:
        timer.cancel()
        vi_server_thread.faults = FaultConfig()
    assert report.cancelled and 0 < len(report.deleted) < 300
    assert all(r.reason == "cancelled" for r in report.skipped)
    deleted = {r.flow_id for r in report.results() if r.outcome is BulkOutcome.DELETED}
    assert _remaining(client) == set(flows) - deleted
