"""Downloading a checkpoint: fetch, verify, extract, publish.

Guarantees, on top of those of the modules it uses (``_storage``: no API
header reaches storage, redirects only to https or loopback; ``_download_ranges``:
bounded concurrent ranged requests, each answer checked; ``_download_manifest``:
resume keyed on checkpoint + ETag + size; ``_extract``: safe, atomic publish):

- One API call (``get(contents=True)``) when the model is already on disk with
  the same checkpoint id and ETag: no storage request at all.
- A cancelled or killed download resumes in a later call or process, fetching
  only what the manifest lacks; an object whose ETag or size changed (or a
  ``416``) starts over from zero.
- An expired URL, or one storage refuses, is replaced through the API and the
  download goes on.
- The whole file is checked against the server's md5 (``x-goog-hash`` or
  ``Content-MD5``) or crc32c when it sends one; a mismatch discards the file
  and fetches it once more, then raises. Hashing and extraction into a
  temporary directory run at the same time; only a verified archive's
  directory is renamed into place, so a file that failed verification is never
  published.
- Every failure is a typed ViError (ViDownloadError for storage, verification
  and archive problems); cancellation leaves the partial file and its manifest
  for the next attempt, and no task or connection behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs

from ._download_manifest import Manifest
from ._download_ranges import (
    ObjectChanged,
    RangesIgnored,
    Transfer,
    fetch_chunks,
    fetch_whole,
    now_ms,
)
from ._extract import (
    check_layout,
    files_of,
    install,
    prepare,
    read_marker,
    remove_leftovers,
    work_dir,
)
from ._storage import BlobInfo, StorageSession, UrlSource, check_storage_url
from .errors import ViDownloadError
from .models import Model, ModelDownload, ModelDownloadUrl

logger = logging.getLogger("vi_async")

Progress = Callable[[int, int], Any]
GetCheckpoint = Callable[[], Awaitable[Model]]

DEFAULT_WORKERS = 8
MAX_RESTARTS = 2
# The manifest is saved while bytes arrive every SAVE_EVERY seconds or every
# 1/SAVES_PER_FILE of the file (at least SAVE_MIN_BYTES): what a crash can lose.
SAVE_EVERY = 0.25
SAVES_PER_FILE = 64
SAVE_MIN_BYTES = 512 * 1024
HASH_BLOCK = 1024 * 1024
# Pure-python crc32c is ~1 MB/s: used only when google-crc32c is missing and the
# server sends no md5, and only up to this size.
PURE_CRC32C_LIMIT = 16 * 1024 * 1024


@attrs.define
class DownloadStats:
    """What a download did: bytes fetched from storage (refetches included),
    bytes resumed from an earlier attempt, URL refreshes, restarts from zero,
    verification retries."""

    fetched: int = 0
    resumed: int = 0  # bytes already on disk (from an earlier attempt) when fetching began
    refreshes: int = 0
    restarts: int = 0
    verify_retries: int = 0
    storage_requests_avoided: bool = False


@attrs.define
class _Paths:
    target: Path
    partial: Path
    manifest: Path

    @classmethod
    def of(cls, save_dir: Path, run_id: str) -> _Paths:
        partial = save_dir / f".{run_id}.vi-download.tar"
        return cls(save_dir / run_id, partial, partial.with_name(partial.name + ".json"))

    def discard_partial(self) -> None:
        for path in (self.partial, self.manifest):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _download_url(model: Model) -> ModelDownloadUrl:
    url = model.download_url
    if url is None or not url.url:
        raise ViDownloadError(
            f"Checkpoint {model.model_id!r} of run {model.run_id!r} has no download URL yet"
        )
    check_storage_url(url.url)
    return url


def _result(model: Model, target: Path, size: int, sha256: str, reused: bool) -> ModelDownload:
    model_path, adapter, config = check_layout(target)
    return ModelDownload(
        model_dir=target,
        model_path=model_path,
        run_config_path=config,
        adapter_path=adapter,
        checkpoint=model,
        size_bytes=size,
        sha256=sha256,
        files=files_of(target),
        reused=reused,
    )


def _on_disk(model: Model, target: Path) -> ModelDownload | None:
    marker = read_marker(target)
    if marker is None or (marker.get("checkpoint"), marker.get("etag")) != (
        model.model_id,
        model.etag,
    ):
        return None
    try:
        return _result(model, target, int(marker["size"]), str(marker["sha256"]), True)
    except (ViDownloadError, KeyError, ValueError):
        return None


def _digest(path: Path, name: str) -> bytes:
    """One hash of a file: ``sha256``, ``md5`` or ``crc32c``."""
    hasher: Any = _crc32c() if name == "crc32c" else hashlib.new(name)
    try:
        with path.open("rb") as file:
            while block := file.read(HASH_BLOCK):
                hasher.update(block)
    except OSError as exc:
        raise ViDownloadError(f"Could not read the downloaded archive: {exc}") from None
    digest: bytes = hasher.digest()
    return digest


class _PureCrc32c:
    """crc32c (Castagnoli), table-driven; slow, for small files only."""

    _table: list[int] = []

    def __init__(self) -> None:
        if not self._table:
            for n in range(256):
                c = n
                for _ in range(8):
                    c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
                self._table.append(c)
        self._crc = 0xFFFFFFFF

    def update(self, data: bytes) -> None:
        crc, table = self._crc, self._table
        for byte in data:
            crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        self._crc = crc

    def digest(self) -> bytes:
        return (self._crc ^ 0xFFFFFFFF).to_bytes(4, "big")


def _crc32c() -> Any:
    try:
        import google_crc32c
    except ImportError:
        return _PureCrc32c()
    return google_crc32c.Checksum()  # type: ignore[no-untyped-call,unused-ignore]


def _has_fast_crc32c() -> bool:
    try:
        import google_crc32c  # noqa: F401
    except ImportError:
        return False
    return True


def _verify(info: BlobInfo, digests: dict[str, bytes]) -> str | None:
    """None when the file matches the server's hashes, else what differs."""
    if info.md5 is not None and digests.get("md5") != info.md5:
        return "md5"
    if info.crc32c is not None and "crc32c" in digests and digests["crc32c"] != info.crc32c:
        return "crc32c"
    return None


