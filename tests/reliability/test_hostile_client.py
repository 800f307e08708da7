"""A hostile client against the local server: raw HTTP that tries to break it.

Each test is one attack from the security review (issue 13): open admin routes,
non-finite numbers, crafted input that used to answer 500, ids with a trailing
newline, a read-only or failing database, a world-readable database file and
half-sent requests. The server must answer a clear 4xx/503, keep serving real
clients and never emit invalid JSON.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import resource
import sqlite3
import stat
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from vi_async import ViServerError
from vi_async.local import FaultConfig, LocalServer
from vi_async.local.admin import ADMIN_HEADER, MAX_SEED_FLOWS
from vi_async.local.store import error_name, unavailable

pytestmark = pytest.mark.anyio


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP session (the hostile client)."""
    async with aiohttp.ClientSession() as http:
        yield http


def auth(server: LocalServer) -> dict[str, str]:
    """The API headers of the server's default organization."""
    return {
        "Authorization": f"Bearer {server.secret_key}",
        "Organization-Id": server.organization_id,
    }


def api_url(server: LocalServer, path: str) -> str:
    """A URL under the default organization."""
    return f"{server.endpoint}workspaces/{server.organization_id}/{path}"


async def send(
    session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any, dict[str, str]]:
    """Status, decoded JSON body (strictly: NaN is an error) and headers of one request."""
    async with session.request(method, url, **kwargs) as resp:
        text = await resp.text()
        body = json.loads(text, parse_constant=_invalid) if text else None
        return resp.status, body, dict(resp.headers)


def _invalid(name: str) -> Any:
    raise AssertionError(f"the server emitted invalid JSON ({name})")


# -- 1. admin routes ----------------------------------------------------------------


ADMIN_ROUTES = [
    ("GET", "_local/stats", None),
    ("DELETE", "_local/stats", None),
    ("POST", "_local/seed", {"flows": 1}),
    ("GET", "_local/faults", None),
    ("PUT", "_local/faults", {"latency": 0}),
]


async def test_admin_routes_need_the_admin_token(
    vi_server: LocalServer, session: aiohttp.ClientSession
) -> None:
    for method, route, body in ADMIN_ROUTES:
        url = vi_server.endpoint + route
        for headers in ({}, {ADMIN_HEADER: "wrong"}, auth(vi_server)):
            status, answer, _ = await send(session, method, url, json=body, headers=headers)
            assert status == 401, (method, route, answer)
            assert ADMIN_HEADER in answer["message"]
        status, _, _ = await send(
            session, method, url, json=body, headers=vi_server.admin_headers()
        )
        assert status in (200, 204), (method, route)
    status, answer, _ = await send(session, "GET", vi_server.endpoint + "_local/health")
    assert (status, answer) == (200, {"status": "ok"})
    assert vi_server.admin_token not in repr(vi_server)


async def test_admin_routes_refuse_other_content_types_and_foreign_origins(
    vi_server: LocalServer, session: aiohttp.ClientSession
) -> None:
    """What a web page can send without a CORS preflight: text/plain, a form, its Origin."""
    url = vi_server.endpoint + "_local/seed"
    admin = vi_server.admin_headers()
    before = await vi_server.flow_ids()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        headers = {**admin, "Content-Type": content_type}
        status, answer, _ = await send(session, "POST", url, data=b'{"flows": 5}', headers=headers)
        assert status == 415, answer
    for origin in ("http://evil.example", "null", "http://127.0.0.1:1", "https://localhost"):
        status, _, _ = await send(
            session, "POST", url, json={"flows": 5}, headers={**admin, "Origin": origin}
        )
        assert status == 403, origin
    assert await vi_server.flow_ids() == before
    own = vi_server.endpoint.rstrip("/")
    status, _, _ = await send(
        session, "POST", url, json={"flows": 1}, headers={**admin, "Origin": own}
    )
    assert status == 200


