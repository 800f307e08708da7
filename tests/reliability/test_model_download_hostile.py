"""Model downloads from hostile storage: each ends in a verified model or a typed
error, never a corrupt or unsafe published file, and never sends the API key."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest
from aiohttp import web

from vi_async import ViDownloadError

from .conftest import FAKE_SECRET, hostile_client
from .hostile import HostileServer
from .hostile_storage import BLOB, RUN, archive, model_tar, storage

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
