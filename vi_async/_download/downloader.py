"""Downloading a checkpoint: fetch, verify, extract, publish.

Guarantees, on top of those of the modules it uses (``storage``: no API
header reaches storage, redirects only to https or loopback; ``ranges``:
bounded concurrent ranged requests, each answer checked; ``manifest``:
resume keyed on checkpoint + ETag + size; ``extract``: nothing written outside
the extraction directory, bombs refused; ``publish``: atomic publish, damage
detected; ``outage``: storage outages ridden out for a bounded time):

- The resource fetches the checkpoint (one API call, ``get(contents=True)``) and
  hands it over; when the model is already on disk, intact, with the same
  checkpoint id and ETag, no storage request is made at all. The API is asked
  again only to refresh an expired or refused URL, for the same checkpoint.
- An object larger than ``max_bytes`` is refused before anything is written
  (memory never grows with the size storage declares).
- A cancelled or killed download resumes in a later call or process, fetching
  only what the manifest lacks; an object whose ETag or size changed (or a
  ``416``) starts over from zero.
- An expired URL, or one storage refuses, is replaced through the API and the
  download goes on.
- The whole file is checked against the server's crc32c (``x-goog-hash``,
  when google-crc32c is installed) or md5 (``x-goog-hash`` or ``Content-MD5``)
  when it sends one; a mismatch discards the file
  and fetches it once more, then raises. Hashing, extraction into a
  temporary directory and syncing to disk run in threads that follow the
  written prefix while the bytes arrive; only a verified archive's
  directory is renamed into place, so a file that failed verification is never
  published.
- Every failure is a typed ViError (ViDownloadError for storage, verification
  and archive problems); cancellation leaves the partial file and its manifest
  for the next attempt, and no task or connection behind. The partial file is
  opened without following links: a link planted at its path is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
import time
import warnings
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from .._constants import (
    DEFAULT_DOWNLOAD_WORKERS,
    DEFAULT_MAX_MODEL_BYTES,
    DEFAULT_RETRY_DEADLINE,
)
from .._http.network import Network
from .._observe.logging import sdk_logger
from ..errors import ViDownloadError, ViProxyError, ViTLSError
from ..models import Model, ModelDownload, ModelDownloadUrl
from .extract import Limits
from .hashes import PURE_CRC32C_LIMIT, has_fast_crc32c, hash_following
from .lock import TargetLock
from .manifest import Manifest, open_new
from .outage import MAX_REFRESHES, TRANSIENT_STATUS, Outage
from .prefix import Prefix
from .progress import DownloadProgress
from .publish import (
    check_layout,
    install,
    intact,
    prepare,
    read_marker,
    remove_leftovers,
    work_dir,
)
from .ranges import ObjectChanged, RangesIgnored, Transfer, fetch_chunks, fetch_whole, now_ms
from .run_config import read_run_config
from .storage import BlobInfo, StorageSession, UrlSource, check_storage_url

logger = sdk_logger("vi_async.download")

Refetch = Callable[[], Awaitable[Model]]
"""Fetches the checkpoint again from the API, for a fresh signed download URL."""

MAX_RESTARTS = 2
# The manifest is saved while bytes arrive every SAVE_EVERY seconds or every
# 1/SAVES_PER_FILE of the file (at least SAVE_MIN_BYTES): what a crash can lose.
SAVE_EVERY = 0.25
SAVES_PER_FILE = 64
SAVE_MIN_BYTES = 512 * 1024
# Answers to HEAD from storage that serves the object to GET only.
_HEAD_REFUSED = frozenset({400, 401, 403, 405, 501})


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
    lock: Path

    @classmethod
    def of(cls, save_dir: Path, run_id: str) -> _Paths:
        partial = save_dir / f".{run_id}.vi-download.tar"
        return cls(
            save_dir / run_id,
            partial,
            partial.with_name(partial.name + ".json"),
            partial.with_name(partial.name + ".lock"),
        )

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


def _result(model: Model, target: Path, marker: dict[str, Any], *, reused: bool) -> ModelDownload:
    model_path, adapter, config = check_layout(target)
    task_type, architecture = read_run_config(config)
    return ModelDownload(
        model_dir=target,
        model_path=model_path,
        run_config_path=config,
        adapter_path=adapter,
        checkpoint=model,
        size_bytes=int(marker["size"]),
        sha256=str(marker["sha256"]),
        files=sorted(marker["files"]),
        reused=reused,
        task_type=task_type,
        architecture=architecture,
    )


def _on_disk(model: Model, target: Path) -> ModelDownload | None:
    """The model published in ``target`` when it is this checkpoint and intact."""
    marker = read_marker(target)
    if marker is None or (marker.get("checkpoint"), marker.get("etag")) != (
        model.model_id,
        model.etag,
    ):
        return None
    if not intact(target, marker):
        logger.info("the copy in %s was changed since it was published; fetching it", target)
        return None
    try:
        return _result(model, target, marker, reused=True)
    except (ViDownloadError, KeyError, ValueError, TypeError):
        return None


def _verify(info: BlobInfo, digests: dict[str, bytes]) -> str | None:
    """None when the file matches the server's hashes, else what differs."""
    if info.md5 is not None and "md5" in digests and digests["md5"] != info.md5:
        return "md5"
    if info.crc32c is not None and "crc32c" in digests and digests["crc32c"] != info.crc32c:
        return "crc32c"
    return None