async def test_seed_count_is_capped(vi_server: LocalServer, session: aiohttp.ClientSession) -> None:
    url = vi_server.endpoint + "_local/seed"
    admin = vi_server.admin_headers()
    with anyio.fail_after(10):
        for count in (1_000_000_000, MAX_SEED_FLOWS + 1):
            status, answer, _ = await send(
                session, "POST", url, json={"flows": count}, headers=admin
            )
            assert status == 400 and str(MAX_SEED_FLOWS) in answer["message"]
        status, _, _ = await send(
            session, "POST", url, json={"flows": 1, "namePrefix": "x" * 10_000}, headers=admin
        )
        assert status == 400
    assert await vi_server.flow_ids() == []


@pytest.mark.parametrize(
    "pattern", ["(a+)+$", "(a|aa)*b", "(.*)*x", "a{1,100}{1,100}", "x" * 101, "(|)(|)(|)(|)(|)"]
)
async def test_slow_fault_regexes_are_refused(
    vi_server: LocalServer, session: aiohttp.ClientSession, pattern: str
) -> None:
    url = vi_server.endpoint + "_local/faults"
    with anyio.fail_after(5):
        status, answer, _ = await send(
            session, "PUT", url, json={"paths": pattern}, headers=vi_server.admin_headers()
        )
        assert status == 400, answer
        # The API keeps answering fast even for a path made to trip a slow regex.
        status, _, _ = await send(
            session, "GET", api_url(vi_server, "flows/" + "a" * 250 + "!"), headers=auth(vi_server)
        )
        assert status == 400
    with pytest.raises(ValueError):
        FaultConfig(paths=pattern)


@pytest.mark.parametrize("pattern", ["/flows/", "/flows$", ".*/runs/.*", "/runs(/|$)", r"\.json"])
def test_plain_fault_regexes_are_accepted(pattern: str) -> None:
    assert FaultConfig(paths=pattern).paths == pattern


# -- 2. non-finite numbers -----------------------------------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e309", "-1e400"])
async def test_non_finite_numbers_are_refused(
    vi_server: LocalServer, session: aiohttp.ClientSession, number: str
) -> None:
    body = '{"spec": {"name": "n", "settings": {"lr": NUMBER}}}'.replace("NUMBER", number)
    headers = {**auth(vi_server), "Content-Type": "application/json"}
    status, answer, _ = await send(
        session, "PUT", api_url(vi_server, "flows/nonfinite"), data=body, headers=headers
    )
    assert status == 400, answer
    assert "JSON" in answer["message"]
    # The organization's listing still works (and is valid JSON).
    status, page, _ = await send(
        session, "GET", api_url(vi_server, "flows"), headers=auth(vi_server)
    )
    assert status == 200 and page["items"] == []


# -- 3. crafted input that used to answer 500 ----------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        '{"spec": {"name": "\\ud800"}}',
        '{"spec": {"name": "n", "settings": {"\\udfff": 1}}}',
        '{"spec": {"name": "n"}, "metadata": {"attributes": {"k": "\\udbff"}}}',
        '{"spec": {"name": "n", "settings": {"x": ' + "[" * 990 + "]" * 990 + "}}}",
        '{"spec": {"name": "n", "settings": {"x": ' + "[" * 100 + "]" * 100 + "}}}",
        '{"spec": {"name": "n", "settings": {"x": ' + '{"a":' * 3000 + "1" + "}" * 3000 + "}}}",
        b'{"spec": {"name": "\xed\xa0\x80"}}',
        '{"spec": {"name": "n"}}'.encode("utf-16"),
    ],
    ids=[
        "lone-surrogate",
        "surrogate-key",
        "surrogate-attribute",
        "depth-990",
        "depth-100",
        "depth-3000",
        "utf8-encoded-surrogate",
        "utf-16",
    ],
)
async def test_crafted_bodies_are_400(
    vi_server: LocalServer, session: aiohttp.ClientSession, body: str | bytes
) -> None:
    headers = {**auth(vi_server), "Content-Type": "application/json"}
    for method in ("PUT", "PATCH"):
        if method == "PATCH":
            await send(
                session,
                "PUT",
                api_url(vi_server, "flows/crafted"),
                json={"spec": {"name": "ok"}},
                headers=auth(vi_server),
            )
        status, answer, _ = await send(
            session, method, api_url(vi_server, "flows/crafted"), data=body, headers=headers
        )
        assert status == 400, answer
        assert answer["message"]


