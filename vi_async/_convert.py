"""The one cattrs converter: JSON (camelCase) <-> models (snake_case).

Structure and unstructure functions are generated once per class, on first
use, and cached by cattrs; unknown keys are ignored; optional fields whose
value is ``None`` are left out of request bodies.
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from . import _json
from .errors import ViDecodeError
from .models import ConditionName, ConditionStatus, Flow, Run

T = TypeVar("T")

# Wire names that are not the plain camelCase of the Python name.
_SPECIAL_NAMES = {"organization_id": "workspaceId"}
_KINDS: dict[type[Any], str] = {Flow: "Flow", Run: "Run"}


def camel(name: str) -> str:
    """``time_created`` -> ``timeCreated`` (with the API's special cases)."""
    if name in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[name]
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _snake_to_camel_keys(value: dict[str, Any]) -> dict[str, Any]:
    return {camel(k) if "_" in k else k: v for k, v in value.items()}


def _passthrough(value: Any, _type: Any) -> Any:
    return value


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _strict_str(value: Any, _type: Any) -> str:
    if value.__class__ is str:
        return value
    raise TypeError(f"expected a string, got {_type_name(value)}")


def _strict_int(value: Any, _type: Any) -> int:
    if value.__class__ is int:
        return value
    if value.__class__ is float and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {_type_name(value)}")


def _enum_value(value: enum.Enum) -> Any:
    return value.value


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False, detailed_validation=False)

    def structure_factory(cls: type[Any]) -> Any:
        overrides = {a.name: override(rename=camel(a.name)) for a in attrs.fields(cls)}
        build = make_dict_structure_fn(
            cls,
            conv,
            _cattrs_detailed_validation=False,
            **overrides,  # type: ignore[arg-type]
        )

        def structure_object(value: Any, target: Any) -> Any:
            if value.__class__ is not dict:
                raise TypeError(f"expected an object for {cls.__name__}, got {_type_name(value)}")
            return build(value, target)

        return structure_object

    def unstructure_factory(cls: type[Any]) -> Any:
        overrides = {
            a.name: override(rename=camel(a.name), omit_if_default=a.default is None)
            for a in attrs.fields(cls)
        }
        return make_dict_unstructure_fn(cls, conv, **overrides)  # type: ignore[arg-type]

    conv.register_structure_hook_factory(attrs.has, structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    # Free-form settings are data, not models: pass them through untouched.
    conv.register_structure_hook_func(lambda t: t == dict[str, Any], _passthrough)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(int, _strict_int)
    for enum_cls in (ConditionName, ConditionStatus):
        conv.register_unstructure_hook(enum_cls, _enum_value)
    conv.register_structure_hook(ConditionName, lambda v, _t: ConditionName(v))
    conv.register_structure_hook(ConditionStatus, lambda v, _t: ConditionStatus(v))
    return conv


converter = _make_converter()


def structure(data: Any, cls: type[T]) -> T:
    """Build a ``cls`` from decoded JSON, raising ViDecodeError on a wrong shape."""
    if not isinstance(data, dict):
        raise ViDecodeError(f"Expected a JSON object for {cls.__name__}, got {type(data).__name__}")
    kind = data.get("kind")
    expected = _KINDS.get(cls)
    if expected is not None and kind is not None and kind != expected:
        raise ViDecodeError(f"Expected kind {expected!r}, got {kind!r}")
    try:
        return converter.structure(data, cls)
    except ViDecodeError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, cattrs.BaseValidationError) as exc:
        raise ViDecodeError(f"Could not decode {cls.__name__}: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return f"{type(exc).__name__}: {exc}"


def unstructure(value: Any) -> Any:
    """Turn a model (or a dict already in wire form) into JSON-ready data."""
    if attrs.has(type(value)):
        return converter.unstructure(value)
    if isinstance(value, dict):
        return value
    raise TypeError(f"Cannot send a {type(value).__name__}")


def spec_to_wire(spec: Any) -> dict[str, Any]:
    """A FlowSpec or a dict (snake_case or camelCase keys) in wire form."""
    if attrs.has(type(spec)):
        result: dict[str, Any] = converter.unstructure(spec)
        return result
    if isinstance(spec, dict):
        return _snake_to_camel_keys(spec)
    raise TypeError(f"spec must be a FlowSpec or a dict, not {type(spec).__name__}")


def decode(body: bytes) -> Any:
    """Decode a JSON body, raising ViDecodeError on invalid JSON."""
    try:
        return _json.loads(body)
    except ValueError as exc:
        raise ViDecodeError(f"The response is not valid JSON: {exc}") from exc
