"""A hostile server cannot steer, flood, hang or out-talk the client.

Real aiohttp servers on loopback (``hostile.py``) that redirect every request to
another host, send bodies far larger than any page (declared, chunked without
end, or gzip bombs), never answer, or echo the secret key back in every place
a server's text can reach (messages, error codes, kinds, request ids, page
tokens, redirect targets, malformed status lines). The client must refuse to
follow redirects, stop reading at its cap with bounded memory, give up at its
deadline, and mask the key in every error, repr and log line.
"""

from __future__ import annotations

import asyncio
import logging
import time
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest
from aiohttp import web

from vi_async import (
    Client,
    ViConfigError,
    ViDecodeError,
    ViError,
    ViRedirectError,
    ViResponseTooLargeError,
    ViServerError,
    ViTimeoutError,
    ViValidationError,
    pagination,
)
from vi_async.bulk import BulkOutcome, BulkReport

from .conftest import FAKE_SECRET, hostile_client
from .hostile import (
    HostileServer,
    as_json,
    by_token,
    flow_doc,
    page_doc,
    run_doc,
    stall_headers,
)
from .leaks import assert_clean, error_texts

pytestmark = pytest.mark.anyio

MiB = 1 << 20
BOUND = 15.0  # seconds: every test here fails instead of hanging
Op = Callable[[Client], Awaitable[Any]]


@pytest.fixture
async def other() -> Any:
    """A second server: where a hostile server redirects to. It must see nothing."""
    server = HostileServer(handler=as_json(flow_doc()))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every vi_async log record at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="vi_async")
    yield caplog


# -- redirects ------------------------------------------------------------------------------


def redirect_to(location: str, status: int = 307) -> Any:
    """Answer every request with a redirect to ``location``."""

    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location})

    return handle


OPS: dict[str, Op] = {
    "get": lambda c: c.flows.get("f1"),
    "create-put": lambda c: c.flows.create(spec={"name": "moved"}),
    "update-patch": lambda c: c.flows.update("f1", metadata={"a": "b"}),
    "delete": lambda c: c.flows.delete("f1"),
    "list": lambda c: c.flows.list(),
}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("op", list(OPS))
async def test_redirects_are_never_followed(
    hostile: HostileServer, other: HostileServer, status: int, op: str
) -> None:
    """Every method: a 3xx is a ViRedirectError naming the Location; nothing is re-sent."""
    location = f"{other.endpoint}workspaces/org/flows/f1"
    hostile.handler = redirect_to(location, status)
    async with hostile_client(hostile) as client:
        with anyio.fail_after(BOUND), pytest.raises(ViRedirectError) as info:
            await OPS[op](client)
    error = info.value
    assert error.status == status
    assert error.location == location
    assert location in str(error)
    assert other.requests == []
    assert len(hostile.api_requests()) == 1  # not retried either


async def test_a_redirect_target_is_shown_without_its_secrets(hostile: HostileServer) -> None:
    """A Location carrying credentials, query tokens or the key itself is masked."""
    hostile.handler = redirect_to(
        f"http://admin:hunter2@evil.example/steal?token=abc123xyz&key={FAKE_SECRET}"
    )
    async with hostile_client(hostile) as client:
        with anyio.fail_after(BOUND), pytest.raises(ViRedirectError) as info:
            await client.flows.get("f1")
    text = error_texts(info.value)
    assert "evil.example/steal" in text
    for secret in ("hunter2", "abc123xyz"):
        assert secret not in text
    assert_clean(text, FAKE_SECRET)


async def test_delete_many_reports_redirected_deletes_as_failed(
    hostile: HostileServer, other: HostileServer
) -> None:
    """The other host's answer is never taken for the real server's: 10 redirected
    deletes are 10 failures, not 10 deletions."""
    hostile.handler = redirect_to(f"{other.endpoint}gone")
    ids = [f"f{i}" for i in range(10)]
    async with hostile_client(hostile) as client:
        with anyio.fail_after(BOUND):
            report = await client.flows.delete_many(ids)
    assert report.deleted == []
    assert sorted(r.flow_id for r in report.failed) == sorted(ids)
    assert all(r.outcome is BulkOutcome.FAILED for r in report.failed)
    assert all(isinstance(r.error, ViRedirectError) for r in report.failed)
    assert other.requests == []


