"""The command line never prints the secret key, whatever goes wrong.

``python -m vi_async`` runs against the local server (and the hostile one)
through every error path we can reach from the command line: bad ids, missing
resources, conflicts, wrong or malformed keys, another organization, a refused
connection, non-JSON answers, server faults, wait timeouts. Each command also
runs with Python logging at DEBUG on stderr. Neither stdout nor stderr may
contain the key, nor any traceback.

The commands run in the command host (``tests/cli_host.py``: one interpreter,
each command as ``python -m vi_async`` runs it); a few also run as processes
of their own, so that what only a real process prints (at exit, say) is
checked too.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import anyio
import pytest
from cli_host import clean_env, run_cli

from vi_async import FlowSpec
from vi_async.local import FaultConfig, LocalServer

from .conftest import FAKE_SECRET
from .hostile import HostileServer, raw
from .test_secrets import assert_clean
from .test_server_crash import free_port

pytestmark = pytest.mark.anyio

DEBUG_MAIN = (
    "import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr); "
    "from vi_async.cli import main; sys.exit(main(sys.argv[1:]))"
)


@dataclass
class Done:
    """A finished command."""

    args: tuple[str, ...]
    code: int
    output: str
    debug: bool


async def cli(env: dict[str, str], *args: str, debug: bool = False) -> Done:
    """Run the command line (in the command host) with ``env`` as the only Vi settings."""
    done = await run_cli(list(args), clean_env(env), debug=debug)
    return Done(args, done.code, done.out + done.err, debug)


async def cli_process(env: dict[str, str], *args: str, debug: bool = False) -> Done:
    """:func:`cli` in a process of its own."""
    command = [sys.executable, "-c", DEBUG_MAIN] if debug else [sys.executable, "-m", "vi_async"]
    with anyio.fail_after(60):
        done = await anyio.run_process([*command, *args], env=clean_env(env), check=False)
    return Done(args, done.returncode, done.stdout.decode() + done.stderr.decode(), debug)


@pytest.mark.slow  # a sweep: 22 error paths, each with and without DEBUG logging
async def test_cli_error_paths_print_no_key(vi_server: LocalServer, hostile: HostileServer) -> None:
    """Every reachable error path, with and without DEBUG logging: no key, no traceback."""
    key = vi_server.secret_key
    env = vi_server.env()
    async with vi_server.client() as client:
        flow = await client.flows.create(spec=FlowSpec(name="cli-secrets"))
        run = await client.runs.create(
            flow=flow.flow_id, metadata={"vi-local/running-seconds": "30"}
        )
    other_org, _ = await vi_server.add_organization()
    flags = (
        "--secret-key",
        key,
        "--org",
        vi_server.organization_id,
        "--endpoint",
        vi_server.endpoint,
    )
    hostile.handler = raw("<html>gateway</html>", 200, "text/html")
    refused = f"http://127.0.0.1:{free_port()}/"

    cases: list[tuple[dict[str, str], tuple[str, ...]]] = [
        (env, ("flows", "list")),
        (env, ("--json", "flows", "list")),
        (env, ("flows", "get", "missing")),
        (env, ("flows", "delete", "missing", "a/b", flow.flow_id)),
        (env, ("--json", "flows", "delete", "--on-active-run", "fail", flow.flow_id)),
        (env, ("flows", "cleanup", "--name", "nothing-*", "--yes")),
        (env, ("--json", "flows", "cleanup", "--all", "--dry-run")),
        (env, ("runs", "get", "missing")),
        (env, ("runs", "logs", "missing")),
        (env, ("runs", "wait", run.run_id, "--timeout", "0.2")),
        (env, ("runs", "kill", "missing")),
        ({}, ("flows", "list", *flags)),
        ({**env, "DATATURE_VI_SECRET_KEY": "dtvi_" + "0" * 98}, ("flows", "list")),
        ({**env, "DATATURE_VI_ORGANIZATION_ID": other_org}, ("flows", "list")),
        (
            {},
            (
                "flows",
                "list",
                "--secret-key",
                key,
                "--org",
                other_org,
                "--endpoint",
                vi_server.endpoint,
            ),
        ),
        ({**env, "DATATURE_VI_SECRET_KEY": key[:-1]}, ("flows", "list")),
        ({**env, "DATATURE_VI_SECRET_KEY": key + " "}, ("flows", "list")),
        ({}, ("flows", "list", "--secret-key", key[:-2], "--org", "o", "--endpoint", refused)),
        ({**env, "DATATURE_VI_API_ENDPOINT": refused}, ("flows", "list")),
        ({**env, "DATATURE_VI_API_ENDPOINT": hostile.endpoint}, ("flows", "get", "f1")),
        ({**env, "DATATURE_VI_API_ENDPOINT": "ftp://nowhere"}, ("flows", "list")),
        (env, ("flows", "nonsense")),
    ]
    results: list[Done] = []

    async def every_case(debug: bool) -> None:
        for case_env, args in cases:
            results.append(await cli(case_env, *args, debug=debug))

    async def in_processes() -> None:
        # Some in processes of their own: a wrong key, a non-JSON answer (a 503 below).
        for case_env, args in (cases[12], cases[19]):
            for debug in (False, True):
                results.append(await cli_process(case_env, *args, debug=debug))

    async with anyio.create_task_group() as tg:  # side by side: mostly waiting
        tg.start_soon(every_case, False)
        tg.start_soon(every_case, True)
        tg.start_soon(in_processes)
    vi_server.faults = FaultConfig(error_503_rate=1.0, retry_after=0.01)
    for debug in (False, True):
        results.append(await cli(env, "flows", "list", debug=debug))
        results.append(await cli(env, "flows", "delete", flow.flow_id, debug=debug))
    results.append(await cli_process(env, "flows", "list", debug=True))
    results.append(await cli_process(env, "flows", "list", debug=False))
    vi_server.faults = FaultConfig()
    async with vi_server.client() as client:
        await client.runs.kill(run.run_id)

    assert any(r.code != 0 for r in results) and any(r.code == 0 for r in results)
    debug_output = "".join(r.output for r in results if r.debug)
    assert "DEBUG" in debug_output  # logging really was on
    for result in results:
        assert "Traceback" not in result.output, (result.args, result.output[-2000:])
        assert_clean(result.output, key, FAKE_SECRET)


INVALID_ID_COMMANDS = [
    ("flows", "get", "a/b"),
    ("runs", "get", "a/b"),
    ("runs", "logs", ".."),
    ("runs", "kill", "a b"),
    ("runs", "wait", "%2F"),
    ("runs", "create", "a/b"),
    ("runs", "delete", ""),
]


async def test_cli_invalid_ids_fail_cleanly(vi_server: LocalServer) -> None:
    """An invalid id on the command line is a one-line error, not a traceback."""
    failures = []
    for args in INVALID_ID_COMMANDS:
        done = await cli(vi_server.env(), *args)
        assert done.code != 0
        assert_clean(done.output, vi_server.secret_key)
        if "Traceback" in done.output:
            failures.append(args)
    assert failures == []
    assert sum(vi_server.request_counts.values()) == 0  # nothing was sent
