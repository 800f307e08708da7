"""What a downloaded model's ``run.json`` says about it: task type and architecture.

Guarantee: reading never fails a download that was verified and extracted; a
missing, oversized, malformed or differently shaped ``run.json`` gives None for
what it does not state. The two places the official inference code reads are
both honoured: ``flow.spec`` (``task_type``, ``model.name``: its ``model_info``)
and ``spec.flow``, the run's FlowSpec (the model block's
``settings.architecture.name`` and a dataset block's ``projectKind``: its loaders).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAX_RUN_CONFIG_BYTES = 16 * 1024 * 1024


def _get(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _block(flow: Any, word: str) -> dict[str, Any] | None:
    """The first block whose name contains ``word``, as the official loaders pick it."""
    blocks = _get(flow, "blocks")
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, dict) and word in str(block.get("block", "")):
            return block
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def read_run_config(path: Path) -> tuple[str | None, str | None]:
    """The task type and architecture a model's ``run.json`` states.

    Args:
        path: The ``model_full/run.json`` file.

    Returns:
        ``(task_type, architecture)``, each None when not stated.
    """
    try:
        if path.stat().st_size > MAX_RUN_CONFIG_BYTES:
            return None, None
        config = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None, None
    summary = _get(config, "flow", "spec")
    flow = _get(config, "spec", "flow")
    task = _text(_get(summary, "task_type")) or _text(
        _get(_block(flow, "dataset"), "settings", "projectKind")
    )
    architecture = _text(_get(_block(flow, "model"), "settings", "architecture", "name")) or _text(
        _get(summary, "model", "name")
    )
    return task, architecture
