"""``python -m vi_async.local`` as a subprocess: banner, a real request, clean SIGINT exit."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from vi_async.local.admin import ADMIN_HEADER
from vi_async.local.cli import ADMIN_TOKEN_ENV, read_banner

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGINT")


def _start(
    db: Path, *extra: str, banner: list[str] | None = None
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vi_async.local", "--port", "0", "--db", str(db), *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines = (banner.append(line) or line for line in proc.stdout) if banner is not None else None
    exports = read_banner(lines or proc.stdout)
    if exports is None:
        proc.kill()
        raise AssertionError(proc.communicate()[1])
    return proc, exports


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> int:
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    assert "Traceback" not in err, err
    return proc.returncode


def test_cli_serves_and_stops_on_sigint(tmp_path: Path) -> None:
    db = tmp_path / "cli.sqlite"
    proc, env = _start(db, "--pending-seconds", "0", "--running-seconds", "0", "--faults", "seed=3")
    try:
        endpoint = env["DATATURE_VI_API_ENDPOINT"]
        org = env["DATATURE_VI_ORGANIZATION_ID"]
        key = env["DATATURE_VI_SECRET_KEY"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", endpoint)
        assert not endpoint.endswith(":0/")
        assert key.startswith("dtvi_") and len(key) == 103
        request = urllib.request.Request(
            f"{endpoint}workspaces/{org}/runs/cli-run",
            method="PUT",
            data=json.dumps({"spec": {"flow": {"name": "cli"}}}).encode(),
            headers={
                "Authorization": f"Bearer {key}",
                "Organization-Id": org,
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            run = json.load(resp)
        assert resp.status == 201
        assert run["status"]["conditions"][-1]["condition"] == "Succeeded"
        _check_admin_token(endpoint, env[ADMIN_TOKEN_ENV])
    finally:
        code = _stop(proc)
    assert code == 0

    # A restart on the same database prints the same credentials.
    proc, again = _start(db)
    assert _stop(proc, signal.SIGTERM) == 0
    assert again["DATATURE_VI_ORGANIZATION_ID"] == org
    assert again["DATATURE_VI_SECRET_KEY"] == key


def test_cli_strict_serves_only_the_vi_wire(tmp_path: Path) -> None:
    banner: list[str] = []
    seed = ("--seed-flows", "3", "--seed-prefix", "nightly-", "--seed-age-days", "10")
    proc, env = _start(
        tmp_path / "s.sqlite", "--strict", "--pending-seconds", "0", *seed, banner=banner
    )
    try:
        assert "(strict dialect)" in banner[0]
        # The banner confirms what --seed-flows made.
        assert "Seeded 3 flows: nightly-0 .. nightly-2, created 10 days ago\n" in banner
        base = f"{env['DATATURE_VI_API_ENDPOINT']}workspaces/{env['DATATURE_VI_ORGANIZATION_ID']}"
        auth = {
            "Authorization": f"Bearer {env['DATATURE_VI_SECRET_KEY']}",
            "Organization-Id": env["DATATURE_VI_ORGANIZATION_ID"],
            "Content-Type": "application/json",
        }
        body = json.dumps({"spec": {"flow": {"name": "cli"}}}).encode()
        create = urllib.request.Request(f"{base}/runs/r1", method="PUT", data=body, headers=auth)
        with urllib.request.urlopen(create, timeout=10) as resp:
            assert "flowId" not in json.load(resp)["status"]
        logs = urllib.request.Request(f"{base}/runs/r1/logs?tail=0", headers=auth)
        with urllib.request.urlopen(logs, timeout=10) as resp:
            page = json.load(resp)
        assert set(page) == {"kind", "runId", "items"} and page["items"]  # tail is ignored
        assert set(page["items"][0]) == {"timestamp", "block", "level", "message"}
        gone = urllib.request.Request(
            f"{base}/runs/r1", method="DELETE", headers={**auth, "Idempotency-Key": "k1"}
        )
        with urllib.request.urlopen(gone, timeout=10) as resp:
            assert resp.status == 204 and "Idempotency-Key" not in resp.headers
    finally:
        assert _stop(proc) == 0


def _check_admin_token(endpoint: str, token: str) -> None:
    """The banner's admin token unlocks the /_local/ routes; nothing else does."""
    for headers, expected in (({}, 401), ({ADMIN_HEADER: token}, 200)):
        request = urllib.request.Request(f"{endpoint}_local/stats", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        assert status == expected


def test_cli_takes_an_admin_token(tmp_path: Path) -> None:
    token = "my-admin-token-0123456789"
    proc, env = _start(tmp_path / "token.sqlite", "--admin-token", token)
    try:
        assert env[ADMIN_TOKEN_ENV] == token
        _check_admin_token(env["DATATURE_VI_API_ENDPOINT"], token)
    finally:
        assert _stop(proc) == 0


def test_cli_rejects_bad_faults() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vi_async.local", "--faults", "503=2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 2
    assert "faults" in result.stderr
