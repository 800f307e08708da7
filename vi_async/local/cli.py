"""``python -m vi_async.local``: run the local Vi server until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
from collections.abc import Iterable, Sequence

from vi_async import __version__
from vi_async.local.admin import ADMIN_HEADER
from vi_async.local.engine import RunSchedule
from vi_async.local.faults import FaultConfig
from vi_async.local.server import LocalServer


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


class _DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def build_parser(prog: str = "python -m vi_async.local") -> argparse.ArgumentParser:
    """The command line parser (``prog``: the name shown in usage and help)."""
    defaults = RunSchedule()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve a Vi-compatible API (flows, runs, models) backed by SQLite.",
        formatter_class=_DefaultsShown,
    )
    parser.add_argument("--version", action="version", version=f"vi-async {__version__}")
    parser.add_argument("--host", default="127.0.0.1", help="interface")
    parser.add_argument("--port", type=int, default=8700, help="port; 0 picks a free one")
    parser.add_argument(
        "--db", default="vi-local.sqlite", help="SQLite file (':memory:' for a throwaway one)"
    )
    parser.add_argument("--org", default=None, help="default organization id (default: random)")
    parser.add_argument(
        "--secret-key", default=None, help="default organization's key (default: random)"
    )
    parser.add_argument(
        "--admin-token",
        default=None,
        help="token for the /_local/ admin routes (default: a random one, printed)",
    )
    schedule = parser.add_argument_group("runs")
    schedule.add_argument(
        "--pending-seconds", type=_non_negative, default=defaults.pending_seconds,
        help="time a run stays Pending",
    )  # fmt: skip
    schedule.add_argument(
        "--running-seconds", type=_non_negative, default=defaults.running_seconds,
        help="time a run stays Running",
    )  # fmt: skip
    schedule.add_argument(
        "--log-interval-seconds", type=_non_negative, default=defaults.log_interval_seconds,
        help="time between log lines of a running run",
    )  # fmt: skip
    seed = parser.add_argument_group("seed data (e.g. old flows for `flows cleanup --older-than`)")
    seed.add_argument("--seed-flows", type=_count, default=0, metavar="N", help="add N flows")
    seed.add_argument("--seed-prefix", default="seed-", help="their names: PREFIX0, PREFIX1, ...")
    seed.add_argument(
        "--seed-age-days", type=_non_negative, default=0.0, metavar="DAYS",
        help="back-date their creation time by DAYS",
    )  # fmt: skip
    parser.add_argument(
        "--strict",
        action="store_true",
        help="serve only the Vi wire, without the local extensions (log cursors, "
        "Vi-Flow-Id, Idempotency-Key replay)",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="--strict, and no X-Request-Id either: answers as bare as WIRE.md allows",
    )
    parser.add_argument(
        "--download-url-ttl",
        type=float,
        default=900.0,
        help="seconds a checkpoint's pre-signed download URL stays valid",
    )
    tls = parser.add_argument_group("https")
    tls.add_argument(
        "--tls", action="store_true",
        help="serve HTTPS with a certificate from a CA made at start-up (its path is printed)",
    )  # fmt: skip
    tls.add_argument("--cert", default=None, help="serve HTTPS with this PEM certificate file")
    tls.add_argument("--key", default=None, help="the certificate's private key file")
    parser.add_argument(
        "--faults",
        type=FaultConfig.parse,
        default=None,
        help='no faults by default; e.g. "seed=1,latency=0.02,503=0.2,429=0.05,reset_before=0.01,'
        'reset_after=0.01,slow=0.01,slow_seconds=5,retry_after=1,paths=/runs"; a rate limit: '
        '"rate_limit=100,rate_limit_burst=10,rate_limit_retry_after=exact|ceil,'
        'rate_limit_headers=none|ietf|x"',
    )
    return parser


def seeded_line(count: int, prefix: str, age_days: float) -> str:
    """The banner's confirmation of what ``--seed-flows`` made.

    Args:
        count: How many flows were seeded.
        prefix: Their name prefix.
        age_days: How many days they were back-dated.

    Returns:
        One line, e.g. ``Seeded 3 flows: seed-0 .. seed-2, created 10 days ago``.
    """
    names = f"{prefix}0" if count == 1 else f"{prefix}0 .. {prefix}{count - 1}"
    age = "now" if age_days == 0 else f"{age_days:g} days ago"
    return f"Seeded {count} flow{'s' if count != 1 else ''}: {names}, created {age}"


def banner(server: LocalServer, seeded: str | None = None) -> str:
    """What the command prints once the server is up (``seeded``: what was seeded)."""
    lines = [
        f"Vi local server listening on {server.endpoint} ({server.dialect} dialect)",
        f"Organization ID: {server.organization_id}",
        f"Secret key: {server.secret_key}",
        f"Admin token (header {ADMIN_HEADER}, for /_local/ routes): {server.admin_token}",
        *([seeded] if seeded else []),
        "",
    ]
    if server.ca_path is not None:
        lines[-1:-1] = [
            f"CA certificate (Client(verify=...), SSL_CERT_FILE): {server.ca_path}",
        ]
    exports = {**server.env(), ADMIN_TOKEN_ENV: server.admin_token}
    lines += [f"export {name}={value}" for name, value in exports.items()]
    return "\n".join(lines)


#: The banner's variable holding the admin token (only the banner uses it).
ADMIN_TOKEN_ENV = "VI_LOCAL_ADMIN_TOKEN"
_EXPORT = re.compile(r"export (DATATURE_VI_\w+|VI_LOCAL_\w+)=(\S+)")
ENV_NAMES = frozenset(
    {
        "DATATURE_VI_API_ENDPOINT",
        "DATATURE_VI_ORGANIZATION_ID",
        "DATATURE_VI_SECRET_KEY",
        ADMIN_TOKEN_ENV,
    }
)


def read_banner(lines: Iterable[str]) -> dict[str, str] | None:
    """Read the ``export`` lines of :func:`banner` from a server's output.

    Consumes ``lines`` (e.g. a subprocess's stdout) only until all the
    variables of :data:`ENV_NAMES` (the client's three and
    :data:`ADMIN_TOKEN_ENV`) are seen and returns them; None if the output ends first.
    """
    env: dict[str, str] = {}
    for line in lines:
        match = _EXPORT.match(line)
        if match:
            env[match[1]] = match[2]
        if ENV_NAMES <= env.keys():
            return env
    return None


async def serve(args: argparse.Namespace) -> None:
    """Serve until SIGINT or SIGTERM."""
    server = LocalServer(
        db_path=args.db,
        host=args.host,
        port=args.port,
        schedule=RunSchedule(args.pending_seconds, args.running_seconds, args.log_interval_seconds),
        faults=args.faults or FaultConfig(),
        organization_id=args.org,
        secret_key=args.secret_key,
        admin_token=args.admin_token,
        strict=args.strict,
        plain=args.plain,
        download_url_ttl=args.download_url_ttl,
        tls=args.tls,
        tls_cert=args.cert,
        tls_key=args.key,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with server:
            seeded = None
            if args.seed_flows:
                ids = await server.seed_flows(
                    args.seed_flows, name_prefix=args.seed_prefix, age=args.seed_age_days * 86400
                )
                seeded = seeded_line(len(ids), args.seed_prefix, args.seed_age_days)
            print(banner(server, seeded), flush=True)
            await stop.wait()
            print("Shutting down.", flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def main(argv: Sequence[str] | None = None, prog: str = "python -m vi_async.local") -> int:
    """Entry point; returns the exit code."""
    args = build_parser(prog).parse_args(argv)
    try:
        asyncio.run(serve(args))
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
