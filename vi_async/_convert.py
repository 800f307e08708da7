"""The one cattrs converter: JSON (camelCase) <-> models (snake_case).

Structure and unstructure functions are generated once per class, on first
use, and cached by cattrs; unknown keys are ignored; optional fields whose
value is ``None`` are left out of request bodies.

Decoding is the hot path (a 1,000-run page is ~11,000 objects), so the
structure function of each (non-generic) model is generated here rather than
by cattrs: it checks ``str`` / ``int`` / optional fields inline, passes
free-form ``dict[str, Any]`` through, fills defaults without a kwargs dict and
calls the class positionally; only nested models, lists, maps and enums go
through (cached) hooks. Behaviour is that of the cattrs hooks it replaces.
"""

from __future__ import annotations

import enum
import itertools
import linecache
import typing
from collections.abc import Callable
from typing import Any, Optional, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._names import camel
from .errors import ViDecodeError
from .models import ConditionName, ConditionStatus, Flow, FlowSpec, Model, Run, check_keys

T = TypeVar("T")

_KINDS: dict[type[Any], str] = {Flow: "Flow", Run: "Run", Model: "RunOutput"}


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


def _enum_structure(enum_cls: type[enum.Enum]) -> Callable[[Any, Any], Any]:
    """A structure hook for an enum: a dict lookup, the class call only for unknown values."""
    members = enum_cls._value2member_map_

    def structure_enum(value: Any, _type: Any) -> Any:
        try:
            return members[value]
        except (KeyError, TypeError):
            return enum_cls(value)

    structure_enum.enum_cls = enum_cls  # type: ignore[attr-defined]  # lets codegen inline it
    return structure_enum


_JSON_NAMES: dict[type[Any], str] = {dict: "an object", list: "a list"}


def _wrong_type(expected: type[Any], value: Any) -> TypeError:
    return TypeError(f"expected {_JSON_NAMES[expected]}, got {_type_name(value)}")


def _structure_list_factory(conv: cattrs.Converter) -> Callable[[Any], Any]:
    """Lists are structured only from JSON arrays (not from strings or objects)."""

    def factory(t: Any) -> Callable[[Any, Any], Any]:
        (elem,) = typing.get_args(t) or (Any,)
        hook = _hook(conv, elem)

        def structure_list(value: Any, _type: Any) -> list[Any]:
            if value.__class__ is not list:
                raise _wrong_type(list, value)
            return [hook(e, elem) for e in value]

        return structure_list

    return factory


def _structure_dict_factory(conv: cattrs.Converter) -> Callable[[Any], Any]:
    """Maps are structured only from JSON objects; ``dict[str, Any]`` passes through."""

    def factory(t: Any) -> Callable[[Any, Any], Any]:
        key_t, value_t = typing.get_args(t) or (Any, Any)
        if value_t is Any:

            def structure_free_dict(value: Any, _type: Any) -> dict[Any, Any]:
                if value.__class__ is not dict:
                    raise _wrong_type(dict, value)
                return value

            return structure_free_dict
        key_hook, value_hook = _hook(conv, key_t), _hook(conv, value_t)

        def structure_dict(value: Any, _type: Any) -> dict[Any, Any]:
            if value.__class__ is not dict:
                raise _wrong_type(dict, value)
            return {key_hook(k, key_t): value_hook(v, value_t) for k, v in value.items()}

        return structure_dict

    return factory


def _is_list_type(t: Any) -> bool:
    return typing.get_origin(t) is list


def _is_dict_type(t: Any) -> bool:
    return typing.get_origin(t) is dict


def _not_object(cls: type[Any], value: Any) -> TypeError:
    return TypeError(f"expected an object for {cls.__name__}, got {_type_name(value)}")


_OPTIONAL_STR = Optional[str]  # noqa: UP045 - compared with resolved annotations
_OPTIONAL_INT = Optional[int]  # noqa: UP045
_ANY_DICT = dict[str, Any]
_counter = itertools.count()


