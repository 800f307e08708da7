"""The API's objects as attrs classes (frozen, slots).

Python names follow the official Vi SDK (``flow_id``, ``organization_id``,
``spec.training_project``, ``metadata.time_created``, ``run.spec.killed_at``,
``status.conditions[-1].condition``); the converter in ``_convert`` maps them
to the camelCase JSON on the wire.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import attrs

from ._constants import MAX_PAGE_SIZE
from ._names import camel

__all__ = [
    "ConditionName",
    "ConditionStatus",
    "DeletedResource",
    "Flow",
    "FlowBlock",
    "FlowSpec",
    "LogLine",
    "Model",
    "ModelContents",
    "ModelDownload",
    "ModelDownloadUrl",
    "ModelSpec",
    "ModelStatus",
    "Page",
    "PaginationParams",
    "ResourceMetadata",
    "Run",
    "RunCondition",
    "RunEvent",
    "RunPhase",
    "RunSpec",
    "RunStatus",
]

T = TypeVar("T")


class _OpenEnum(str, enum.Enum):
    """A string enum that keeps values it does not know instead of failing."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value.upper()
        member._value_ = value
        return member

    def __str__(self) -> str:
        return str(self.value)


class ConditionName(_OpenEnum):
    """A run condition's name. Unknown names from the server are kept as-is."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"
    CANCELLED = "Cancelled"
    STARTED = "Started"
    FINISHED = "Finished"


class ConditionStatus(_OpenEnum):
    """Whether a condition was reached. Unknown statuses are kept as-is."""

    WAITING = "Waiting"
    REACHED = "Reached"
    FAILED_REACH = "FailedReach"


class RunPhase(str, enum.Enum):
    """The phase of a run, derived from its latest condition and ``killed_at``."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"
    CANCELLED = "Cancelled"
    UNKNOWN = "Unknown"

    @classmethod
    def _missing_(cls, value: object) -> RunPhase | None:
        # any case: RunPhase("running") is RunPhase.RUNNING
        if isinstance(value, str):
            for member in cls:
                if member.value.lower() == value.strip().lower():
                    return member
        return None

    @property
    def is_terminal(self) -> bool:
        """True for phases a run never leaves."""
        return self in _TERMINAL

    def __str__(self) -> str:
        return str(self.value)


_TERMINAL = frozenset({RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.ERROR, RunPhase.CANCELLED})


@attrs.frozen
class PaginationParams:
    """Page size and the opaque token of the page to fetch (``None`` = first)."""

    page_token: str | None = None
    page_size: int = 10

    def __attrs_post_init__(self) -> None:
        if isinstance(self.page_size, bool) or not isinstance(self.page_size, int):
            raise TypeError(f"page_size must be an integer, got {type(self.page_size).__name__}")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(
                f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {self.page_size}"
            )


@attrs.frozen
class ResourceMetadata:
    """Timestamps (epoch milliseconds), generation and string attributes."""

    time_created: int = 0
    last_updated: int = 0
    generation: int = 0
    attributes: dict[str, str] = attrs.field(factory=dict)


_FIELDS_BY_KEY: dict[type[Any], dict[str, attrs.Attribute[Any]]] = {}


def _fields_by_key(cls: type[Any]) -> dict[str, attrs.Attribute[Any]]:
    fields = _FIELDS_BY_KEY.get(cls)
    if fields is None:
        resolved = attrs.fields(attrs.resolve_types(cls))
        fields = {key: a for a in resolved for key in (a.name, camel(a.name))}
        _FIELDS_BY_KEY[cls] = fields
    return fields


def check_keys(data: Mapping[Any, Any], cls: type[Any], where: str) -> dict[str, Any]:
    """The fields of ``cls`` by key, checking that ``data`` has no other key.

    Args:
        data: A dict given for a ``cls``.
        cls: An attrs class.
        where: What ``data`` is, for the error (``"spec"``).

    Returns:
        The attrs fields of ``cls`` by key, snake_case and camelCase alike.

    Raises:
        TypeError: ``data`` has another key (the error names ``where`` and lists
            the known keys).
    """
    fields = _fields_by_key(cls)
    for key in data:
        if key not in fields:
            known = ", ".join(a.name for a in attrs.fields(cls))
            raise TypeError(f"{where}: unknown key {key!r} for {cls.__name__} (known: {known})")
    return fields


def _from_dict(value: Any, cls: type[T], where: str) -> T:
    """``value`` if it is a ``cls``, a ``cls`` built from a dict, else TypeError."""
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        fields = check_keys(value, cls, where)
        try:
            return cls(**{fields[key].name: item for key, item in value.items()})
        except TypeError as exc:
            raise TypeError(f"{where}: {exc}") from None
    raise TypeError(f"{where} must be a {cls.__name__} or a dict, got {type(value).__name__}")


