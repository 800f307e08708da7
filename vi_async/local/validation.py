"""Request validation: ids, JSON bodies, flow specs, attributes and merge-patch."""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

from vi_async.local.errors import bad_request

ID_RE = re.compile(r"[a-zA-Z0-9_-]{1,255}")
#: How deeply objects and arrays may nest in a request body.
MAX_JSON_DEPTH = 64
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")

JsonObject = dict[str, Any]


def check_id(value: str, what: str) -> str:
    """Return ``value`` if it is a valid Vi id (the whole string), else raise a 400 error."""
    if not ID_RE.fullmatch(value):
        raise bad_request(f"invalid {what} {value!r}: must match {ID_RE.pattern}")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _depth(text: str) -> int:
    """How deeply arrays and objects nest in (already valid) JSON ``text`` (or a bound <= 64)."""
    opening = text.count("[") + text.count("{")
    if opening <= MAX_JSON_DEPTH:
        return opening  # an upper bound, enough to accept
    depth = deepest = 0
    for bracket in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _check_strings(value: Any) -> None:
    """Reject lone surrogates in any key or string of a decoded JSON value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string holds a lone surrogate (not valid Unicode)") from None


def loads_json(raw: bytes | str) -> Any:
    """Decode untrusted JSON strictly: UTF-8, finite numbers, valid Unicode, bounded nesting.

    Raises ValueError for anything else (``NaN``, ``Infinity``, ``1e309``,
    ``"\\ud800"``, deeper than :data:`MAX_JSON_DEPTH`).
    """
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    if _depth(text) > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    # Strictly decoded UTF-8 holds no surrogate: one can only come from a \\u escape.
    if not isinstance(raw, bytes) or "\\ud" in text or "\\uD" in text:
        _check_strings(value)
    return value


def canonical_json(value: Any) -> str:
    """Serialize ``value`` deterministically (sorted keys, no spaces)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def spec_key(spec: JsonObject) -> str:
    """Return a short stable hash of a (normalized) flow spec."""
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()


def parse_json_object(raw: bytes) -> JsonObject:
    """Decode a request body that must be a JSON object."""
    try:
        value = loads_json(raw) if raw.strip() else None
    except ValueError as exc:
        raise bad_request(f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise bad_request("request body must be a JSON object")
    return value


def check_keys(obj: JsonObject, allowed: set[str], where: str) -> None:
    """Reject keys of ``obj`` outside ``allowed``."""
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise bad_request(f"unknown field(s) in {where}: {', '.join(unknown)}")


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge-patch and return the new value."""
    if not isinstance(patch, dict):
        return patch
    result: JsonObject = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _expect(value: Any, kind: type | tuple[type, ...], where: str, label: str) -> None:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise bad_request(f"{where} must be {label}")


def _str_map_of_lists(value: Any, where: str) -> dict[str, list[str]]:
    _expect(value, dict, where, "an object")
    for key, items in value.items():
        _expect(items, list, f"{where}.{key}", "a list of strings")
        for item in items:
            _expect(item, str, f"{where}.{key}", "a list of strings")
    return dict(value)


def _block(value: Any, where: str) -> JsonObject:
    _expect(value, dict, where, "an object")
    block = dict(value)
    name = block.get("block")
    if not isinstance(name, str) or not name:
        raise bad_request(f"{where}.block must be a non-empty string")
    for key in ("settings", "style"):
        if block.get(key) is None:
            block[key] = {}
        _expect(block[key], dict, f"{where}.{key}", "an object")
    return block


def normalize_flow_spec(value: Any, where: str = "spec") -> JsonObject:
    """Validate a FlowSpec and fill the defaults every reader expects.

    ``name`` is required; ``schema`` defaults to ``"v1"``, ``tolerations``,
    ``settings`` to ``{}``, ``blocks`` to ``[]``, ``trainingProject`` to null.
    Unknown keys are kept.
    """
    _expect(value, dict, where, "an object")
    spec: JsonObject = dict(value)
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request(f"{where}.name must be a non-empty string")
    defaults: dict[str, Any] = {"schema": "v1", "tolerations": {}, "settings": {}, "blocks": []}
    for key, default in defaults.items():
        if spec.get(key) is None:
            spec[key] = default
    _expect(spec["schema"], str, f"{where}.schema", "a string")
    spec["tolerations"] = _str_map_of_lists(spec["tolerations"], f"{where}.tolerations")
    _expect(spec["settings"], dict, f"{where}.settings", "an object")
    _expect(spec["blocks"], list, f"{where}.blocks", "a list")
    spec["blocks"] = [_block(b, f"{where}.blocks[{i}]") for i, b in enumerate(spec["blocks"])]
    spec["trainingProject"] = optional_str(spec.get("trainingProject"), f"{where}.trainingProject")
    return spec


def optional_str(value: Any, where: str) -> str | None:
    """Return ``value`` if it is a string or None, else raise a 400 error."""
    if value is not None:
        _expect(value, str, where, "a string or null")
    return value  # type: ignore[no-any-return]


def optional_epoch_ms(value: Any, where: str) -> int | None:
    """Return ``value`` if it is a non-negative integer or None, else raise a 400 error."""
    if value is not None:
        _expect(value, int, where, "an integer (epoch milliseconds) or null")
        if value < 0:
            raise bad_request(f"{where} must not be negative")
    return value  # type: ignore[no-any-return]


def attributes(value: Any, where: str, *, allow_null: bool = False) -> dict[str, Any]:
    """Validate a string-to-string attribute map (null values allowed in patches)."""
    _expect(value, dict, where, "an object of strings")
    for key, item in value.items():
        if not key:
            raise bad_request(f"{where} keys must be non-empty strings")
        if item is None and allow_null:
            continue
        _expect(item, str, f"{where}.{key}", "a string")
    return dict(value)


def metadata_attributes(body: JsonObject, *, patch: bool) -> dict[str, Any] | None:
    """Return ``body["metadata"]["attributes"]`` validated, or None when absent."""
    metadata = body.get("metadata")
    if metadata is None:
        return None
    _expect(metadata, dict, "metadata", "an object")
    check_keys(metadata, {"attributes"}, "metadata")
    attrs = metadata.get("attributes")
    if attrs is None:
        return None
    return attributes(attrs, "metadata.attributes", allow_null=patch)


def check_kind(body: JsonObject, kind: str) -> None:
    """Accept an optional ``kind`` in a create body only when it names ``kind``."""
    if "kind" in body and body["kind"] != kind:
        raise bad_request(f"kind must be {kind!r}")
