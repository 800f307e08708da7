"""The bulk jobs through vi_sync: a sync generator of ids, and Ctrl-C mid-job."""

from __future__ import annotations

import json
import signal
import threading
import time
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
        headers={"Content-Type": "application/json", **server.admin_headers()},
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


def _interrupt_main(*delays: float) -> list[threading.Timer]:
    main = threading.main_thread().ident
    assert main is not None and threading.get_ident() == main
    timers = [threading.Timer(d, signal.pthread_kill, (main, signal.SIGINT)) for d in delays]
    for timer in timers:
        timer.start()
    return timers


def test_ctrl_c_waits_for_in_flight_deletes_within_the_grace(
    vi_server_thread: LocalServer, client: vi_sync.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The in-flight DELETEs take longer than any cleanup grace the runtime might allow
    # itself (shrunk here so the old bounded wait would give up long before they land),
    # but less than the client's cancel_grace (10 s): the runtime waits for them.
    monkeypatch.setattr("vi_async._sync_runtime.CLEANUP_GRACE", 0.2, raising=False)
    latency = 1.5
    flows = _seed(vi_server_thread, 20)
    vi_server_thread.faults = FaultConfig(latency=latency, paths=r"/flows/")
    report = BulkReport()
    started = time.monotonic()
    (timer,) = _interrupt_main(0.4)
    try:
        with pytest.raises(KeyboardInterrupt):
            client.flows.delete_many(flows, concurrency=4, report=report, adaptive=False)
        interrupted_after = time.monotonic() - started
        snapshot = (report.cancelled, report.total, dict(report.counts))
    finally:
        timer.cancel()
        vi_server_thread.faults = FaultConfig()
    # KeyboardInterrupt came once the shielded DELETEs had landed, not before ...
    assert interrupted_after >= latency
    # ... so the report was final when the caller saw it: nothing changes later.
    time.sleep(0.3)
    assert (report.cancelled, report.total, dict(report.counts)) == snapshot
    assert report.cancelled and len(report.deleted) == 4
    assert all(r.reason == "cancelled" for r in report.skipped)
    deleted = {r.flow_id for r in report.results() if r.outcome is BulkOutcome.DELETED}
    assert _remaining(client) == set(flows) - deleted


def test_a_second_ctrl_c_abandons_the_wait(
    vi_server_thread: LocalServer, client: vi_sync.Client
) -> None:
    flows = _seed(vi_server_thread, 8)
    vi_server_thread.faults = FaultConfig(latency=3.0, paths=r"/flows/")
    report = BulkReport()
    started = time.monotonic()
    timers = _interrupt_main(0.3, 0.8)
    try:
        with pytest.raises(KeyboardInterrupt):
            client.flows.delete_many(flows, concurrency=4, report=report)
        assert time.monotonic() - started < 2.5  # did not wait for the 3 s DELETEs
        # The report says what it is: cancelled, and partial (the job still finishes).
        assert report.cancelled and report.partial and not report.finished
        assert "partial" in report.summary()
    finally:
        for timer in timers:
            timer.cancel()
        vi_server_thread.faults = FaultConfig()
    client.close()  # cancels what is left; the shielded DELETEs still land
    assert report.cancelled and report.finished
    deleted = {r.flow_id for r in report.results() if r.outcome is BulkOutcome.DELETED}
    with vi_sync.Client(
        vi_server_thread.secret_key, vi_server_thread.organization_id, vi_server_thread.endpoint
    ) as other:
        assert _remaining(other) == set(flows) - deleted


def test_ctrl_c_against_a_server_that_does_not_answer_is_bounded(
    vi_server_thread: LocalServer,
) -> None:
    server = vi_server_thread
    flows = _seed(server, 12)
    server.faults = FaultConfig(latency=60.0, paths=r"/flows/")
    report = BulkReport()
    grace = 0.5
    with vi_sync.Client(
        server.secret_key, server.organization_id, server.endpoint, cancel_grace=grace
    ) as client:
        started = time.monotonic()
        (timer,) = _interrupt_main(0.3)
        try:
            with pytest.raises(KeyboardInterrupt):
                client.flows.delete_many(flows, concurrency=4, report=report)
            elapsed = time.monotonic() - started
        finally:
            timer.cancel()
            server.faults = FaultConfig()
        assert elapsed < 0.3 + grace + 1.5, f"Ctrl-C took {elapsed:.1f}s"
        assert report.cancelled and report.finished
        # The DELETEs in flight never got an answer: unknown, never deleted nor failed.
        assert report.unknown and not report.deleted and not report.failed
        assert report.total == len(report.unknown) + len(report.skipped)
        unknown = {r.flow_id for r in report.unknown}
        assert unknown <= set(flows)
        assert _remaining(client) == set(flows)  # the server dropped the abandoned ones
