"""Model downloads from hostile storage: each ends in a verified model or a typed
error, never a corrupt or unsafe published file, and never sends the API key."""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

import pytest
from aiohttp import web

from vi_async import ViDownloadError

from .conftest import FAKE_SECRET, hostile_client
from .hostile import Handler, HostileServer, Seen
from .hostile_storage import BLOB, RUN, archive, model_tar, output, storage

pytestmark = pytest.mark.anyio


def evil_tar(member: tarfile.TarInfo) -> bytes:
    """A valid archive plus one hostile member."""
    data = b"" if member.issym() or member.islnk() else b"evil"
    member.size = len(data)
    return archive([(member, data)])


async def test_server_ignoring_range(hostile: HostileServer, tmp_path: Path) -> None:
    body = model_tar()
    hostile.handler = storage(body, honour_range=False)  # type: ignore[assignment]
    async with hostile_client(hostile) as client:
        result = await client.models.download(RUN, save_dir=tmp_path)
    assert result.sha256 == hashlib.sha256(body).hexdigest()
    assert (result.model_path / "model.safetensors").is_file()
    blob_gets = [r for r in hostile.requests if r.path == BLOB and r.method == "GET"]
    assert any("Range" not in r.headers for r in blob_gets)  # fell back to one stream


async def test_server_without_ranges(hostile: HostileServer, tmp_path: Path) -> None:
    body = model_tar()
    hostile.handler = storage(body, ranges=False, honour_range=False)  # type: ignore[assignment]
    async with hostile_client(hostile) as client:
        result = await client.models.download(RUN, save_dir=tmp_path)
    assert result.sha256 == hashlib.sha256(body).hexdigest()
    gets = [r for r in hostile.requests if r.path == BLOB and r.method == "GET"]
    assert len(gets) == 1 and "Range" not in gets[0].headers


@pytest.mark.parametrize("head_status", [403, 405])
@pytest.mark.parametrize("honour_range", [True, False])
async def test_storage_refusing_head(
    hostile: HostileServer, tmp_path: Path, head_status: int, honour_range: bool
) -> None:
    """Size and ETag come from a ``bytes=0-0`` GET (206), or a plain 200 not read."""
    body = model_tar()
    hostile.handler = storage(  # type: ignore[assignment]
        body, head_status=head_status, honour_range=honour_range
    )
    async with hostile_client(hostile) as client:
        result = await client.models.download(RUN, save_dir=tmp_path)
    assert result.sha256 == hashlib.sha256(body).hexdigest()
    blob = [r for r in hostile.requests if r.path == BLOB]
    assert [r.method for r in blob[:2]] == ["HEAD", "GET"]
    assert blob[1].headers.get("Range") == "bytes=0-0"
    assert sum(r.method == "HEAD" for r in blob) == 1  # HEAD is not tried again


async def test_wrong_content_range_is_not_written(hostile: HostileServer, tmp_path: Path) -> None:
    hostile.handler = storage(  # type: ignore[assignment]
        model_tar(), content_range=lambda a, b, n: f"bytes {a + 1}-{b}/{n}"
    )
    async with hostile_client(hostile, retry_deadline=1.0) as client:
        with pytest.raises(ViDownloadError, match="not"):
            await client.models.download(RUN, save_dir=tmp_path)
    assert not (tmp_path / RUN).exists()


async def test_no_authorization_to_storage(hostile: HostileServer, tmp_path: Path) -> None:
    hostile.handler = storage(model_tar())  # type: ignore[assignment]
    async with hostile_client(hostile) as client:
        await client.models.download(RUN, save_dir=tmp_path)
    blob = [r for r in hostile.requests if r.path == BLOB]
    api = hostile.api_requests()
    assert blob and api and all("Authorization" in r.headers for r in api)
    for r in blob:
        assert "Authorization" not in r.headers and "Organization-Id" not in r.headers
        assert FAKE_SECRET not in str(r.headers) + str(r.query)


async def test_redirect_off_loopback_refused(hostile: HostileServer, tmp_path: Path) -> None:
    inner = storage(model_tar())

    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        if request.path == BLOB:
            raise web.HTTPFound("http://example.invalid/stolen")
        return await inner(request, server)  # type: ignore[no-any-return,misc]

    hostile.handler = handle
    async with hostile_client(hostile) as client:
        with pytest.raises(ViDownloadError, match="Refusing the storage URL"):
            await client.models.download(RUN, save_dir=tmp_path)
    assert not (tmp_path / RUN).exists()


