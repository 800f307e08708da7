"""``client.models``: checkpoints of Succeeded runs, and their download."""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from .._constants import DEFAULT_DOWNLOAD_WORKERS, DEFAULT_MAX_MODEL_BYTES, DEFAULT_RETRY_DEADLINE
from .._download.progress import DownloadProgress
from .._observe.otel import traced
from .._validate import check_id, segment
from ..errors import ViDownloadError, ViNotFoundError
from ..models import Model, ModelDownload, Page, PaginationParams, Run, RunPhase
from ..pagination import AsyncPager
from ._base import Resource, check_answer_id, decode_page

INTENT = {"intent": "sdkLocalDeploy"}
DEFAULT_SAVE_DIR = Path.home() / ".datature" / "vi" / "models"


def _download_attributes(result: ModelDownload) -> dict[str, Any]:
    return {"vi.download.bytes": result.size_bytes, "vi.download.reused": result.reused}


class ModelsResource(Resource):
    """List, inspect and download the checkpoints ("run outputs") of runs."""

    collection = "runs"
    id_name = "run_id"
    namespace: str | None = "models"

    def _outputs(self, run_id: str, ckpt: str | None = None) -> str:
        path = self._path(run_id) + "/outputs"
        return path if ckpt is None else f"{path}/{segment(check_id(ckpt, 'ckpt'))}"

    def list(
        self, run_id: str, pagination: PaginationParams | dict[str, Any] | None = None
    ) -> AsyncPager[Model]:
        """The checkpoints of a run, oldest first (none unless it Succeeded).

        Args:
            run_id: The run.
            pagination: Page size and cursor (PaginationParams or a dict of its fields).

        Returns:
            A pager: ``await`` it for the first page, ``async for`` for every page,
            ``.all_items()`` for every checkpoint.
        """
        return self._pager(Model, pagination, path=self._outputs(run_id), params=INTENT)

    @traced("vi.models.get", id_param="run_id")
    async def get(self, run_id: str, ckpt: str | None = None, contents: bool = False) -> Model:
        """The latest checkpoint of a run, or the one named ``ckpt``.

        Args:
            run_id: The run.
            ckpt: The checkpoint's id; None for the latest.
            contents: Include the pre-signed download URL.

        Returns:
            The checkpoint.

        Raises:
            InvalidIdError: ``run_id`` or ``ckpt`` is not a valid id (before any request).
            ViNotFoundError: The run (or checkpoint) does not exist (status 404),
                or the run has no checkpoint (status None; the message says what
                the run's state is, e.g. "it ended Cancelled").
            ViDecodeError: The answer holds another run's checkpoints.
        """
        return await self._checkpoint(self._outputs(run_id, ckpt), run_id, ckpt, contents)

    async def _checkpoint(self, path: str, run_id: str, ckpt: str | None, contents: bool) -> Model:
        """GET the checkpoint at ``path`` (ids already validated); see :meth:`get`."""
        params = {**INTENT, "contents": "y"} if contents else dict(INTENT)
        response = await self._transport.request("GET", path, params=params)
        if isinstance(response.data, dict) and response.data.get("kind") == "RunOutput":
            response = type(response)(
                response.status, {"items": [response.data]}, response.request_id
            )
        page: Page[Model] = decode_page(response, Page[Model])
        for model in page.items:
            check_answer_id(response, "run_id", run_id, model.run_id)
        items = [m for m in page.items if ckpt is None or m.model_id == ckpt]
        if items:
            return items[-1]
        if ckpt is not None and page.items:
            seen = f"the server listed {len(page.items)} other checkpoint(s)"
        else:
            seen = await self._why_no_checkpoints(run_id)
        what = f"checkpoint {ckpt!r}" if ckpt else "checkpoints"
        # Concluded here from a 200 answer, not said by the server: no status.
        raise ViNotFoundError(
            f"Run {run_id!r} has no {what}: {seen}",
            request_id=response.request_id,
            method="GET",
            path=path,
        )

    async def _why_no_checkpoints(self, run_id: str) -> str:
        """What the run's state says about its lack of checkpoints, for the error message."""
        response = await self._transport.request("GET", self._path(run_id))
        run = self._decode_one(response, Run, run_id)
        if run.phase is RunPhase.SUCCEEDED:
            return "it Succeeded, but the server lists none"
        if run.is_terminal:
            return f"it ended {run.phase.value} (a run has checkpoints once it has Succeeded)"
        return f"it is {run.phase.value} (a run has checkpoints once it has Succeeded)"

    @traced("vi.models.download", id_param="run_id", summary=_download_attributes)
    async def download(
        self,
        run_id: str,
        ckpt: str | None = None,
        save_dir: str | Path | None = None,
        overwrite: bool = False,
        progress: DownloadProgress | None = None,
        *,
        workers: int = DEFAULT_DOWNLOAD_WORKERS,
        max_bytes: int = DEFAULT_MAX_MODEL_BYTES,
    ) -> ModelDownload:
        """Download a checkpoint (the latest by default) into ``save_dir/<run_id>``.

        Already on disk with the same checkpoint and ETag, nothing is downloaded.
        Without ``overwrite``, a directory there holding another checkpoint, or
        files this SDK did not download, is an error raised before any storage
        request; this SDK's own damaged or outdated copy of this checkpoint is
        replaced. One download at a time per target: another one (in this
        process or another) waits, then reuses what the first published. The
        archive is fetched with concurrent ranged requests, resumed after a
        cancel or a crash, verified against the server's hash, extracted and
        checked, then renamed into place; nothing half-done is ever published.
        Only files and directories are extracted, never outside the target; an
        archive (or its files) larger than ``max_bytes`` is refused. Storage
        outages are ridden out for the client's ``retry_deadline``.

        Args:
            run_id: The run.
            ckpt: The checkpoint's id; None for the latest.
            save_dir: Where models go; defaults to ``~/.datature/vi/models`` (as
                the official SDK).
            overwrite: Download again, replacing whatever ``save_dir/<run_id>`` holds.
            progress: Called as ``progress(done_bytes, total_bytes)`` as bytes arrive.
            workers: Concurrent ranged requests to storage.
            max_bytes: The largest archive accepted, and the most its extracted
                files may hold (256 GiB by default); raise it for larger models.

        Returns:
            The model on disk: its paths, checkpoint, size, sha256, and whether
            it was ``reused``.

        Raises:
            InvalidIdError: ``run_id`` or ``ckpt`` is not a valid id.
            ValueError: ``workers`` or ``max_bytes`` is below 1.
            ViNotFoundError: The run or checkpoint does not exist, or the run has
                no checkpoint.
            ViDownloadError: Storage, verification or archive failure, or a
                directory in the way without ``overwrite``.
        """
        path = self._outputs(run_id, ckpt)
        for name, value in (("workers", workers), ("max_bytes", max_bytes)):
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        from .._download.downloader import ModelDownloader  # the download stack loads on first use

        model = await self._checkpoint(path, run_id, ckpt, contents=True)
        # A refresh asks for this checkpoint, not the latest: one published
        # meanwhile must not replace it halfway.
        pinned = self._pinned(run_id, model.model_id)

        def refetch() -> Awaitable[Model]:
            return self._checkpoint(pinned, run_id, model.model_id, contents=True)

        config = self._transport.config
        downloader = ModelDownloader(
            model,
            refetch,
            run_id=run_id,
            save_dir=DEFAULT_SAVE_DIR if save_dir is None else Path(save_dir),
            overwrite=overwrite,
            progress=progress,
            workers=workers,
            read_timeout=config.timeout,
            max_bytes=max_bytes,
            outage=config.retry_deadline or DEFAULT_RETRY_DEADLINE,
            network=self._transport.network,
        )
        return await downloader.run()

    def _pinned(self, run_id: str, model_id: str) -> str:
        """The path of checkpoint ``model_id``, as the server named it."""
        try:
            return self._outputs(run_id, model_id)
        except ValueError:
            raise ViDownloadError(
                f"The server named the checkpoint {model_id!r}, which is not a valid id"
            ) from None
