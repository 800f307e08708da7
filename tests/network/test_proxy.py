"""Proxies: a real forward proxy (proxy.py) on loopback, configured as users configure it.

The proxy's own request log (``ForwardProxy.since``) proves which requests went
through it: every API call and every storage request of a model download, when
the environment names it; none when ``NO_PROXY`` names the host or ``trust_env``
is off. Wrong credentials and a dead proxy are ViProxyErrors that say so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from network_support import PROXY_PASSWORD, ForwardProxy, credentials, succeeded_run

from vi_async import Client, ViConnectionError, ViProxyError
from vi_async.local import LocalServer

pytestmark = pytest.mark.anyio


def _attempts() -> tuple[list[Any], dict[str, list[Any]]]:
    """A list the request hook appends to, and the ``event_hooks`` argument."""
    seen: list[Any] = []
    return seen, {"request": [seen.append]}


def _to(server: LocalServer, lines: list[str]) -> list[str]:
    """The forwarded requests addressed to ``server``."""
    return [line for line in lines if f"127.0.0.1:{server.port}" in line.split()[1]]


async def test_every_api_call_and_the_download_go_through_the_environments_proxy(
    vi_server: LocalServer, forward_proxy: ForwardProxy, monkeypatch: Any, tmp_path: Path
) -> None:
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url())
    vi_server.reset_counts()
    mark = forward_proxy.mark()
    async with vi_server.client() as client:
        run_id = await succeeded_run(client)
        result = await client.models.download(run_id, save_dir=tmp_path)
        await client.flows.list()
    assert result.size_bytes > 0
    seen = _to(vi_server, forward_proxy.since(mark))
    api = [line for line in seen if " /workspaces/" in line]
    storage = [line for line in seen if " /_storage/" in line]
    assert len(api) == sum(vi_server.request_counts.values()) > 3
    assert len(storage) == sum(vi_server.storage_stats.requests.values()) > 0
    assert len(api) + len(storage) == len(seen)


@pytest.mark.parametrize("case", [str.upper, str.lower], ids=["upper", "lower"])
async def test_no_proxy_bypasses_the_proxy(
    vi_server: LocalServer, forward_proxy: ForwardProxy, monkeypatch: Any, case: Any
) -> None:
    monkeypatch.setenv(case("http_proxy"), forward_proxy.url())
    monkeypatch.setenv(case("no_proxy"), "example.com,127.0.0.1")
    mark = forward_proxy.mark()
    async with vi_server.client() as client:
        await client.flows.create(spec={"name": "direct"})
        assert len((await client.flows.list()).items) == 1
    assert forward_proxy.since(mark) == []


async def test_all_proxy_is_used_when_no_scheme_variable_is_set(
    vi_server: LocalServer, forward_proxy: ForwardProxy, monkeypatch: Any
) -> None:
    monkeypatch.setenv("ALL_PROXY", forward_proxy.url())
    mark = forward_proxy.mark()
    async with vi_server.client() as client:
        await client.flows.list()
    assert len(_to(vi_server, forward_proxy.since(mark))) == 1


async def test_trust_env_false_ignores_the_variables(
    vi_server: LocalServer, forward_proxy: ForwardProxy, monkeypatch: Any
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")  # would fail if used
    async with vi_server.client(trust_env=False) as client:
        await client.flows.list()


async def test_an_explicit_proxy_wins_over_the_environment(
    vi_server: LocalServer, forward_proxy: ForwardProxy, monkeypatch: Any
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    monkeypatch.setenv("NO_PROXY", "*")
    mark = forward_proxy.mark()
    async with vi_server.client(proxy=forward_proxy.url()) as client:
        await client.flows.list()
    assert len(_to(vi_server, forward_proxy.since(mark))) == 1


@pytest.mark.parametrize(
    ("tls", "variable"), [(False, "HTTP_PROXY"), (True, "HTTPS_PROXY")], ids=["request", "tunnel"]
)
async def test_a_wrong_proxy_password_is_a_proxy_error_sent_once(
    forward_proxy: ForwardProxy, monkeypatch: Any, vi_dialect: str, tls: bool, variable: str
) -> None:
    """Through a plain-http request the proxy's 407 is an answer; to https, CONNECT's."""
    monkeypatch.setenv(variable, forward_proxy.url(password="wrong-pw-123"))
    attempts, hooks = _attempts()
    async with LocalServer(strict=vi_dialect == "strict", tls=tls) as server:
        async with server.client(event_hooks=hooks) as client:
            with pytest.raises(ViProxyError, match=r"proxy .* refused the request: 407") as caught:
                await client.flows.list()
        assert sum(server.request_counts.values()) == 0
    error = caught.value
    assert isinstance(error, ViConnectionError)
    assert error.status == 407 and len(attempts) == 1
    assert "wrong-pw-123" not in str(error) + repr(error)


async def test_a_dead_proxy_is_a_proxy_error(vi_server: LocalServer, monkeypatch: Any) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://user:{PROXY_PASSWORD}@127.0.0.1:1")
    async with vi_server.client(max_retries=0) as client:
        with pytest.raises(ViProxyError, match=r"Cannot connect to the proxy 127\.0\.0\.1:1"):
            await client.flows.list()


async def test_behind_an_authenticating_proxy_with_a_private_ca_everything_works(
    tls_server: LocalServer, forward_proxy: ForwardProxy, monkeypatch: Any, tmp_path: Path
) -> None:
    """The user's case: HTTPS_PROXY with credentials and SSL_CERT_FILE, nothing else."""
    assert tls_server.ca_path is not None
    monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url())
    monkeypatch.setenv("SSL_CERT_FILE", tls_server.ca_path)
    mark = forward_proxy.mark()
    async with Client(**credentials(tls_server)) as client:
        run_id = await succeeded_run(client)
        result = await client.models.download(run_id, save_dir=tmp_path)
    assert result.model_path.exists()
    tunnels = _to(tls_server, forward_proxy.since(mark))
    assert tunnels and all(line.startswith("CONNECT ") for line in tunnels)
    assert all(line.endswith("auth=Basic") for line in tunnels)  # the key never reaches it
    assert len(tunnels) >= 2  # the API session's, and the storage session's
