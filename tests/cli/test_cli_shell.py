"""The command line in a shell (issue 29): ids never cut on narrow terminals, shell
completion generated from the parser, ``-v/--debug`` with masked logs, help on
every option, empty listings silent on stdout, ``--version`` of the local server."""

from __future__ import annotations

import argparse
import io
import logging
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
from cli_host import run_on_terminal
from cli_support import clean_env, cli

from vi_async import __version__
from vi_async.cli import build_parser
from vi_async.cli.common import Context, print_items
from vi_async.cli.completion import script
from vi_async.cli.main import _MaskedFormatter
from vi_async.cli.output import FLOW_VIEW, RESULT_COLUMNS
from vi_async.cli.table import Table
from vi_async.local import LocalServer
from vi_async.local.cli import build_parser as local_parser

LONG_NAME = "a-flow-name-much-longer-than-any-column-could-show-" * 2


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _on_terminal(env: dict[str, str], *args: str) -> str:
    """What the command prints on a terminal (a pty as stdout and stderr)."""
    return run_on_terminal(env, *args).decode().replace("\r\n", "\n")


def _parsers(
    parser: argparse.ArgumentParser, path: str = "vi-async"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_option_and_command_has_help() -> None:
    missing = []
    parsers = [*_parsers(build_parser()), ("vi-async local", local_parser())]
    for path, parser in parsers:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                named = [(f"{path} {c.dest}", c.help) for c in action._choices_actions]
            else:
                named = [(f"{path} {'/'.join(action.option_strings) or action.dest}", action.help)]
            missing += [name for name, text in named if not text or text == argparse.SUPPRESS]
    assert missing == []


BASH_CHECK = """
source /dev/stdin
complete -p vi-async
t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=();
      _vi_async_complete; echo "${COMPREPLY[*]}"; }
t vi-async ""
t vi-async --endpoint http://x runs ""
t vi-async flows cleanup --on-active-run ""
t vi-async local --p
t vi-async completion ""
"""


def test_completion_scripts() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vi_async", "completion", "bash"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stderr == ""
    bash = done.stdout
    syntax = subprocess.run(["bash", "-n"], input=bash, capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    ran = subprocess.run(["bash", "-c", BASH_CHECK], input=bash, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert "_vi_async_complete vi-async" in lines[0]
    assert set(lines[1].split()) >= {"flows", "runs", "models", "local", "demo", "completion"}
    assert set(lines[1].split()) >= {"--endpoint", "--json", "--debug", "-v", "--version"}
    assert lines[2].split()[:8] == "list get create wait watch logs kill delete".split()
    assert lines[3].split() == ["skip", "kill", "fail"]
    assert set(lines[4].split()) == {"--port", "--pending-seconds", "--plain"}
    assert lines[5].split()[:3] == ["bash", "zsh", "fish"]
    parser = build_parser()
    zsh, fish = script("zsh", parser), script("fish", parser)
    assert "bashcompinit" in zsh and "_vi_async_complete" in zsh
    assert "-a cleanup -d 'delete every flow matching the filters'" in fish
    assert "-l on-active-run -x -a 'skip kill fail'" in fish


def test_local_server_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vi_async.local", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout == f"vi-async {__version__}\n"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_table_never_cuts_an_id(monkeypatch: pytest.MonkeyPatch) -> None:
    long_id = "flow-" + "x" * 60
    for width, headers in [(120, 4), (70, 4), (60, 3), (50, 2), (40, 1)]:
        monkeypatch.setenv("COLUMNS", str(width))
        out = _Terminal()
        table = Table(RESULT_COLUMNS, out=out)
        table.row("f" * 36, LONG_NAME, "deleted", "a reason " * 10)
        table.row(long_id, "short", "skipped", "active run")
        header, first, second = ANSI.sub("", out.getvalue()).splitlines()
        assert len(header.split()) - 1 == headers, (width, header)  # "FLOW ID": 2 words
        assert len(first) <= width and first.startswith("f" * 36)
        assert second.startswith(long_id)  # wider than the line, and whole


@pytest.mark.anyio
async def test_empty_listing_notes_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def nothing() -> AsyncIterator[object]:
        return
        yield

    await print_items(nothing(), Context(), None, FLOW_VIEW)  # type: ignore[arg-type]
    assert capsys.readouterr() == ("", "")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    await print_items(nothing(), Context(), None, FLOW_VIEW)  # type: ignore[arg-type]
    assert capsys.readouterr().out == "" and terminal.getvalue() == "no flows\n"


@pytest.mark.anyio
async def test_narrow_listings_debug_and_empty(vi_server: LocalServer) -> None:
    for group in ("flows", "runs"):
        empty = await cli(vi_server, group, "list")
        assert (empty.code, empty.out, empty.err) == (0, "", "")
    flows = await vi_server.seed_flows(3, name_prefix=LONG_NAME)
    env = {**clean_env(vi_server.env()), "COLUMNS": "60"}
    on_pipe = await cli(vi_server, "flows", "list", env={"COLUMNS": "60"})
    assert on_pipe.out.split("\n")[0].split() == ["FLOW", "ID", "NAME", "CREATED", "BLOCKS"]
    for width in (60, 40):
        env["COLUMNS"] = str(width)
        text = await anyio.to_thread.run_sync(_on_terminal, env, "flows", "list")
        lines = ANSI.sub("", text).splitlines()
        assert [line.split()[0] for line in lines[1:]] == flows, text
        assert all(len(line) <= width for line in lines)
    assert lines[0] == "FLOW ID"  # at 40 columns only the id is left
    debug = await cli(vi_server, "flows", "list", "-v", "--json", "--limit", "1")
    assert debug.code == 0 and len(debug.json()) == 1
    assert "DEBUG vi_async" in debug.err and "GET" in debug.err
    # cli() checked that the key is on neither stream


def test_debug_lines_mask_the_key() -> None:
    formatter = _MaskedFormatter("plain-key-without-prefix")
    record = logging.LogRecord(
        "vi_async.transport", logging.DEBUG, __file__, 1,
        "sent %s and %s \x1b[2J", ("plain-key-without-prefix", "dtvi_abcdef123"), None,
    )  # fmt: skip
    line = formatter.format(record)
    assert line.endswith("DEBUG vi_async.transport: sent *** and dtvi_*** \\x1b[2J")
