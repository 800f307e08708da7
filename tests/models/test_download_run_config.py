"""ModelDownload.task_type / .architecture: what the model's run.json states."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vi_async import Client, RunPhase
from vi_async._download.run_config import read_run_config
from vi_async.local import LocalServer

MODEL_BLOCK = {"block": "model", "settings": {"architecture": {"name": "qwen25vl"}}}


@pytest.mark.anyio
@pytest.mark.vi_clock("manual")
@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ([], ("phrase-grounding", "vi-local-tiny")),
        ([MODEL_BLOCK], ("phrase-grounding", "qwen25vl")),
    ],
)
async def test_download_reads_task_type_and_architecture(
    vi_server: LocalServer,
    vi_client: Client,
    tmp_path: Path,
    blocks: list[dict[str, object]],
    expected: tuple[str, str],
) -> None:
    run = await vi_client.runs.create(
        flow={"name": "typed", "blocks": blocks}, metadata={"vi-local/model-bytes": "8192"}
    )
    vi_server.set_run(run.run_id, RunPhase.SUCCEEDED)
    result = await vi_client.models.download(run.run_id, save_dir=tmp_path)
    assert (result.task_type, result.architecture) == expected
    again = await vi_client.models.download(run.run_id, save_dir=tmp_path)
    assert again.reused and (again.task_type, again.architecture) == expected
    assert expected[1] in result.summary()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"not json", (None, None)),
        (b"[1, 2]", (None, None)),
        (b'{"flow": {"spec": {"task_type": 3, "model": "x"}}}', (None, None)),
        (
            json.dumps(
                {
                    "spec": {
                        "flow": {
                            "blocks": [
                                {"block": "dataset", "settings": {"projectKind": "vqa"}},
                                {"block": "model", "settings": {"architecture": {"name": "a"}}},
                            ]
                        }
                    },
                    "flow": {"spec": {"model": {"name": "b"}}},
                }
            ).encode(),
            ("vqa", "a"),
        ),
        (b'{"flow": {"spec": {"task_type": "t", "model": {"name": "m"}}}}', ("t", "m")),
    ],
)
def test_read_run_config_never_fails(
    tmp_path: Path, content: bytes, expected: tuple[str | None, str | None]
) -> None:
    path = tmp_path / "run.json"
    path.write_bytes(content)
    assert read_run_config(path) == expected
    assert read_run_config(tmp_path / "missing.json") == (None, None)
