"""The secret key never leaks: not in logs, reprs, strs, tracebacks or redirects.

Logging is at DEBUG twice over (pytest's caplog and a formatting handler on the
root logger that also renders tracebacks), every error path of the SDK is
triggered against the local server (and the hostile server for what it cannot
produce), and then every record, every error (its str, repr, traceback and
attributes) and every object we touched is searched for the key or a long
fragment of it.
"""

from __future__ import annotations

import io
import logging
import os
import traceback
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from aiohttp import web
from run_support import LONG_RUN

import vi_sync
from vi_async import Client, FlowSpec, ViConfigError, ViError, ViRedirectError, ViTimeoutError
from vi_async.bulk import BulkError, BulkReport
from vi_async.local import FaultConfig, LocalServer

from .conftest import FAKE_SECRET, hostile_client
from .hostile import HostileServer, as_json, flow_doc, raw
from .leaks import assert_clean, error_texts

pytestmark = pytest.mark.anyio

SPEC = FlowSpec(name="secrets")
UNKNOWN_KEY = "dtvi_" + "unknownKEY" * 9 + "ZZZZZZZZ"


class Recorder(logging.Handler):
    """A root handler that formats every record with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(
            logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s %(args)s")
        )
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if record.exc_info and record.exc_info[1] is not None:
            text += "".join(traceback.format_exception(record.exc_info[1]))
        self.lines.append(text)


@pytest.fixture
def recorder(caplog: pytest.LogCaptureFixture) -> Iterator[Recorder]:
    """Every log record at DEBUG, from every logger, via the root logger."""
    caplog.set_level(logging.DEBUG)
    root = logging.getLogger()
    handler = Recorder()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


async def collect_errors(server: LocalServer, errors: list[BaseException]) -> list[Any]:
    """Trigger every error path of the SDK against ``server``; return objects seen."""
    objects: list[Any] = [server]

    async def expect(call: Any) -> None:
        try:
            with anyio.fail_after(20):
                await call
        except (ViError, ValueError, TypeError) as exc:
            errors.append(exc)
        else:
            raise AssertionError("expected an error")

    async with server.client(max_retries=1, timeout=0.5) as client:
        objects += [client, client._config, client._transport, client.flows, client.runs]
        flow = await client.flows.create(spec=SPEC, metadata={"note": "x"})
        run = await client.runs.create(flow=flow.flow_id, metadata=LONG_RUN)
        objects += [flow, run, client.flows.list(), await client.flows.list()]
        await expect(client.flows.get("missing"))  # 404
        await expect(client.runs.get("missing"))
        await expect(client.flows.delete(flow.flow_id))  # 409 active run
        await expect(client.flows.update(flow.flow_id, spec={"blocks": "nope"}))  # 400
        await expect(client.flows.get("a/b"))  # invalid id
        await expect(client.flows.get(7))  # not a str
        await expect(client.runs.wait_for(run.run_id, timeout=0.2))  # wait timeout
        await expect(anext(aiter(client.runs.logs("missing"))))

        async def completed() -> None:
            async for _ in client.runs.as_completed([run.run_id], timeout=0.1):
                pass

        await expect(completed())
        report = await client.flows.delete_many([flow.flow_id, "gone", "bad id"])
        objects += [report, *report.results()]
        try:
            report.raise_for_failures()
        except BulkError as exc:
            errors.append(exc)
        server.faults = FaultConfig(error_429_rate=1.0, retry_after=100)
        await expect(client.flows.get(flow.flow_id))  # 429 not waited for
        server.faults = FaultConfig(error_503_rate=1.0, retry_after=0.01)
        await expect(client.flows.get(flow.flow_id))  # 503 after retries
        failing = BulkReport()
        objects.append(failing)
        await client.flows.delete_many([flow.flow_id], report=failing)
        server.faults = FaultConfig(reset_before_rate=1.0)
        await expect(client.flows.list())  # connection dropped
        server.faults = FaultConfig(slow_rate=1.0, slow_seconds=2)
        await expect(client.flows.list())  # per-attempt timeout
        server.faults = FaultConfig()
        await client.runs.kill(run.run_id)
    await expect(client.flows.list())  # closed client

    unknown = Client(UNKNOWN_KEY, server.organization_id, server.endpoint)
    other_org, _ = await server.add_organization()
    foreign = Client(server.secret_key, other_org, server.endpoint)
    refused = Client(
        server.secret_key, server.organization_id, "http://127.0.0.1:9/", max_retries=0
    )
    for other in (unknown, foreign, refused):
        objects.append(other)
        async with other:
            await expect(other.flows.list())  # 401, 403, connection refused
    for bad_key in (server.secret_key[:-1], server.secret_key + "x", "Bearer " + server.secret_key):
        try:
            Client(bad_key, server.organization_id, server.endpoint)
        except ViConfigError as exc:
            errors.append(exc)
    return objects


async def test_no_error_path_leaks_the_key(
    vi_server: LocalServer, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Trigger every error; the key is in no record, error, repr or str."""
    key = vi_server.secret_key
    errors: list[BaseException] = []
    objects = await collect_errors(vi_server, errors)
    kinds = {type(e).__name__ for e in errors}
    assert {
        "ViNotFoundError",
        "ViConflictError",
        "ViValidationError",
        "InvalidIdError",
        "TypeError",
        "ViTimeoutError",
        "ViRateLimitError",
        "ViServerError",
        "ViConnectionError",
        "ViAuthenticationError",
        "ViPermissionError",
        "ViConfigError",
        "BulkError",
        "ViError",
    } <= kinds, kinds
    for error in errors:
        assert_clean(error_texts(error), key, UNKNOWN_KEY)
    for obj in objects:
        assert_clean(f"{obj!r} {obj!s}", key, UNKNOWN_KEY)
        if isinstance(obj, BulkReport):
            assert_clean(f"{obj.summary()} {obj.to_dict()}", key, UNKNOWN_KEY)
    assert len(recorder.lines) > 20  # DEBUG records really were produced
    assert_clean("\n".join(recorder.lines), key, UNKNOWN_KEY)
    assert_clean(caplog.text, key, UNKNOWN_KEY)
    assert_clean("\n".join(repr(r.__dict__) for r in caplog.records), key, UNKNOWN_KEY)