def _token(payload: Any) -> str:
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        _token({"k": "flows", "a": 2**63}),
        _token({"k": "flows", "b": 2**64}),
        _token({"k": "flows", "a": -(2**70)}),
        _token({"k": "flows", "b": -1}),
        _token({"k": "flows", "a": 10**400}),
        _token({"k": ["flows"] * 2, "a": 1}),
        base64.urlsafe_b64encode(b"[" * 3000).decode(),
    ],
    ids=[
        "after-2^63",
        "before-2^64",
        "after-negative",
        "before-negative",
        "after-10^400",
        "kind-list",
        "nested-3000",
    ],
)
async def test_out_of_range_page_tokens_are_400(
    vi_server: LocalServer, session: aiohttp.ClientSession, token: str
) -> None:
    status, answer, _ = await send(
        session, "GET", api_url(vi_server, "flows"), params={"p": token}, headers=auth(vi_server)
    )
    assert status == 400 and answer["message"] == "invalid page token"


@pytest.mark.parametrize("value", ["1e300", "1e20", "inf", "nan", "-1"])
async def test_huge_run_durations_are_400(
    vi_server: LocalServer, session: aiohttp.ClientSession, value: str
) -> None:
    body = {
        "spec": {"flow": {"name": "f"}},
        "metadata": {"attributes": {"vi-local/running-seconds": value}},
    }
    status, answer, _ = await send(
        session, "PUT", api_url(vi_server, "runs/huge"), json=body, headers=auth(vi_server)
    )
    assert status == 400, answer
    assert "vi-local/running-seconds" in answer["message"]


@pytest.mark.parametrize(
    "body",
    [
        '{"seed": 1e309}',
        '{"seed": 1e300}',
        '{"latency": NaN}',
        '{"slow_seconds": 1e300}',
        '{"retry_after": Infinity}',
        '{"seed": 1.5}',
        '{"latency": "nan"}',
    ],
)
async def test_bad_fault_numbers_are_400(
    vi_server: LocalServer, session: aiohttp.ClientSession, body: str
) -> None:
    headers = {**vi_server.admin_headers(), "Content-Type": "application/json"}
    status, answer, _ = await send(
        session, "PUT", vi_server.endpoint + "_local/faults", data=body, headers=headers
    )
    assert status == 400, answer
    assert vi_server.faults == FaultConfig()


async def _nan_flow_db(path: Path) -> None:
    """A database holding a flow whose spec has a NaN (written by an older, unchecked server)."""
    async with LocalServer(db_path=str(path)) as server:
        await server.seed_flows(1)
    with sqlite3.connect(path) as conn:
        conn.execute("""UPDATE flows SET spec = '{"name":"n","settings":{"x":NaN}}'""")
    conn.close()