def _hook(conv: cattrs.Converter, t: Any) -> Callable[[Any, Any], Any]:
    """The converter's (cached) structure hook for ``t``."""
    # get_structure_hook is cattrs >= 24.1; the dispatch is what it wraps
    get: Any = getattr(conv, "get_structure_hook", None) or conv._structure_func.dispatch
    hook: Callable[[Any, Any], Any] = get(t)
    return hook


def _inline_check(hook: str, optional: bool, cls_name: str, var: str) -> str:
    """Source of an inline type check that defers to ``hook`` (which raises or converts)."""
    test = f"{var}.__class__ is not {cls_name}"
    if optional:
        test = f"{var} is not None and {test}"
    return f"if {test}: {var} = {hook}({var}, None)"


def _field_check(i: int, var: str, t: Any, conv: cattrs.Converter, globs: dict[str, Any]) -> str:
    """The generated statement(s) that check and convert field ``i`` held in ``var``.

    Args:
        i: The field's position (names the helpers it puts into ``globs``).
        var: The local variable holding the field's raw value.
        t: The field's type.
        conv: The converter whose hooks handle nested types.
        globs: The generated function's globals; helpers are added here.

    Returns:
        Source text; ``{indent}`` marks where a continuation line is indented.
    """
    if t is str:
        return _inline_check("__strict_str", False, "str", var)
    if t is int:
        return _inline_check("__strict_int", False, "int", var)
    if t == _OPTIONAL_STR:
        return _inline_check("__strict_str", True, "str", var)
    if t == _OPTIONAL_INT:
        return _inline_check("__strict_int", True, "int", var)
    if t == _ANY_DICT:
        # free-form data: passed through untouched, once known to be an object
        return f"if {var}.__class__ is not dict: raise __wrong(dict, {var})"
    if typing.get_origin(t) is list and len(typing.get_args(t)) == 1:
        (elem,) = typing.get_args(t)
        globs[f"__h{i}"], globs[f"__t{i}"] = _hook(conv, elem), elem
        return (
            f"if {var}.__class__ is not list: raise __wrong(list, {var})\n"
            f"{{indent}}{var} = [__h{i}(e, __t{i}) for e in {var}]"
        )
    hook = _hook(conv, t)
    if typing.get_origin(t) is dict:
        # most maps in an answer are empty (tolerations, attributes): no hook call for those
        globs[f"__h{i}"], globs[f"__t{i}"] = hook, t
        return (
            f"if {var}.__class__ is dict and not {var}: {var} = {{}}\n"
            f"{{indent}}else: {var} = __h{i}({var}, __t{i})"
        )
    enum_cls: Any = getattr(hook, "enum_cls", None)
    if enum_cls is not None and enum_cls is t:
        # _enum_structure inlined: a dict lookup, the class call only for unknown values
        globs[f"__m{i}"], globs[f"__e{i}"] = enum_cls._value2member_map_, enum_cls
        return (
            f"try: {var} = __m{i}[{var}]\n"
            f"{{indent}}except (KeyError, TypeError): {var} = __e{i}({var})"
        )
    globs[f"__h{i}"], globs[f"__t{i}"] = hook, t
    return f"{var} = __h{i}({var}, __t{i})"


def _field_lines(
    i: int, var: str, key: str, default: Any, check: str, globs: dict[str, Any]
) -> list[str] | None:
    """The generated lines reading field ``i`` from ``o`` (None: cattrs must do it).

    Args:
        i: The field's position.
        var: The local variable to hold the value.
        key: The field's wire (camelCase) name.
        default: The field's attrs default (``attrs.NOTHING`` when required).
        check: The field's check from :func:`_field_check`.
        globs: The generated function's globals; defaults are added here.

    Returns:
        The lines, or None for a factory that takes ``self``.
    """
    if default is attrs.NOTHING:
        return [f"  {var} = o[{key!r}]", "  " + check.replace("{indent}", "  ")]
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        if default.takes_self:
            return None
        globs[f"__f{i}"] = default.factory
        fallback = f"__f{i}()"
    else:
        globs[f"__d{i}"] = default
        fallback = f"__d{i}"
    # one lookup per field: servers send (nearly) every field
    return [
        f"  {var} = get({key!r}, __missing)",
        f"  if {var} is __missing:",
        f"    {var} = {fallback}",
        "  else:",
        "    " + check.replace("{indent}", "    "),
    ]


