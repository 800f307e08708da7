"""Parity: every public name, class, method and parameter of vi_async has its vi_sync twin.

Worked out here from the two packages as they import, independently of the
generator: the async classes to mirror are found by walking from the exports
of vi_async (through method return types and the client's attributes), and
each twin must have the same members with the same signatures, minus async:
coroutines become blocking, async iterators become iterators, async classes
their sync twins (``AsyncPager`` -> ``SyncPager``).
"""

from __future__ import annotations

import collections.abc as cabc
import functools
import importlib
import inspect
import operator
import ssl
import types
import typing
from typing import Any

import pytest

import vi_async
import vi_async.errors
import vi_async.models
import vi_sync
import vi_sync.errors
import vi_sync.models

KEY = "dtvi_" + "k" * 98
# Names the packages import for type checkers only (``if TYPE_CHECKING:``), supplied
# when their annotations are evaluated here; ``Self`` is in typing from 3.11 only.
CHECKER_ONLY = {"ssl": ssl, "Self": getattr(typing, "Self", typing.TypeVar("Self"))}
RENAMED_DUNDERS = {
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__await__": "first_page",
}


def hints(func: Any) -> dict[str, Any]:
    """``typing.get_type_hints``, with the names imported for type checkers only."""
    return typing.get_type_hints(func, localns=CHECKER_ONLY)


def has_async_surface(cls: type) -> bool:
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if name in ("__aiter__", "__await__", "__aenter__", "__anext__"):
                return True
            func = value.fget if isinstance(value, property) else value
            if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
                return True
    return False


def is_async_class(obj: object) -> bool:
    return (
        isinstance(obj, type)
        and obj.__module__.split(".")[0] == "vi_async"
        and has_async_surface(obj)
    )


def twin_of(cls: type) -> type:
    module = importlib.import_module("vi_sync" + cls.__module__[len("vi_async") :])
    name = cls.__name__
    name = "Sync" + name[len("Async") :] if name.startswith("Async") else name
    twin = getattr(module, name, None)
    assert isinstance(twin, type), f"{cls.__module__}.{cls.__name__} has no twin in vi_sync"
    return twin


