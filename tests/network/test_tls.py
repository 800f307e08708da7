"""TLS: the local server over HTTPS with a CA made at start-up, and every client that trusts it.

The right CA works (``verify=`` a path or an SSLContext, ``SSL_CERT_FILE``; async,
sync, the CLI, the official client); no CA fails at once with ViTLSError after
one attempt; ``verify=False`` works and warns once per client.
"""

from __future__ import annotations

import logging
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from network_support import credentials, succeeded_run

import vi_sync
from vi_async import Client, ViConfigError, ViConnectionError, ViTLSError
from vi_async._http.network import INSECURE_WARNING
from vi_async.local import LocalServer
from vi_async.local.cli import read_banner

pytestmark = pytest.mark.anyio


async def test_the_servers_ca_is_trusted_with_verify_a_path(
    tls_server: LocalServer, tmp_path: Path
) -> None:
    assert tls_server.endpoint.startswith("https://127.0.0.1:")
    assert tls_server.ca_path is not None and "BEGIN CERTIFICATE" in _read(tls_server.ca_path)
    async with Client(**credentials(tls_server), verify=tls_server.ca_path) as client:
        flow = await client.flows.create(spec={"name": "over-tls"})
        assert (await client.flows.get(flow.flow_id)).spec.name == "over-tls"
        run_id = await succeeded_run(client)
        result = await client.models.download(run_id, save_dir=tmp_path)  # https storage too
    assert result.model_path.exists()
    assert sum(tls_server.storage_stats.requests.values()) > 0


@pytest.mark.parametrize("vi_dialect", ["extended"])
async def test_ssl_cert_file_and_an_ssl_context_are_trusted(
    tls_server: LocalServer, monkeypatch: Any
) -> None:
    assert tls_server.ca_path is not None
    context = ssl.create_default_context(cafile=tls_server.ca_path)
    async with Client(**credentials(tls_server), verify=context) as client:
        await client.flows.list()
    monkeypatch.setenv("SSL_CERT_FILE", tls_server.ca_path)
    async with Client(**credentials(tls_server)) as client:
        await client.flows.list()


async def test_without_the_ca_it_fails_at_once_with_a_tls_error(tls_server: LocalServer) -> None:
    attempts: list[Any] = []
    hooks = {"request": [attempts.append]}
    async with Client(**credentials(tls_server), event_hooks=hooks) as client:
        with anyio.fail_after(5), pytest.raises(ViTLSError) as caught:
            await client.flows.list()
    error = caught.value
    assert isinstance(error, ViConnectionError)
    assert len(attempts) == 1  # a certificate that did not verify is not retried
    assert f"127.0.0.1:{tls_server.port}" in str(error)
    assert "unable to get local issuer certificate" in str(error)  # OpenSSL's reason
    assert sum(tls_server.request_counts.values()) == 0


