"""vi_sync's models: list, get and download, blocking, with a progress callback."""

from __future__ import annotations

from pathlib import Path

from vi_async.local import LocalServer
from vi_sync import Client, ModelDownload


def test_sync_download(vi_server_thread: LocalServer, tmp_path: Path) -> None:
    with Client(
        secret_key=vi_server_thread.secret_key,
        organization_id=vi_server_thread.organization_id,
        endpoint=vi_server_thread.endpoint,
    ) as client:
        run = client.runs.create(
            flow={"name": "sync-model"},
            metadata={"vi-local/model-bytes": "500000"},
            wait=True,
            timeout=30,
        )
        assert [m.model_id for m in client.models.list(run.run_id).all_items()] == [
            "checkpoint_1",
            "checkpoint_2",
        ]
        assert client.models.get(run.run_id).model_id == "checkpoint_2"
        seen: list[int] = []
        result = client.get_model(
            run.run_id, save_dir=tmp_path, progress=lambda done, total: seen.append(done)
        )
        assert isinstance(result, ModelDownload) and result.model_path.is_dir()
        assert seen and seen[-1] == result.size_bytes
        assert client.models.download(run.run_id, save_dir=tmp_path).reused
