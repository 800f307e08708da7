"""Deterministic checkpoint archives, generated on the fly in constant memory.

A checkpoint's blob is an uncompressed tar with the official layout::

    model_full/model.safetensors      a valid safetensors file (one U8 tensor)
    model_full/run.json               the run's config (see :func:`run_config`)
    model_adapter/adapter_model.safetensors, adapter_config.json   (checkpoints after the first)

Its bytes depend only on the :class:`ArtifactKey`, so any byte range can be
produced without the rest: the archive is a list of segments (tar headers and
small files held as bytes, the tensor's payload a repeating pseudo-random
pattern whose period is a prime, so that data written at a wrong multiple of
a power-of-two offset does not hash the same). Nothing is ever held whole in
memory; hashes are computed once per artifact by streaming it, and the
computation stops within a chunk when asked to (see ``Hasher`` in
:mod:`vi_async.local.storage`).

``MAX_ARTIFACT_BYTES`` is the largest archive this layout can describe: a
ustar member holds at most ``8**11 - 1`` bytes (eleven octal digits).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

READ_CHUNK = 256 * 1024
PATTERN_PERIOD = 65_521  # prime
TAR_BLOCK = 512
MTIME = 1_700_000_000
MIN_TENSOR_BYTES = 64
DEFAULT_ARCHITECTURE = "vi-local-tiny"
DEFAULT_TASK_TYPE = "phrase-grounding"
DEFAULT_MODEL_SETTINGS: dict[str, Any] = {
    "quantization": {"enabled": False},
    "compute": {"precisionType": "bfloat16"},
    "evaluation": {},
}
MAX_ARTIFACT_BYTES = 8**11 - 1
"""The largest archive served: its tensor member must fit a ustar size field."""


@dataclass(frozen=True)
class ArtifactKey:
    """Everything a checkpoint's archive is made from."""

    run_id: str
    checkpoint_id: str
    index: int
    size: int
    flow_name: str
    flow_spec: str = ""
    """The run's FlowSpec as canonical JSON ("": a minimal one named ``flow_name``)."""

    @property
    def etag(self) -> str:
        """A strong validator of the archive's bytes (quoted, as HTTP sends it)."""
        digest = hashlib.sha1(json.dumps(self.__dict__, sort_keys=True).encode()).hexdigest()
        return f'"{digest[:32]}"'


