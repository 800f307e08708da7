"""vi_sync over HTTP against the local server: CRUD, pages, waiting, logs, errors."""

from __future__ import annotations

import inspect
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from run_support import (
    assert_polling_stopped_blocking,
    eventually,
    loop_threads,
    make_client,
    run_meta,
    sdk_tasks_anywhere,
)
from sync_support import GET_FLOWS, SPEC

import vi_async
import vi_sync
from vi_async.local import LocalServer


def test_flow_crud(sync_client: vi_sync.Client, capsys: pytest.CaptureFixture[str]) -> None:
    flow = sync_client.flows.create(spec=vi_sync.FlowSpec(name="crud"), metadata={"env": "test"})
    assert isinstance(flow, vi_sync.Flow)
    assert flow.metadata.attributes == {"env": "test"}
    assert sync_client.flows.get(flow.flow_id) == flow
    assert sync_client.flows.get(flow_id=flow.flow_id).spec.name == "crud"
    updated = sync_client.flows.update(flow_id=flow.flow_id, spec={"name": "renamed"})
    assert updated.spec.name == "renamed"
    updated.info()
    assert "renamed" in capsys.readouterr().out
    deleted = sync_client.flows.delete(flow.flow_id)
    assert deleted == vi_sync.DeletedResource(id=flow.flow_id)
    with pytest.raises(vi_sync.ViNotFoundError) as info:
        sync_client.flows.get(flow.flow_id)
    assert info.value.status == 404


def test_errors_and_models_are_the_async_classes(sync_client: vi_sync.Client) -> None:
    assert vi_sync.ViNotFoundError is vi_async.ViNotFoundError
    assert vi_sync.ViError is vi_async.errors.ViError
    assert vi_sync.Run is vi_async.Run
    assert vi_sync.PaginationParams is vi_async.PaginationParams
    with pytest.raises(vi_async.ViNotFoundError):
        sync_client.runs.delete(run_id="no-such-run")
    with pytest.raises(ValueError):
        sync_client.runs.wait_for("any", poll_interval=0)
    with pytest.raises(vi_sync.ViConfigError):
        vi_sync.Client(secret_key="", organization_id="", endpoint="not a url")


def test_pages_items_and_all_items(
    sync_client: vi_sync.Client, vi_server_thread: LocalServer
) -> None:
    created = [sync_client.flows.create(spec={**SPEC, "name": f"p{i}"}) for i in range(23)]
    vi_server_thread.reset_counts()

    pager = sync_client.flows.list(pagination=vi_sync.PaginationParams(page_size=10))
    assert isinstance(pager, vi_sync.SyncPager)
    assert "SyncPager" in repr(pager)
    assert vi_server_thread.request_counts[GET_FLOWS] == 0  # lazy
    assert [f.flow_id for f in pager.items] == [f.flow_id for f in created[:10]]
    assert pager.next_page is not None
    assert pager.first_page() is pager.first_page()
    assert vi_server_thread.request_counts[GET_FLOWS] == 1  # one fetch behind all three

    pages = list(sync_client.flows.list(pagination={"page_size": 10}))
    assert [len(p.items) for p in pages] == [10, 10, 3]
    assert pages[-1].next_page is None
    every = list(sync_client.flows.list(vi_sync.PaginationParams(page_size=7)).all_items())
    assert [f.flow_id for f in every] == [f.flow_id for f in created]


def test_list_runs_by_status_and_limit(sync_client: vi_sync.Client) -> None:
    done = sync_client.runs.create(flow=SPEC, wait=True, timeout=10)
    long = sync_client.runs.create(flow=SPEC, metadata=run_meta(running=30))
    assert done.phase is vi_sync.RunPhase.SUCCEEDED
    succeeded = list(sync_client.runs.list(status=vi_sync.RunPhase.SUCCEEDED).all_items())
    assert [r.run_id for r in succeeded] == [done.run_id]
    assert len(sync_client.runs.list(limit=1).items) == 1
    assert sync_client.runs.kill(run_id=long.run_id).phase is vi_sync.RunPhase.CANCELLED


