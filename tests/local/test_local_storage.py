"""The local storage route under hostile requests (issue 24, item 8): a Range of
5,000 digits, archives larger than a tar member can describe, and HEADs whose
clients hang up while the archive is being hashed."""

from __future__ import annotations

import asyncio
import tarfile
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import anyio
import pytest
from local_support import Api

from vi_async.local import LocalServer
from vi_async.local.blob import TAR_BLOCK, Artifact, ArtifactKey
from vi_async.local.models import MAX_MODEL_BYTES
from vi_async.local.storage import STORAGE

pytestmark = pytest.mark.anyio

HUGE = "9" * 5000


async def _succeeded(api: Api, run_id: str, attributes: dict[str, str]) -> list[str]:
    """Create a run, wait until it Succeeded, return its checkpoints' download URLs."""
    body = {"spec": {"flow": {"name": "blob"}}, "metadata": {"attributes": attributes}}
    assert (await api.put(f"runs/{run_id}", body)).status == 201
    with anyio.fail_after(10):
        while True:
            page = await api.get(f"runs/{run_id}/outputs?intent=sdkLocalDeploy&contents=y")
            if page.status == 200 and page.body["items"]:
                break
            await anyio.sleep(0.05)
    return [item["status"]["contents"]["downloadUrl"]["url"] for item in page.body["items"]]


async def test_a_range_of_thousands_of_digits_is_an_answer_not_a_500(api: Api) -> None:
    [url] = await _succeeded(api, "small", {"vi-local/checkpoints": "1"})
    size = int((await api.raw("HEAD", url)).headers["Content-Length"])
    cases: dict[str, Any] = {
        f"bytes={HUGE}-": (416, None),
        f"bytes=0-{HUGE}": (206, f"bytes 0-{size - 1}/{size}"),
        f"bytes=-{HUGE}": (206, f"bytes 0-{size - 1}/{size}"),
        f"bytes={'0' * 5000}1-9": (206, f"bytes 1-9/{size}"),
    }
    for header, (status, content_range) in cases.items():
        async with api.session.get(url, headers={"Range": header}) as got:
            await got.read()
            assert got.status == status, (header[:20], got.status)
            if content_range is not None:
                assert got.headers["Content-Range"] == content_range


async def test_model_bytes_beyond_what_storage_serves_is_a_400_at_creation(api: Api) -> None:
    for value in (str(MAX_MODEL_BYTES + 1), str(9 << 30), str(1 << 40), HUGE):
        body = {"spec": {"flow": {"name": "x"}}, "metadata": {"attributes": {
            "vi-local/model-bytes": value}}}  # fmt: skip
        created = await api.put("runs/too-big", body)
        assert created.status == 400 and "model-bytes" in created.body["message"], created.body
    body = {"spec": {"flow": {"name": "x"}}}
    assert (await api.put("runs/ok", body)).status == 201
    patch = {"metadata": {"attributes": {"vi-local/model-bytes": str(9 << 30)}}}
    assert (await api.patch("runs/ok", patch)).status == 400
    # the largest accepted archive can be described: its tar headers are valid
    artifact = Artifact(ArtifactKey("r", "checkpoint_1", 1, MAX_MODEL_BYTES, "x"))
    header = tarfile.TarInfo.frombuf(b"".join(artifact.read(0, TAR_BLOCK)), "utf-8", "strict")
    assert header.name == "model_full/model.safetensors" and header.size < MAX_MODEL_BYTES
    assert artifact.size <= MAX_MODEL_BYTES


async def _dropped_head(url: str) -> None:
    """Send a HEAD, then hang up before the answer (the archive is still being hashed)."""
    parts = urlsplit(url)
    _reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    target = f"{parts.path}?{parts.query}"
    writer.write(f"HEAD {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
    await writer.drain()
    await anyio.sleep(0.3)
    writer.close()
    await writer.wait_closed()


async def test_dropped_heads_stop_their_hashing_and_starve_no_one(server: LocalServer) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(session, server.endpoint, server.organization_id, server.secret_key)
        big = {"vi-local/checkpoints": "8", "vi-local/model-bytes": str(7 << 30)}
        urls = await _succeeded(api, "big", big)
        [small] = await _succeeded(api, "small", {"vi-local/checkpoints": "1"})
        async with anyio.create_task_group() as tg:
            for url in urls:
                tg.start_soon(_dropped_head, url)
        with anyio.fail_after(10):  # before: queued behind eight 7 GiB hashes
            answer = await api.raw("HEAD", small)
        assert answer.status == 200 and "md5=" in answer.headers["x-goog-hash"]
        assert server._runner is not None
        hasher = server._runner.app[STORAGE].hasher
        await _until(lambda: not hasher.active)
    with anyio.fail_after(5):
        await server.stop()
    await _until(lambda: not any(t.name.startswith("vi-local-hash") for t in threading.enumerate()))


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds (polled), at most ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 - a condition of another thread's state
            await anyio.sleep(0.05)
