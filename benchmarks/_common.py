"""Shared pieces of the benchmarks: the server process, results, timers, the loop-lag ticker.

The local server runs in its own process (``python -m vi_async.local``) for every
measure: on a 2-core machine the client under test and the server then each get a
core and their own GIL, so server CPU is never billed to the client (and the
server's memory is never counted in the client's RSS). Every measure talks to it
over loopback HTTP, exactly like a client talks to the real API.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from vi_async.local.admin import ADMIN_HEADER
from vi_async.local.cli import ADMIN_TOKEN_ENV, read_banner


@dataclass
class Goal:
    """One target of a measure and whether this run met it.

    A goal made by :meth:`at_most` / :meth:`at_least` also keeps the measured
    value and its limit, so its regression line says by how much it was met or
    missed.
    """

    text: str
    met: bool | None  # None: not measured (a dependency is missing)
    detail: str = ""
    value: float | None = None
    limit: float | None = None
    unit: str = ""
    higher_is_better: bool = False

    @classmethod
    def at_most(cls, text: str, value: float, limit: float, unit: str = "x") -> Goal:
        """The goal ``value <= limit``."""
        return cls(text, value <= limit, f"{value:.3g}{unit}", value, limit, unit)

    @classmethod
    def at_least(cls, text: str, value: float, limit: float, unit: str = "x") -> Goal:
        """The goal ``value >= limit``."""
        return cls(text, value >= limit, f"{value:.3g}{unit}", value, limit, unit, True)

    def label(self) -> str:
        """``met`` / ``MISSED`` / ``n/a``."""
        return "n/a" if self.met is None else ("met" if self.met else "MISSED")

    def regression(self) -> str:
        """``met``/``MISSED`` and by how much: the value, the limit and the margin."""
        if self.met is None or self.value is None or self.limit is None:
            return f"{self.label()}" + (f" ({self.detail})" if self.detail else "")
        value, limit, unit = self.value, self.limit, self.unit
        sign = ">=" if self.higher_is_better else "<="
        margin = (value - limit) if self.higher_is_better else (limit - value)
        share = f" ({abs(margin) / limit:.0%})" if limit else ""
        measured, goal = f"{value:.3g}{unit}", f"{sign} {limit:g}{unit}"
        if self.met:
            return f"met: {measured} {goal}, {margin:.3g}{unit} to spare{share}"
        return f"MISSED by {-margin:.3g}{unit}{share}: {measured}, goal {goal}"


@dataclass
class Result:
    """What one measure reports: a one-line summary, its numbers and its goals."""

    name: str
    summary: str
    metrics: dict[str, Any] = field(default_factory=dict)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        """The single summary line printed for this measure."""
        goals = "; ".join(f"{g.text}: {g.label()}" for g in self.goals)
        return f"[{self.name}] {self.summary}" + (f" | goals: {goals}" if goals else "")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "summary": self.summary,
            "metrics": self.metrics,
            "goals": [
                {"goal": g.text, "met": g.met, "detail": g.detail, "value": g.value,
                 "limit": g.limit, "regression": g.regression()}
                for g in self.goals
            ],
            "notes": self.notes,
        }


def stop_child(proc: subprocess.Popen[str] | None) -> None:
    """Stop a server's child process (SIGTERM, then SIGKILL after 10 s) and wait for it."""
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