def test_run_lifecycle(sync_client: vi_sync.Client) -> None:
    flow = sync_client.flows.create(spec=SPEC)
    run = sync_client.runs.create(flow=flow.flow_id, training_project="proj-1")
    assert run.spec.training_project == "proj-1"
    phases: list[vi_sync.RunPhase] = []
    finished = sync_client.runs.wait_for(
        run.run_id, timeout=10, on_update=lambda r: phases.append(r.phase)
    )
    assert finished.phase is vi_sync.RunPhase.SUCCEEDED
    assert phases[-1] is vi_sync.RunPhase.SUCCEEDED
    assert sync_client.runs.kill(run.run_id).phase is vi_sync.RunPhase.SUCCEEDED  # idempotent
    updated = sync_client.runs.update(run_id=run.run_id, metadata={"notes": "ok"})
    assert updated.metadata.attributes["notes"] == "ok"
    assert sync_client.runs.delete(run_id=run.run_id).id == run.run_id
    with pytest.raises(vi_sync.ViNotFoundError):
        sync_client.runs.get(run.run_id)


def test_wait_for_timeout_carries_the_last_run(sync_client: vi_sync.Client) -> None:
    run = sync_client.runs.start(flow=SPEC, metadata=run_meta(running=30))
    with pytest.raises(vi_sync.ViTimeoutError) as info:
        sync_client.runs.wait_for(run.run_id, timeout=0.3)
    assert info.value.last_run is not None
    assert not info.value.last_run.is_terminal
    sync_client.runs.kill(run.run_id)


def test_logs_follow_until_the_run_ends(sync_client: vi_sync.Client) -> None:
    run = sync_client.runs.create(flow=SPEC)
    lines = list(sync_client.runs.logs(run.run_id, tail=None, follow=True))
    assert len(set(lines)) == len(lines)
    assert "finished" in lines[-1].message.lower()
    assert sync_client.runs.get(run.run_id).is_terminal
    # Without follow: the last lines only, at once.
    assert list(sync_client.runs.logs(run.run_id, tail=2)) == lines[-2:]


def test_as_completed_yields_in_finishing_order(sync_client: vi_sync.Client) -> None:
    slow = sync_client.runs.create(flow=SPEC, metadata=run_meta(running=0.8))
    fast = sync_client.runs.create(flow=SPEC, metadata=run_meta(running=0.1))
    order = [
        r.run_id for r in sync_client.runs.as_completed([slow.run_id, fast.run_id], timeout=10)
    ]
    assert order == [fast.run_id, slow.run_id]


def test_results_are_never_async_objects(sync_client: vi_sync.Client) -> None:
    run = sync_client.runs.create(flow=SPEC, wait=True, timeout=10)
    produced = [
        sync_client.flows.list(),
        sync_client.flows.list().all_items(),
        iter(sync_client.runs.list()),
        sync_client.runs.logs(run.run_id),
        sync_client.runs.as_completed([run.run_id]),
    ]
    for obj in produced:
        assert not inspect.isawaitable(obj)
        assert not hasattr(obj, "__aiter__")
        assert hasattr(obj, "__iter__")
    for obj in produced[1:]:
        assert inspect.isgenerator(obj)
        list(obj)


def test_used_inside_a_running_event_loop(
    sync_client: vi_sync.Client, vi_server_thread: LocalServer
) -> None:
    import asyncio

    async def notebook_cell() -> vi_sync.Run:
        # Jupyter runs cells inside a loop: the sync client must neither need nor
        # disturb it (no asyncio.run on this thread).
        flow = sync_client.flows.create(spec=SPEC)
        assert [f.flow_id for f in sync_client.flows.list().all_items()] == [flow.flow_id]
        run = sync_client.runs.create(flow=flow.flow_id)
        return sync_client.runs.wait_for(run.run_id, timeout=10)

    assert asyncio.run(notebook_cell()).phase is vi_sync.RunPhase.SUCCEEDED

    async def fresh_client_in_loop() -> int:
        with make_client(vi_server_thread) as client:
            return len(client.flows.list().items)

    assert asyncio.run(fresh_client_in_loop()) == 1


