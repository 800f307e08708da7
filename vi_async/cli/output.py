"""Terminal output of the command line: tables, JSON, durations and a progress bar."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import IO, Any, Generic, TypeVar

import attrs

from .._convert import converter
from ..bulk import BulkItemResult
from ..models import Flow, Model, Run, RunEvent

T = TypeVar("T")

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
NAME_WIDTH = 32


def parse_duration(text: str) -> timedelta:
    """``"90"``, ``"45s"``, ``"30m"``, ``"12h"``, ``"7d"``, ``"2w"`` -> timedelta."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"invalid duration {text!r}: use e.g. 90s, 30m, 12h, 7d or 2w")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def when(ms: int) -> str:
    """Epoch milliseconds as a local ``YYYY-MM-DD HH:MM`` string."""
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M") if ms else "-"


def clip(text: str, width: int = NAME_WIDTH) -> str:
    """Cut ``text`` to ``width`` characters, marking the cut."""
    return text if len(text) <= width else text[: width - 1] + "~"


def flow_json(flow: Flow) -> dict[str, Any]:
    """A flow as the API's JSON (camelCase)."""
    data: dict[str, Any] = converter.unstructure(flow)
    return data


def run_json(run: Run) -> dict[str, Any]:
    """A run as the API's JSON, plus its derived ``phase``."""
    data: dict[str, Any] = converter.unstructure(run)
    data["phase"] = run.phase.value
    return data


def event_json(event: RunEvent) -> dict[str, Any]:
    """A watch event as one JSON object: type, run id, phases, and the run."""
    previous = event.previous
    return {
        "type": event.type,
        "runId": event.run.run_id,
        "phase": event.run.phase.value,
        "previousPhase": None if previous is None else previous.phase.value,
        "run": run_json(event.run),
    }


def event_line(event: RunEvent) -> str:
    """A watch event as one human line."""
    run, previous = event.run, event.previous
    moved = (
        f"{previous.phase.value} -> {run.phase.value}"
        if previous is not None and previous.phase is not run.phase
        else run.phase.value
    )
    stamp = datetime.now().strftime("%H:%M:%S")
    return f"{stamp}  {event.type:<8} {run.run_id}  {moved}  {clip(run.spec.flow.name)}"


def dump(data: Any, out: IO[str] | None = None) -> None:
    """Print one JSON document."""
    print(json.dumps(data, indent=2, default=str), file=out or sys.stdout, flush=True)


def dump_line(data: Any) -> None:
    """Print one JSON document on one line (JSON Lines)."""
    print(json.dumps(data, default=str), flush=True)


class JsonArray:
    """Print a JSON array item by item, so that long listings stream."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, item: Any) -> None:
        """Print one element."""
        text = json.dumps(item, indent=2, default=str).replace("\n", "\n  ")
        print(("[\n  " if self.count == 0 else ",\n  ") + text, end="", flush=True)
        self.count += 1

    def close(self) -> None:
        """End the array."""
        print("[]" if self.count == 0 else "\n]", flush=True)


class Table:
    """A fixed-width table printed row by row, so long listings stream."""

    def __init__(
        self, columns: Sequence[tuple[str, int]], out: IO[str] | None = None, indent: str = ""
    ) -> None:
        self.columns = columns
        self.out = out or sys.stdout
        self.indent = indent
        self.rows = 0

    def _line(self, cells: Iterable[str]) -> str:
        parts = [f"{cell:<{width}}" for cell, (_, width) in zip(cells, self.columns, strict=True)]
        return self.indent + "  ".join(parts).rstrip()

    def row(self, *cells: str) -> None:
        """Print one row (and the header before the first one)."""
        if self.rows == 0:
            print(self._line(name for name, _ in self.columns), file=self.out)
        self.rows += 1
        print(self._line(cells), file=self.out, flush=True)


FLOW_COLUMNS = (("FLOW ID", 36), ("NAME", NAME_WIDTH), ("CREATED", 16), ("BLOCKS", 6))
RUN_COLUMNS = (("RUN ID", 36), ("PHASE", 10), ("FLOW", NAME_WIDTH), ("CREATED", 16))
RESULT_COLUMNS = (("FLOW ID", 36), ("NAME", NAME_WIDTH), ("OUTCOME", 12), ("REASON", 0))


def flow_row(table: Table, flow: Flow) -> None:
    """One flow as a table row."""
    table.row(
        flow.flow_id,
        clip(flow.spec.name),
        when(flow.metadata.time_created),
        str(len(flow.spec.blocks)),
    )


def run_row(table: Table, run: Run) -> None:
    """One run as a table row."""
    table.row(
        run.run_id, run.phase.value, clip(run.spec.flow.name), when(run.metadata.time_created)
    )


MODEL_COLUMNS = (("CHECKPOINT", 24), ("EPOCH", 6), ("CREATED", 16), ("METRICS", 0))


def model_json(model: Model) -> dict[str, Any]:
    """A checkpoint as the API's JSON."""
    data: dict[str, Any] = converter.unstructure(model)
    return data