class ServerProcess:
    """``python -m vi_async.local`` in a child process, with its admin routes.

    ``with ServerProcess(faults="latency=0.02") as server:`` starts it on a free
    loopback port with an in-memory database and stops it (SIGTERM) on exit.
    """

    def __init__(
        self,
        *,
        faults: str | None = None,
        pending_seconds: float | None = None,
        running_seconds: float | None = None,
        plain: bool = False,
    ) -> None:
        """Configure the server (``plain``: answers as bare as WIRE.md allows, no
        ``X-Request-Id``); it starts on ``__enter__``."""
        self._args = ["--port", "0", "--db", ":memory:"]
        if plain:
            self._args.append("--plain")
        if faults:
            self._args += ["--faults", faults]
        if pending_seconds is not None:
            self._args += ["--pending-seconds", str(pending_seconds)]
        if running_seconds is not None:
            self._args += ["--running-seconds", str(running_seconds)]
        self._proc: subprocess.Popen[str] | None = None
        self.endpoint = ""
        self.organization_id = ""
        self.secret_key = ""
        self.admin_token = ""

    def __enter__(self) -> ServerProcess:
        """Start the server and read its endpoint and credentials from the banner."""
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "vi_async.local", *self._args],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        env = read_banner(self._proc.stdout)
        if env is None:
            self.__exit__(None, None, None)
            raise RuntimeError("the local server did not start")
        self.endpoint = env["DATATURE_VI_API_ENDPOINT"]
        self.organization_id = env["DATATURE_VI_ORGANIZATION_ID"]
        self.secret_key = env["DATATURE_VI_SECRET_KEY"]
        self.admin_token = env[ADMIN_TOKEN_ENV]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server and wait for it."""
        proc, self._proc = self._proc, None
        stop_child(proc)

    # -- admin routes (/_local/...) ---------------------------------------------------

    def _admin(self, method: str, route: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.endpoint + "_local/" + route,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", ADMIN_HEADER: self.admin_token},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def seed_flows(self, n: int, name_prefix: str = "bench-") -> list[str]:
        """Bulk-insert ``n`` flows server-side; returns their ids."""
        answer = self._admin("POST", "seed", {"flows": n, "namePrefix": name_prefix})
        ids: list[str] = answer["flowIds"]
        return ids

    def stats(self) -> dict[str, int]:
        """API request counts by ``"METHOD /route/{template}"``."""
        counts: dict[str, int] = self._admin("GET", "stats")["requests"]
        return counts

    def rate_limited(self) -> int:
        """Requests the ``rate_limit`` fault answered 429 since the last reset."""
        return int(self._admin("GET", "stats").get("rateLimited", 0))

    def reset_stats(self) -> None:
        """Reset the request counters."""
        self._admin("DELETE", "stats")

    def set_faults(self, **config: Any) -> None:
        """Replace the fault configuration (e.g. ``latency=0.02``)."""
        self._admin("PUT", "faults", config)

    def credentials(self) -> dict[str, str]:
        """Keyword arguments for a client bound to this server."""
        return {
            "secret_key": self.secret_key,
            "organization_id": self.organization_id,
            "endpoint": self.endpoint,
        }


class ForeignServerProcess:
    """``python -m benchmarks.foreign_server`` in a child process: a server that is not ours.

    It has ``ServerProcess``'s endpoint, credentials and ``seed_flows`` (it answers any
    flow id, so seeding only makes ids); ``switches`` are its command-line switches
    (``["--chunked", "--encoding", "gzip"]``).
    """

    def __init__(self, switches: Sequence[str] = ()) -> None:
        """Configure the server; it starts on ``__enter__``."""
        self.switches = list(switches)
        self._proc: subprocess.Popen[str] | None = None
        self.endpoint = ""
        self.organization_id = ""
        self.secret_key = ""

    def __enter__(self) -> ForeignServerProcess:
        """Start the server and read its endpoint and credentials from its banner."""
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.foreign_server", "--port", "0", *self.switches],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        env: dict[str, str] = {}
        for line in self._proc.stdout:
            if line.strip() == "READY":
                break
            name, _, value = line.strip().partition("=")
            env[name] = value
        else:
            self.__exit__(None, None, None)
            raise RuntimeError("the foreign server did not start")
        self.endpoint = env["DATATURE_VI_API_ENDPOINT"]
        self.organization_id = env["DATATURE_VI_ORGANIZATION_ID"]
        self.secret_key = env["DATATURE_VI_SECRET_KEY"]
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the server and wait for it."""
        proc, self._proc = self._proc, None
        stop_child(proc)

    def seed_flows(self, n: int, name_prefix: str = "bench-") -> list[str]:
        """``n`` flow ids (the server answers any id; ``name_prefix`` is unused)."""
        import uuid

        return [str(uuid.uuid4()) for _ in range(n)]

    def credentials(self) -> dict[str, str]:
        """Keyword arguments for a client bound to this server."""
        return {
            "secret_key": self.secret_key,
            "organization_id": self.organization_id,
            "endpoint": self.endpoint,
        }


