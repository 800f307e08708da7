"""Run the command line (``python -m vi_async``) against a LocalServer.

Commands run in the shared command host (``tests/cli_host.py``): one child
interpreter per test worker, each command as ``python -m vi_async`` would run it.
"""

from __future__ import annotations

from cli_host import ENV_NAMES, Result, clean_env, run_cli

from vi_async.local import LocalServer

__all__ = ["ENV_NAMES", "Result", "clean_env", "cli"]


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
