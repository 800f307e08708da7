"""``runs create --wait`` / ``runs watch`` when the server dies: told once on stderr, exit 1."""

from __future__ import annotations

import argparse

import pytest
from aiohttp import web
from reliability.conftest import hostile_client
from reliability.hostile import HostileServer, hang_up, run_doc

from vi_async import ViConnectionError
from vi_async.cli.common import Context
from vi_async.cli.main import EXIT_FAILED, build_parser
from vi_async.cli.runs import RUN_COMMANDS

pytestmark = pytest.mark.anyio

RUNNING = [{"condition": "Running", "status": "Reached", "lastTransitionTime": 1}]


@pytest.mark.parametrize(
    "argv", [["runs", "create", "flow-1", "--wait"], ["runs", "watch", "r1", "--interval", "0.05"]]
)
async def test_a_dead_server_is_said_once_then_the_command_gives_up(
    hostile: HostileServer, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        if "/flows/" in request.path:
            return web.json_response({"kind": "Flow", "flowId": "flow-1", "spec": {"name": "f"}})
        if request.method == "PUT":
            return web.json_response(run_doc(request.path.rsplit("/", 1)[-1], RUNNING))
        return await hang_up(request, server)  # the server died after the create

    hostile.handler = handle
    args: argparse.Namespace = build_parser().parse_args(argv)
    async with hostile_client(hostile, retry_deadline=0.5, retry_base_delay=0.01) as client:
        # main() turns any ViError into this exit code (tests/cli/test_cli_exits.py).
        with pytest.raises(ViConnectionError, match="has not answered"):
            await RUN_COMMANDS[("runs", argv[1])](client, args, Context())
    assert EXIT_FAILED == 1
    err = capsys.readouterr().err
    assert err.count("vi-async: the server is unreachable") == 1, err
    assert "retrying for up to 0.5s" in err