def _compile(cls: type[Any], lines: list[str], globs: dict[str, Any]) -> Callable[[Any, Any], Any]:
    """Compile the body ``lines`` into ``structure_<cls>(o, _=None)``, visible to tracebacks."""
    name = f"structure_{cls.__name__}"
    source = f"def {name}(o, _=None):\n" + "\n".join(lines) + "\n"
    qualname = f"{cls.__module__}.{cls.__qualname__}"
    filename = f"<vi_async generated structure {qualname}-{next(_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), globs, namespace)
    fn: Callable[[Any, Any], Any] = namespace[name]
    return fn


def _slot_setters(cls: type[Any], fields: tuple[attrs.Attribute[Any], ...]) -> list[Any] | None:
    """Each field's slot setter, when an instance can be built without ``__init__``.

    That is when ``__init__`` would only store the values: slotted, no validator,
    no hook around ``__init__``, no converter but a plain callable (applied by the
    caller), and no slot that is not a field (a cached hash).

    Args:
        cls: An attrs class.
        fields: Its fields, in ``__init__`` order.

    Returns:
        ``member_descriptor.__set__`` per field, or None.
    """
    if hasattr(cls, "__attrs_post_init__") or hasattr(cls, "__attrs_pre_init__"):
        return None
    slots = {name for k in cls.__mro__ for name in getattr(k, "__slots__", ())}
    if slots - {"__weakref__"} != {a.name for a in fields}:
        return None
    setters = []
    for a in fields:
        if a.validator is not None or isinstance(a.converter, attrs.Converter):
            return None
        owner = next(k for k in cls.__mro__ if a.name in k.__dict__)
        setters.append(owner.__dict__[a.name].__set__)
    return setters


def _gen_structure_fn(cls: type[Any], conv: cattrs.Converter) -> Callable[[Any, Any], Any] | None:
    """Generate a fast structure function for an attrs class (None: leave it to cattrs)."""
    fields = attrs.fields(attrs.resolve_types(cls))
    if any(not a.init or a.kw_only for a in fields):
        return None
    globs: dict[str, Any] = {
        "__cl": cls,
        "__not_object": _not_object,
        "__strict_str": _strict_str,
        "__strict_int": _strict_int,
        "__wrong": _wrong_type,
        "__missing": attrs.NOTHING,
    }
    lines = [
        "  if o.__class__ is not dict:",
        "    raise __not_object(__cl, o)",
        "  get = o.get",
    ]
    args = []
    for i, a in enumerate(fields):
        var = f"v{i}"
        check = _field_check(i, var, a.type, conv, globs)
        field_lines = _field_lines(i, var, camel(a.name), a.default, check, globs)
        if field_lines is None:
            return None
        lines += field_lines
        args.append(var)
    setters = _slot_setters(cls, fields)
    if setters is None:
        lines.append(f"  return __cl({', '.join(args)})")
        return _compile(cls, lines, globs)
    # What attrs' __init__ would do, without its frame and its setattr per field: a
    # third of decoding an answer.
    globs["__new"] = object.__new__
    lines.append("  self = __new(__cl)")
    for i, (a, var, setter) in enumerate(zip(fields, args, setters, strict=True)):
        globs[f"__s{i}"] = setter
        if a.converter is not None:
            globs[f"__c{i}"] = a.converter
            var = f"__c{i}({var})"
        lines.append(f"  __s{i}(self, {var})")
    lines.append("  return self")
    return _compile(cls, lines, globs)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False, detailed_validation=False)

    def structure_factory(cls: type[Any]) -> Any:
        if getattr(cls, "__origin__", None) is None and not getattr(cls, "__parameters__", ()):
            fast = _gen_structure_fn(cls, conv)
            if fast is not None:
                return fast
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
    # JSON arrays and objects only; free-form settings (dict[str, Any]) pass through.
    conv.register_structure_hook_factory(_is_list_type, _structure_list_factory(conv))
    conv.register_structure_hook_factory(_is_dict_type, _structure_dict_factory(conv))
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(int, _strict_int)
    for enum_cls in (ConditionName, ConditionStatus):
        conv.register_unstructure_hook(enum_cls, _enum_value)
    conv.register_structure_hook(ConditionName, _enum_structure(ConditionName))
    conv.register_structure_hook(ConditionStatus, _enum_structure(ConditionStatus))
    return conv