def test_one_client_shared_by_threads(sync_client: vi_sync.Client) -> None:
    def work(i: int) -> str:
        flow = sync_client.flows.create(spec={**SPEC, "name": f"t{i}"})
        assert sync_client.flows.get(flow.flow_id).spec.name == f"t{i}"
        return flow.flow_id

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(work, range(32)))
    assert len(set(ids)) == 32
    listed = {f.flow_id for f in sync_client.flows.list({"page_size": 100}).all_items()}
    assert listed == set(ids)
    assert len(loop_threads()) == 1  # one portal for all the threads


def test_blocking_call_from_the_loop_thread_raises(sync_client: vi_sync.Client) -> None:
    run = sync_client.runs.create(flow=SPEC)

    def on_update(r: vi_sync.Run) -> None:
        sync_client.runs.get(r.run_id)  # would deadlock: it runs on the loop thread

    with pytest.raises(RuntimeError, match="own event-loop thread"):
        sync_client.runs.wait_for(run.run_id, timeout=10, on_update=on_update)
    # The client is still usable afterwards.
    assert sync_client.runs.wait_for(run.run_id, timeout=10).is_terminal


def test_delete_many_and_cleanup_take_generators_that_use_the_client(
    sync_client: vi_sync.Client, vi_server_thread: LocalServer
) -> None:
    keep = sync_client.flows.create(spec={**SPEC, "name": "keep"})
    for i in range(5):
        sync_client.flows.create(spec={**SPEC, "name": f"tmp-{i}"})
    # The generator pages through the same client while delete_many reads it.
    doomed = (
        f.flow_id
        for f in sync_client.flows.list({"page_size": 2}).all_items()
        if f.spec.name.startswith("tmp-")
    )
    report = sync_client.flows.delete_many(doomed, concurrency=4)
    assert len(report.deleted) == 5
    assert [f.flow_id for f in sync_client.flows.list().all_items()] == [keep.flow_id]
    sync_client.flows.create(spec={**SPEC, "name": "tmp-late"})
    progress: list[int] = []
    report = sync_client.flows.cleanup(
        name="tmp-*", progress=lambda done, total, last: progress.append(done)
    )
    assert len(report.deleted) == 1 and progress == [1]


def test_client_and_pager_are_usable_after_threads_change(
    vi_server_thread: LocalServer,
) -> None:
    # A pager made on one thread and read on another.
    client = make_client(vi_server_thread)
    try:
        client.flows.create(spec=SPEC)
        pager = client.flows.list()
        out: list[int] = []
        worker = threading.Thread(target=lambda: out.append(len(pager.items)))
        worker.start()
        worker.join()
        assert out == [1]
    finally:
        client.close()


def test_watch_is_a_blocking_iterator_that_stops_polling_when_closed(
    sync_client: vi_sync.Client, vi_server_thread: LocalServer
) -> None:
    run = sync_client.runs.create(flow=SPEC, metadata=run_meta(running=0.5, pending=1.0))
    events = sync_client.runs.watch([run.run_id], poll_interval=0.05)
    assert inspect.isgenerator(events)
    phases = []
    for event in events:
        assert isinstance(event, vi_sync.RunEvent)
        phases.append(event.run.phase)
        if event.run.is_terminal:
            break
    events.close()
    assert phases == [
        vi_sync.RunPhase.PENDING,
        vi_sync.RunPhase.RUNNING,
        vi_sync.RunPhase.SUCCEEDED,
    ]
    eventually(lambda: not sdk_tasks_anywhere(), 5.0, sdk_tasks_anywhere)
    assert_polling_stopped_blocking(vi_server_thread)