# -- huge and endless bodies ----------------------------------------------------------------


class Flood:
    """A handler streaming ``chunk`` until ``total`` bytes are sent or the client hangs up;
    ``sent`` counts what left the handler."""

    def __init__(
        self,
        total: int = 256 * MiB,
        *,
        status: int = 200,
        declare: bool = False,
        chunk: bytes = b" " * (64 * 1024),
        headers: dict[str, str] | None = None,
    ) -> None:
        self.total, self.status, self.declare, self.chunk = total, status, declare, chunk
        self.headers = headers or {}
        self.sent = 0

    async def __call__(self, request: web.Request, server: HostileServer) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=self.status, headers={"Content-Type": "application/json", **self.headers}
        )
        if self.declare:
            resp.content_length = self.total
        await resp.prepare(request)
        try:
            while self.sent < self.total and not server.stopping.is_set():
                await resp.write(self.chunk)
                self.sent += len(self.chunk)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up: what we want
        return resp


class PeakMemory:
    """``with PeakMemory() as peak:`` traces allocations; ``peak.value`` is the peak
    (bytes) of the block, the hostile server's own included."""

    value = 0

    def __enter__(self) -> PeakMemory:
        tracemalloc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.value = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


async def test_the_default_cap_is_64_mib() -> None:
    client = Client(FAKE_SECRET, "org", "http://127.0.0.1:9/")
    assert client._config.max_response_bytes == 64 * MiB
    await client.close()


@pytest.mark.parametrize("setting", [0, -1, 1.5, "big"])
def test_the_cap_must_be_a_positive_integer(setting: Any) -> None:
    with pytest.raises(ViConfigError, match="max_response_bytes"):
        Client(FAKE_SECRET, "org", "http://127.0.0.1:9/", max_response_bytes=setting)


async def test_a_declared_huge_body_is_refused_before_reading(hostile: HostileServer) -> None:
    """Content-Length above the cap: refused from the headers, the body left unread."""
    flood = Flood(1 << 30, declare=True)
    hostile.handler = flood
    async with hostile_client(hostile, max_response_bytes=4 * MiB) as client:
        started = time.monotonic()
        with anyio.fail_after(BOUND), pytest.raises(ViResponseTooLargeError) as info:
            await client.flows.get("f1")
        elapsed = time.monotonic() - started
    assert info.value.status == 200
    assert "max_response_bytes (4194304 bytes)" in str(info.value)
    assert elapsed < 2.0
    assert flood.sent < 64 * MiB  # the client hung up long before the 1 GiB
    assert len(hostile.api_requests()) == 1  # not retried


@pytest.mark.parametrize("kind", ["chunked", "gzip-bomb"])
async def test_an_endless_body_stops_at_the_cap_in_bounded_memory(
    hostile: HostileServer, kind: str
) -> None:
    """No Content-Length (or a compressed one): read in chunks, stop once past the cap."""
    if kind == "chunked":
        flood = Flood(256 * MiB)
    else:  # 256 MiB of spaces, gzipped to ~250 KiB: the body grows only when decompressed
        squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
        bomb = b"".join(squeeze.compress(b" " * MiB) for _ in range(256)) + squeeze.flush()
        flood = Flood(len(bomb), chunk=bomb, headers={"Content-Encoding": "gzip"})
    hostile.handler = flood
    async with hostile_client(hostile, max_response_bytes=2 * MiB, timeout=10) as client:
        with PeakMemory() as peak, anyio.fail_after(BOUND):
            with pytest.raises(ViResponseTooLargeError):
                await client.flows.list()
    assert peak.value < 24 * MiB, f"peak {peak.value / MiB:.1f} MiB"
    if kind == "chunked":
        assert flood.sent < 64 * MiB


async def test_a_huge_error_body_is_read_only_as_far_as_the_message_needs(
    hostile: HostileServer,
) -> None:
    """A 500 with an endless body: the error comes fast, from the first bytes only."""
    flood = Flood(256 * MiB, status=500, chunk=b"E" * (64 * 1024))
    hostile.handler = flood
    async with hostile_client(hostile, timeout=10) as client:
        started = time.monotonic()
        with PeakMemory() as peak, anyio.fail_after(BOUND):
            with pytest.raises(ViServerError) as info:
                await client.flows.get("f1")
        elapsed = time.monotonic() - started
    assert info.value.status == 500
    assert "EEEE" in info.value.message
    assert len(info.value.message) < 1000
    assert elapsed < 3.0
    assert peak.value < 16 * MiB, f"peak {peak.value / MiB:.1f} MiB"
    assert flood.sent < 64 * MiB