def _hash_names(info: BlobInfo) -> list[str]:
    """sha256 (reported), and the server's check: crc32c when google-crc32c
    can compute it (about 20x faster than md5, and what gsutil checks), else md5."""
    names = ["sha256"]
    fast_crc = info.crc32c is not None and has_fast_crc32c()
    if fast_crc or (info.md5 is None and info.crc32c is not None):
        if fast_crc or info.size <= PURE_CRC32C_LIMIT:
            names.append("crc32c")
        else:
            # A hint the user can act on, so a warning (shown once per place by default,
            # and filterable) rather than a log line: the same category google-crc32c
            # itself uses for its slow fallback.
            warnings.warn(
                "this download is not checked against the storage's hash: the storage "
                "gives only a crc32c and google-crc32c is not installed "
                "(pip install 'vi-async[fast]')",
                RuntimeWarning,
                stacklevel=2,
            )
    elif info.md5 is not None:
        names.append("md5")
    return names


def _conflict(model: Model, target: Path) -> str | None:
    """What is in ``target`` that a download without ``overwrite`` must not replace."""
    if not target.exists():
        return None
    marker = read_marker(target)
    if marker is None:
        if target.is_dir() and not any(target.iterdir()):
            return None
        return "files that are not a model downloaded by this SDK"
    checkpoint = marker.get("checkpoint")
    if marker.get("runId") == model.run_id and checkpoint == model.model_id:
        return None  # our own copy of this checkpoint, stale or damaged: refreshed
    return f"checkpoint {checkpoint!r} of run {marker.get('runId')!r}"


def _discard(work: Path, paths: _Paths) -> None:
    shutil.rmtree(work, ignore_errors=True)
    paths.discard_partial()


