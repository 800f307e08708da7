"""``vi-async models list|download``, and the byte progress bar."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from cli_support import cli

from vi_async import Client
from vi_async.cli.output import ProgressBar, megabytes
from vi_async.local import LocalServer

pytestmark = pytest.mark.anyio


async def test_models_list_and_download(
    vi_server: LocalServer, vi_client: Client, tmp_path: Path
) -> None:
    run = await vi_client.runs.create(
        flow={"name": "cli-model"}, metadata={"vi-local/model-bytes": "400000"}, wait=True
    )
    listed = await cli(vi_server, "models", "list", run.run_id)
    assert listed.code == 0 and "checkpoint_1" in listed.out and "checkpoint_2" in listed.out
    as_json = await cli(vi_server, "models", "list", run.run_id, "--json")
    assert [m["runOutputId"] for m in as_json.json()] == ["checkpoint_1", "checkpoint_2"]

    done = await cli(
        vi_server, "models", "download", run.run_id, "--ckpt", "checkpoint_1",
        "--dir", str(tmp_path), "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    result = done.json()
    assert result["checkpoint"] == "checkpoint_1" and not result["reused"]
    assert Path(result["modelPath"], "model.safetensors").is_file()  # noqa: ASYNC240
    again = await cli(vi_server, "models", "download", run.run_id, "--ckpt", "checkpoint_1",
                      "--dir", str(tmp_path))  # fmt: skip
    assert again.code == 0 and "already on disk" in again.out
    # stderr is not a terminal: no bar, no control characters
    assert not any(c in done.err + again.err for c in "\r\x1b"), (done.err, again.err)
    other = await cli(vi_server, "models", "download", run.run_id, "--dir", str(tmp_path))
    assert other.code == 1 and "--overwrite" in other.err and "checkpoint_1" in other.err
    replaced = await cli(vi_server, "models", "download", run.run_id, "--dir", str(tmp_path),
                         "--overwrite", "--json")  # fmt: skip
    assert replaced.code == 0 and replaced.json()["checkpoint"] == "checkpoint_2"
    assert not any(c in replaced.err for c in "\r\x1b")
    missing = await cli(vi_server, "models", "download", "no-such-run", "--dir", str(tmp_path))
    assert missing.code == 1 and "error" in missing.err


def test_byte_progress_bar() -> None:
    out = io.StringIO()
    bar = ProgressBar("downloading", stream=out, enabled=True, fmt=megabytes)
    bar.update(1_500_000, 3_000_000, force=True)
    bar.close()
    assert "1.5 MB/3.0 MB" in out.getvalue() and "MB/s" in out.getvalue()


def test_progress_bar_silent_off_a_terminal() -> None:
    out = io.StringIO()  # not a terminal
    bar = ProgressBar("downloading", stream=out, fmt=megabytes)
    bar.update(1_500_000, 3_000_000, force=True)
    bar.close()
    assert out.getvalue() == ""