async def test_decode_errors_do_not_leak(hostile: HostileServer, recorder: Recorder) -> None:
    """Errors made from hostile answers carry no key, even with their causes."""
    errors: list[BaseException] = []
    async with hostile_client(hostile, max_retries=0) as client:
        for handler in (
            raw("<html>oops</html>", content_type="text/html"),
            raw("<html>down</html>", 502, "text/html"),
            as_json(flow_doc(flowId=5)),
            raw(b"[", 200),
        ):
            hostile.handler = handler
            try:
                await client.flows.get("f1")
            except ViError as exc:
                errors.append(exc)
    assert len(errors) == 4
    for error in errors:
        assert_clean(error_texts(error), FAKE_SECRET)
    assert_clean("\n".join(recorder.lines), FAKE_SECRET)


async def test_an_echoed_key_is_masked_in_error_messages(hostile: HostileServer) -> None:
    """A server that echoes the Authorization header must not make the error carry the key."""

    async def echo(request: web.Request, server: HostileServer) -> web.StreamResponse:
        return web.json_response(
            {"message": f"bad auth {request.headers['Authorization']}"}, status=401
        )

    hostile.handler = echo
    async with hostile_client(hostile) as client:
        with pytest.raises(ViError) as info:
            await client.flows.get("f1")
    assert_clean(error_texts(info.value), FAKE_SECRET)


async def test_redirect_to_another_origin_drops_the_key(hostile: HostileServer) -> None:
    """A redirect to another host is not followed: the key never goes there."""
    other = HostileServer(handler=as_json(flow_doc()))
    await other.start()
    try:

        async def redirect(request: web.Request, server: HostileServer) -> web.StreamResponse:
            raise web.HTTPTemporaryRedirect(f"http://localhost:{other.port}{request.path_qs}")

        hostile.handler = redirect
        async with hostile_client(hostile) as client:
            with anyio.fail_after(10), pytest.raises(ViRedirectError):
                await client.flows.get("f1")  # never followed (test_hostile_server.py)
    finally:
        await other.stop()
    assert other.requests == []
    assert all(FAKE_SECRET in r.headers.get("Authorization", "") for r in hostile.requests)


async def test_key_from_the_environment_is_not_shown(
    vi_server: LocalServer, monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    """A client configured from environment variables shows no key either."""
    for name, value in vi_server.env().items():
        monkeypatch.setenv(name, value)
    async with Client(max_retries=0, timeout=0.5) as client:
        await client.flows.list()
        text = f"{client!r} {client!s} {client._config!r} {client._transport!r}"
        with pytest.raises(ViError) as info:
            await client.flows.get("nope")
    assert_clean(text + error_texts(info.value), vi_server.secret_key)
    assert_clean("\n".join(recorder.lines), vi_server.secret_key)
    assert os.environ["DATATURE_VI_SECRET_KEY"] == vi_server.secret_key  # untouched


async def test_wait_timeout_last_run_is_clean(vi_client: Client, vi_server: LocalServer) -> None:
    """A wait timeout carries the last Run; neither shows the key."""
    run = await vi_client.runs.create(flow=SPEC, metadata=LONG_RUN)
    with pytest.raises(ViTimeoutError) as info:
        await vi_client.runs.wait_for(run.run_id, timeout=0.1)
    buffer = io.StringIO()
    traceback.print_exception(info.value, file=buffer)
    assert info.value.last_run is not None
    assert_clean(buffer.getvalue() + repr(info.value.last_run), vi_server.secret_key)
    await vi_client.runs.kill(run.run_id)


def test_sync_client_does_not_leak(vi_server_thread: LocalServer, recorder: Recorder) -> None:
    """The vi_sync facade: its repr, its runtime's and its errors show no key."""
    key = vi_server_thread.secret_key
    client = vi_sync.Client(
        key, vi_server_thread.organization_id, vi_server_thread.endpoint, max_retries=0
    )
    errors: list[BaseException] = []
    try:
        client.flows.create(spec={"name": "sync-secrets"})
        for call in (lambda: client.flows.get("missing"), lambda: client.runs.get("a/b")):
            try:
                call()
            except (ViError, ValueError) as exc:
                errors.append(exc)
        text = f"{client!r} {client!s} {client._runtime!r} {client.flows!r} {client.runs!r}"
        text += repr(client.flows.list()) + repr(list(client.flows.list().all_items()))
    finally:
        client.close()
    try:
        client.flows.get("x")
    except ViError as exc:
        errors.append(exc)
    assert len(errors) == 3
    for error in errors:
        assert_clean(error_texts(error), key)
    assert_clean(text, key)
    assert_clean("\n".join(recorder.lines), key)