async def test_a_body_under_the_cap_is_read_whole(hostile: HostileServer) -> None:
    """Chunked, no Content-Length, just under the cap: an ordinary page."""
    items = [flow_doc(f"f{i}") for i in range(300)]

    async def chunked(request: web.Request, server: HostileServer) -> web.StreamResponse:
        body = web.json_response(page_doc(items)).body
        assert isinstance(body, bytes)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        for i in range(0, len(body), 1000):
            await resp.write(body[i : i + 1000])
        return resp

    hostile.handler = chunked
    size = len(web.json_response(page_doc(items)).body)  # type: ignore[arg-type]
    async with hostile_client(hostile, max_response_bytes=size) as client:
        page = await client.flows.list()
    assert len(page.items) == 300
    async with hostile_client(hostile, max_response_bytes=size - 1) as client:
        with pytest.raises(ViResponseTooLargeError):
            await client.flows.list()


def _compressed(body: bytes, encoding: str) -> bytes:
    if encoding == "deflate":
        return zlib.compress(body)
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip framing
    return packer.compress(body) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "chunked"), [("gzip", False), ("gzip", True), ("deflate", True)]
)
async def test_a_compressed_body_is_capped_by_its_decoded_size(
    hostile: HostileServer, encoding: str, chunked: bool
) -> None:
    """As a server that is not ours may answer (compressed, with or without a length):
    read whole at the cap, refused one byte under it, however small it is on the wire."""
    doc = flow_doc("f1", spec={**flow_doc()["spec"], "settings": {"pad": "x" * 50_000}})
    body = web.json_response(doc).body
    assert isinstance(body, bytes)
    packed = _compressed(body, encoding)
    assert len(packed) < len(body) // 10

    async def answer(request: web.Request, server: HostileServer) -> web.StreamResponse:
        headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
        if not chunked:
            return web.Response(body=packed, headers=headers)
        resp = web.StreamResponse(headers=headers)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(packed), 500):
            await resp.write(packed[i : i + 500])
        return resp

    hostile.handler = answer
    async with hostile_client(hostile, max_response_bytes=len(body)) as client:
        flow = await client.flows.get("f1")
    assert flow.spec.settings == {"pad": "x" * 50_000}
    async with hostile_client(hostile, max_response_bytes=len(body) - 1) as client:
        with pytest.raises(ViResponseTooLargeError):
            await client.flows.get("f1")


async def test_a_successful_delete_with_a_huge_body_is_still_deleted(
    hostile: HostileServer,
) -> None:
    """A DELETE's body carries nothing: a 200 with a flood still means deleted."""
    hostile.handler = Flood(256 * MiB, chunk=b"x" * (64 * 1024))
    async with hostile_client(hostile, max_response_bytes=MiB, timeout=10) as client:
        with anyio.fail_after(BOUND):
            deleted = await client.flows.delete("f1")
    assert deleted.id == "f1"


# -- servers that never answer --------------------------------------------------------------


@pytest.mark.parametrize("stage", ["headers", "body-trickle"])
async def test_a_never_answering_server_meets_the_deadline(
    hostile: HostileServer, stage: str
) -> None:
    """Headers that never come, or a body trickling one byte a second: the call ends
    at its retry deadline with a timeout, however many retries are allowed."""

    async def trickle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        while not server.stopping.is_set():
            await resp.write(b" ")
            await asyncio.sleep(0.05)
        return resp

    hostile.handler = stall_headers if stage == "headers" else trickle
    async with hostile_client(
        hostile, timeout=0.3, retry_deadline=1.0, max_retries=50, retry_base_delay=0.01
    ) as client:
        started = time.monotonic()
        with anyio.fail_after(BOUND), pytest.raises(ViTimeoutError):
            await client.flows.get("f1")
        elapsed = time.monotonic() - started
    assert elapsed < 2.5


