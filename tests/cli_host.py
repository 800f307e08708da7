"""Run ``python -m vi_async`` commands in one long-lived child interpreter.

Starting an interpreter and importing the SDK costs about half a second, more
than most commands take. The command-line tests therefore send their commands
to a child process kept by the test worker (started on first use, stopped at
the end of the session; one more for each command run concurrently with
another), which runs each exactly as ``python -m vi_async ARGS`` would:
``vi_async.__main__`` executed afresh with ``sys.argv`` set, the given
environment as ``os.environ``, stdin/stdout/stderr captured, the exit status
taken from ``SystemExit``. An exception escaping the command is reported with
its traceback on stderr, as the interpreter would print it. ``debug=True``
also turns Python logging on at DEBUG, on the command's stderr.

What a command needs a real process of its own for (signals, a closed pipe,
a missing ``rich``, the ``local`` server) the tests still start themselves.

Run as a script, this module is the child: one JSON request per line on
stdin, one JSON answer per line on the original stdout.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import runpy
import subprocess
import sys
import tempfile
import threading
import traceback
from dataclasses import dataclass
from typing import IO, Any

import anyio

#: The Vi settings a command may take from its environment.
ENV_NAMES = ("DATATURE_VI_SECRET_KEY", "DATATURE_VI_ORGANIZATION_ID", "DATATURE_VI_API_ENDPOINT")
#: How the child starts: this file run as __main__, without its folder on sys.path.
CHILD = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"
#: Seconds one command may take before the child is killed (the next command starts
#: a fresh one).
TIMEOUT = 60.0


@dataclass
class Result:
    """A finished command: exit code and decoded output."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as one JSON document."""
        return json.loads(self.out)


def run_on_terminal(env: dict[str, str], *args: str) -> bytes:
    """Everything ``python -m vi_async *args`` writes to a terminal (a pty as its
    stdout and stderr), read until the child closes it."""
    master, slave = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "vi_async", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    ) as proc:
        os.close(slave)
        chunks = []
        try:
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(master)
            proc.wait(timeout=30)
    return b"".join(chunks)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test environment without Vi settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env.update(extra or {})
    return env


class CliHost:
    """The parent's handle on the child interpreter (thread-safe; restarts after a kill)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        self._log = tempfile.TemporaryFile("w+")  # the child's own stderr, for failures
        return subprocess.Popen(
            # -c, as ``python -m`` does, puts the working directory first on sys.path
            # (a script would put tests/ there)
            [sys.executable, "-u", "-c", CHILD, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            encoding="utf-8",
        )

    def _child_log(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()[-3000:]

    def run(self, args: list[str], env: dict[str, str], stdin: str, debug: bool) -> Result:
        """Run one command in the child; blocks until it has finished."""
        request = json.dumps({"args": args, "env": env, "stdin": stdin, "debug": debug})
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self.close()
                self._process = self._start()
            process = self._process
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(request + "\n")
                process.stdin.flush()
                answer = process.stdout.readline()
            except (BrokenPipeError, ValueError, OSError):
                answer = ""
            if not answer:
                log = self._child_log()
                self.close()
                raise RuntimeError(f"the command host died running {args}:\n{log}")
        done = json.loads(answer)
        return Result(done["code"], done["out"], done["err"])

    def kill(self) -> None:
        """Stop a child stuck in a command (the blocked ``run`` then fails)."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()

    def close(self) -> None:
        """Stop the child (it exits at the end of its input) and release its pipes."""
        process, self._process = self._process, None
        if process is not None:
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    try:
                        pipe.close()
                    except OSError:
                        pass
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log, self._log = self._log, None
        if log is not None:
            log.close()


_HOSTS: list[CliHost] = []  # every host started
_IDLE: list[CliHost] = []  # the hosts no command is running in


async def run_cli(
    args: list[str], env: dict[str, str], *, stdin: str | None = None, debug: bool = False
) -> Result:
    """Run ``python -m vi_async ARGS`` with ``env`` as its whole environment.

    No ``stdin`` means an empty one (a prompt reads end-of-file). Commands run
    concurrently run in separate hosts.
    """
    if _IDLE:
        host = _IDLE.pop()
    else:
        host = CliHost()
        _HOSTS.append(host)
    try:
        with anyio.fail_after(TIMEOUT):
            return await anyio.to_thread.run_sync(
                host.run, list(args), env, stdin or "", debug, abandon_on_cancel=True
            )
    except BaseException:
        host.kill()  # a command left running would block the next one
        raise
    finally:
        _IDLE.append(host)


def close_hosts() -> None:
    """Stop the child interpreters started (at the end of the test session)."""
    for host in _HOSTS:
        host.close()


# -- the child --------------------------------------------------------------------------


def _run_one(request: dict[str, Any]) -> dict[str, Any]:
    os.environ.clear()
    os.environ.update(request["env"])
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin, sys.stdout, sys.stderr, sys.argv
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(request["stdin"]), out, err
    sys.argv = ["vi_async", *request["args"]]
    root = logging.getLogger()
    handler = None
    if request["debug"]:
        handler = logging.StreamHandler(err)
        handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
    code = 0
    try:
        runpy.run_module("vi_async", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:  # sys.exit("message"): printed, status 1
            print(exc.code, file=err)
            code = 1
    except BaseException:
        traceback.print_exc(file=err)
        code = 1
    finally:
        if handler is not None:
            root.removeHandler(handler)
            root.setLevel(logging.WARNING)
        sys.stdin, sys.stdout, sys.stderr, sys.argv = saved
    return {"code": code, "out": out.getvalue(), "err": err.getvalue()}


def _serve() -> None:
    # Answers go to a private copy of stdout; anything written to file descriptor 1
    # behind sys.stdout's back lands on stderr instead of in the answers.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    for line in sys.stdin:
        answers.write(json.dumps(_run_one(json.loads(line))) + "\n")
        answers.flush()


if __name__ == "__main__":
    _serve()
