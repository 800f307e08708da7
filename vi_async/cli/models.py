"""The ``models`` commands: list a run's checkpoints, download one with a progress bar."""

from __future__ import annotations

import argparse

from .._client import Client
from ..models import PaginationParams
from . import output as term
from .common import Command, Context, print_items
from .terminal import echo


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: list[argparse.ArgumentParser]
) -> None:
    """``models list RUN_ID`` and ``models download RUN_ID [--ckpt ID] [--dir DIR]``."""
    models = sub.add_parser("models", help="list and download run checkpoints").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = models.add_parser("list", parents=common, help="list a run's checkpoints, oldest first")
    p.add_argument("run_id", help="the run's id")
    p = models.add_parser(
        "download",
        parents=common,
        help="download a checkpoint (default: the latest) into DIR/RUN_ID",
        description="Download, verify and extract a checkpoint; resumes an interrupted "
        "download, and does nothing when it is already on disk.",
    )
    p.add_argument("run_id", help="the run's id")
    p.add_argument("--ckpt", default=None, help="checkpoint id (default: the latest)")
    p.add_argument("--dir", default=None, help="save directory (default ~/.datature/vi/models)")
    p.add_argument("--overwrite", action="store_true", help="download even if already on disk")


async def models_list(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``models list RUN_ID``."""
    pager = client.models.list(args.run_id, pagination=PaginationParams(page_size=100))
    await print_items(pager.all_items(), ctx, None, term.MODEL_VIEW)
    return 0


async def models_download(client: Client, args: argparse.Namespace, ctx: Context) -> int:
    """``models download RUN_ID [--ckpt ID] [--dir DIR]``."""
    bar = term.ProgressBar("downloading", fmt=term.megabytes)
    try:
        result = await client.models.download(
            args.run_id,
            ckpt=args.ckpt,
            save_dir=args.dir,
            overwrite=args.overwrite,
            progress=lambda done, total: bar.update(done, total, force=done == total),
        )
    finally:
        bar.close()
    if ctx.json:
        term.dump(
            {
                "runId": result.checkpoint.run_id,
                "checkpoint": result.checkpoint.model_id,
                "modelDir": str(result.model_dir),
                "modelPath": str(result.model_path),
                "adapterPath": None if result.adapter_path is None else str(result.adapter_path),
                "runConfigPath": str(result.run_config_path),
                "sizeBytes": result.size_bytes,
                "sha256": result.sha256,
                "reused": result.reused,
                "files": result.files,
            }
        )
    else:
        echo(result.summary())
    return 0


MODEL_COMMANDS: dict[tuple[str, str], Command] = {
    ("models", "list"): models_list,
    ("models", "download"): models_download,
}
