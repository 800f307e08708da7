"""The command line's entry point: the parser, credentials, exit codes and dispatch.

Guarantee: ``main`` returns one of ``EXIT_CODES``; bad arguments or missing
credentials exit 2 before anything is sent. The commands themselves are in
``flows``, ``runs`` and ``models`` (what they share in ``common``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import textwrap
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .._config import DEFAULT_ENDPOINT, ENV_ENDPOINT, ENV_ORGANIZATION_ID, ENV_SECRET_KEY
from .._constants import DEFAULT_CONCURRENCY
from .._version import __version__
from ..bulk.options import ON_ACTIVE_RUN
from ..models import RunPhase
from .completion import SHELLS
from .durations import parse_duration
from .terminal import echo, safe

if TYPE_CHECKING:
    from ..bulk.report import BulkReport
    from .common import Context

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILED: "failure: an API error; a requested delete that did not happen (skipped, "
    "not found or failed: the reasons are on stderr; with --allow-skipped only failed or "
    "unknown ones); a run that did not succeed; a cleanup that was not confirmed; or the "
    "cli extra is not installed",
    EXIT_USAGE: "usage error: bad arguments or missing credentials (nothing was sent)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); a bulk job prints its partial report",
    EXIT_BROKEN_PIPE: "stdout was closed early, e.g. by `| head` (as if killed by SIGPIPE)",
}
"""Every exit code of ``vi-async`` and what it means."""
MISSING_EXTRA = (
    "vi-async: the command line needs the 'cli' extra (rich). Install it with:\n"
    "    pip install 'vi-async[cli]'"
)


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _phase(text: str) -> str:
    """A run phase in any case (``running`` -> ``Running``)."""
    for phase in RunPhase:
        if phase.value.lower() == text.strip().lower():
            return phase.value
    names = ", ".join(phase.value for phase in RunPhase)
    raise argparse.ArgumentTypeError(f"invalid phase {text!r} (choose from {names}; any case)")


def _common() -> argparse.ArgumentParser:
    """Options accepted before or after the command (defaults are set once, at the top)."""
    common = argparse.ArgumentParser(add_help=False)
    conn = common.add_argument_group("connection (default: the environment)")
    conn.add_argument("--endpoint", default=argparse.SUPPRESS, help="DATATURE_VI_API_ENDPOINT")
    conn.add_argument(
        "--organization-id", "--org", default=argparse.SUPPRESS, help="DATATURE_VI_ORGANIZATION_ID"
    )
    conn.add_argument(
        "--secret-key",
        default=argparse.SUPPRESS,
        help="DATATURE_VI_SECRET_KEY (prefer the variable: arguments are visible to other users)",
    )
    net = common.add_argument_group("network (default: HTTPS_PROXY etc. and the system's CAs)")
    net.add_argument("--proxy", default=argparse.SUPPRESS, metavar="URL", help="proxy URL")
    net.add_argument(
        "--ca-bundle", default=argparse.SUPPRESS, metavar="PATH",
        help="CA certificates to verify the server with (a PEM file or directory)",
    )  # fmt: skip
    net.add_argument(
        "--insecure", "-k", action="store_true", default=argparse.SUPPRESS,
        help="do not verify TLS certificates (unsafe: anyone on the path can read the key)",
    )  # fmt: skip
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts"
    )
    common.add_argument(
        "-v", "--debug", action="store_true", default=argparse.SUPPRESS,
        help="log requests, retries and timings to stderr (secrets masked)",
    )  # fmt: skip
    return common


def _bulk_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--on-active-run",
        choices=ON_ACTIVE_RUN,
        default="skip",
        help="a flow with a Pending/Running run: skip it (default), kill its runs "
        "and delete it, or count it as failed",
    )
    _concurrency_option(parser)
    parser.add_argument("--dry-run", action="store_true", help="delete nothing, list the matches")


def _allow_skipped_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-skipped",
        action="store_true",
        help="exit 0 when every flow was deleted, already gone, or skipped by policy "
        "(an active run; changed since the plan); failed or unknown ones still exit 1",
    )


def _concurrency_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        help=f"deletes in flight at most (default {DEFAULT_CONCURRENCY})",
    )


def _listing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--limit", type=_positive_int, default=None, metavar="N", help="print at most N"
    )
    parser.add_argument(
        "--page-size", type=_positive_int, default=100, metavar="N",
        help="fetch N per request (default 100)",
    )  # fmt: skip


def _training_project_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--training-project", metavar="ID", help=help)


def _attr_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--attr", action="append", default=[], metavar="KEY=VALUE", help="metadata (repeat)"
    )


def _flows(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: list[argparse.ArgumentParser]
) -> None:
    flows = sub.add_parser("flows", help="list, show, create and delete flows").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = flows.add_parser("list", parents=common, help="list flows, oldest first")
    _listing_options(p)
    p = flows.add_parser("get", parents=common, help="show one flow")
    p.add_argument("flow_id", help="the flow's id")
    p = flows.add_parser(
        "create",
        parents=common,
        help="create a flow",
        description="Create a flow named --name, or from --spec FILE: a FlowSpec as JSON "
        "(name, schema, blocks, settings, tolerations, training_project; snake_case or "
        "camelCase keys; '-' reads stdin). --name and --training-project override the file.",
    )
    p.add_argument("--name", help="the flow's name")
    p.add_argument("--spec", metavar="FILE", help="a FlowSpec as a JSON object ('-': stdin)")
    _training_project_option(p, "the training project the flow belongs to")
    _attr_option(p)
    p = flows.add_parser("delete", parents=common, help="delete flows by id ('-': ids on stdin)")
    p.add_argument("flow_ids", nargs="+", metavar="FLOW_ID", help="flow ids ('-': read stdin)")
    _bulk_options(p)
    p = flows.add_parser(
        "cleanup",
        parents=common,
        help="delete every flow matching the filters",
        description="Delete every flow matching all the filters, concurrently. Asks for "
        "confirmation (after showing the plan) unless --yes or --dry-run; only flows "
        "unchanged since the plan are deleted. --plan FILE writes the plan instead.",
    )
    p.add_argument("--older-than", type=_duration, help="created more than e.g. 7d, 12h, 30m ago")
    p.add_argument("--name", help="glob on the flow name, e.g. 'tmp-*' (case-sensitive)")
    _training_project_option(p, "only flows of this training project")
    p.add_argument("--all", action="store_true", help="no filter: delete every flow")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--plan",
        metavar="FILE",
        help="write the plan (the matches with their etags) to FILE and delete nothing",
    )
    _bulk_options(p)
    _allow_skipped_option(p)
    p = flows.add_parser(
        "apply",
        parents=common,
        help="apply a cleanup plan written by `cleanup --plan`",
        description="Show the plan, ask, then delete its flows; a flow changed since the "
        "plan is skipped, one already gone is reported not found.",
    )
    p.add_argument("plan_file", metavar="PLAN", help="the plan file (JSON)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    _concurrency_option(p)
    _allow_skipped_option(p)


def _runs(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: list[argparse.ArgumentParser]
) -> None:
    runs = sub.add_parser("runs", help="start, follow, kill and delete runs").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    phases = ", ".join(phase.value for phase in RunPhase)
    p = runs.add_parser("list", parents=common, help="list runs, oldest first")
    p.add_argument(
        "--status", action="append", type=_phase, metavar="PHASE",
        help=f"keep runs in this phase (repeat; any case): {phases}",
    )  # fmt: skip
    _listing_options(p)
    p = runs.add_parser("get", parents=common, help="show one run")
    p.add_argument("run_id", help="the run's id")
    p = runs.add_parser("create", parents=common, help="start a run of a flow")
    p.add_argument("flow_id", help="the flow to run")
    _training_project_option(p, "the run's training project")
    _attr_option(p)
    p.add_argument(
        "--wait", action="store_true", help="wait until it ends (exit 1 unless it succeeded)"
    )
    p.add_argument("--timeout", type=_positive_float, default=None, help="seconds to wait at most")
    p = runs.add_parser("wait", parents=common, help="wait for runs (exit 1 unless all succeeded)")
    p.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="the runs to wait for")
    p.add_argument("--timeout", type=_positive_float, default=None, help="seconds to wait at most")
    p = runs.add_parser(
        "watch",
        parents=common,
        help="print a line per run change (JSON Lines with --json)",
        description="Print one line per change of the organization's runs (or of the given "
        "ones): added, changed, removed. Starts with the runs there now unless --no-snapshot; "
        "runs until Ctrl-C or --timeout.",
    )
    p.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="only these runs")
    p.add_argument(
        "--status", action="append", type=_phase, metavar="PHASE",
        help=f"keep runs in this phase (repeat; any case): {phases}",
    )  # fmt: skip
    p.add_argument("--interval", type=_positive_float, default=None, help="seconds between polls")
    p.add_argument("--no-snapshot", action="store_true", help="only changes from now on")
    p.add_argument(
        "--timeout", type=_positive_float, default=None, help="stop after this many seconds"
    )
    p = runs.add_parser("logs", parents=common, help="print a run's log")
    p.add_argument("run_id", help="the run's id")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing until it ends")
    p.add_argument("--tail", type=int, default=100, help="last N lines (-1: all; default 100)")
    p = runs.add_parser("kill", parents=common, help="stop a run (idempotent)")
    p.add_argument("run_id", help="the run's id")
    p = runs.add_parser("delete", parents=common, help="delete a run")
    p.add_argument("run_id", help="the run's id")


def _exit_codes_help() -> str:
    lines = ["exit codes:"]
    for code, text in EXIT_CODES.items():
        lines += textwrap.wrap(text, 78, initial_indent=f"  {code:<5}", subsequent_indent=" " * 7)
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``vi-async``."""
    parser = argparse.ArgumentParser(
        prog="vi-async",
        parents=[_common()],
        description="Command line for the Datature Vi training API (flows, runs, models).",
        epilog=_exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(
        endpoint=None, organization_id=None, secret_key=None, json=False,
        proxy=None, ca_bundle=None, insecure=False, debug=False,
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"vi-async {__version__}")
    sub = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    # A separate instance: set_defaults above changed the top level's own actions.
    common = [_common()]
    _flows(sub, common)
    _runs(sub, common)
    from . import models as model_commands  # needs rich: main() checks for it first

    model_commands.add_parser(sub, common)
    sub.add_parser("local", add_help=False, help="run the local Vi server (see: local --help)")
    demo = sub.add_parser("demo", help="a tour of the SDK on an embedded local server")
    demo.add_argument("--flows", type=_positive_int, default=150, help="stale flows to clean up")
    completion = sub.add_parser(
        "completion",
        help="print a shell completion script",
        description='Print a completion script: eval "$(vi-async completion bash)" in '
        "~/.bashrc (zsh: the same with zsh), or vi-async completion fish | source.",
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    return parser


def _credentials(args: argparse.Namespace) -> tuple[str, str, str]:
    """Secret key, organization id and endpoint, from the options or the environment.

    Missing ones are usage errors naming the option and the variable; when no
    endpoint is given, a note on stderr says that the production API is used.
    """
    from .common import UsageError

    key = args.secret_key or os.environ.get(ENV_SECRET_KEY)
    if not key:
        raise UsageError(f"no secret key: pass --secret-key or set {ENV_SECRET_KEY}")
    org = args.organization_id or os.environ.get(ENV_ORGANIZATION_ID)
    if not org:
        raise UsageError(f"no organization id: pass --organization-id or set {ENV_ORGANIZATION_ID}")
    endpoint = args.endpoint or os.environ.get(ENV_ENDPOINT)
    if not endpoint:
        echo(
            f"vi-async: using the Vi API at {DEFAULT_ENDPOINT} (no --endpoint or "
            f"{ENV_ENDPOINT}; set one to use another server, e.g. `vi-async local`)",
            err=True,
        )
        endpoint = DEFAULT_ENDPOINT
    return key, org, endpoint


def _network(args: argparse.Namespace) -> dict[str, Any]:
    """The Client's proxy and TLS settings from ``--proxy``, ``--ca-bundle``, ``--insecure``.

    Args:
        args: The parsed command line.

    Returns:
        Keyword arguments of ``Client`` (none when the options are absent).

    Raises:
        UsageError: ``--insecure`` with ``--ca-bundle``.
    """
    from .common import UsageError

    settings: dict[str, Any] = {}
    if args.proxy:
        settings["proxy"] = args.proxy
    if args.insecure:
        if args.ca_bundle:
            raise UsageError("--insecure and --ca-bundle contradict each other")
        settings["verify"] = False  # the client logs the warning, on stderr
    elif args.ca_bundle:
        settings["verify"] = args.ca_bundle
    return settings


async def _run(args: argparse.Namespace, ctx: Context) -> int:
    from .._client import Client
    from .flows import FLOW_COMMANDS
    from .models import MODEL_COMMANDS
    from .runs import RUN_COMMANDS

    command = {**FLOW_COMMANDS, **RUN_COMMANDS, **MODEL_COMMANDS}[(args.group, args.action)]
    async with Client(*_credentials(args), **_network(args)) as client:
        return await command(client, args, ctx)


def _fail(message: str, code: int) -> int:
    echo(f"vi-async: error: {message}", err=True)
    return code


def _partial_report(report: BulkReport, ctx: Context) -> None:
    """A job that stopped early or was interrupted: its report (``cancelled`` /
    ``error`` set) as JSON on stdout with ``--json``, else the summary on stderr."""
    from .flows import print_report

    if ctx.printed:
        return
    if ctx.json:
        print_report(report, ctx)
    else:
        ctx.printed = True
        echo(report.summary(), err=True)


def _has_extra() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of a closed
    pipe raises nothing at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def _run_interruptible(main: Coroutine[Any, Any, int]) -> int:
    """``asyncio.run(main)`` where Ctrl-C cancels ``main`` (then raises KeyboardInterrupt),
    as ``asyncio.run`` does from Python 3.11. On 3.10 the interrupt would otherwise
    be raised wherever the loop happens to be, and a bulk job's in-flight deletes
    would be dropped, not given their grace and reported."""
    if sys.version_info >= (3, 11):
        return asyncio.run(main)

    async def guarded() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        interrupted = False

        def interrupt() -> None:
            nonlocal interrupted
            interrupted = True
            loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C stops at once
            if task is not None:
                task.cancel()

        try:
            loop.add_signal_handler(signal.SIGINT, interrupt)
        except (NotImplementedError, RuntimeError, ValueError):  # no handler here
            return await main
        try:
            return await main
        except asyncio.CancelledError:
            if interrupted:
                raise KeyboardInterrupt from None
            raise
        finally:
            if not interrupted:
                loop.remove_signal_handler(signal.SIGINT)

    return asyncio.run(guarded())


def _first_word(argv: list[str]) -> int:
    """Where the command starts in ``argv`` (its length when there is none)."""
    return next((i for i, word in enumerate(argv) if not word.startswith("-")), len(argv))


def _completion_script(shell: str) -> str:
    from ..local.cli import build_parser as local_parser
    from .completion import script

    return script(shell, build_parser(), extra={"local": local_parser("vi-async local")})


class _MaskedFormatter(logging.Formatter):
    """Log lines with every secret masked and made safe for a terminal.

    The given key is masked even where it does not look like one (without the
    ``dtvi_`` prefix); a line may quote a server's message, hence ``safe``.
    """

    def __init__(self, key: str) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.key = key

    def format(self, record: logging.LogRecord) -> str:
        """The record as one masked, escaped line (a traceback keeps its lines)."""
        from .._mask import mask

        text = mask(super().format(record))
        return safe(text.replace(self.key, "***") if self.key else text, lines=True)


def _debug_log(args: argparse.Namespace) -> None:
    """``-v/--debug``: the SDK's log records, at every level, on stderr."""
    from .._observe.logging import LOGGER_NAME

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_MaskedFormatter(args.secret_key or os.environ.get(ENV_SECRET_KEY) or ""))
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see ``EXIT_CODES``)."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE


