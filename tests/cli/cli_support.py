"""Run ``python -m vi_async`` as a subprocess against a LocalServer."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

import anyio

from vi_async.local import LocalServer

ENV_NAMES = ("DATATURE_VI_SECRET_KEY", "DATATURE_VI_ORGANIZATION_ID", "DATATURE_VI_API_ENDPOINT")


@dataclass
class Result:
    """A finished command: exit code and decoded output."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as one JSON document."""
        return json.loads(self.out)


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
    done = await anyio.run_process(
        [sys.executable, "-m", "vi_async", *args],
        input=None if stdin is None else stdin.encode(),
        env=full_env,
        check=False,
    )
    result = Result(done.returncode, done.stdout.decode(), done.stderr.decode())
    if server is not None:
        assert server.secret_key not in result.out + result.err, "the secret key was printed"
    return result