@attrs.frozen
class FlowBlock:
    """One block of a flow's training pipeline."""

    block: str
    settings: dict[str, Any] = attrs.field(factory=dict)
    style: dict[str, Any] = attrs.field(factory=dict)


def _blocks(value: Iterable[FlowBlock | dict[str, Any]]) -> list[FlowBlock]:
    """FlowSpec.blocks: FlowBlocks, or dicts with FlowBlock's keys."""
    if value.__class__ is list:
        for block in value:
            if block.__class__ is not FlowBlock:
                break
        else:
            return value  # the common case (and every decoded spec), checked
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
        raise TypeError(
            f"FlowSpec.blocks must be a list of FlowBlock or dicts, got {type(value).__name__}"
        )
    return [_from_dict(b, FlowBlock, f"FlowSpec.blocks[{i}]") for i, b in enumerate(value)]


@attrs.frozen
class FlowSpec:
    """What a flow trains: its blocks, settings and tolerations.

    ``blocks`` may be given as dicts (``[{"block": "train"}]``); they become
    FlowBlocks, and a key FlowBlock does not have raises TypeError.
    """

    name: str
    schema: str = "v1"
    tolerations: dict[str, list[str]] = attrs.field(factory=dict)
    settings: dict[str, Any] = attrs.field(factory=dict)
    blocks: list[FlowBlock] = attrs.field(factory=list, converter=_blocks)
    training_project: str | None = None


