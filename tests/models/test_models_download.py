"""client.models.download against the local server: verified, atomic, resumable."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from pathlib import Path

import pytest
from models_support import SIZE, leftovers, sha256_of, succeeded_run

from vi_async import Client, ModelDownload, ViDownloadError
from vi_async._download.publish import read_marker
from vi_async.local import FaultConfig, LocalServer, RunSchedule

pytestmark = pytest.mark.anyio

OUTPUTS = "GET /workspaces/{org}/runs/{runId}/outputs"
#: A URL refresh asks for the checkpoint being downloaded by its id.
CHECKPOINT = OUTPUTS + "/{ckpt}"


def _no_credentials(text: str, server: LocalServer) -> None:
    """A manifest on disk holds no key and no signed URL (a signature is a credential)."""
    assert server.secret_key not in text
    assert "sig=" not in text and "_storage/" not in text and "exp=" not in text, text


def _check(result: ModelDownload, save_dir: Path, run_id: str) -> None:
    assert result.model_dir == save_dir / run_id
    assert result.model_path == result.model_dir / "model_full"
    assert (result.model_path / "model.safetensors").is_file()
    assert result.run_config_path == result.model_path / "run.json"
    config = json.loads(result.run_config_path.read_text())
    assert config["runId"] == run_id and config["flow"]["spec"]["model"]["name"]
    assert result.size_bytes > SIZE * 0.99
    assert "model_full/model.safetensors" in result.files
    assert leftovers(save_dir) == []  # no partial file, manifest or temp dir left


async def test_download_then_on_disk(
    vi_server: LocalServer, vi_client: Client, tmp_path: Path
) -> None:
    run_id = await succeeded_run(vi_client)
    seen: list[tuple[int, int]] = []
    result = await vi_client.models.download(
        run_id, save_dir=tmp_path, progress=lambda done, total: seen.append((done, total))
    )
    _check(result, tmp_path, run_id)
    assert result.checkpoint.model_id == "checkpoint_2" and result.adapter_path is not None
    assert not result.reused
    assert seen[-1][0] == seen[-1][1] == result.size_bytes
    assert vi_server.storage_stats.bytes_sent == result.size_bytes
    assert "checkpoint_2" in result.summary()

    vi_server.storage_stats.reset()
    vi_server.reset_counts()
    again = await vi_client.get_model(run_id, save_dir=tmp_path)
    assert again.reused and again.sha256 == result.sha256
    assert sum(vi_server.storage_stats.requests.values()) == 0  # no storage request at all
    assert sum(vi_server.request_counts.values()) == 1  # one API call

    fresh = await vi_client.models.download(run_id, save_dir=tmp_path, overwrite=True)
    assert not fresh.reused and fresh.sha256 == result.sha256
    assert vi_server.storage_stats.bytes_sent == result.size_bytes


async def test_other_checkpoint_needs_overwrite(
    vi_server: LocalServer, vi_client: Client, tmp_path: Path
) -> None:
    run_id = await succeeded_run(vi_client)
    latest = await vi_client.models.download(run_id, save_dir=tmp_path)
    vi_server.storage_stats.reset()
    with pytest.raises(ViDownloadError, match=r"checkpoint_2.*overwrite=True"):
        await vi_client.models.download(run_id, ckpt="checkpoint_1", save_dir=tmp_path)
    assert sum(vi_server.storage_stats.requests.values()) == 0  # refused before storage
    assert read_marker(tmp_path / run_id)["checkpoint"] == "checkpoint_2"  # type: ignore[index]
    first = await vi_client.models.download(
        run_id, ckpt="checkpoint_1", save_dir=tmp_path, overwrite=True
    )
    assert first.checkpoint.model_id == "checkpoint_1" and first.sha256 != latest.sha256
    assert first.adapter_path is None and not (tmp_path / run_id / "model_adapter").exists()
    _check(first, tmp_path, run_id)


async def _no_download_threads() -> None:
    """The hashing/extraction threads end with the download (their pool shuts down)."""
    for _ in range(100):
        if not any(t.name.startswith("vi-download") for t in threading.enumerate()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError([t.name for t in threading.enumerate()])


async def test_extracts_and_hashes_while_downloading(
    vi_server: LocalServer, vi_client: Client, tmp_path: Path
) -> None:
    """By the time most bytes are in, most of the weights are already extracted
    (two streams: chunks complete in pairs, so the written prefix keeps up)."""
    size = 6 * 1024 * 1024
    run_id = await succeeded_run(vi_client, size=size)
    vi_server.faults = FaultConfig(blob_bandwidth=8 * 1024 * 1024)
    extracted: list[int] = []

    def progress(done: int, total: int) -> None:
        if done >= total * 0.8 and not extracted:
            weights = list(tmp_path.glob(f".{run_id}.vi-extract-*/model_full/model.safetensors"))
            extracted.append(weights[0].stat().st_size if weights else 0)

    result = await vi_client.models.download(
        run_id, save_dir=tmp_path, progress=progress, workers=2
    )
    _check(result, tmp_path, run_id)
    assert extracted and extracted[0] >= size // 2, extracted
    await _no_download_threads()


async def test_resume_after_cancel(
    vi_server: LocalServer, vi_client: Client, tmp_path: Path
) -> None:
    size = 4 * 1024 * 1024
    run_id = await succeeded_run(vi_client, size=size)
    vi_server.faults = FaultConfig(blob_bandwidth=8 * 1024 * 1024)
    half = asyncio.Event()

    def progress(done: int, total: int) -> None:
        if done >= total // 2:
            half.set()

    task = asyncio.ensure_future(
        vi_client.models.download(run_id, save_dir=tmp_path, progress=progress)
    )
    await asyncio.wait_for(half.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not (tmp_path / run_id).exists()  # nothing published
    assert leftovers(tmp_path) == [f".{run_id}.vi-download.tar", f".{run_id}.vi-download.tar.json"]
    manifest_text = (tmp_path / f".{run_id}.vi-download.tar.json").read_text()
    manifest = json.loads(manifest_text)
    assert manifest["durable"]  # the partial file was synced before it was saved
    _no_credentials(manifest_text, vi_server)
    await _no_download_threads()
    first = vi_server.storage_stats.bytes_sent
    assert size // 2 <= first < size

    vi_server.faults = FaultConfig()
    result = await vi_client.models.download(run_id, save_dir=tmp_path)
    _check(result, tmp_path, run_id)
    total = vi_server.storage_stats.bytes_sent
    assert total <= 1.35 * result.size_bytes, (first, total)
    _no_credentials((result.model_dir / ".vi-model.json").read_text(), vi_server)


async def test_resets_mid_body_recover(
    vi_server: LocalServer, vi_client: Client, tmp_path: Path
) -> None:
    run_id = await succeeded_run(vi_client)
    vi_server.faults = FaultConfig(seed=3, blob_reset_rate=0.5, blob_max_faults=4)
    result = await vi_client.models.download(run_id, save_dir=tmp_path)
    _check(result, tmp_path, run_id)


async def test_every_answer_reset(
    vi_server: LocalServer, vi_client: Client, tmp_path: Path
) -> None:
    """Each answer is cut halfway: every retry resumes from the last byte written."""
    run_id = await succeeded_run(vi_client, size=1024 * 1024)
    vi_server.faults = FaultConfig(blob_reset_rate=1.0)
    result = await vi_client.models.download(run_id, save_dir=tmp_path)
    assert vi_server.storage_stats.bytes_sent <= result.size_bytes


async def test_refused_forever_fails_typed(
    vi_server: LocalServer, vi_client: Client, tmp_path: Path
) -> None:
    run_id = await succeeded_run(vi_client, size=1024 * 1024)
    vi_server.faults = FaultConfig(blob_expired_rate=1.0)
    with pytest.raises(ViDownloadError, match="refus"):
        await vi_client.models.download(run_id, save_dir=tmp_path)
    assert not (tmp_path / run_id).exists()


async def test_corrupt_byte_refetched(
    vi_server: LocalServer, vi_client: Client, tmp_path: Path
) -> None:
    run_id = await succeeded_run(vi_client)
    vi_server.faults = FaultConfig(blob_corrupt_rate=1.0, blob_max_faults=1)
    result = await vi_client.models.download(run_id, save_dir=tmp_path)
    _check(result, tmp_path, run_id)
    clean = await vi_client.models.download(run_id, save_dir=tmp_path / "clean")
    assert result.sha256 == clean.sha256
    assert vi_server.storage_stats.bytes_sent == 3 * result.size_bytes  # twice + the clean one


async def test_corrupt_always_never_published(
    vi_server: LocalServer, vi_client: Client, tmp_path: Path
) -> None:
    run_id = await succeeded_run(vi_client)
    previous = await vi_client.models.download(run_id, ckpt="checkpoint_1", save_dir=tmp_path)
    vi_server.faults = FaultConfig(blob_corrupt_rate=1.0)
    with pytest.raises(ViDownloadError, match="verification"):
        await vi_client.models.download(run_id, save_dir=tmp_path, overwrite=True)
    # the model that was there is untouched, and no partial data is kept
    assert sha256_of(previous.model_path / "model.safetensors")
    assert (await vi_client.models.download(run_id, "checkpoint_1", tmp_path)).reused
    assert leftovers(tmp_path) == []


async def test_expired_urls_refreshed(
    vi_server: LocalServer, vi_client: Client, tmp_path: Path
) -> None:
    run_id = await succeeded_run(vi_client)
    vi_server.faults = FaultConfig(blob_expired_rate=1.0, blob_max_faults=3)
    vi_server.reset_counts()
    result = await vi_client.models.download(run_id, save_dir=tmp_path)
    _check(result, tmp_path, run_id)
    # the first answers are refusals: the URL was renewed (once for concurrent refusals)
    assert vi_server.request_counts[OUTPUTS] == 1 and vi_server.request_counts[CHECKPOINT] >= 1


async def test_short_lived_urls(tmp_path: Path, vi_run_schedule: RunSchedule) -> None:
    """URLs that expire while the download goes on are renewed before a request."""
    async with LocalServer(schedule=vi_run_schedule, download_url_ttl=0.4) as server:
        async with server.client() as client:
            run_id = await succeeded_run(client)
            server.faults = FaultConfig(blob_bandwidth=2 * 1024 * 1024)
            server.reset_counts()
            result = await client.models.download(run_id, save_dir=tmp_path, workers=1)
            _check(result, tmp_path, run_id)
            assert server.request_counts[CHECKPOINT] >= 2


async def test_no_api_key_reaches_storage(
    vi_server: LocalServer, vi_client: Client, tmp_path: Path
) -> None:
    run_id = await succeeded_run(vi_client)
    await vi_client.models.download(run_id, save_dir=tmp_path)
    stats = vi_server.storage_stats
    assert sum(stats.requests.values()) > 1 and stats.with_authorization == 0


async def test_foreign_directory_not_replaced(vi_client: Client, tmp_path: Path) -> None:
    run_id = await succeeded_run(vi_client)
    (tmp_path / run_id).mkdir()
    (tmp_path / run_id / "notes.txt").write_text("mine")
    with pytest.raises(ViDownloadError, match=r"not a model downloaded.*overwrite=True"):
        await vi_client.models.download(run_id, save_dir=tmp_path)
    assert (tmp_path / run_id / "notes.txt").read_text() == "mine"
    result = await vi_client.models.download(run_id, save_dir=tmp_path, overwrite=True)
    assert not (tmp_path / run_id / "notes.txt").exists()
    _check(result, tmp_path, run_id)


async def test_damaged_copy_of_same_checkpoint_repaired(vi_client: Client, tmp_path: Path) -> None:
    run_id = await succeeded_run(vi_client)
    first = await vi_client.models.download(run_id, save_dir=tmp_path)
    (first.model_path / "model.safetensors").unlink()  # our own copy, damaged
    again = await vi_client.models.download(run_id, save_dir=tmp_path)
    assert not again.reused and again.sha256 == first.sha256
    _check(again, tmp_path, run_id)


def _damage(result: ModelDownload, how: str) -> None:
    weights, config = result.model_path / "model.safetensors", result.run_config_path
    if how == "truncated":
        os.truncate(weights, weights.stat().st_size // 2)
        config.write_text('{"flow": {"spec": {"model": {"name": "swapped"}}}}')
    elif how == "touched":  # same bytes, another time: replaced by a copy, say
        stat = config.stat()
        os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))
    else:
        (result.model_path / "extra.bin").write_bytes(b"planted")


@pytest.mark.parametrize("how", ["truncated", "touched", "added"])
async def test_changed_copy_is_not_reused(vi_client: Client, tmp_path: Path, how: str) -> None:
    """The marker records every file's size and time: a copy changed since it was
    published is fetched again, never ``reused``."""
    run_id = await succeeded_run(vi_client, size=1024 * 1024)
    first = await vi_client.models.download(run_id, save_dir=tmp_path)
    weights, config = (
        sha256_of(p) for p in (first.model_path / "model.safetensors", first.run_config_path)
    )
    _damage(first, how)
    again = await vi_client.models.download(run_id, save_dir=tmp_path)
    assert not again.reused and again.sha256 == first.sha256
    assert sha256_of(again.model_path / "model.safetensors") == weights
    assert sha256_of(again.run_config_path) == config
    assert "model_full/extra.bin" not in again.files
    assert (await vi_client.models.download(run_id, save_dir=tmp_path)).reused


async def test_manifest_of_wrong_types_is_ignored(vi_client: Client, tmp_path: Path) -> None:
    """A manifest on disk that does not validate is as good as none."""
    run_id = await succeeded_run(vi_client)
    partial = tmp_path / f".{run_id}.vi-download.tar"
    partial.write_bytes(bytes(SIZE))
    manifest = {"version": 2, "checkpoint": "checkpoint_2", "etag": "x", "size": SIZE}
    manifest |= {"chunk_size": 1024 * 1024, "done": ["a", 0, 0], "boot": "", "durable": True}
    partial.with_name(partial.name + ".json").write_text(json.dumps(manifest))
    _check(await vi_client.models.download(run_id, save_dir=tmp_path), tmp_path, run_id)


async def test_concurrent_downloads_same_target(
    vi_server: LocalServer, vi_client: Client, tmp_path: Path
) -> None:
    """Two downloads into one target at once: one fetches, the other waits and reuses."""
    run_id = await succeeded_run(vi_client)
    vi_server.storage_stats.reset()
    results = await asyncio.gather(
        *(vi_client.models.download(run_id, save_dir=tmp_path) for _ in range(2))
    )
    assert sorted(r.reused for r in results) == [False, True]
    assert results[0].sha256 == results[1].sha256
    assert vi_server.storage_stats.bytes_sent == results[0].size_bytes  # fetched once
    _check(results[0], tmp_path, run_id)


_HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
os.unlink(sys.argv[1])
"""


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
async def test_waits_for_another_process(vi_client: Client, tmp_path: Path) -> None:
    """A download in another process holds the target's lock: this one waits for it,
    and a cancelled wait leaves nothing behind."""
    run_id = await succeeded_run(vi_client)
    lock = tmp_path / f".{run_id}.vi-download.tar.lock"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HOLD_LOCK, str(lock), "30", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert await holder.stdout.readline() == b"locked\n"
        task = asyncio.ensure_future(vi_client.models.download(run_id, save_dir=tmp_path))
        await asyncio.sleep(0.5)
        assert not task.done() and not (tmp_path / f".{run_id}.vi-download.tar").exists()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        holder.kill()
        await holder.wait()
    # the holder died without cleaning up: its lock went with it
    result = await vi_client.models.download(run_id, save_dir=tmp_path)
    _check(result, tmp_path, run_id)