def _discard(work: Path, paths: _Paths) -> None:
    shutil.rmtree(work, ignore_errors=True)
    paths.discard_partial()


async def _hash_and_extract(
    archive: Path, names: list[str], work: Path
) -> tuple[dict[str, bytes], BaseException | None]:
    """Hash the archive (one thread per hash) while it is extracted into ``work``.

    Returns the digests and the extraction's error, if any. On cancellation the
    threads are awaited and ``work`` removed before it propagates.
    """
    jobs = [asyncio.ensure_future(asyncio.to_thread(_digest, archive, n)) for n in names]
    extraction = asyncio.ensure_future(asyncio.to_thread(prepare, archive, work))
    try:
        digests = dict(zip(names, await asyncio.gather(*jobs), strict=True))
        try:
            await extraction
        except ViDownloadError as exc:
            return digests, exc
        return digests, None
    except BaseException:
        await asyncio.shield(asyncio.wait([*jobs, extraction]))
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, work, True))
        raise


class ModelDownloader:
    """One download of one checkpoint into ``save_dir/<run_id>``."""

    def __init__(
        self,
        get_checkpoint: GetCheckpoint,
        *,
        run_id: str,
        save_dir: Path,
        overwrite: bool = False,
        progress: Progress | None = None,
        workers: int = DEFAULT_WORKERS,
        read_timeout: float = 60.0,
    ) -> None:
        self._get = get_checkpoint
        self._paths = _Paths.of(save_dir, run_id)
        self._save_dir = save_dir
        self._run_id = run_id
        self._overwrite = overwrite
        self._progress = progress
        self._workers = max(1, workers)
        self._read_timeout = read_timeout
        self.stats = DownloadStats()

    async def run(self) -> ModelDownload:
        """Download (or find on disk), verify, extract and publish the checkpoint."""
        model = await self._get()
        self._save_dir = await asyncio.to_thread(self._save_dir.expanduser)
        self._paths = _Paths.of(self._save_dir, self._run_id)
        target = self._paths.target
        if not self._overwrite:
            found = await asyncio.to_thread(_on_disk, model, target)
            if found is not None:
                self.stats.storage_requests_avoided = True
                return found
        await asyncio.to_thread(self._save_dir.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(remove_leftovers, self._save_dir, self._run_id)

        async def refresh() -> ModelDownloadUrl:
            return _download_url(await self._get())

        urls = UrlSource(_download_url(model), refresh)
        session = StorageSession(connections=self._workers + 1, read_timeout=self._read_timeout)
        try:
            info, sha256, work = await self._fetch_verified(session, urls, model)
        finally:
            self.stats.refreshes = urls.refreshes
            await session.close()
        marker = {
            "runId": model.run_id,
            "checkpoint": model.model_id,
            "etag": model.etag,
            "blobEtag": info.etag,
            "size": info.size,
            "sha256": sha256,
        }
        await asyncio.to_thread(install, work, target, marker)
        await asyncio.to_thread(self._paths.discard_partial)
        return await asyncio.to_thread(_result, model, target, info.size, sha256, False)

    async def _fetch_verified(
        self, session: StorageSession, urls: UrlSource, model: Model
    ) -> tuple[BlobInfo, str, Path]:
        """Fetch until the archive verifies (twice at most); returns it, its sha256
        and the directory it was extracted into (not yet published)."""
        for attempt in range(2):
            info = await self._fetch(session, urls, model.model_id)
            names = ["sha256"]
            if info.md5 is not None:
                names.append("md5")
            elif info.crc32c is not None:
                if _has_fast_crc32c() or info.size <= PURE_CRC32C_LIMIT:
                    names.append("crc32c")
                else:
                    logger.warning("install google-crc32c to verify downloads that have no md5")
            work = work_dir(self._paths.target)
            digests, extracted = await _hash_and_extract(self._paths.partial, names, work)
            mismatch = _verify(info, digests)
            if mismatch is None:
                if extracted is not None:  # a verified archive that is unsafe or incomplete
                    await asyncio.to_thread(_discard, work, self._paths)
                    raise extracted
                return info, digests["sha256"].hex(), work
            await asyncio.to_thread(_discard, work, self._paths)
            if attempt == 1:
                raise ViDownloadError(
                    f"The downloaded checkpoint {model.model_id!r} failed {mismatch} "
                    "verification twice; nothing was published"
                )
            self.stats.verify_retries += 1
            logger.warning(
                "checkpoint %s failed %s verification; fetching it again", model.model_id, mismatch
            )
        raise AssertionError("unreachable")

    async def _probe(self, session: StorageSession, urls: UrlSource) -> BlobInfo:
        import aiohttp

        for _ in range(4):
            url = await urls.current(now_ms)
            try:
                async with session.request("HEAD", url) as response:
                    if response.status in (401, 403):
                        await urls.refresh(url)
                        continue
                    if response.status != 200:
                        raise ViDownloadError(f"Storage answered {response.status} to HEAD")
                    return BlobInfo.from_headers(response.headers)
            except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
                logger.info("storage HEAD failed: %s; retrying", type(exc).__name__)
                await asyncio.sleep(0.2)
        raise ViDownloadError("Storage refused or dropped every HEAD of the checkpoint's URL")

    async def _fetch(self, session: StorageSession, urls: UrlSource, checkpoint: str) -> BlobInfo:
        for restart in range(MAX_RESTARTS + 1):
            info = await self._probe(session, urls)
            if info.size <= 0:
                raise ViDownloadError("Storage reports an empty checkpoint archive")
            manifest = await asyncio.to_thread(self._resume_or_start, checkpoint, info)
            try:
                await self._transfer(session, urls, info, manifest)
                return info
            except ObjectChanged as exc:
                logger.info("checkpoint %s changed in storage (%s); starting over", checkpoint, exc)
                self.stats.restarts += 1
                await asyncio.to_thread(self._paths.discard_partial)
                if restart == MAX_RESTARTS:
                    raise ViDownloadError("The checkpoint kept changing during download") from None
        raise AssertionError("unreachable")

    def _resume_or_start(self, checkpoint: str, info: BlobInfo) -> Manifest:
        paths = self._paths
        manifest = Manifest.load(paths.manifest)
        try:
            partial_size = paths.partial.stat().st_size
        except FileNotFoundError:
            partial_size = -1
        if (
            manifest is not None
            and manifest.matches(checkpoint, info.etag, info.size)
            and partial_size == info.size
        ):
            return manifest
        manifest = Manifest.new(checkpoint, info.etag, info.size)
        with paths.partial.open("wb") as file:
            file.truncate(info.size)
        manifest.save(paths.manifest)
        return manifest

    async def _transfer(
        self, session: StorageSession, urls: UrlSource, info: BlobInfo, manifest: Manifest
    ) -> None:
        self.stats.resumed = max(self.stats.resumed, manifest.written)
        if manifest.complete:
            return
        fd = os.open(self._paths.partial, os.O_RDWR)
        last_save = [time.monotonic(), manifest.written]
        save_bytes = max(SAVE_MIN_BYTES, manifest.size // SAVES_PER_FILE)

        def on_bytes() -> None:
            written = manifest.written
            if self._progress is not None:
                self._progress(written, manifest.size)
            now = time.monotonic()
            if now - last_save[0] >= SAVE_EVERY or written - last_save[1] >= save_bytes:
                last_save[:] = [now, written]
                manifest.save(self._paths.manifest)

        transfer = Transfer(session, urls, info, fd, on_bytes)
        try:
            if self._progress is not None:
                self._progress(manifest.written, manifest.size)
            if info.accepts_ranges:
                try:
                    await fetch_chunks(transfer, manifest, self._workers)
                except RangesIgnored:
                    logger.info("storage ignores Range; fetching in one stream")
                    await fetch_whole(transfer, manifest)
            else:
                await fetch_whole(transfer, manifest)
        finally:
            self.stats.fetched += transfer.fetched
            os.close(fd)
            manifest.save(self._paths.manifest)
