"""Loggers per part of the SDK, repeated warnings collapsed, hints as warnings.

``vi_async.transport``, ``vi_async.download`` and ``vi_async.runs`` sit below
``vi_async``, so a handler or a level set there covers them all and each part can
be tuned alone. A warning that repeats for one cause (a spent retry budget under
a failing server) is logged once per client, then counted; the count is logged
when the client closes.
"""

from __future__ import annotations

import logging

import pytest

from vi_async import ViServerError
from vi_async._download import downloader
from vi_async._download.hashes import PURE_CRC32C_LIMIT
from vi_async._download.storage import BlobInfo
from vi_async._http.retry import RetryQuota
from vi_async.local import FaultConfig, LocalServer

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("vi_dialect", ["extended"])
async def test_a_spent_retry_budget_is_one_warning_then_a_count(
    vi_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    vi_server.faults = FaultConfig(error_503_rate=1.0, retry_after=0.001)
    caplog.set_level(logging.DEBUG, logger="vi_async")
    async with vi_server.client(retry_base_delay=0.001) as client:
        client._transport.quota = RetryQuota(10)  # two retries' worth, then spent
        for _ in range(12):
            with pytest.raises(ViServerError):
                await client.flows.get("down")
        spent = [r for r in caplog.records if "retry budget exhausted" in r.getMessage()]
        assert len(spent) >= 5  # every call after the first few found the budget spent
        assert [r.levelno for r in spent].count(logging.WARNING) == 1
        assert {r.name for r in spent} == {"vi_async.transport"}
    summary = [r for r in caplog.records if r.getMessage().endswith("times in all")]
    expected = f"retry budget exhausted {len(spent)} times in all"
    assert [r.getMessage() for r in summary] == [expected]
    assert summary[0].levelno == logging.WARNING


def test_each_part_logs_below_vi_async() -> None:
    from vi_async._download import lock, ranges
    from vi_async._http import transport
    from vi_async._runs import logs, poller

    names = {m.logger.name for m in (transport, downloader, lock, ranges, logs, poller)}
    assert names == {"vi_async.transport", "vi_async.download", "vi_async.runs"}


def test_a_download_that_cannot_be_verified_is_a_warning_not_a_log_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(downloader, "has_fast_crc32c", lambda: False)  # as if not installed
    info = BlobInfo(size=PURE_CRC32C_LIMIT + 1, etag="e", md5=None, crc32c=b"1234")
    with pytest.warns(RuntimeWarning, match=r"pip install 'vi-async\[fast\]'"):
        assert downloader._hash_names(info) == ["sha256"]