def _main(argv: list[str]) -> int:
    if argv[:1] == ["local"]:
        from ..local.cli import main as local_main

        return local_main(argv[1:], prog="vi-async local")
    if "--version" in argv[: _first_word(argv)]:  # answers without the cli extra
        echo(f"vi-async {__version__}")
        return EXIT_OK
    if not _has_extra():
        echo(MISSING_EXTRA, err=True)
        return EXIT_FAILED
    args = build_parser().parse_args(argv)
    from ..bulk.report import BulkError
    from ..errors import InvalidIdError, ViConfigError, ViError, ViPlanError
    from .common import Context, UsageError

    if args.group == "completion":
        echo(_completion_script(args.shell), end="")
        return EXIT_OK
    if args.debug:
        _debug_log(args)
    if args.group == "demo":
        from .demo import run_demo

        return run_demo(stale_flows=args.flows)
    ctx = Context(json=args.json, allow_skipped=getattr(args, "allow_skipped", False))
    try:
        return _run_interruptible(_run(args, ctx))
    except KeyboardInterrupt:
        report = ctx.report
        if report is not None and not ctx.printed:
            report.cancelled = True  # also when the interrupt did not reach the job itself
            _partial_report(report, ctx)
        return _fail("interrupted", EXIT_INTERRUPTED)
    except (UsageError, ViConfigError, ViPlanError, InvalidIdError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except BulkError as exc:
        _partial_report(exc.report, ctx)
        return _fail(str(exc), EXIT_FAILED)
    except ViError as exc:
        return _fail(str(exc), EXIT_FAILED)
