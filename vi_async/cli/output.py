"""Terminal output of the command line, drawn with ``rich`` (the ``cli`` extra):
tables, JSON, durations, progress bars with rate and ETA, and a live status
with a moving timer.

Tables stream (one row at a time, fixed column widths; ids never cut, see
``table``) so that long listings show as they arrive. Bars and the live status
are drawn on stderr, and only when it is a terminal; elsewhere a status prints
plain lines, one per change.
JSON goes straight to stdout, never through rich (no markup, no wrapping).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import IO, Any, Generic, TypeVar

import attrs
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from .._convert import converter
from ..bulk.report import BulkItemResult
from ..models import Flow, Model, Run, RunEvent
from .durations import format_duration, parse_duration
from .table import Column, Table, _Console, console
from .terminal import safe

__all__ = [
    "FLOW_COLUMNS",
    "FLOW_VIEW",
    "MODEL_COLUMNS",
    "MODEL_VIEW",
    "NAME_WIDTH",
    "RESULT_COLUMNS",
    "RUN_COLUMNS",
    "RUN_VIEW",
    "BulkProgressBar",
    "Column",
    "JsonArray",
    "LiveStatus",
    "ProgressBar",
    "Table",
    "View",
    "clip",
    "console",
    "dump",
    "dump_line",
    "event_json",
    "event_line",
    "flow_json",
    "flow_row",
    "format_duration",
    "megabytes",
    "model_json",
    "model_row",
    "parse_duration",
    "result_row",
    "run_json",
    "run_row",
    "when",
]

T = TypeVar("T")

NAME_WIDTH = 32


def when(ms: int) -> str:
    """Epoch milliseconds as a local ``YYYY-MM-DD HH:MM`` string."""
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M") if ms else "-"


def clip(text: str, width: int = NAME_WIDTH) -> str:
    """Make ``text`` safe for a terminal (``safe``), then cut it to ``width``
    characters, marking the cut."""
    text = safe(text)
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
        self.count: int = 0

    def add(self, item: Any) -> None:
        """Print one element."""
        text = json.dumps(item, indent=2, default=str).replace("\n", "\n  ")
        print(("[\n  " if self.count == 0 else ",\n  ") + text, end="", flush=True)
        self.count += 1

    def close(self) -> None:
        """End the array."""
        print("[]" if self.count == 0 else "\n]", flush=True)


# The id first: never cut; on a narrow terminal the others give way (see .table).
FLOW_COLUMNS = (
    Column("FLOW ID", 36), Column("NAME", NAME_WIDTH, shrink=True), Column("CREATED", 16),
    Column("BLOCKS", 6),
)  # fmt: skip
RUN_COLUMNS = (
    Column("RUN ID", 36), Column("PHASE", 10), Column("FLOW", NAME_WIDTH, shrink=True),
    Column("CREATED", 16),
)  # fmt: skip
RESULT_COLUMNS = (
    Column("FLOW ID", 36), Column("NAME", NAME_WIDTH, shrink=True), Column("OUTCOME", 12),
    Column("REASON", 0, shrink=True),
)  # fmt: skip


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


MODEL_COLUMNS = (
    Column("CHECKPOINT", 24), Column("EPOCH", 6), Column("CREATED", 16),
    Column("METRICS", 0, shrink=True),
)  # fmt: skip


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
    columns: tuple[Column, ...]
    row: Callable[[Table, T], None]
    plural: str = "items"
    """What a listing of none says on a terminal's stderr (``no flows``)."""


FLOW_VIEW = View(flow_json, FLOW_COLUMNS, flow_row, "flows")
RUN_VIEW = View(run_json, RUN_COLUMNS, run_row, "runs")
MODEL_VIEW = View(model_json, MODEL_COLUMNS, model_row, "checkpoints")


def result_row(table: Table, result: BulkItemResult) -> None:
    """One bulk result as a table row."""
    reason = result.reason or (str(result.error) if result.error else "")
    table.row(result.flow_id, clip(result.name or "-"), result.outcome.value, reason)


class _Count(ProgressColumn):
    """``done/total`` through the bar's formatter (``done/?`` while the total is unknown)."""

    def __init__(self, fmt: Callable[[float], str]) -> None:
        super().__init__()
        self.fmt = fmt

    def render(self, task: Task) -> Text:
        """E.g. ``120/300`` or ``12.5 MB/268.4 MB``."""
        total = "?" if task.total is None else self.fmt(task.total)
        return Text(f"{self.fmt(task.completed)}/{total}", style="progress.download")


