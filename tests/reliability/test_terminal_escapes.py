"""Escape sequences from a server never reach the terminal raw (issue 24, item 4).

A flow named ``evil\\x1b]0;TITLE\\x07\\x1b[2J`` (retitle the window, clear the
screen) or carrying OSC 52 (write the clipboard) is listed by ``flows list``,
``runs list`` and ``runs watch``; a hostile server sends the same in a log
line (``runs logs``) and in an error message. On a pipe no control character
reaches stdout or stderr; on a terminal (a pty) no escape sequence but rich's
own does. ``--json`` output stays as the JSON encoder escapes it.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import anyio
import pytest
from cli_host import run_on_terminal

from vi_async import FlowSpec
from vi_async.local import LocalServer

from .conftest import FAKE_SECRET
from .hostile import HostileServer, as_json, page_doc, run_doc

pytestmark = pytest.mark.anyio

TITLE = "evil\x1b]0;TITLE\x07\x1b[2J"
CLIPBOARD = "x\x1b]52;c;cm0gLXJmIH4=\x07\x9b31m"
ESCAPED_TITLE = "evil\\x1b]0;TITLE\\x07\\x1b[2J"
LONG_RUN = {"vi-local/pending-seconds": "0", "vi-local/running-seconds": "60"}
RAW = ("\x1b]", "\x07", "\x1b[2J", "\x9b")


def _env(endpoint: str, org: str, key: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATATURE_VI_API_ENDPOINT=endpoint,
        DATATURE_VI_ORGANIZATION_ID=org,
        DATATURE_VI_SECRET_KEY=key,
    )
    return env


async def _pipe(env: dict[str, str], *args: str) -> str:
    """stdout and stderr of the command on pipes."""
    done = await anyio.run_process([sys.executable, "-m", "vi_async", *args], env=env, check=False)
    return done.stdout.decode() + done.stderr.decode()


def _tty(env: dict[str, str], *args: str) -> str:
    """Everything the command writes to a terminal (a pty as stdout and stderr)."""
    # wide enough that no name is cut (on a narrow terminal names give way to ids)
    return run_on_terminal({**env, "COLUMNS": "160"}, *args).decode(errors="replace")


async def test_hostile_names_are_escaped_on_pipes_and_terminals() -> None:
    # One dialect: names travel the same way in both.
    async with LocalServer() as server:
        async with server.client() as client:
            flow = await client.flows.create(spec=FlowSpec(name=TITLE))
            await client.flows.create(spec=FlowSpec(name=CLIPBOARD))
            await client.runs.create(flow.flow_id, metadata=LONG_RUN)
        outputs = await _outputs(_env(server.endpoint, server.organization_id, server.secret_key))
    for label, text in outputs.items():
        for raw in RAW:
            assert raw not in text, (label, text)
        if "tty" not in label:
            assert "\x1b" not in text, (label, text)
        if "json" not in label:
            assert ESCAPED_TITLE in text, (label, text)
    assert "\\u001b]0;TITLE\\u0007" in outputs["flows list --json"]  # the encoder's escapes


async def _outputs(env: dict[str, str]) -> dict[str, str]:
    """What each listing prints, on pipes and on terminals, run side by side."""
    outputs: dict[str, str] = {}

    async def pipe(label: str, *args: str) -> None:
        outputs[label] = await _pipe(env, *args)

    async def tty(label: str, *args: str) -> None:
        outputs[label] = await anyio.to_thread.run_sync(lambda: _tty(env, *args))

    async with anyio.create_task_group() as tg:
        tg.start_soon(pipe, "flows list", "flows", "list")
        tg.start_soon(pipe, "runs list", "runs", "list")
        tg.start_soon(pipe, "runs watch", "runs", "watch", "--timeout", "4")
        tg.start_soon(pipe, "flows list --json", "flows", "list", "--json")
        tg.start_soon(tty, "tty flows list", "flows", "list")
        tg.start_soon(tty, "tty runs list", "runs", "list")
    return outputs


async def test_hostile_log_lines_and_error_messages(hostile: HostileServer) -> None:
    logs = {"kind": "RunLogs", "runId": "r1", "items": [
        {"timestamp": 1, "block": None, "level": "INFO", "message": TITLE + CLIPBOARD},
    ]}  # fmt: skip
    error = {"error": "NotFound", "message": "gone " + CLIPBOARD}

    async def handle(request, server):  # type: ignore[no-untyped-def]
        if request.path.endswith("/logs"):
            return await as_json(logs)(request, server)
        if "/runs/" in request.path:
            return await as_json(run_doc("r1"))(request, server)
        if request.path.endswith("/runs"):
            return await as_json(page_doc([]))(request, server)
        return await as_json(error, status=404)(request, server)

    hostile.handler = handle
    env = _env(hostile.endpoint, "org", FAKE_SECRET)
    shown, failed = "", ""

    async def logs_and_error() -> None:
        nonlocal shown
        shown = await _pipe(env, "runs", "logs", "r1")

    async with anyio.create_task_group() as tg:
        tg.start_soon(logs_and_error)
        failed = await _pipe(env, "flows", "get", "f1")
    assert ESCAPED_TITLE in shown and "vi-async: error:" in failed
    for text in (shown, failed):
        assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text, text


def _prints_outside_terminal(path: Path) -> list[str]:
    """``print(...)`` calls and ``.write(`` on sys streams outside the allowed places."""
    allowed = {"dump", "dump_line", "add", "close"} if path.name == "output.py" else set()
    found = []
    tree = ast.parse(path.read_text())
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef) or func.name in allowed:
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id == "print" and "safe(" not in ast.unparse(node):
                    found.append(f"{path.name}:{node.lineno}")
    return found


def test_the_cli_prints_only_through_the_terminal_helper() -> None:
    cli = Path(__file__).resolve().parents[2] / "vi_async" / "cli"
    found = [hit for path in sorted(cli.glob("*.py")) if path.name != "terminal.py"
             for hit in _prints_outside_terminal(path)]  # fmt: skip
    assert found == [], f"print() of unescaped text (use terminal.echo): {found}"