class _Followers:
    """The hashes and the extraction, in their own threads, following the
    partial file's written prefix while the transfer fills it."""

    def __init__(
        self, archive: Path, info: BlobInfo, written: int, work: Path, limits: Limits
    ) -> None:
        self.prefix = Prefix(info.size, written)
        self.work = work
        names = _hash_names(info)
        loop = asyncio.get_running_loop()
        # Threads of their own: these block for the whole transfer, and must
        # not starve the default executor (DNS, file calls) of other tasks.
        self._pool = ThreadPoolExecutor(len(names) + 1, thread_name_prefix="vi-download")
        self._hashes = {
            name: loop.run_in_executor(self._pool, hash_following, archive, self.prefix, name)
            for name in names
        }
        self._extraction = loop.run_in_executor(
            self._pool, prepare, archive, work, limits, self.prefix
        )

    async def finish(self) -> tuple[dict[str, bytes], ViDownloadError | None]:
        """The digests and the extraction's error, if any, once the file is whole."""
        try:
            digests = {name: await job for name, job in self._hashes.items()}
            try:
                await self._extraction
            except ViDownloadError as exc:
                return digests, exc
            return digests, None
        except BaseException:
            await self.abort()
            raise
        finally:
            self._pool.shutdown(wait=False)

    async def abort(self) -> None:
        """Stop the threads, wait for them, and remove the extraction directory."""
        self.prefix.abort()
        jobs: list[asyncio.Future[Any]] = [*self._hashes.values(), self._extraction]
        await asyncio.shield(asyncio.wait(jobs))
        for job in jobs:
            if not job.cancelled():
                job.exception()  # retrieved: the transfer's error is the one raised
        self._pool.shutdown(wait=False)
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, self.work, True))


