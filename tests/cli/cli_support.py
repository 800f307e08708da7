"""Run the command line (``python -m vi_async``) against a LocalServer.

Commands run in the shared command host (``tests/cli_host.py``): one child
interpreter per test worker, each command as ``python -m vi_async`` would run it.
"""

from __future__ import annotations

import os

from cli_host import Result, run_cli

from vi_async.local import LocalServer

__all__ = ["ENV_NAMES", "Result", "clean_env", "cli"]

ENV_NAMES = ("DATATURE_VI_SECRET_KEY", "DATATURE_VI_ORGANIZATION_ID", "DATATURE_VI_API_ENDPOINT")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test environment without Vi credentials, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env.update(extra or {})
    return env


async def cli(
    server: LocalServer | None,
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> Result:
    """Run the command line with the server's credentials in the environment."""
    full_env = clean_env(server.env() if server is not None else None)
    full_env.update(env or {})
    result = await run_cli(list(args), full_env, stdin=stdin)
    if server is not None:
        assert server.secret_key not in result.out + result.err, "the secret key was printed"
    return result