class _Rate(ProgressColumn):
    """The average rate since the start, through the bar's formatter (rich's own
    speed column counts bytes, and its windowed estimate jumps at the end of a burst)."""

    def __init__(self, fmt: Callable[[float], str]) -> None:
        super().__init__()
        self.fmt = fmt

    def render(self, task: Task) -> Text:
        """E.g. ``350/s``."""
        elapsed = task.elapsed
        if not elapsed or not task.completed:
            return Text("-/s", style="progress.data.speed")
        return Text(f"{self.fmt(task.completed / elapsed)}/s", style="progress.data.speed")


def _columns(rate: bool, fmt: Callable[[float], str], count: bool) -> list[ProgressColumn]:
    """The bar's columns. The same whether or not the total is known yet (the bar
    pulses and the count reads ``n/?`` until it is), so the line never restarts."""
    columns: list[ProgressColumn] = [TextColumn("{task.description}", markup=False)]
    if count:
        columns += [BarColumn(), _Count(fmt)]
    else:
        columns.append(SpinnerColumn())
    columns.append(TextColumn("{task.fields[detail]}", markup=False))
    if rate:
        columns.append(_Rate(fmt))
    columns.append(TimeElapsedColumn())
    if rate and count:
        columns.append(TimeRemainingColumn())
    return columns


class ProgressBar:
    """A progress bar on stderr (rich): done/total, rate, elapsed time and ETA.

    Drawn only when the stream is a terminal (or ``enabled=True``); it redraws
    itself ten times a second, so the timer moves between updates. ``rate=False``
    leaves out rate and ETA; ``fmt`` formats counts and rate (e.g. ``megabytes``);
    ``count=False`` shows a spinner instead of the bar and count (a status line).
    """

    def __init__(
        self,
        label: str,
        *,
        rate: bool = True,
        stream: IO[str] | None = None,
        enabled: bool | None = None,
        fmt: Callable[[float], str] = lambda n: f"{n:.0f}",
        count: bool = True,
    ) -> None:
        self.label = label
        self.rate = rate
        self.fmt = fmt
        self.count = count
        self.stream: IO[str] = stream or sys.stderr
        self.enabled: bool = self.stream.isatty() if enabled is None else enabled
        self.started: float = time.monotonic()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def _start(self, total: int | None) -> Progress:
        columns = _columns(self.rate, self.fmt, self.count)
        bar_console = _Console(file=self.stream, force_terminal=self.enabled or None)
        # stdout printed while the bar is up goes above it only when both share a
        # terminal; a redirected stdout must not be rerouted to stderr.
        progress = Progress(
            *columns,
            console=bar_console,
            refresh_per_second=10,
            redirect_stdout=sys.stdout.isatty(),
            redirect_stderr=False,
        )
        progress.start()
        elapsed = time.monotonic() - self.started
        self._task = progress.add_task(safe(self.label), total=total, detail="")
        # the bar's clock starts when the bar was made, not when it was first drawn
        progress.tasks[0].start_time = progress.get_time() - elapsed
        self._progress = progress
        return progress

    def update(
        self, done: int, total: int | None, detail: str = "", *, force: bool = False
    ) -> None:
        """Show ``done`` of ``total`` (None: unknown) and a detail text."""
        if not self.enabled:
            return
        progress = self._progress
        if progress is None:
            progress = self._start(total)
        assert self._task is not None
        progress.update(self._task, completed=done, total=total, detail=safe(detail))
        if force:
            progress.refresh()

    def close(self) -> None:
        """Draw the final state and end the bar's line."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class LiveStatus:
    """One changing status line with a spinner and a moving timer (on a terminal),
    e.g. ``waiting for run_x  Running  0:00:12``; elsewhere one plain line per
    change of text (``waiting for run_x: Running (12s)``)."""

    def __init__(
        self, label: str, *, stream: IO[str] | None = None, enabled: bool | None = None
    ) -> None:
        self.label = label
        self.stream: IO[str] = stream or sys.stderr
        self.enabled: bool = self.stream.isatty() if enabled is None else enabled
        self.started: float = time.monotonic()
        self._text: str | None = None
        self._bar = ProgressBar(
            label, rate=False, stream=self.stream, enabled=self.enabled, count=False
        )

    def update(self, text: str) -> None:
        """Show ``text`` after the label."""
        if self.enabled:
            self._bar.update(0, None, text)
            return
        if text != self._text:
            elapsed = format_duration(time.monotonic() - self.started)
            print(safe(f"{self.label}: {text} ({elapsed})"), file=self.stream, flush=True)
        self._text = text

    def close(self) -> None:
        """End the line."""
        self._bar.close()


class BulkProgressBar:
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