async def test_verify_false_works_and_warns_once_per_client(
    tls_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vi_async")
    async with Client(**credentials(tls_server), verify=False) as client:
        for _ in range(3):
            await client.flows.list()
    warnings = [r for r in caplog.records if r.getMessage() == INSECURE_WARNING]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


def test_the_sync_client_takes_the_same_options(tls_server_thread: LocalServer) -> None:
    server = tls_server_thread
    with vi_sync.Client(**credentials(server), verify=server.ca_path) as client:
        client.flows.create(spec={"name": "sync-tls"})
        assert [f.spec.name for f in client.flows.list().items] == ["sync-tls"]
    with vi_sync.Client(**credentials(server)) as client, pytest.raises(vi_sync.ViTLSError):
        client.flows.list().items  # noqa: B018 (the first page is fetched when read)


@pytest.mark.parametrize("vi_dialect", ["extended"])
def test_the_official_client_trusts_the_ca_through_ssl_cert_file(
    tls_server_thread: LocalServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    vi = pytest.importorskip("vi")
    config = pytest.importorskip("vi.logging.config")
    server = tls_server_thread
    assert server.ca_path is not None
    monkeypatch.setenv("SSL_CERT_FILE", server.ca_path)
    quiet = config.LoggingConfig(enable_file=False, enable_console=False)
    with vi.Client(**credentials(server), logging_config=quiet) as official:
        flow = official.flows.create(spec={"name": "official-tls", "blocks": [], "settings": {}})
        assert official.flows.get(flow.flow_id).spec.name == "official-tls"


@pytest.mark.parametrize("vi_dialect", ["extended"])
async def test_the_cli_takes_ca_bundle_and_insecure(tls_server: LocalServer) -> None:
    env = {k: v for k, v in tls_server.env().items() if k != "SSL_CERT_FILE"}
    assert tls_server.ca_path is not None
    trusted = await _cli(env, "--ca-bundle", tls_server.ca_path)
    assert trusted.returncode == 0, trusted.stderr
    insecure = await _cli(env, "--insecure")
    assert insecure.returncode == 0 and b"not verified" in insecure.stderr
    refused = await _cli(env)
    assert refused.returncode == 1 and b"did not verify" in refused.stderr


async def _cli(env: dict[str, str], *options: str) -> Any:
    """``python -m vi_async flows list --json`` with ``options``, in ``env``."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("DATATURE_VI_")}
    return await anyio.run_process(
        [sys.executable, "-m", "vi_async", "flows", "list", "--json", *options],
        env={**full, **env},
        check=False,
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"verify": "/no/such/ca.pem"}, "no CA bundle at"),
        ({"verify": 3}, "verify must be"),
        ({"cert": "/no/such/client.pem"}, "no file at"),
        ({"proxy": "socks5://user:hunter2pw@proxy:1080"}, "http:// or https:// proxy URL"),
        ({"trust_env": "yes"}, "trust_env must be"),
        ({"read_timeout": 0}, "read_timeout must be a positive number"),
    ],
)
def test_bad_network_settings_fail_before_any_request(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ViConfigError, match=message) as caught:
        Client(secret_key="dtvi_" + "k" * 98, organization_id="org", **settings)
    assert "hunter2pw" not in str(caught.value)


def test_a_bad_environment_proxy_names_the_variable_not_its_value(monkeypatch: Any) -> None:
    monkeypatch.setenv("HTTP_PROXY", "ftp://user:hunter2pw@proxy:21")
    with pytest.raises(ViConfigError, match="HTTP_PROXY") as caught:
        Client(secret_key="dtvi_" + "k" * 98, organization_id="org")
    assert "hunter2pw" not in str(caught.value)
    Client(secret_key="dtvi_" + "k" * 98, organization_id="org", trust_env=False)


def _read(path: str) -> str:
    return Path(path).read_text()


def test_python_m_vi_async_local_tls_prints_the_ca_to_trust() -> None:
    command = [sys.executable, "-m", "vi_async.local", "--tls", "--port", "0", "--db", ":memory:"]
    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", "")}
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    with subprocess.Popen(command, env=env, text=True, **pipes) as proc:  # type: ignore[call-overload]
        assert proc.stdout is not None
        banner: list[str] = []
        exports = read_banner(banner.append(line) or line for line in proc.stdout)
        assert exports is not None, proc.stderr.read() if proc.stderr else ""
        exports.update(
            line.strip().removeprefix("export ").split("=", 1)
            for line in banner
            if line.startswith("export SSL_CERT_FILE=")
        )
        assert exports["DATATURE_VI_API_ENDPOINT"].startswith("https://127.0.0.1:")
        assert any(line.startswith("CA certificate") for line in banner)
        with vi_sync.Client(
            endpoint=exports["DATATURE_VI_API_ENDPOINT"],
            organization_id=exports["DATATURE_VI_ORGANIZATION_ID"],
            secret_key=exports["DATATURE_VI_SECRET_KEY"],
            verify=exports["SSL_CERT_FILE"],
        ) as client:
            assert client.flows.list().items == []
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    assert not Path(exports["SSL_CERT_FILE"]).exists()  # removed when the server stopped
