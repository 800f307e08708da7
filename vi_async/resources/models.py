"""``client.models``: checkpoints of Succeeded runs, and their download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._constants import DEFAULT_DOWNLOAD_WORKERS
from .._download.progress import DownloadProgress
from .._observe.otel import traced
from .._validate import check_id, segment
from ..errors import ViNotFoundError
from ..models import Model, ModelDownload, Page, PaginationParams
from ..pagination import AsyncPager
from ._base import Resource, decode_page

INTENT = {"intent": "sdkLocalDeploy"}
DEFAULT_SAVE_DIR = Path.home() / ".datature" / "vi" / "models"


def _download_attributes(result: ModelDownload) -> dict[str, Any]:
    return {"vi.download.bytes": result.size_bytes, "vi.download.reused": result.reused}


class ModelsResource(Resource):
    """List, inspect and download the checkpoints ("run outputs") of runs."""

    collection = "runs"
    id_name = "run_id"
    namespace = "models"

    def _outputs(self, run_id: str, ckpt: str | None = None) -> str:
        path = self._path(run_id) + "/outputs"
        return path if ckpt is None else f"{path}/{segment(check_id(ckpt, 'ckpt'))}"

    def list(
        self, run_id: str, pagination: PaginationParams | dict[str, Any] | None = None
    ) -> AsyncPager[Model]:
        """The checkpoints of a run, oldest first (none unless it Succeeded).

        ``await`` it for the first page, ``async for`` for every page,
        ``.all_items()`` for every checkpoint.
        """
        return self._pager(Model, pagination, path=self._outputs(run_id), params=INTENT)

    @traced("vi.models.get", id_param="run_id")
    async def get(self, run_id: str, ckpt: str | None = None, contents: bool = False) -> Model:
        """The latest checkpoint of a run, or the one named ``ckpt``.

        ``contents=True`` includes the pre-signed download URL. Raises
        ViNotFoundError when the run (or checkpoint) does not exist, or the
        run has no checkpoint (it has not Succeeded).
        """
        params = {**INTENT, "contents": "y"} if contents else dict(INTENT)
        path = self._outputs(run_id, ckpt)
        response = await self._transport.request("GET", path, params=params)
        if isinstance(response.data, dict) and response.data.get("kind") == "RunOutput":
            response = type(response)(
                response.status, {"items": [response.data]}, response.request_id
            )
        page: Page[Model] = decode_page(response, Page[Model])
        items = [m for m in page.items if ckpt is None or m.model_id == ckpt]
        if not items:
            what = f"checkpoint {ckpt!r}" if ckpt else "checkpoint"
            raise ViNotFoundError(
                f"Run {run_id!r} has no {what} (a run has checkpoints once it has Succeeded)",
                status=response.status,
                request_id=response.request_id,
                method="GET",
                path=path,
            )
        return items[-1]

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
    ) -> ModelDownload:
        """Download a checkpoint (the latest by default) into ``save_dir/<run_id>``.

        ``save_dir`` defaults to ``~/.datature/vi/models`` (as the official
        SDK). Already on disk with the same checkpoint and ETag, nothing is
        downloaded (``overwrite=True`` downloads again). Without
        ``overwrite``, a directory there holding another checkpoint, or files
        this SDK did not download, raises ViDownloadError before any storage
        request; its own damaged or outdated copy of this checkpoint is
        replaced. One download at a time per target: another one (in this
        process or another) waits, then reuses what the first published.
        The archive is fetched with up to
        ``workers`` concurrent ranged requests, resumed after a cancel or a
        crash, verified against the server's hash, extracted and checked,
        then renamed into place. ``progress(done_bytes, total_bytes)`` is
        called as bytes arrive. Storage, verification and archive failures
        raise ViDownloadError; nothing half-done is ever published.
        """
        check_id(run_id, "run_id")
        if ckpt is not None:
            check_id(ckpt, "ckpt")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        from .._download.downloader import ModelDownloader  # the download stack loads on first use

        downloader = ModelDownloader(
            lambda: self.get(run_id, ckpt, contents=True),
            run_id=run_id,
            save_dir=DEFAULT_SAVE_DIR if save_dir is None else Path(save_dir),
            overwrite=overwrite,
            progress=progress,
            workers=workers,
            read_timeout=self._transport.config.timeout,
        )
        return await downloader.run()