def _members() -> list[tarfile.TarInfo]:
    up = tarfile.TarInfo("../escaped.txt")
    absolute = tarfile.TarInfo("/tmp/vi-absolute.txt")
    link = tarfile.TarInfo("model_full/link")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
    hard = tarfile.TarInfo("model_full/hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "../outside"
    return [up, absolute, link, hard]


@pytest.mark.parametrize("member", _members(), ids=lambda m: m.name)
async def test_escaping_members_refused(
    hostile: HostileServer, tmp_path: Path, member: tarfile.TarInfo
) -> None:
    save_dir = tmp_path / "models"
    hostile.handler = storage(evil_tar(member))  # type: ignore[assignment]
    async with hostile_client(hostile) as client:
        with pytest.raises(ViDownloadError, match="Refusing archive member"):
            await client.models.download(RUN, save_dir=save_dir)
    assert not (save_dir / RUN).exists()
    assert not (tmp_path / "escaped.txt").exists() and not (save_dir / "escaped.txt").exists()
    assert [p.name for p in save_dir.iterdir() if "extract" in p.name] == []


def _blob_gets(hostile: HostileServer) -> list[Seen]:
    return [r for r in hostile.requests if r.path.startswith("/blob") and r.method == "GET"]


@pytest.mark.parametrize(
    "length", [str(2**40), str(2**52), str(2**62)], ids=["1TiB", "2^52", "2^62"]
)
async def test_implausible_declared_size(
    hostile: HostileServer, tmp_path: Path, length: str
) -> None:
    """A size beyond ``max_bytes`` is refused before a byte is written or fetched
    (and before memory is allocated for it)."""

    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        if request.path.startswith("/workspaces/"):
            return web.json_response({"items": [output(server)]})
        return web.Response(headers={"ETag": '"b1"', "Content-Length": length})

    hostile.handler = handle
    async with hostile_client(hostile) as client:
        with pytest.raises(ViDownloadError, match=r"max_bytes|size"):
            await client.models.download(RUN, save_dir=tmp_path)
    assert _blob_gets(hostile) == [] and os.listdir(tmp_path) == []


async def test_implausible_content_range_total(hostile: HostileServer, tmp_path: Path) -> None:
    """Storage that refuses HEAD: the size comes from Content-Range, with 5,000 digits."""

    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        if request.path.startswith("/workspaces/"):
            return web.json_response({"items": [output(server)]})
        if request.method == "HEAD":
            return web.Response(status=405)
        total = "9" * 5000
        return web.Response(status=206, body=b"x", headers={"Content-Range": f"bytes 0-0/{total}"})

    hostile.handler = handle
    async with hostile_client(hostile) as client:
        with pytest.raises(ViDownloadError, match="size"):
            await client.models.download(RUN, save_dir=tmp_path)


def _swapping_storage(first: bytes, second: bytes) -> Handler:
    """Storage that ignores If-Range, whose object is replaced after one ranged GET."""
    current = [first, '"a"']

    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        if request.path.startswith("/workspaces/"):
            return web.json_response({"items": [output(server)]})
        body, etag = current
        headers = {"ETag": etag, "Accept-Ranges": "bytes"}
        if request.method == "HEAD":
            return web.Response(headers={**headers, "Content-Length": str(len(body))})
        a, b = (int(x) for x in request.headers["Range"].removeprefix("bytes=").split("-"))
        current[:] = [second, '"b"']
        return web.Response(
            status=206,
            body=body[a : b + 1],
            headers={**headers, "Content-Range": f"bytes {a}-{b}/{len(body)}"},
        )

    return handle


async def test_206_of_another_object_restarts(hostile: HostileServer, tmp_path: Path) -> None:
    """No hash header to catch it: the ETag of every 206 is compared with the
    one being fetched, and a change starts over on the new object."""
    first, second = model_tar(3 * 1024 * 1024), model_tar(3 * 1024 * 1024, ckpt="ckpt-9")
    assert len(first) == len(second) and first != second
    hostile.handler = _swapping_storage(first, second)
    async with hostile_client(hostile) as client:
        result = await client.models.download(RUN, save_dir=tmp_path, workers=1)
    assert result.sha256 == hashlib.sha256(second).hexdigest()


async def test_refresh_asks_for_the_same_checkpoint(hostile: HostileServer, tmp_path: Path) -> None:
    """ckpt=None: a newer checkpoint published during the download does not
    replace the one being downloaded when its URL is refreshed."""
    old, new = model_tar(2 * 1024 * 1024), model_tar(2 * 1024 * 1024, ckpt="ckpt-2")
    blobs = {"/blob/1": (old, '"a"'), "/blob/2": (new, '"b"')}
    refusals = [1]

    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        if request.path.endswith("/outputs/ckpt-1"):
            return web.json_response({"items": [output(server, "ckpt-1", "/blob/1")]})
        if request.path.endswith("/outputs"):
            first = not [r for r in server.requests[:-1] if r.path.endswith("/outputs")]
            latest = (
                output(server, "ckpt-1", "/blob/1")
                if first
                else output(server, "ckpt-2", "/blob/2")
            )
            return web.json_response({"items": [latest]})
        body, etag = blobs[request.path]
        headers = {"ETag": etag, "Accept-Ranges": "bytes"}
        if request.method == "HEAD":
            return web.Response(headers={**headers, "Content-Length": str(len(body))})
        if refusals[0]:  # the first URL is refused: a refresh follows
            refusals[0] -= 1
            return web.Response(status=403)
        a, b = (int(x) for x in request.headers["Range"].removeprefix("bytes=").split("-"))
        return web.Response(
            status=206,
            body=body[a : b + 1],
            headers={**headers, "Content-Range": f"bytes {a}-{b}/{len(body)}"},
        )

    hostile.handler = handle
    async with hostile_client(hostile) as client:
        result = await client.models.download(RUN, save_dir=tmp_path, workers=1)
    assert result.checkpoint.model_id == "ckpt-1"
    assert result.sha256 == hashlib.sha256(old).hexdigest()
    assert any(r.path.endswith("/outputs/ckpt-1") for r in hostile.api_requests())


def _flaky(body: bytes, fails: dict[str, list[int]]) -> Handler:
    """``storage(body)``, but the first answers to HEAD or ranged GETs are the
    statuses listed in ``fails`` (0: the connection is dropped)."""
    inner = storage(body)

    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        pending = fails.get(request.method, [])
        if request.path == BLOB and pending:
            status = pending.pop(0)
            if status == 0 and request.transport is not None:
                request.transport.abort()
            return web.Response(status=status or 503)
        return await inner(request, server)  # type: ignore[no-any-return]

    return handle


async def test_probe_rides_out_an_outage(hostile: HostileServer, tmp_path: Path) -> None:
    body = model_tar()
    hostile.handler = _flaky(body, {"HEAD": [503, 0, 502]})
    async with hostile_client(hostile) as client:
        result = await client.models.download(RUN, save_dir=tmp_path)
    assert result.sha256 == hashlib.sha256(body).hexdigest()


async def test_refreshes_spend_no_outage_budget(hostile: HostileServer, tmp_path: Path) -> None:
    """Seven refused URLs in a row: each is refreshed and retried at once."""
    body = model_tar()
    hostile.handler = _flaky(body, {"GET": [403] * 7})
    async with hostile_client(hostile) as client:
        result = await client.models.download(RUN, save_dir=tmp_path, workers=1)
    assert result.sha256 == hashlib.sha256(body).hexdigest()
    assert len(hostile.api_requests()) == 8  # the first fetch, then one per refusal


async def test_outage_budget_is_the_retry_deadline(hostile: HostileServer, tmp_path: Path) -> None:
    hostile.handler = _flaky(model_tar(), {"GET": [503] * 1000})
    async with hostile_client(hostile, retry_deadline=0.5) as client:
        with pytest.raises(ViDownloadError, match=r"kept failing.*budget is 0.5 s"):
            await client.models.download(RUN, save_dir=tmp_path)


def _plant(save_dir: Path, outside: Path) -> list[Path]:
    """Links at the partial file's and the manifest's paths, to files outside."""
    victims = []
    for suffix in ("", ".json.tmp"):
        victim = outside / f"victim{suffix}"
        victim.write_text("precious")
        (save_dir / f".{RUN}.vi-download.tar{suffix}").symlink_to(victim)
        victims.append(victim)
    return victims


async def test_links_planted_at_the_partial_file(hostile: HostileServer, tmp_path: Path) -> None:
    save_dir, outside = tmp_path / "models", tmp_path / "outside"
    save_dir.mkdir()
    outside.mkdir()
    victims = _plant(save_dir, outside)
    body = model_tar()
    hostile.handler = storage(body)  # type: ignore[assignment]
    async with hostile_client(hostile) as client:
        result = await client.models.download(RUN, save_dir=save_dir)
    assert result.sha256 == hashlib.sha256(body).hexdigest()
    assert [v.read_text() for v in victims] == ["precious", "precious"]


async def test_link_planted_at_the_lock_file(hostile: HostileServer, tmp_path: Path) -> None:
    save_dir, outside = tmp_path / "models", tmp_path / "outside"
    save_dir.mkdir()
    (save_dir / f".{RUN}.vi-download.tar.lock").symlink_to(outside)
    hostile.handler = storage(model_tar())  # type: ignore[assignment]
    async with hostile_client(hostile) as client:
        with pytest.raises(ViDownloadError, match="is a link"):
            await client.models.download(RUN, save_dir=save_dir)
    assert not outside.exists() and _blob_gets(hostile) == []