converter = _make_converter()
_HOOKS: dict[Any, Callable[[Any, Any], Any]] = {}
"""The converter's structure hook per class (``converter.structure`` looks it up per call)."""


def kind_of(cls: Any) -> str | None:
    """The ``kind`` the API gives documents of ``cls`` (``"Flow"``, ``"Run"``), if any."""
    return _KINDS.get(cls)


def structure(data: Any, cls: type[T]) -> T:
    """Build a ``cls`` from decoded JSON, raising ViDecodeError on a wrong shape."""
    if not isinstance(data, dict):
        raise ViDecodeError(f"Expected a JSON object for {cls.__name__}, got {type(data).__name__}")
    kind = data.get("kind")
    expected = _KINDS.get(cls)
    if expected is not None and kind is not None and kind != expected:
        raise ViDecodeError(f"Expected kind {expected!r}, got {kind!r}")
    hook = _HOOKS.get(cls)
    if hook is None:
        hook = _HOOKS[cls] = converter.get_structure_hook(cls)
    try:
        return hook(data, cls)  # type: ignore[no-any-return]
    except ViDecodeError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, cattrs.BaseValidationError) as exc:
        problem = describe(exc)
    raise ViDecodeError(f"Could not decode {cls.__name__}: {problem}")


def describe(exc: BaseException) -> str:
    """What a decoding failure says, for a ViDecodeError's (masked) message.

    The decoding error itself is never chained to the ViDecodeError (it is raised
    outside the ``except``): its message and attributes may quote the server's text
    unmasked (a JSON error holds the whole document).
    """
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


def _model_dict_to_wire(data: dict[Any, Any], cls: type[Any], where: str) -> dict[str, Any]:
    """A dict standing for a ``cls`` in wire form: keys checked (snake_case or
    camelCase; an unknown one raises TypeError listing the known ones) and
    camelCased, nested model dicts likewise; free-form values pass through."""
    fields = check_keys(data, cls, where)
    wire: dict[str, Any] = {}
    for key, value in data.items():
        field = fields[key]
        wire[camel(field.name)] = _value_to_wire(value, field.type, f"{where}.{field.name}")
    return wire


def _value_to_wire(value: Any, t: Any, where: str) -> Any:
    if attrs.has(type(value)):
        return converter.unstructure(value)
    if isinstance(value, dict) and isinstance(t, type) and attrs.has(t):
        return _model_dict_to_wire(value, t, where)
    args = typing.get_args(t)
    if isinstance(value, list) and _is_list_type(t) and args and attrs.has(args[0]):
        return [_value_to_wire(item, args[0], f"{where}[{i}]") for i, item in enumerate(value)]
    return value


def spec_to_wire(spec: Any, model: type[Any] = FlowSpec) -> dict[str, Any]:
    """A model or a dict standing for ``model`` (snake_case or camelCase keys) in
    wire form. A key ``model`` does not have raises TypeError listing the known ones."""
    if attrs.has(type(spec)):
        result: dict[str, Any] = converter.unstructure(spec)
        return result
    if isinstance(spec, dict):
        return _model_dict_to_wire(spec, model, "spec")
    raise TypeError(f"spec must be a {model.__name__} or a dict, not {type(spec).__name__}")


def patch_to_wire(patch: Any) -> dict[str, Any]:
    """A partial update in wire form.

    A dict is sent as given (keys camelCased); a model sends only its fields
    that differ from their defaults, so ``FlowSpec(name="new")`` renames and
    leaves blocks, schema and settings alone.
    """
    if not attrs.has(type(patch)):
        return spec_to_wire(patch)
    full = spec_to_wire(patch)
    changed: dict[str, Any] = {}
    for field in attrs.fields(type(patch)):
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        key = camel(field.name)
        if getattr(patch, field.name) != default and key in full:
            changed[key] = full[key]
    return changed
