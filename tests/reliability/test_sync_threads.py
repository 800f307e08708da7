"""One vi_sync client used from many threads at once (documented as supported).

Threads mix every kind of call (CRUD, waits, log follows, listings, bulk
deletes) under light faults and check that each answer is their own; one
thread closes the client while the others are mid-call; iterators are
abandoned half-way on other threads. Afterwards the server state is exact and
no thread is left behind. Every wait is bounded, so a deadlock fails the test.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from run_support import loop_threads, make_client

import vi_sync
from vi_async.local import FaultConfig, LocalServer

THREADS = 16
PER_THREAD = 12
BOUND = 120.0


def stored_flow_ids(server: LocalServer) -> set[str]:
    """The flows on the server, read through a fresh client without faults."""
    saved, server.faults = server.faults, FaultConfig()
    try:
        with make_client(server) as reader:
            return {f.flow_id for f in reader.flows.list({"page_size": 1000}).all_items()}
    finally:
        server.faults = saved


@pytest.fixture
def baseline_threads(vi_server_thread: LocalServer) -> Iterator[set[threading.Thread]]:
    """Threads alive before the test (the server's included); none may be added."""
    before = set(threading.enumerate())
    yield before
    assert set(threading.enumerate()) <= before


def run_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(i)`` on ``count`` threads at once; results in order; bounded."""
    start = threading.Barrier(count)

    def run(i: int) -> Any:
        start.wait(BOUND)
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(run, i) for i in range(count)]
        return [f.result(timeout=BOUND) for f in futures]


@pytest.mark.slow
def test_many_threads_mixed_work(
    vi_server_thread: LocalServer, baseline_threads: set[threading.Thread]
) -> None:
    """16 threads x 12 rounds of mixed calls on one client: every answer is the caller's."""
    vi_server_thread.faults = FaultConfig(
        seed=3, error_503_rate=0.05, error_429_rate=0.02, retry_after=0.01
    )
    client = make_client(vi_server_thread, max_retries=10, retry_base_delay=0.01)

    def work(t: int) -> tuple[list[str], list[str]]:
        kept: list[str] = []
        doomed: list[str] = []
        for k in range(PER_THREAD):
            name = f"t{t}-k{k}"
            flow = client.flows.create(spec={"name": name}, metadata={"t": str(t)})
            assert client.flows.get(flow.flow_id).spec.name == name
            updated = client.flows.update(flow.flow_id, metadata={"k": str(k)})
            assert updated.metadata.attributes == {"t": str(t), "k": str(k)}
            if k % 4 == 0:
                run = client.runs.create(flow=flow.flow_id, metadata={"t": str(t)})
                done = client.runs.wait_for(run.run_id, timeout=60)
                assert done.run_id == run.run_id and done.spec.flow.name == name
                lines = list(client.runs.logs(run.run_id, tail=None, follow=True))
                assert len(set(lines)) == len(lines)
                assert lines[-1].message.startswith("Run finished")
            if k % 3 == 0:
                for i, _ in enumerate(client.flows.list({"page_size": 7}).all_items()):
                    if i == 10:
                        break  # abandoned half-way, on this thread
            (kept if k % 2 else doomed).append(flow.flow_id)
        report = client.flows.delete_many(doomed, concurrency=4)
        assert sorted(r.flow_id for r in report.deleted) == sorted(doomed), report.summary()
        return kept, doomed

    try:
        results = run_threads(THREADS, work)
        assert len(loop_threads()) == 1  # one portal serves every thread
    finally:
        client.close()
    kept = {flow_id for k, _ in results for flow_id in k}
    assert len(kept) == THREADS * PER_THREAD // 2
    assert stored_flow_ids(vi_server_thread) == kept
    assert loop_threads() == []


def test_close_while_threads_are_mid_call(
    vi_server_thread: LocalServer, baseline_threads: set[threading.Thread]
) -> None:
    """One thread closes the client while 16 others call it: each call either completes
    or raises ViError("The client is closed"); nothing hangs, no thread is left."""
    vi_server_thread.faults = FaultConfig(seed=4, latency=0.005)
    client = make_client(vi_server_thread)
    client.flows.list()  # start the loop thread
    started = threading.Event()
    outcomes: list[str] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        if t == 0:
            started.wait(BOUND)
            client.close()
            return
        for k in range(1000):
            try:
                if k % 4 == 0:
                    for _ in client.flows.list({"page_size": 2}).all_items():
                        started.set()
                elif k % 4 == 1:
                    client.flows.create(spec={"name": f"c{t}-{k}"})
                elif k % 4 == 2:
                    report = client.flows.delete_many([f"gone-{t}-{k}-{i}" for i in range(20)])
                    assert len(report.not_found) == 20
                else:
                    client.runs.list().items  # noqa: B018
            except vi_sync.ViError as exc:
                assert "closed" in str(exc), repr(exc)
                with lock:
                    outcomes.append("closed")
                return
        raise AssertionError("the client never reported being closed")

    run_threads(THREADS + 1, work)
    assert outcomes == ["closed"] * THREADS
    assert loop_threads() == []
    with pytest.raises(vi_sync.ViError, match="closed"):
        client.flows.get("any")
    client.close()  # idempotent, from any thread


def test_iterators_abandoned_on_other_threads(
    vi_server_thread: LocalServer, baseline_threads: set[threading.Thread]
) -> None:
    """Generators made on one thread and advanced, then dropped, on others leak nothing."""
    with make_client(vi_server_thread) as setup:
        for i in range(30):
            setup.flows.create(spec={"name": f"it-{i}"})
    client = make_client(vi_server_thread)
    iterators = [client.flows.list({"page_size": 3}).all_items() for _ in range(THREADS)]

    def advance(i: int) -> int:
        it = iterators[i]
        count = 0
        for _ in range(i + 1):
            next(it)
            count += 1
        return count

    try:
        assert run_threads(THREADS, advance) == [i + 1 for i in range(THREADS)]
    finally:
        iterators.clear()  # dropped here; closing the client cancels what is left
        client.close()
    assert loop_threads() == []
