"""The proxy's password and the API key appear nowhere: not in DEBUG logs, errors, reprs,
hook arguments or spans, whether the exchange through the proxy worked or failed."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from network_support import PROXY_PASSWORD, PROXY_USER, ForwardProxy, succeeded_run
from observability.obs_support import Spans, instrumented, texts
from reliability.leaks import assert_clean, error_texts
from reliability.test_secrets import Recorder

from vi_async import ViError, ViProxyError, ViTLSError
from vi_async.local import LocalServer

pytestmark = pytest.mark.anyio
WRONG_PASSWORD = "Wr0ng-Pa55word-abc"


@pytest.fixture
def recorder(caplog: pytest.LogCaptureFixture) -> Iterator[Recorder]:
    """Every record at DEBUG, from every logger."""
    caplog.set_level(logging.DEBUG)
    handler = Recorder()
    logging.getLogger().addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)


@pytest.fixture
def spans() -> Iterator[Spans]:
    """vi_async instrumented into an in-memory exporter."""
    yield from instrumented()


async def _failure(server: LocalServer, seen: list[Any], **settings: Any) -> ViError:
    """The error of one listing with ``settings``, its hooks recorded in ``seen``."""
    hooks = {"request": [seen.append], "response": [seen.append]}
    async with server.client(event_hooks=hooks, max_retries=0, tracing=True, **settings) as client:
        seen.append(repr(client))
        with pytest.raises(ViError) as caught:
            await client.flows.list()
    return caught.value


async def test_proxy_password_and_key_appear_nowhere(
    vi_server: LocalServer,
    forward_proxy: ForwardProxy,
    recorder: Recorder,
    spans: Spans,
    monkeypatch: Any,
    tmp_path: Path,
) -> None:
    seen: list[Any] = []
    hooks = {"request": [seen.append], "response": [seen.append]}
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url())
    async with vi_server.client(event_hooks=hooks, tracing=True) as client:
        seen += [repr(client), repr(client._transport), repr(client._transport.network)]
        run_id = await succeeded_run(client)
        await client.models.download(run_id, save_dir=tmp_path)
        seen.append(repr(client._transport._proxy))
    errors = [await _failure(vi_server, seen, proxy=forward_proxy.url(password=WRONG_PASSWORD))]
    errors.append(await _failure(vi_server, seen, proxy=f"http://u:{PROXY_PASSWORD}@127.0.0.1:1"))
    async with LocalServer(tls=True) as tls_server:
        monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url())
        errors.append(await _failure(tls_server, seen, verify=True))
        monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url(password=WRONG_PASSWORD))
        errors.append(await _failure(tls_server, seen))
    assert [type(e) for e in errors] == [ViProxyError, ViProxyError, ViTLSError, ViProxyError]
    shown = [*recorder.lines, *map(error_texts, errors), *texts(seen)]
    shown += [repr(s.attributes) + repr(s.events) + s.name for s in spans.all()]
    assert len(spans.all()) > 5 and any("DEBUG" in line for line in recorder.lines)
    everything = "\n".join(shown)
    for password in (PROXY_PASSWORD, WRONG_PASSWORD):
        token = base64.b64encode(f"{PROXY_USER}:{password}".encode()).decode()
        assert password not in everything and token not in everything
    assert_clean(everything, vi_server.secret_key)