class ModelDownloader:
    """One download of one checkpoint into ``save_dir/<run_id>``."""

    def __init__(
        self,
        model: Model,
        refetch: Refetch,
        *,
        run_id: str,
        save_dir: Path,
        overwrite: bool = False,
        progress: DownloadProgress | None = None,
        workers: int = DEFAULT_DOWNLOAD_WORKERS,
        read_timeout: float = 60.0,
        max_bytes: int = DEFAULT_MAX_MODEL_BYTES,
        outage: float = DEFAULT_RETRY_DEADLINE,
        network: Network | None = None,
    ) -> None:
        """Prepare the download of ``model``; nothing happens before :meth:`run`.

        Args:
            model: The checkpoint as the API gave it, with its signed download URL.
            refetch: Fetches the checkpoint again; called only when its URL expires
                or storage refuses it.
            run_id: The run; the model goes to ``save_dir/<run_id>``.
            save_dir: The directory holding downloaded models (``~`` is expanded).
            overwrite: Replace whatever ``save_dir/<run_id>`` holds.
            progress: Called as ``progress(done_bytes, total_bytes)`` as bytes arrive.
            workers: Concurrent ranged requests to storage (at least 1).
            read_timeout: Seconds storage may stay silent before a request fails.
            max_bytes: The largest archive, and the most its files may hold.
            outage: Seconds storage may keep failing before the download gives up.
            network: The client's proxy and TLS settings (the environment's by default).
        """
        self._model = model
        self._refetch = refetch
        self._paths = _Paths.of(save_dir, run_id)
        self._save_dir = save_dir
        self._run_id = run_id
        self._overwrite = overwrite
        self._progress = progress
        self._workers = max(1, workers)
        self._read_timeout = read_timeout
        self._max_bytes = max_bytes
        self._outage = outage
        self._network = network
        self.stats = DownloadStats()

    async def run(self) -> ModelDownload:
        """Download (or find on disk), verify, extract and publish the checkpoint.

        Returns:
            The published model, or the one already on disk (``reused``).

        Raises:
            ViDownloadError: Storage, verification or archive failure, or a
                directory in the way without ``overwrite``.
            ViError: The API refused to refresh an expired URL.
        """
        model = self._model
        self._save_dir = await asyncio.to_thread(self._save_dir.expanduser)
        self._paths = _Paths.of(self._save_dir, self._run_id)
        found = await self._reusable(model)
        if found is not None:
            return found
        await asyncio.to_thread(self._save_dir.mkdir, parents=True, exist_ok=True)
        async with TargetLock(self._paths.lock) as lock:
            if lock.waited:  # another download just ended: it may have published this one
                found = await self._reusable(model)
                if found is not None:
                    return found
            await asyncio.to_thread(remove_leftovers, self._save_dir, self._run_id)
            return await self._download(model)

    async def _reusable(self, model: Model) -> ModelDownload | None:
        """The model on disk when it is this checkpoint; raises when something
        else is there and ``overwrite`` is off."""
        if self._overwrite:
            return None
        target = self._paths.target
        found = await asyncio.to_thread(_on_disk, model, target)
        if found is not None:
            self.stats.storage_requests_avoided = True
            return found
        conflict = await asyncio.to_thread(_conflict, model, target)
        if conflict is not None:
            raise ViDownloadError(
                f"{target} already holds {conflict}; pass overwrite=True (--overwrite on "
                "the command line) to replace it, or choose another save_dir"
            )
        return None

    async def _download(self, model: Model) -> ModelDownload:
        target = self._paths.target

        async def refresh() -> ModelDownloadUrl:
            return _download_url(await self._refetch())

        urls = UrlSource(_download_url(model), refresh)
        session = StorageSession(
            connections=self._workers + 1, read_timeout=self._read_timeout, network=self._network
        )
        try:
            info, sha256, work = await self._fetch_verified(session, urls, model)
        finally:
            self.stats.refreshes = urls.refreshes
            await session.close()
        marker: dict[str, Any] = {
            "runId": model.run_id,
            "checkpoint": model.model_id,
            "etag": model.etag,
            "blobEtag": info.etag,
            "size": info.size,
            "sha256": sha256,
        }
        # The archive is extracted and verified: it is removed while the model
        # is published (a failed publish then costs a refetch, never a torn model).
        marker["files"], _ = await asyncio.gather(
            asyncio.to_thread(install, work, target, marker),
            asyncio.to_thread(self._paths.discard_partial),
        )
        return await asyncio.to_thread(_result, model, target, marker, reused=False)

    async def _fetch_verified(
        self, session: StorageSession, urls: UrlSource, model: Model
    ) -> tuple[BlobInfo, str, Path]:
        """Fetch until the archive verifies (twice at most); returns it, its sha256
        and the directory it was extracted into (not yet published)."""
        for attempt in range(2):
            info, digests, extracted, work = await self._fetch(session, urls, model.model_id)
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
        """Size, ETag and hashes of the object: a HEAD, or a ``bytes=0-0`` GET
        when storage refuses HEAD (URLs signed for GET only answer 403 or 405).
        Transient failures are retried within the outage budget."""
        import aiohttp

        outage = Outage(self._outage)
        head, refreshes = True, 0
        while True:
            url = await urls.current(now_ms)
            method = "HEAD" if head else "GET"
            try:
                ranged = None if head else {"Range": "bytes=0-0"}
                async with session.request(method, url, ranged) as response:
                    status = response.status
                    if status == 200 or (status == 206 and not head):
                        info = BlobInfo.from_probe(status, response.headers, head=head)
                        response.close()  # a GET's 200 is the whole object: not read
                        return info
            except (ViProxyError, ViTLSError):
                raise  # the proxy or the certificate: another try would fail the same way
            except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
                reason = f"storage probe failed: {type(exc).__name__}"
            else:
                reason = f"storage answered {status} to {method}"
                if head and status in _HEAD_REFUSED:
                    logger.info("storage refused HEAD (%d); probing with GET", status)
                    head = False
                    continue
                if status in (401, 403) and refreshes < MAX_REFRESHES:
                    refreshes += 1
                    await urls.refresh(url)
                    continue
                if status not in TRANSIENT_STATUS:
                    raise ViDownloadError(f"Storage answered {status} to {method}")
            logger.info("%s; retrying", reason)
            await outage.wait(reason)

    async def _fetch(
        self, session: StorageSession, urls: UrlSource, checkpoint: str
    ) -> tuple[BlobInfo, dict[str, bytes], ViDownloadError | None, Path]:
        """Fetch the object, hashing and extracting it as it arrives; the object's
        info, the digests, the extraction's error and its directory."""
        for restart in range(MAX_RESTARTS + 1):
            info = await self._probe(session, urls)
            self._check_size(info.size)
            manifest = await asyncio.to_thread(self._resume_or_start, checkpoint, info)
            limits = Limits(info.size, self._max_bytes)
            work = work_dir(self._paths.target)
            followers = _Followers(self._paths.partial, info, manifest.contiguous, work, limits)
            try:
                await self._transfer(session, urls, info, manifest, followers.prefix)
            except ObjectChanged as exc:
                await followers.abort()
                logger.info("checkpoint %s changed in storage (%s); starting over", checkpoint, exc)
                self.stats.restarts += 1
                await asyncio.to_thread(self._paths.discard_partial)
                if restart == MAX_RESTARTS:
                    raise ViDownloadError("The checkpoint kept changing during download") from None
                continue
            except BaseException:
                await followers.abort()
                raise
            digests, extracted = await followers.finish()
            return info, digests, extracted, followers.work
        raise AssertionError("unreachable")

    def _check_size(self, size: int) -> None:
        """Refuse an object storage says is empty or larger than ``max_bytes``."""
        if size <= 0:
            raise ViDownloadError("Storage reports an empty checkpoint archive")
        if size > self._max_bytes:
            raise ViDownloadError(
                f"Storage reports a checkpoint archive of {size} bytes, more than "
                f"max_bytes={self._max_bytes}; pass a larger max_bytes if that is expected"
            )

    def _resume_or_start(self, checkpoint: str, info: BlobInfo) -> Manifest:
        """The manifest to resume, or a new one with an empty partial file."""
        paths = self._paths
        manifest = Manifest.load(paths.manifest)
        try:
            st = paths.partial.lstat()
            partial_size = st.st_size if stat.S_ISREG(st.st_mode) else -1
        except FileNotFoundError:
            partial_size = -1
        if (
            manifest is not None
            and manifest.matches(checkpoint, info.etag, info.size)
            and partial_size == info.size
        ):
            return manifest
        manifest = Manifest.new(checkpoint, info.etag, info.size)
        try:
            fd = open_new(paths.partial)
            try:
                os.truncate(fd, info.size)
            finally:
                os.close(fd)
            manifest.save(paths.manifest)
        except OSError as exc:
            raise ViDownloadError(
                f"Could not make room for the {info.size}-byte archive in {self._save_dir}: {exc}"
            ) from None
        return manifest

    async def _transfer(
        self,
        session: StorageSession,
        urls: UrlSource,
        info: BlobInfo,
        manifest: Manifest,
        prefix: Prefix,
    ) -> None:
        """Fill the partial file; when it stops short, it and the manifest are synced
        to disk for a later attempt (a whole file is extracted and removed at once)."""
        self.stats.resumed = max(self.stats.resumed, manifest.written)
        if manifest.complete:
            return
        fd = os.open(self._paths.partial, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
        last_save = [time.monotonic(), manifest.written]
        save_bytes = max(SAVE_MIN_BYTES, manifest.size // SAVES_PER_FILE)

        def on_bytes() -> None:
            written = manifest.written
            prefix.advance(manifest.contiguous)
            if self._progress is not None:
                self._progress(written, manifest.size)
            now = time.monotonic()
            if now - last_save[0] >= SAVE_EVERY or written - last_save[1] >= save_bytes:
                last_save[:] = [now, written]
                manifest.save(self._paths.manifest)

        transfer = Transfer(session, urls, info, fd, on_bytes, self._outage)
        try:
            await self._fill(transfer, manifest, info)
        except ObjectChanged:
            raise
        except BaseException:
            # Kept for a later attempt: on disk first, so that even a power loss
            # cannot leave a manifest that claims bytes the file lacks.
            await asyncio.shield(asyncio.to_thread(self._keep, manifest.copy()))
            raise
        else:
            manifest.save(self._paths.manifest)
        finally:
            self.stats.fetched += transfer.fetched
            os.close(fd)

    def _keep(self, manifest: Manifest) -> None:
        try:
            fd = os.open(self._paths.partial, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            manifest.save(self._paths.manifest, durable=True)
        except OSError as exc:
            logger.warning("could not sync the partial download: %s", exc)

    async def _fill(self, transfer: Transfer, manifest: Manifest, info: BlobInfo) -> None:
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