def _fmt_ms(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def _common_lines(
    organization_id: str, training_project: str | None, metadata: ResourceMetadata
) -> list[str]:
    return [
        f"  Organization:     {organization_id}",
        f"  Training project: {training_project or 'Not specified'}",
        f"  Created:          {_fmt_ms(metadata.time_created)}",
        f"  Last updated:     {_fmt_ms(metadata.last_updated)}",
    ]


class _Summarized:
    """Adds ``info()``, printing what ``summary()`` returns."""

    __slots__ = ()

    def summary(self) -> str:
        """A readable multi-line summary."""
        raise NotImplementedError

    def info(self) -> None:
        """Print a readable summary (the text of ``summary()``)."""
        print(self.summary())


@attrs.frozen
class Flow(_Summarized):
    """A training workflow configuration."""

    flow_id: str
    spec: FlowSpec
    organization_id: str = ""
    metadata: ResourceMetadata = attrs.field(factory=ResourceMetadata)
    self_link: str = ""
    etag: str = ""

    def summary(self) -> str:
        """The readable summary that ``info()`` prints.

        Returns:
            Several lines of text, without a final newline.
        """
        lines = [
            f"Flow {self.flow_id}",
            f"  Name:             {self.spec.name}",
            f"  Schema:           {self.spec.schema}",
            *_common_lines(self.organization_id, self.spec.training_project, self.metadata),
            f"  Tolerations:      {len(self.spec.tolerations)} rule(s)",
            f"  Blocks:           {len(self.spec.blocks)}",
        ]
        lines += [f"    {i}. {b.block}" for i, b in enumerate(self.spec.blocks, 1)]
        return "\n".join(lines)


@attrs.frozen
class RunCondition:
    """One entry of a run's condition history; the last one is the latest."""

    condition: ConditionName
    status: ConditionStatus = ConditionStatus.REACHED
    last_transition_time: int = 0
    reason: str | None = None
    message: str | None = None


def _flow_spec(value: FlowSpec | dict[str, Any]) -> FlowSpec:
    """RunSpec.flow: a FlowSpec, or a dict with FlowSpec's keys."""
    if isinstance(value, FlowSpec):
        return value
    return _from_dict(value, FlowSpec, "RunSpec.flow")


@attrs.frozen
class RunSpec:
    """What a run executes: an embedded flow spec, its project, and when it was killed."""

    flow: FlowSpec = attrs.field(converter=_flow_spec)
    killed_at: int | None = None
    training_project: str | None = None


@attrs.frozen
class RunStatus:
    """What the server observed of a run: its log link and condition history."""

    log: str = ""
    observed_generation: int = 0
    conditions: list[RunCondition] = attrs.field(factory=list)
    flow_id: str | None = None
    """The flow the server linked this run to, when the server reports it."""


_REACHABLE = frozenset({RunPhase.PENDING, RunPhase.RUNNING, RunPhase.SUCCEEDED})

#: The phase each condition name stands for (also read by ``_runs.phases``).
PHASE_OF_CONDITION: dict[str, RunPhase] = {
    "Pending": RunPhase.PENDING,
    "Running": RunPhase.RUNNING,
    "Started": RunPhase.RUNNING,
    "Succeeded": RunPhase.SUCCEEDED,
    "Finished": RunPhase.SUCCEEDED,
    "Failed": RunPhase.FAILED,
    "Error": RunPhase.ERROR,
    "Cancelled": RunPhase.CANCELLED,
}


def phase_of(status: RunStatus, killed_at: int | None) -> RunPhase:
    """Derive a run's phase from its latest condition and ``killed_at``.

    A condition whose status is ``FailedReach`` means the run could not reach
    that state: reaching Running or Succeeded failed, so the run failed. A run
    that was killed and is no longer progressing is Cancelled. (The rules on
    phases callers pass in are in ``_runs.phases``.)

    Args:
        status: The run's status, with its condition history.
        killed_at: When the run was killed (epoch milliseconds), or None.

    Returns:
        The run's phase; ``UNKNOWN`` for a condition this client does not know.
    """
    if not status.conditions:
        return RunPhase.CANCELLED if killed_at else RunPhase.PENDING
    latest = status.conditions[-1]
    phase = PHASE_OF_CONDITION.get(latest.condition.value, RunPhase.UNKNOWN)
    if latest.status is ConditionStatus.FAILED_REACH and phase in _REACHABLE:
        phase = RunPhase.FAILED
    elif latest.status is ConditionStatus.WAITING and phase is not RunPhase.UNKNOWN:
        # Waiting to reach a phase: the run is still in the one before.
        phase = (
            RunPhase.PENDING if phase in (RunPhase.PENDING, RunPhase.RUNNING) else RunPhase.RUNNING
        )
    if killed_at and not phase.is_terminal and phase is not RunPhase.UNKNOWN:
        # A kill that the server acknowledged but has not yet reported as a condition.
        return RunPhase.CANCELLED
    return phase


@attrs.frozen
class Run(_Summarized):
    """One execution of a flow."""

    run_id: str
    spec: RunSpec
    organization_id: str = ""
    status: RunStatus = attrs.field(factory=RunStatus)
    metadata: ResourceMetadata = attrs.field(factory=ResourceMetadata)
    self_link: str = ""
    etag: str = ""

    @property
    def phase(self) -> RunPhase:
        """The run's phase, derived from its latest condition and ``spec.killed_at``."""
        return phase_of(self.status, self.spec.killed_at)

    @property
    def is_terminal(self) -> bool:
        """True once the run has succeeded, failed, errored or been cancelled."""
        return self.phase.is_terminal

    def summary(self) -> str:
        """The readable summary that ``info()`` prints.

        Returns:
            Several lines of text, without a final newline.
        """
        lines = [
            f"Run {self.run_id}",
            f"  Phase:            {self.phase.value}",
            f"  Flow name:        {self.spec.flow.name}",
            f"  Schema:           {self.spec.flow.schema}",
            *_common_lines(self.organization_id, self.spec.training_project, self.metadata),
        ]
        if self.spec.killed_at:
            lines.append(f"  Killed at:        {_fmt_ms(self.spec.killed_at)}")
        lines.append(f"  Conditions:       {len(self.status.conditions)}")
        lines += [
            f"    {_fmt_ms(c.last_transition_time)}  {c.condition.value} ({c.status.value})"
            + (f": {c.message}" if c.message else "")
            for c in self.status.conditions
        ]
        return "\n".join(lines)


@attrs.frozen
class RunEvent:
    """One change seen by ``runs.watch()``.

    ``type`` is ``"added"`` (the run came into view: it exists, or entered the
    watched phases), ``"changed"`` (its phase or any other field changed) or
    ``"removed"`` (it was deleted, or left the watched phases). ``run`` is the
    run as now seen (for a deleted run: as last seen); ``previous`` is the state
    the watch reported before (None for a first "added").
    """

    type: Literal["added", "changed", "removed"]
    run: Run
    previous: Run | None = None


@attrs.frozen
class DeletedResource:
    """The answer to a delete: the id, and that it is gone."""

    id: str
    deleted: bool = True


@attrs.frozen
class LogLine:
    """One line of a run's log.

    ``seq`` (the line's number, from 1) is a local-server extension: None
    from a server that speaks only the Vi wire.
    """

    timestamp: int
    message: str
    level: str = "INFO"
    block: str | None = None
    seq: int | None = None

    @property
    def time(self) -> datetime:
        """The line's timestamp as a datetime (local time)."""
        return datetime.fromtimestamp(self.timestamp / 1000)

    def __str__(self) -> str:
        return f"{_fmt_ms(self.timestamp)} {self.level} {self.message}"


@attrs.frozen
class Page(Generic[T]):
    """One page of a list: its items and the tokens of its neighbours."""

    items: list[T]
    next_page: str | None = None
    prev_page: str | None = None


@attrs.frozen
class ModelSpec:
    """What a checkpoint is: its kind, epoch and evaluation metrics (when given)."""

    kind: str = ""
    epoch: int | None = None
    evaluation_metrics: dict[str, Any] | None = None


@attrs.frozen
class ModelDownloadUrl:
    """A pre-signed storage URL and when it expires (epoch milliseconds)."""

    url: str
    expires_at: int = 0

    def __repr__(self) -> str:
        # The signature in the query is a credential for the object: keep it out of logs.
        return f"ModelDownloadUrl(url={self.url.split('?', 1)[0]!r}, expires_at={self.expires_at})"


@attrs.frozen
class ModelContents:
    """What ``contents=True`` adds: where to download the checkpoint from."""

    download_url: ModelDownloadUrl | None = None


@attrs.frozen
class ModelStatus:
    """What the server observed of a checkpoint; ``contents`` only with ``contents=True``."""

    observed_generation: int = 0
    conditions: list[dict[str, Any]] = attrs.field(factory=list)
    storage_object: str = ""
    contents: ModelContents | None = None


@attrs.frozen
class Model(_Summarized):
    """A checkpoint ("run output") of a Succeeded run."""

    model_id: str
    run_id: str
    spec: ModelSpec = attrs.field(factory=ModelSpec)
    organization_id: str = ""
    status: ModelStatus = attrs.field(factory=ModelStatus)
    metadata: ResourceMetadata = attrs.field(factory=ResourceMetadata)
    self_link: str = ""
    etag: str = ""

    @property
    def download_url(self) -> ModelDownloadUrl | None:
        """The pre-signed download URL, when fetched with ``contents=True``."""
        contents = self.status.contents
        return None if contents is None else contents.download_url

    def summary(self) -> str:
        """The readable summary that ``info()`` prints.

        Returns:
            Several lines of text, without a final newline.
        """
        metrics = self.spec.evaluation_metrics or {}
        lines = [
            f"Model {self.model_id}",
            f"  Run:              {self.run_id}",
            f"  Organization:     {self.organization_id}",
            f"  Kind:             {self.spec.kind or '-'}",
            f"  Epoch:            {'-' if self.spec.epoch is None else self.spec.epoch}",
            f"  Created:          {_fmt_ms(self.metadata.time_created)}",
            f"  Download URL:     {'yes' if self.download_url else 'not fetched'}",
            f"  Metrics:          {len(metrics) or 'none'}",
        ]
        lines += [f"    {key}: {value}" for key, value in metrics.items()]
        return "\n".join(lines)


@attrs.frozen
class ModelDownload(_Summarized):
    """A checkpoint on disk, verified and extracted.

    ``model_dir`` is ``save_dir/<run_id>``; ``model_path`` its ``model_full``
    directory (the weights), ``run_config_path`` its ``run.json``,
    ``adapter_path`` the ``model_adapter`` directory or None. ``sha256`` is
    that of the downloaded archive; ``files`` are paths relative to
    ``model_dir``; ``reused`` is true when the model was already on disk and
    nothing was downloaded. ``task_type`` and ``architecture`` are what the
    model's ``run.json`` states (its ``flow.spec.task_type``; the FlowSpec model
    block's ``settings.architecture.name``), None when it does not say.
    """

    model_dir: Path
    model_path: Path
    run_config_path: Path
    adapter_path: Path | None
    checkpoint: Model
    size_bytes: int
    sha256: str
    files: list[str] = attrs.field(factory=list)
    reused: bool = False
    task_type: str | None = None
    architecture: str | None = None

    def summary(self) -> str:
        """The readable summary that ``info()`` prints.

        Returns:
            Several lines of text, without a final newline.
        """
        lines = [
            f"Model {self.checkpoint.model_id} of run {self.checkpoint.run_id}"
            + (" (already on disk)" if self.reused else ""),
            f"  Directory:        {self.model_dir}",
            f"  Weights:          {self.model_path}",
            f"  Adapter:          {self.adapter_path or 'none'}",
            f"  Run config:       {self.run_config_path}",
            f"  Task, model:      {self.task_type or '-'}, {self.architecture or '-'}",
            f"  Archive:          {self.size_bytes / 1e6:.1f} MB, sha256 {self.sha256[:16]}...",
            f"  Files:            {len(self.files)}",
        ]
        return "\n".join(lines)