def _with_model(flow: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """The flow with a complete model block; its architecture name and task type.

    The official loaders take the first block whose name contains ``model``
    (``settings.architecture.name/size``, ``quantization.enabled``, ``compute``,
    ``evaluation``) and the task from a ``dataset`` block's ``projectKind``; what
    the run's own blocks lack is filled in, what they set is kept.
    """
    blocks = [dict(block) for block in flow.get("blocks") or [] if isinstance(block, dict)]
    model = next((b for b in blocks if "model" in str(b.get("block", ""))), None)
    if model is None:
        model = {"block": "model", "settings": {}, "style": {}}
        blocks.append(model)
    settings = model["settings"] = dict(model.get("settings") or {})
    architecture = settings["architecture"] = dict(settings.get("architecture") or {})
    architecture.setdefault("name", DEFAULT_ARCHITECTURE)
    architecture.setdefault("size", "tiny")
    for name, default in DEFAULT_MODEL_SETTINGS.items():
        settings.setdefault(name, default)
    task = DEFAULT_TASK_TYPE
    for block in blocks:
        if "dataset" in str(block.get("block", "")):
            block["settings"] = {"projectKind": task, **(block.get("settings") or {})}
            task = str(block["settings"]["projectKind"])
            break
    return {**flow, "blocks": blocks}, str(architecture["name"]), task


def run_config(key: ArtifactKey) -> dict[str, Any]:
    """The ``run.json`` of a checkpoint, as the official inference code reads it.

    ``spec.flow`` is the run's FlowSpec with a model block naming the
    architecture (``vi.inference`` loaders read it); ``flow.spec`` has the task
    type and model name (its ``model_info`` reader reads those).
    """
    flow = json.loads(key.flow_spec) if key.flow_spec else {}
    flow = {"name": key.flow_name, "schema": "v1", "tolerations": {}, "settings": {}, **flow}
    flow, architecture, task = _with_model(flow)
    return {
        "kind": "Run",
        "runId": key.run_id,
        "checkpoint": key.checkpoint_id,
        "spec": {"flow": flow},
        "flow": {
            "spec": {"name": key.flow_name, "task_type": task, "model": {"name": architecture}}
        },
    }


def _safetensors_header(length: int) -> bytes:
    header = json.dumps(
        {
            "__metadata__": {"format": "pt"},
            "weight": {"dtype": "U8", "shape": [length], "data_offsets": [0, length]},
        },
        separators=(",", ":"),
    ).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header


def _tar_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, MTIME, 0o644
    info.uname = info.gname = "vi"
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")


class _Pattern:
    """The tensor payload: ``PATTERN_PERIOD`` seeded bytes, repeated."""

    def __init__(self, seed: str) -> None:
        out = bytearray()
        counter = 0
        while len(out) < PATTERN_PERIOD:
            out += hashlib.sha256(f"{seed}|{counter}".encode()).digest()
            counter += 1
        period = bytes(out[:PATTERN_PERIOD])
        repeats = READ_CHUNK // PATTERN_PERIOD + 2
        self._buffer = period * repeats

    def read(self, position: int, length: int) -> bytes:
        """``length`` (at most READ_CHUNK) payload bytes from ``position``."""
        start = position % PATTERN_PERIOD
        return self._buffer[start : start + length]


@dataclass(frozen=True)
class _Segment:
    offset: int
    length: int
    data: bytes | None  # None: the tensor payload pattern


class Artifact:
    """One checkpoint archive: its size, validator, hashes and byte ranges."""

    def __init__(self, key: ArtifactKey) -> None:
        self.key = key
        self.etag: str = key.etag
        self.hashes: dict[str, str] | None = None
        """The archive's hashes, once ``compute_hashes`` finished."""
        self._pattern = _Pattern(key.etag)
        files: list[tuple[str, list[bytes | int]]] = []
        config = json.dumps(run_config(key), indent=2).encode()
        adapter: list[tuple[str, list[bytes | int]]] = []
        if key.index > 1:
            adapter = [
                ("model_adapter/adapter_config.json", [b'{"r": 8, "lora_alpha": 16}\n']),
                ("model_adapter/adapter_model.safetensors", [_safetensors_header(64), 64]),
            ]
        fixed = sum(TAR_BLOCK + _padded(sum(_len(p) for p in parts)) for _, parts in adapter)
        fixed += 2 * TAR_BLOCK + _padded(len(config)) + 2 * TAR_BLOCK  # headers + end blocks
        header_guess = len(_safetensors_header(key.size))
        tensor = max(MIN_TENSOR_BYTES, key.size - fixed - header_guess - TAR_BLOCK)
        files.append(("model_full/model.safetensors", [_safetensors_header(tensor), tensor]))
        files.append(("model_full/run.json", [config]))
        files.extend(adapter)
        segments: list[_Segment] = []
        offset = 0

        def add(data: bytes | None, length: int) -> None:
            nonlocal offset
            if length:
                segments.append(_Segment(offset, length, data))
                offset += length

        for name, parts in files:
            size = sum(_len(p) for p in parts)
            add(_tar_header(name, size), TAR_BLOCK)
            for part in parts:
                if isinstance(part, bytes):
                    add(part, len(part))
                else:
                    add(None, part)
            add(b"\0" * (-size % TAR_BLOCK), -size % TAR_BLOCK)
        add(b"\0" * (2 * TAR_BLOCK), 2 * TAR_BLOCK)
        self._segments = segments
        self.size = offset

    def read(self, start: int, end: int) -> Iterator[bytes]:
        """The bytes of ``[start, end)`` in chunks of at most READ_CHUNK."""
        for segment in self._segments:
            seg_end = segment.offset + segment.length
            if seg_end <= start or segment.offset >= end:
                continue
            position = max(start, segment.offset)
            stop = min(end, seg_end)
            while position < stop:
                n = min(READ_CHUNK, stop - position)
                inner = position - segment.offset
                if segment.data is None:
                    yield self._pattern.read(inner, n)
                else:
                    yield segment.data[inner : inner + n]
                position += n

    def compute_hashes(self, stop: threading.Event | None = None) -> dict[str, str] | None:
        """Base64 md5 (and crc32c when google-crc32c is installed) of the whole archive.

        Computed once (then kept in ``hashes``), in chunks: a long hash ends
        within one chunk of ``stop`` being set.

        Args:
            stop: Set it to give up (nobody waits for the hashes any more).

        Returns:
            The hashes, or None when ``stop`` was set first.
        """
        if self.hashes is not None:
            return self.hashes
        md5 = hashlib.md5()
        crc = _crc32c()
        for chunk in self.read(0, self.size):
            if stop is not None and stop.is_set():
                return None
            md5.update(chunk)
            if crc is not None:
                crc.update(chunk)
        result = {"md5": base64.b64encode(md5.digest()).decode()}
        if crc is not None:
            result["crc32c"] = base64.b64encode(crc.digest()).decode()
        self.hashes = result
        return result

    def to_bytes(self) -> bytes:
        """The whole archive (tests and hostile servers; small artifacts only)."""
        buffer = io.BytesIO()
        for chunk in self.read(0, self.size):
            buffer.write(chunk)
        return buffer.getvalue()


def _len(part: bytes | int) -> int:
    return len(part) if isinstance(part, bytes) else part


def _padded(size: int) -> int:
    return size + (-size % TAR_BLOCK)


def _crc32c() -> Any:
    try:
        import google_crc32c
    except ImportError:  # optional: md5 alone is sent then
        return None
    return google_crc32c.Checksum()  # type: ignore[no-untyped-call,unused-ignore]


class ArtifactCache:
    """The most recently used artifacts (their hashes are the costly part)."""

    def __init__(self, capacity: int = 16) -> None:
        self._items: OrderedDict[ArtifactKey, Artifact] = OrderedDict()
        self._capacity = capacity

    def get(self, key: ArtifactKey) -> Artifact:
        """The artifact of ``key``, built on first use."""
        artifact = self._items.pop(key, None) or Artifact(key)
        self._items[key] = artifact
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)
        return artifact