# -- echoed keys ----------------------------------------------------------------------------


def echo(status: int, body: Callable[[str], Any], **headers: Callable[[str], str]) -> Any:
    """Answer with the request's Authorization header echoed into ``body`` and headers."""

    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        extra = {name.replace("_", "-"): value(auth) for name, value in headers.items()}
        return web.json_response(body(auth), status=status, headers=extra)

    return handle


def text_echo(prefix: int, status: int = 200) -> Any:
    """A text body: ``prefix`` filler characters, then the key (so that a cut at the
    message's snippet length would split it)."""

    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return web.Response(status=status, text="x" * prefix + auth, content_type="text/plain")

    return handle


ECHOES: dict[str, tuple[Any, Op, type[ViError]]] = {
    "message": (echo(401, lambda a: {"message": f"bad key {a}"}), OPS["get"], ViError),
    "key-without-its-prefix": (
        echo(403, lambda a: {"message": f"key {a.removeprefix('Bearer dtvi_')} refused"}),
        OPS["get"],
        ViError,
    ),
    "error-code": (
        echo(400, lambda a: {"error": a, "message": "no"}),
        OPS["get"],
        ViValidationError,
    ),
    "request-id": (
        echo(404, lambda a: {"message": "gone"}, X_Request_Id=lambda a: a),
        OPS["get"],
        ViError,
    ),
    "flow-kind": (echo(200, lambda a: flow_doc(kind=a)), OPS["get"], ViDecodeError),
    "page-item-kind": (
        echo(200, lambda a: page_doc([flow_doc(kind=a)])),
        OPS["list"],
        ViDecodeError,
    ),
    "decode-with-request-id": (
        echo(200, lambda a: flow_doc(kind=a), X_Request_Id=lambda a: a),
        OPS["get"],
        ViDecodeError,
    ),
    "field-value": (echo(200, lambda a: flow_doc(flowId={a: a})), OPS["get"], ViDecodeError),
    "run-conditions": (
        echo(200, lambda a: run_doc(status={"conditions": a})),
        lambda c: c.runs.get("r1"),
        ViDecodeError,
    ),
    "logs": (
        echo(200, lambda a: {"items": [{"seq": a, "text": a}]}),
        lambda c: anext(aiter(c.runs.logs("r1"))),
        ViDecodeError,
    ),
    "not-json-past-the-snippet": (text_echo(150), OPS["get"], ViDecodeError),
    "error-text-past-the-snippet": (text_echo(150, 500), OPS["get"], ViServerError),
}


@pytest.mark.parametrize("name", list(ECHOES))
async def test_an_echoed_key_is_masked_everywhere(
    hostile: HostileServer, records: pytest.LogCaptureFixture, name: str
) -> None:
    """Whatever field the key comes back in, no error text, cause, repr or log shows it."""
    handler, op, expected = ECHOES[name]
    hostile.handler = handler
    async with hostile_client(hostile, max_retries=0) as client:
        with anyio.fail_after(BOUND), pytest.raises(expected) as info:
            await op(client)
    error = info.value
    assert_clean(error_texts(error), FAKE_SECRET)
    assert_clean(f"{error.code} {error.request_id} {error.message}", FAKE_SECRET)
    assert_clean(records.text, FAKE_SECRET)
    if name in ("request-id", "decode-with-request-id"):
        assert error.request_id is not None and "***" in error.request_id


async def test_a_repeated_page_token_echoing_the_key_is_masked(
    hostile: HostileServer, records: pytest.LogCaptureFixture
) -> None:
    token = "Bearer " + FAKE_SECRET
    hostile.handler = by_token({None: page_doc([flow_doc("a")], token),
                                token: page_doc([flow_doc("b")], token)})
    async with hostile_client(hostile) as client:
        with anyio.fail_after(BOUND), pytest.raises(ViDecodeError) as info:
            async for _ in client.flows.list().all_items():
                pass
    assert_clean(error_texts(info.value) + records.text, FAKE_SECRET)


MALFORMED = {
    "status-line": b"HTTP/1.1 %s\r\nContent-Length: 0\r\n\r\n",
    "content-length": b"HTTP/1.1 200 OK\r\nContent-Length: %s\r\n\r\n",
    "chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s\r\nabc\r\n",
}


