"""JSON encoding and decoding: orjson when the ``fast`` extra is installed."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

_orjson: ModuleType | None
try:  # pragma: no cover - depends on the environment
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None

HAVE_ORJSON = _orjson is not None


def dumps(value: Any) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON bytes."""
    if _orjson is not None:
        return _orjson.dumps(value)  # type: ignore[no-any-return]
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def loads(data: bytes | str) -> Any:
    """Decode JSON bytes or text; raises ValueError on invalid JSON."""
    if _orjson is not None:
        return _orjson.loads(data)
    return json.loads(data)