class _Blocked(logging.Handler):
    """A log handler stuck like a stderr pipe nobody reads, until released."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.gate = threading.Event()
        self.records: list[logging.LogRecord] = []
        self.threads: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.threads.add(threading.current_thread().name)
        self.gate.wait(30)


async def test_500s_are_rate_limited_and_never_block_the_loop(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    path = tmp_path / "nan.sqlite"
    await _nan_flow_db(path)
    blocked = _Blocked()
    logger = logging.getLogger("vi_async.local")
    logger.addHandler(blocked)
    try:
        async with LocalServer(db_path=str(path)) as server:
            with anyio.fail_after(10):  # a handler blocking the loop would hang here
                for _ in range(200):
                    status, answer, _ = await send(
                        session, "GET", api_url(server, "flows"), headers=auth(server)
                    )
                    assert status == 500 and answer["error"] == "Internal"
                status, _, _ = await send(session, "GET", server.endpoint + "_local/health")
                assert status == 200
            blocked.gate.set()
    finally:
        blocked.gate.set()
        logger.removeHandler(blocked)
    with_traceback = [r for r in blocked.records if r.exc_info]
    assert 1 <= len(with_traceback) <= 5
    assert "195 more unhandled errors were not logged" in blocked.records[-1].getMessage()
    assert threading.current_thread().name not in blocked.threads


# -- 4. ids with a trailing newline ---------------------------------------------------


@pytest.mark.parametrize("raw_id", ["abc%0A", "abc%0D%0A", "%0Aabc", "abc%00"])
async def test_ids_must_match_whole(
    vi_server: LocalServer, session: aiohttp.ClientSession, raw_id: str
) -> None:
    from yarl import URL

    url = URL(api_url(vi_server, f"flows/{raw_id}"), encoded=True)
    status, answer, _ = await send(
        session,
        "PUT",
        url,
        json={"spec": {"name": "n"}},
        headers=auth(vi_server),  # type: ignore[arg-type]
    )
    assert status == 400, answer
    status, answer, _ = await send(
        session,
        "POST",
        vi_server.endpoint + "_local/seed",
        json={"organizationId": "org\n", "flows": 1},
        headers=vi_server.admin_headers(),
    )
    assert status == 400, answer
    assert await vi_server.flow_ids() == []


# -- 6. read-only or failing database -------------------------------------------------


async def test_read_only_database_answers_503(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    path = tmp_path / "ro.sqlite"
    async with LocalServer(db_path=str(path)) as writer:
        [flow_id] = await writer.seed_flows(1)
        org, key = writer.organization_id, writer.secret_key
    async with LocalServer(db_path=f"file:{path}?mode=ro") as server:
        assert (server.organization_id, server.secret_key) == (org, key)
        status, flow, _ = await send(
            session, "GET", api_url(server, f"flows/{flow_id}"), headers=auth(server)
        )
        assert status == 200 and flow["flowId"] == flow_id
        for method, path_, body in (
            ("PUT", "flows/new", {"spec": {"name": "n"}}),
            ("PATCH", f"flows/{flow_id}", {"spec": {"name": "m"}}),
            ("DELETE", f"flows/{flow_id}", None),
        ):
            status, answer, headers = await send(
                session, method, api_url(server, path_), json=body, headers=auth(server)
            )
            assert status == 503, answer
            assert answer["error"] == "ServiceUnavailable"
            assert "read-only" in answer["message"]
            assert headers["Retry-After"] == "5"
        async with server.client(max_retries=0) as client:
            with pytest.raises(ViServerError) as caught:
                await client.flows.create(spec={"name": "sdk"})
        assert caught.value.status == 503
        assert "read-only" in str(caught.value)
        assert caught.value.retry_after == 5.0


def _size(directory: Path, pattern: str) -> int:
    return sum(os.path.getsize(p) for p in directory.glob(pattern))


@pytest.mark.skipif(sys.platform != "linux", reason="uses prlimit(RLIMIT_FSIZE)")
async def test_disk_full_answers_503(tmp_path: Path) -> None:
    """A server whose database cannot grow (file size limit): writes are 503, reads work."""
    from .test_server_crash import ServerProcess, free_port

    process = ServerProcess(tmp_path / "full.sqlite", free_port())
    env = await anyio.to_thread.run_sync(process.start)
    try:
        assert process.proc is not None
        limit = await anyio.to_thread.run_sync(_size, tmp_path, "full.sqlite*") + 64 * 1024
        resource.prlimit(process.proc.pid, resource.RLIMIT_FSIZE, (limit, limit))
        headers = {
            "Authorization": f"Bearer {env['DATATURE_VI_SECRET_KEY']}",
            "Organization-Id": env["DATATURE_VI_ORGANIZATION_ID"],
        }
        base = f"{env['DATATURE_VI_API_ENDPOINT']}workspaces/{env['DATATURE_VI_ORGANIZATION_ID']}"
        settings = {"blob": "x" * 100_000}
        answers = []
        async with aiohttp.ClientSession() as session:
            with anyio.fail_after(30):
                for index in range(200):
                    status, answer, resp_headers = await send(
                        session,
                        "PUT",
                        f"{base}/flows/big-{index}",
                        json={"spec": {"name": "big", "settings": settings}},
                        headers=headers,
                    )
                    answers.append(status)
                    if status != 201:
                        break
                assert status == 503, answer
                assert "disk" in answer["message"] and resp_headers["Retry-After"] == "5"
                status, _, _ = await send(session, "GET", f"{base}/flows", headers=headers)
                assert status == 200
    finally:
        process.stop()


def test_a_full_database_is_named_as_such(tmp_path: Path) -> None:
    """SQLITE_FULL (here: the database's page limit) maps to a 503 naming the cause."""
    conn = sqlite3.connect(tmp_path / "small.sqlite", isolation_level=None)
    try:
        conn.execute("CREATE TABLE t (x TEXT)")
        conn.execute("PRAGMA max_page_count = 3")
        with pytest.raises(sqlite3.OperationalError) as caught:
            conn.execute("INSERT INTO t VALUES (?)", ("x" * 100_000,))
    finally:
        conn.close()
    error = unavailable(caught.value)
    assert error is not None and error.status == 503
    assert "full" in error.message and error.headers == {"Retry-After": "5"}
    assert unavailable(sqlite3.OperationalError("no such table: t")) is None


def test_storage_errors_are_named_from_their_message_where_python_gives_no_name() -> None:
    """Python 3.10's sqlite3 errors carry no ``sqlite_errorname``: the message names it."""
    assert error_name(sqlite3.OperationalError("database or disk is full")) == "SQLITE_FULL"
    assert error_name(sqlite3.OperationalError("database is locked")) == "SQLITE_BUSY"
    assert error_name(sqlite3.OperationalError("database table is locked")) == "SQLITE_LOCKED"
    readonly = sqlite3.OperationalError("attempt to write a readonly database")
    assert "read-only" in str(unavailable(readonly))
    assert error_name(sqlite3.OperationalError("no such table: t")) == ""


# -- 7. database file permissions --------------------------------------------------------


async def test_database_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "private.sqlite"
    async with LocalServer(db_path=str(path)) as server:
        await server.seed_flows(3)
        files = await anyio.to_thread.run_sync(lambda: sorted(tmp_path.glob("private.sqlite*")))
        assert {f.name for f in files} >= {
            "private.sqlite",
            "private.sqlite-wal",
            "private.sqlite-shm",
        }
        for file in files:
            assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, (file, oct(file.stat().st_mode))


# -- 8. slow and incomplete requests -------------------------------------------------------


async def _closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await reader.read()


async def test_half_sent_requests_are_closed_in_time() -> None:
    async with LocalServer(read_timeout=0.5) as server:
        port = server.port
        org, key = server.organization_id, server.secret_key
        partial_headers = f"GET /workspaces/{org}/flows HTTP/1.1\r\nHost: x\r\nAuthor".encode()
        body = b'{"spec": {"name": "slow"}}'
        partial_body = (
            f"PUT /workspaces/{org}/flows/slow HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {key}\r\nOrganization-Id: {org}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body[:5]
        streams = []
        for index in range(150):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(partial_headers if index % 3 else partial_body)
            streams.append((index, reader, writer))
        try:
            async with server.client() as client:
                page = await client.flows.list()  # a real client is still served
                assert page.items == []
            with anyio.fail_after(5):  # far below the hour aiohttp waits by default
                answers = await asyncio.gather(*(_closed(reader) for _, reader, _ in streams))
        finally:
            for _, _, writer in streams:
                writer.close()
        for (index, _, _), answer in zip(streams, answers, strict=True):
            if index % 3:
                assert answer == b"", answer
            else:
                assert answer.startswith(b"HTTP/1.1 408"), answer
                assert b"did not arrive in time" in answer
        assert await server.flow_ids() == []
        for _ in range(50):
            if server.connection_count == 0:
                break
            await anyio.sleep(0.05)
        assert server.connection_count == 0


def test_read_timeout_must_be_sane() -> None:
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            LocalServer(read_timeout=bad)