@pytest.mark.parametrize("where", list(MALFORMED))
async def test_a_malformed_answer_echoing_the_key_is_masked(where: str) -> None:
    """aiohttp's parse errors quote the bad bytes; the key in them is masked."""

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        auth = next(line for line in head.split(b"\r\n") if line.startswith(b"Authorization"))
        writer.write(MALFORMED[where] % auth.split(b" ")[-1])
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Client(FAKE_SECRET, "org", f"http://127.0.0.1:{port}/", max_retries=0) as c:
            with anyio.fail_after(BOUND), pytest.raises(ViError) as info:
                await c.flows.get("f1")
    finally:
        server.close()
        await server.wait_closed()
    assert_clean(error_texts(info.value), FAKE_SECRET)


def test_errors_mask_any_vi_key_however_they_are_built() -> None:
    """The masking lives in ViError itself: message, code and request id, set at
    construction or later, and the exception's args."""
    other_key = "dtvi_" + "Z9" * 49
    error = ViError(f"echo {other_key}", code=other_key, request_id=other_key)
    error.code = f"late {FAKE_SECRET}"
    error.request_id = FAKE_SECRET[:60]  # a cut key is still masked from its prefix
    text = error_texts(error) + f"{error.code} {error.request_id}"
    assert_clean(text, other_key, FAKE_SECRET)
    assert "echo dtvi_***" in str(error)


# -- looping listings -----------------------------------------------------------------------


async def test_a_token_cycle_is_an_error_not_a_short_listing(hostile: HostileServer) -> None:
    """A -> B -> A: every item is yielded once, then a typed error; a cleanup over the
    listing does not call itself complete."""
    hostile.handler = by_token({
        None: page_doc([flow_doc("a")], "A"),
        "A": page_doc([flow_doc("b")], "B"),
        "B": page_doc([flow_doc("c")], "A"),
    })
    seen: list[str] = []
    async with hostile_client(hostile) as client:
        with anyio.fail_after(BOUND):
            with pytest.raises(ViDecodeError, match="repeated page token 'A'"):
                async for flow in client.flows.list().all_items():
                    seen.append(flow.flow_id)
            report = BulkReport()
            with pytest.raises(ViError, match="repeated page token"):
                await client.flows.cleanup(dry_run=True, report=report)
    assert seen == ["a", "b", "c"]
    assert not report.complete


async def test_a_cycle_back_to_the_first_token_is_caught(hostile: HostileServer) -> None:
    """A listing started from a token that the server leads back to."""
    hostile.handler = by_token({"A": page_doc([flow_doc("a")], "B"),
                                "B": page_doc([flow_doc("b")], "A")})
    async with hostile_client(hostile) as client:
        with anyio.fail_after(BOUND), pytest.raises(ViDecodeError):
            async for _ in client.flows.list(pagination={"page_token": "A"}):
                pass
    assert len(hostile.api_requests()) == 2


async def test_a_cycle_longer_than_the_window_is_caught(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a window of tokens is remembered; a longer loop is still caught, within
    about one more lap (the checkpoint), not at MAX_PAGES."""
    monkeypatch.setattr(pagination, "TOKEN_WINDOW", 4)
    laps = 25
    pages: dict[str | None, Any] = {None: page_doc([flow_doc("first")], "t0")}
    for i in range(laps):
        pages[f"t{i}"] = page_doc([flow_doc(f"f{i}")], f"t{(i + 1) % laps}")
    hostile.handler = by_token(pages)
    async with hostile_client(hostile) as client:
        with anyio.fail_after(BOUND), pytest.raises(ViDecodeError, match="repeated"):
            async for _ in client.flows.list():
                pass
    assert laps < len(hostile.api_requests()) <= 3 * laps


def test_seen_tokens_hold_bounded_memory() -> None:
    """30,000 distinct 1 KiB tokens: the memory is the window of digests, not the tokens."""
    seen = pagination.SeenTokens()
    tracemalloc.start()
    try:
        for i in range(30_000):
            assert not seen.repeated(f"{i:08d}" + "t" * 1016)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(seen) == pagination.TOKEN_WINDOW
    assert held < 1 * MiB, f"{held / MiB:.1f} MiB"
    assert seen.repeated(f"{29_999:08d}" + "t" * 1016)