def official_env(home: str) -> dict[str, str]:
    """Environment for a child process using the official ``vi`` client.

    ``vi`` writes a DEBUG log file under ``~/.datature/vi/logs`` by default, so
    HOME points at a throwaway directory (its default behaviour is kept).
    """
    return {**os.environ, "HOME": home}


def run_child(args: Sequence[str], *, env: dict[str, str] | None = None) -> Any:
    """Run ``python <args>`` and return the JSON object it prints last on stdout."""
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"child {' '.join(args)} printed no JSON:\n{proc.stdout[-2000:]}")
    return json.loads(lines[-1])


def temp_home() -> tempfile.TemporaryDirectory[str]:
    """A throwaway HOME directory."""
    return tempfile.TemporaryDirectory(prefix="vi-bench-home-")


def have(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it here)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class LagTicker:
    """Measures event-loop lag: the worst lateness of a 10 ms ticker.

    ``async with LagTicker() as ticker: ...`` then ``ticker.max_lag`` (seconds).
    ``max_lag_start`` covers ticks that began within ``start_window`` seconds of
    entering (a burst of work started all at once), ``max_lag_steady`` the rest.
    """

    def __init__(self, period: float = 0.010, start_window: float = 0.3) -> None:
        """Tick every ``period`` seconds."""
        self.period = period
        self.start_window = start_window
        self.max_lag = 0.0
        self.max_lag_start = 0.0
        self.max_lag_steady = 0.0
        # The worst lag during which this thread was busy (CPU time), not preempted:
        # the part of ``max_lag`` that the loop's own work caused.
        self.max_lag_cpu = 0.0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        entered = loop.time()
        while True:
            start, cpu = loop.time(), time.thread_time()
            await asyncio.sleep(self.period)
            lag = loop.time() - start - self.period
            self.ticks += 1
            self.max_lag = max(self.max_lag, lag)
            self.max_lag_cpu = max(self.max_lag_cpu, min(lag, time.thread_time() - cpu))
            if start - entered < self.start_window:
                self.max_lag_start = max(self.max_lag_start, lag)
            else:
                self.max_lag_steady = max(self.max_lag_steady, lag)

    async def __aenter__(self) -> LagTicker:
        """Start ticking."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop ticking."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


class GcPauses:
    """Records CPython's garbage-collection pauses while active (``with GcPauses() as gc:``)."""

    def __init__(self) -> None:
        """Nothing recorded yet."""
        self.pauses: list[tuple[int, float]] = []  # (generation, seconds)
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((int(info["generation"]), time.perf_counter() - self._started))

    def __enter__(self) -> GcPauses:
        """Start recording."""
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop recording."""
        gc.callbacks.remove(self._callback)

    def summary(self) -> dict[str, Any]:
        """Count and longest pause per generation."""
        out: dict[str, Any] = {}
        for gen in (0, 1, 2):
            times = [t for g, t in self.pauses if g == gen]
            out[f"gen{gen}"] = {"count": len(times), "max_s": max(times, default=0.0)}
        return out


class Stopwatch:
    """Wall time and this process's CPU time of a block: ``with Stopwatch() as sw:``.

    The CPU time (``time.process_time``) is the client's own work: the server
    runs in another process, so it is never counted.
    """

    def __init__(self) -> None:
        """Not started yet."""
        self.wall = 0.0
        self.cpu = 0.0
        self._started = (0.0, 0.0)

    def __enter__(self) -> Stopwatch:
        """Start both clocks."""
        self._started = (time.perf_counter(), time.process_time())
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop both clocks."""
        wall, cpu = self._started
        self.wall = time.perf_counter() - wall
        self.cpu = time.process_time() - cpu


def fmt_s(seconds: float) -> str:
    """Seconds in a short human form."""
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f}us"
    if seconds < 1:
        return f"{seconds * 1000:.1f}ms"
    return f"{seconds:.2f}s"