def to_sync(tp: Any) -> Any:
    """The sync twin of a result type."""
    if is_async_class(tp):
        return twin_of(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is None:
        return tp
    if origin in (cabc.AsyncIterator, cabc.AsyncIterable):
        return types.GenericAlias(cabc.Iterator, (to_sync(args[0]),))
    if origin is cabc.AsyncGenerator:
        return types.GenericAlias(cabc.Generator, (to_sync(args[0]), args[1], None))
    mapped = tuple(to_sync(a) for a in args)
    if is_async_class(origin):
        return twin_of(origin)[mapped]  # type: ignore[index]
    if mapped == args:
        return tp
    if origin is types.UnionType:
        return functools.reduce(operator.or_, mapped)
    if origin is typing.Union:
        return typing.Union[mapped]  # noqa: UP007
    return types.GenericAlias(origin, mapped)


def referenced_types(tp: Any) -> typing.Iterator[Any]:
    yield tp
    origin = typing.get_origin(tp)
    if origin is not None:
        yield origin
    for arg in typing.get_args(tp):
        if isinstance(arg, list):
            for item in arg:
                yield from referenced_types(item)
        else:
            yield from referenced_types(arg)


def public_members(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass in (object, typing.Generic):
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_") or name in RENAMED_DUNDERS or name == "__init__":
                out[name] = value
    return out


def wrapped_pairs() -> list[tuple[type, type]]:
    """Async classes reachable from the exports of vi_async, with their twins."""
    todo: list[type] = [vi_async.Client]
    todo += [getattr(vi_async, n) for n in vi_async.__all__ if is_async_class(getattr(vi_async, n))]
    # The client's resource namespaces are instance attributes.
    client = vi_async.Client(secret_key=KEY, organization_id="org", endpoint="http://127.0.0.1:9/")
    todo += [type(v) for k, v in vars(client).items() if not k.startswith("_")]
    seen: dict[type, type] = {}
    while todo:
        cls = todo.pop()
        if cls in seen or not is_async_class(cls):
            continue
        seen[cls] = twin_of(cls)
        for value in public_members(cls).values():
            func = value.fget if isinstance(value, property) else value
            if inspect.isfunction(func):
                ret = hints(func).get("return")
                todo += [t for t in referenced_types(ret) if is_async_class(t)]
    return sorted(seen.items(), key=lambda p: p[0].__qualname__)


PAIRS = wrapped_pairs()


def test_the_walk_finds_the_expected_classes() -> None:
    names = {a.__name__ for a, _ in PAIRS}
    assert {"Client", "AsyncPager", "FlowsResource", "RunsResource"} <= names


def test_every_exported_name_has_its_twin() -> None:
    for name in vi_async.__all__:
        obj = getattr(vi_async, name)
        if is_async_class(obj):
            twin = twin_of(obj)
            assert twin.__name__ in vi_sync.__all__
            assert getattr(vi_sync, twin.__name__) is twin
        else:
            assert name in vi_sync.__all__, name
            assert getattr(vi_sync, name) is obj, f"vi_sync.{name} is not vi_async.{name}"
    for async_module, sync_module in [
        (vi_async.errors, vi_sync.errors),
        (vi_async.models, vi_sync.models),
    ]:
        for name in async_module.__all__:
            assert getattr(sync_module, name) is getattr(async_module, name)


def _signature_parts(func: Any) -> list[tuple[str, Any, Any]]:
    sig = inspect.signature(func)
    return [(p.name, p.kind, p.default) for p in list(sig.parameters.values())[1:]]


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS, ids=lambda c: c.__name__)
def test_every_member_has_its_twin(async_cls: type, sync_cls: type) -> None:
    assert "__getattr__" not in vars(sync_cls)  # real source, no magic
    assert sync_cls.__doc__, f"{sync_cls.__name__} has no docstring"
    is_root = async_cls is vi_async.Client
    members = public_members(async_cls)
    sync_members = public_members(sync_cls)
    for name, value in members.items():
        if name == "__init__" and not is_root:
            continue  # made by vi_sync itself, bound to an async object
        sync_name = RENAMED_DUNDERS.get(name, name)
        where = f"{sync_cls.__name__}.{sync_name}"
        if name == "__aexit__":
            sync_name = "__exit__"
        assert sync_name in sync_members or hasattr(sync_cls, sync_name), f"missing {where}"
        sync_value = getattr(sync_cls, sync_name)
        if isinstance(value, property):
            assert isinstance(inspect.getattr_static(sync_cls, sync_name), property), where
            a_ret = hints(value.fget).get("return")
            s_ret = hints(sync_value.fget).get("return")
            assert s_ret == to_sync(a_ret), where
            continue
        if not inspect.isfunction(value):
            assert sync_value == value, where  # class constants
            continue
        assert inspect.isfunction(sync_value), where
        assert not inspect.iscoroutinefunction(sync_value), f"{where} is async"
        assert not inspect.isasyncgenfunction(sync_value), f"{where} is async"
        if value.__doc__:
            assert sync_value.__doc__, f"{where} lost its docstring"
        a_hints = hints(value)
        s_hints = hints(sync_value)
        a_ret, s_ret = a_hints.pop("return", None), s_hints.pop("return", None)
        if name == "__await__":
            assert s_ret == to_sync(typing.get_args(a_ret)[2]), where
            assert _signature_parts(sync_value) == []
            continue
        assert _signature_parts(sync_value) == _signature_parts(value), where
        assert s_hints == a_hints, f"{where}: parameter types differ"
        if name == "__aenter__":
            assert s_ret == (sync_cls if a_ret is async_cls else to_sync(a_ret)), where
        elif name in ("__init__", "__repr__"):
            assert s_ret == a_ret, where
        else:
            assert s_ret == to_sync(a_ret), f"{where}: returns {s_ret}, not {to_sync(a_ret)}"


def test_the_pager_exposes_the_first_page_fields() -> None:
    for field in ("items", "next_page", "prev_page"):
        assert isinstance(inspect.getattr_static(vi_sync.SyncPager, field), property)
    hints = typing.get_type_hints(vi_sync.SyncPager.items.fget)  # type: ignore[attr-defined]
    assert typing.get_origin(hints["return"]) is list


def test_resource_attributes_are_sync_twins() -> None:
    client = vi_sync.Client(secret_key=KEY, organization_id="org", endpoint="http://127.0.0.1:9/")
    try:
        async_client = vi_async.Client(
            secret_key=KEY, organization_id="org", endpoint="http://127.0.0.1:9/"
        )
        for name, value in vars(async_client).items():
            if not name.startswith("_"):
                assert type(getattr(client, name)) is twin_of(type(value)), name
        assert repr(client) == repr(async_client)
    finally:
        client.close()
