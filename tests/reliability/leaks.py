"""Leak checks shared by the reliability tests: tasks, connections, threads, and secrets
in what errors show."""

from __future__ import annotations

import asyncio
import gc
import pickle
import threading
import traceback
from typing import Any

import aiohttp
from run_support import wait_until

from vi_async import ViError
from vi_async.local import LocalServer


def own_threads() -> set[threading.Thread]:
    """Live threads, except the event loop's default executor pool."""
    return {t for t in threading.enumerate() if not t.name.startswith("asyncio_")}


def _is_server_task(task: asyncio.Task[Any]) -> bool:
    """The server's per-connection task (alive while a kept-alive connection is open)."""
    return getattr(task.get_coro(), "__qualname__", "").startswith("RequestHandler.")


class LeakCheck:
    """Baseline of tasks and threads, and the checks after the client is closed."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.tasks = set(asyncio.all_tasks())
        self.threads = own_threads()

    def new_tasks(self, *, client_side: bool = False) -> list[asyncio.Task[Any]]:
        """Tasks started since the baseline (only the client's, if ``client_side``)."""
        return [
            t
            for t in asyncio.all_tasks()
            if t not in self.tasks and not t.done() and not (client_side and _is_server_task(t))
        ]

    async def after_cancel(self, connector: aiohttp.BaseConnector) -> None:
        """Right after the cancellation, before close: nothing of the client's still runs
        (no task at all, so nothing polls: a run poller is a task) and no connection is
        in use."""
        await wait_until(lambda: not self.new_tasks(client_side=True), 5.0, self.new_tasks)
        await wait_until(lambda: not connector._acquired, 5.0)

    async def after_close(self, connector: aiohttp.BaseConnector) -> None:
        """After close: connector closed and empty, server sees no connection, no thread."""
        gc.collect()
        assert connector.closed
        assert not connector._conns
        assert not connector._acquired
        await wait_until(lambda: self.server.connection_count == 0, 5.0)
        await wait_until(lambda: not self.new_tasks(), 5.0, self.new_tasks)
        assert own_threads() <= self.threads


def fragments(secret: str) -> list[str]:
    """The key, and the parts of it that would still give it away."""
    body = secret[len("dtvi_") :]
    return [secret, body, body[:32], body[-32:]]


def assert_clean(text: str, *secrets: str) -> None:
    """No key (or a long fragment of one) occurs in ``text``."""
    for secret in secrets:
        for fragment in fragments(secret):
            assert fragment not in text, f"secret fragment leaked: ...{text[:200]!r}"


def error_texts(error: BaseException) -> str:
    """Everything an error shows: str, repr, traceback with causes, attributes, pickle."""
    parts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    seen: BaseException | None = error
    while seen is not None:
        parts += [repr(v) for v in vars(seen).values()] if hasattr(seen, "__dict__") else []
        parts += [str(a) for a in seen.args]
        seen = seen.__cause__ or seen.__context__
    if isinstance(error, ViError):
        parts.append(repr(pickle.loads(pickle.dumps(error)).__dict__))
    return "\n".join(parts)