def model_row(table: Table, model: Model) -> None:
    """One checkpoint as a table row."""
    metrics = model.spec.evaluation_metrics or {}
    table.row(
        model.model_id,
        "-" if model.spec.epoch is None else str(model.spec.epoch),
        when(model.metadata.time_created),
        " ".join(f"{k}={v}" for k, v in metrics.items()),
    )


def megabytes(n: float) -> str:
    """A byte count in MB, one decimal."""
    return f"{n / 1e6:.1f} MB"


@attrs.frozen
class View(Generic[T]):
    """How one kind of object is printed: as JSON, and as a table row."""

    to_json: Callable[[T], Any]
    columns: tuple[tuple[str, int], ...]
    row: Callable[[Table, T], None]


FLOW_VIEW = View(flow_json, FLOW_COLUMNS, flow_row)
RUN_VIEW = View(run_json, RUN_COLUMNS, run_row)
MODEL_VIEW = View(model_json, MODEL_COLUMNS, model_row)


def result_row(table: Table, result: BulkItemResult) -> None:
    """One bulk result as a table row."""
    reason = result.reason or (str(result.error) if result.error else "")
    table.row(result.flow_id, clip(result.name or "-"), result.outcome.value, reason)


class ProgressBar:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    WIDTH = 28
    INTERVAL = 0.1

    def __init__(
        self,
        label: str,
        *,
        rate: bool = True,
        stream: IO[str] | None = None,
        enabled: bool | None = None,
        fmt: Callable[[float], str] = lambda n: f"{n:.0f}",
    ) -> None:
        self.label = label
        self.rate = rate
        self.fmt = fmt
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self._drawn = 0.0
        self._visible = False

    def update(
        self, done: int, total: int | None, detail: str = "", *, force: bool = False
    ) -> None:
        """Redraw (at most every 0.1 s unless ``force``)."""
        now = time.monotonic()
        if not self.enabled or (not force and now - self._drawn < self.INTERVAL):
            return
        self._drawn = now
        elapsed = now - self.started
        tail = f"{self.fmt(done / max(elapsed, 1e-6))}/s" if self.rate else f"{elapsed:.0f}s"
        if total:
            filled = min(self.WIDTH, self.WIDTH * done // total)
            counts = f"{self.fmt(done)}/{self.fmt(total)}"
            bar = "[" + "#" * filled + "." * (self.WIDTH - filled) + f"] {counts}"
        else:
            bar = self.fmt(done)
        line = f"\r{self.label} {bar}  {detail}  {tail}"
        self.stream.write(line + "\x1b[K")
        self.stream.flush()
        self._visible = True

    def close(self) -> None:
        """End the bar's line."""
        if self._visible:
            self.stream.write("\n")
            self.stream.flush()
            self._visible = False


class BulkProgress:
    """A bulk job ``progress`` callback drawing a ProgressBar with live counts."""

    def __init__(self, bar: ProgressBar) -> None:
        self.bar = bar
        self.counts: dict[str, int] = {}

    def __call__(self, done: int, total: int | None, last: BulkItemResult) -> None:
        """Count the result and redraw."""
        outcome = last.outcome.value
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        detail = " ".join(f"{name} {n}" for name, n in self.counts.items())
        self.bar.update(done, total, detail, force=done == total)
