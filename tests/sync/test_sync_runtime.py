"""The vi_sync runtime: lazy loop thread, close, Ctrl-C, abandoned iterators, fork."""

from __future__ import annotations

import gc
import inspect
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Generator, Iterator

import pytest
from run_support import (
    GET_LOGS,
    GET_RUN,
    assert_polling_stopped_blocking,
    eventually,
    loop_threads,
    make_client,
    run_meta,
    sdk_tasks_anywhere,
)
from sync_support import SPEC, stays

import vi_sync
from vi_async.local import LocalServer


def test_nothing_starts_at_import_or_construction() -> None:
    code = (
        "import threading, vi_sync\n"
        "key = 'dtvi_' + 'x' * 98\n"
        "c = vi_sync.Client(secret_key=key, organization_id='org', endpoint='http://127.0.0.1:9')\n"
        "p = c.flows.list(); it = c.runs.logs('r')\n"
        "print(threading.active_count())\n"
        "c.close(); c.close()\n"
        "print(threading.active_count())\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.split() == ["1", "1"], out.stderr


def test_close_is_idempotent_and_leaves_no_thread(vi_server_thread: LocalServer) -> None:
    before = set(threading.enumerate())
    client = make_client(vi_server_thread)
    assert set(threading.enumerate()) == before  # lazy
    flow = client.flows.create(spec=SPEC)
    run = client.runs.create(flow=flow.flow_id)
    client.runs.wait_for(run.run_id, timeout=10)
    assert len(loop_threads()) == 1
    client.close()
    assert set(threading.enumerate()) == before
    client.close()
    with pytest.raises(vi_sync.ViError, match="closed"):
        client.flows.get(flow.flow_id)
    with pytest.raises(vi_sync.ViError, match="closed"):
        list(client.flows.list().all_items())
    assert set(threading.enumerate()) == before


def test_with_block_closes(vi_server_thread: LocalServer) -> None:
    before = set(threading.enumerate())
    with make_client(vi_server_thread) as client:
        assert client.flows.list().items == []
    assert set(threading.enumerate()) == before
    with pytest.raises(vi_sync.ViError, match="closed"):
        client.flows.list().items  # noqa: B018


def test_close_cancels_calls_of_other_threads(vi_server_thread: LocalServer) -> None:
    before = set(threading.enumerate())
    client = make_client(vi_server_thread)
    run = client.runs.create(flow=SPEC, metadata=run_meta(running=60))
    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            client.runs.wait_for(run.run_id)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    eventually(lambda: vi_server_thread.request_counts[GET_RUN] >= 2)
    client.close()
    thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], vi_sync.ViError)
    assert "closed" in str(errors[0])
    assert set(threading.enumerate()) == before


def _suspended_async_generators(*names: str) -> list[object]:
    """Async generators with one of ``names`` that are alive and not closed."""
    gc.collect()
    return [
        obj
        for obj in gc.get_objects()
        if inspect.isasyncgen(obj) and obj.__name__ in names and obj.ag_frame is not None
    ]


def test_abandoned_iterators_close_their_async_generators(
    sync_client: vi_sync.Client, vi_server_thread: LocalServer
) -> None:
    run = sync_client.runs.create(flow=SPEC, metadata=run_meta(running=60, pending=0))

    # break out of a for loop: the generator is dropped and closes the async one
    for line in sync_client.runs.logs(run.run_id, tail=None, follow=True):
        assert line.timestamp >= 0
        break
    assert not _suspended_async_generators("logs", "read_logs")

    # close() after a few lines
    lines = sync_client.runs.logs(run.run_id, follow=True)
    assert isinstance(lines, Generator)
    next(lines), next(lines)
    assert _suspended_async_generators("logs", "read_logs")
    lines.close()
    assert not _suspended_async_generators("logs", "read_logs")

    # as_completed left early cancels the waits still running in the background
    fast = sync_client.runs.create(flow=SPEC)
    for first in sync_client.runs.as_completed([run.run_id, fast.run_id], timeout=30):
        assert first.run_id == fast.run_id
        break
    assert not _suspended_async_generators("as_completed")
    eventually(lambda: not sdk_tasks_anywhere(), 5.0, sdk_tasks_anywhere)
    assert_polling_stopped_blocking(vi_server_thread)


def test_close_closes_iterators_left_open(
    sync_client: vi_sync.Client, vi_server_thread: LocalServer
) -> None:
    run = sync_client.runs.create(flow=SPEC, metadata=run_meta(running=60, pending=0))
    counts = vi_server_thread.request_counts
    suspended = sync_client.runs.logs(run.run_id, follow=True)
    next(suspended)  # left suspended, never closed by its owner
    waits = sync_client.runs.as_completed([run.run_id])
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            next(waits)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=consume)  # blocked in next() when the client closes
    thread.start()
    eventually(lambda: counts[GET_RUN] >= 2)
    sync_client.close()
    thread.join(10)
    assert len(errors) == 1 and "closed" in str(errors[0])
    assert not _suspended_async_generators("logs", "read_logs", "as_completed")
    assert stays(lambda: counts[GET_RUN] + counts[GET_LOGS])
    assert not loop_threads()
    with pytest.raises(vi_sync.ViError, match="closed"):
        next(suspended)


def _interrupt_main_when(ready: threading.Event) -> threading.Thread:
    def fire() -> None:
        if ready.wait(10):
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    thread = threading.Thread(target=fire)
    thread.start()
    return thread


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("sigint_raises")
def test_ctrl_c_cancels_a_blocking_wait(
    sync_client: vi_sync.Client, vi_server_thread: LocalServer
) -> None:
    run = sync_client.runs.create(flow=SPEC, metadata=run_meta(running=60))
    counts = vi_server_thread.request_counts
    polling = threading.Event()

    def watch() -> None:
        eventually(lambda: counts[GET_RUN] >= 3)
        polling.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    firing = _interrupt_main_when(polling)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        sync_client.runs.wait_for(run.run_id, timeout=30, poll_interval=0.05)
    assert time.monotonic() - started < 20
    watcher.join()
    firing.join()
    # The poll stream stopped with the call: no task left, no more requests.
    eventually(lambda: not sdk_tasks_anywhere(), 5.0, sdk_tasks_anywhere)
    assert_polling_stopped_blocking(vi_server_thread)
    assert sync_client.runs.kill(run.run_id).phase is vi_sync.RunPhase.CANCELLED


@pytest.mark.usefixtures("sigint_raises")
def test_ctrl_c_cancels_a_followed_log(
    sync_client: vi_sync.Client, vi_server_thread: LocalServer
) -> None:
    run = sync_client.runs.create(flow=SPEC, metadata=run_meta(running=60, pending=0))
    counts = vi_server_thread.request_counts
    seen = threading.Event()
    firing = _interrupt_main_when(seen)
    lines = 0
    with pytest.raises(KeyboardInterrupt):
        for _ in sync_client.runs.logs(run.run_id, follow=True):
            lines += 1
            if lines == 2:
                seen.set()  # the interrupt lands while the next line is awaited
    firing.join()
    assert lines >= 2
    assert stays(lambda: counts[GET_LOGS])
    assert sync_client.flows.list().items == []  # still usable


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_its_own_loop(
    sync_client: vi_sync.Client, vi_server_thread: LocalServer
) -> None:
    flow = sync_client.flows.create(spec=SPEC)  # the parent's loop thread is running
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # multi-threaded fork (3.12+)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            os.close(read_end)
            name = sync_client.flows.get(flow.flow_id).spec.name
            child_flow = sync_client.flows.create(spec={**SPEC, "name": "from-child"})
            threads = [t.name for t in threading.enumerate()]
            sync_client.close()
            message = f"{name}|{child_flow.flow_id}|{','.join(threads)}|{len(loop_threads())}"
            os.write(write_end, message.encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.02)
    with os.fdopen(read_end) as pipe:
        message = pipe.read()
    assert os.waitstatus_to_exitcode(status) == 0
    name, child_flow_id, child_threads, loops_after_close = message.split("|")
    assert name == SPEC["name"]
    assert "vi_sync.Client-loop" in child_threads.split(",")  # its own loop thread
    assert loops_after_close == "0"
    # The parent's client and loop are untouched.
    assert sync_client.flows.get(child_flow_id).spec.name == "from-child"
    assert len(loop_threads()) == 1


def test_generator_arguments_run_off_the_loop_and_leave_no_thread(
    vi_server_thread: LocalServer,
) -> None:
    before = set(threading.enumerate())
    client = make_client(vi_server_thread)
    created = [client.flows.create(spec=SPEC).flow_id for _ in range(3)]
    seen_on: set[str] = set()

    def ids() -> Iterator[str]:
        for flow in client.flows.list({"page_size": 1}).all_items():  # calls the client
            seen_on.add(threading.current_thread().name)
            yield flow.flow_id

    report = client.flows.delete_many(ids(), concurrency=2)
    assert sorted(r.flow_id for r in report.deleted) == sorted(created)
    assert "vi_sync.Client-loop" not in seen_on  # read on a worker thread
    client.close()
    assert set(threading.enumerate()) == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_an_iterator_from_before_a_fork_raises_in_the_child(
    sync_client: vi_sync.Client,
) -> None:
    for n in range(3):
        sync_client.flows.create(spec={**SPEC, "name": f"fork-{n}"})
    flows = sync_client.flows.list({"page_size": 1}).all_items()
    next(flows)  # started: bound to the parent's loop thread
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # multi-threaded fork (3.12+)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            try:
                next(flows)
                status = 2  # it answered from the parent's loop?!
            except RuntimeError as exc:
                status = 3
                if "parent process" in str(exc):
                    # The client itself still works in the child (its own loop).
                    status = 0 if len(sync_client.flows.list().items) == 3 else 4
            sync_client.close()
        finally:
            os._exit(status)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung on the parent's iterator")
        time.sleep(0.02)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's iterator goes on.
    assert len([next(flows), next(flows)]) == 2
    flows.close()


def test_a_call_is_one_hand_off_not_a_blocking_portal_spawn(
    sync_client: vi_sync.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BlockingPortal.start_task_soon blocks until the loop has spawned the task: a
    # second thread round trip per call. Plain calls go without it.
    from anyio.from_thread import BlockingPortal

    sync_client.flows.list()  # the loop is running
    spawns: list[object] = []
    original = BlockingPortal.start_task_soon

    def counting(self: BlockingPortal, *args: object, **kwargs: object) -> object:
        spawns.append(args[0])
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(BlockingPortal, "start_task_soon", counting)
    flow = sync_client.flows.create(spec=SPEC)
    assert sync_client.flows.get(flow.flow_id).flow_id == flow.flow_id
    assert sync_client.flows.list().items
    assert spawns == []
