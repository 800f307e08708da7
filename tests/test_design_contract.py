"""The public-API contract of /work/shared/DESIGN.md, checked name by name.

Every public name, method, parameter name and default that DESIGN.md lists must
exist in vi_async and in the generated vi_sync. A failure names exactly what is
missing or different (``vi_sync: RunsResource.wait_for(until=...) missing``).
No server is needed: this is about signatures, not behaviour.
"""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType
from typing import Any

import pytest

PACKAGES = ["vi_async", "vi_sync"]

_REQUIRED = inspect.Parameter.empty
_ANY = object()  # "the parameter must exist; its default is not part of the contract"

# Top-level names both packages export (DESIGN.md "Public API" and the error classes).
TOP_LEVEL = [
    "Client",
    "PaginationParams",
    "FlowSpec",
    "FlowBlock",
    "RunPhase",
    "Flow",
    "Run",
    "RunSpec",
    "RunStatus",
    "RunCondition",
    "ResourceMetadata",
    "DeletedResource",
    "Page",
    "RunEvent",
    "Model",
    "ModelDownload",
    "BulkReport",
]
ERRORS = [
    "ViError",
    "ViNotFoundError",
    "ViConflictError",
    "ViTimeoutError",
    "ViRunFailedError",
    "ViRateLimitError",
    "ViDownloadError",
]

# (resource attribute, method) -> {parameter: default}; _REQUIRED for a parameter
# without a default, _ANY where DESIGN.md shows only the name.
METHODS: dict[tuple[str, str], dict[str, Any]] = {
    ("flows", "list"): {"pagination": None},
    ("flows", "get"): {"flow_id": _REQUIRED},
    ("flows", "create"): {"spec": _REQUIRED, "metadata": None},
    ("flows", "update"): {"flow_id": _REQUIRED, "spec": None, "metadata": None},
    ("flows", "delete"): {"flow_id": _REQUIRED},
    ("flows", "delete_many"): {"concurrency": 32},
    ("flows", "cleanup"): {
        "older_than": None,
        "name": None,
        "where": None,
        "on_active_run": "skip",
        "dry_run": False,
        "concurrency": 32,
        "progress": None,
    },
    ("runs", "create"): {
        "flow": _REQUIRED,
        "training_project": None,
        "metadata": None,
        "wait": False,
        "timeout": None,
        "raise_on_failure": False,
    },
    ("runs", "start"): {"flow": _REQUIRED, "wait": False, "timeout": None},
    ("runs", "get"): {"run_id": _REQUIRED},
    ("runs", "update"): {"run_id": _REQUIRED, "spec": None, "metadata": None},
    ("runs", "kill"): {"run_id": _REQUIRED},
    ("runs", "delete"): {"run_id": _REQUIRED},
    ("runs", "wait_for"): {
        "run_id": _REQUIRED,
        "timeout": 3600,
        "poll_interval": None,
        "on_update": None,
        "until": None,
        "raise_on_failure": False,
    },
    ("runs", "as_completed"): {"run_ids": _REQUIRED, "timeout": None, "raise_on_failure": False},
    ("runs", "logs"): {"run_id": _REQUIRED, "tail": _ANY, "follow": _ANY},
    ("runs", "list"): {"pagination": None, "status": None, "limit": None},
    ("runs", "watch"): {"run_ids": None, "phases": None, "poll_interval": None},
    ("models", "list"): {"run_id": _REQUIRED, "pagination": None},
    ("models", "get"): {"run_id": _REQUIRED, "ckpt": None, "contents": False},
    ("models", "download"): {
        "run_id": _REQUIRED,
        "ckpt": None,
        "save_dir": None,
        "overwrite": False,
        "progress": None,
    },
}
CLIENT_METHODS: dict[str, dict[str, Any]] = {
    "get_model": {
        "run_id": _REQUIRED,
        "ckpt": None,
        "save_dir": None,
        "overwrite": False,
        "progress": None,
    },
}
CLIENT_ARGS: dict[str, Any] = {
    "secret_key": None,
    "organization_id": None,
    "endpoint": None,
    "timeout": _ANY,
    "max_retries": _ANY,
    "event_hooks": None,
}
RESOURCE_CLASSES = {"flows": "FlowsResource", "runs": "RunsResource", "models": "ModelsResource"}

# Issue 16: plan, review, apply.
PLAN_METHODS: dict[tuple[str, str], dict[str, Any]] = {
    ("flows", "plan_cleanup"): {"name": None, "older_than": None, "where": None},
    ("flows", "apply"): {"plan": _REQUIRED, "concurrency": 32, "progress": None},
}


def _package(name: str) -> ModuleType:
    return importlib.import_module(name)


def _resource_class(pkg: str, attr: str) -> type[Any]:
    module = importlib.import_module(f"{pkg}.resources.{attr}")
    cls: type[Any] = getattr(module, RESOURCE_CLASSES[attr])
    return cls


def _mismatches(where: str, func: Any, expected: dict[str, Any]) -> list[str]:
    """What differs between func's signature and the expected {name: default}."""
    params = inspect.signature(func).parameters
    problems = []
    for name, default in expected.items():
        if name not in params:
            problems.append(f"{where}({name}=...) missing; has ({', '.join(params)})")
            continue
        param = params[name]
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            problems.append(f"{where}: {name} is positional-only; the contract calls it by keyword")
        if default is _ANY:
            continue
        if param.default != default or (default is _REQUIRED) != (param.default is _REQUIRED):
            want = "required" if default is _REQUIRED else f"default {default!r}"
            have = "required" if param.default is _REQUIRED else f"default {param.default!r}"
            problems.append(f"{where}({name}): want {want}, have {have}")
    return problems


def _shape(func: Any) -> list[tuple[str, Any, Any]]:
    """A signature's parameters as (name, kind, default)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()]


def _method(pkg: str, attr: str, method: str) -> Any:
    cls = _resource_class(pkg, attr)
    func = getattr(cls, method, None)
    assert func is not None, f"{pkg}: {cls.__name__}.{method} missing (client.{attr}.{method})"
    return func


@pytest.mark.parametrize("pkg", PACKAGES)
@pytest.mark.parametrize("name", TOP_LEVEL + ERRORS)
def test_top_level_name(pkg: str, name: str) -> None:
    module = _package(pkg)
    assert hasattr(module, name), f"{pkg}.{name} missing (from {pkg} import {name})"
    assert name in module.__all__, f"{pkg}.__all__ lacks {name!r}"


@pytest.mark.parametrize("pkg", PACKAGES)
@pytest.mark.parametrize("name", ERRORS)
def test_errors_module_exports_the_same_class(pkg: str, name: str) -> None:
    errors = importlib.import_module(f"{pkg}.errors")
    assert hasattr(errors, name), f"{pkg}.errors.{name} missing"
    assert getattr(errors, name) is getattr(_package(pkg), name), (
        f"{pkg}.errors.{name} is not {pkg}.{name}"
    )
    assert getattr(_package(pkg), name) is getattr(_package("vi_async"), name), (
        f"{pkg}.{name} is not the vi_async class: `except vi_async.{name}` would miss it"
    )


@pytest.mark.parametrize("pkg", PACKAGES)
def test_client_arguments(pkg: str) -> None:
    problems = _mismatches(f"{pkg}: Client", _package(pkg).Client, CLIENT_ARGS)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("pkg", PACKAGES)
def test_client_is_a_context_manager_with_resources(pkg: str) -> None:
    client_cls = _package(pkg).Client
    enter, exit_ = ("__aenter__", "__aexit__") if pkg == "vi_async" else ("__enter__", "__exit__")
    for dunder in (enter, exit_):
        assert hasattr(client_cls, dunder), f"{pkg}: Client.{dunder} missing"
    # A well-formed key and an endpoint nobody listens on: nothing is sent.
    client = client_cls(
        secret_key="dtvi_" + "a" * 98, organization_id="org", endpoint="http://127.0.0.1:9"
    )
    try:
        for attr, cls_name in RESOURCE_CLASSES.items():
            resource = getattr(client, attr, None)
            assert resource is not None, f"{pkg}: client.{attr} missing"
            assert type(resource).__name__ == cls_name, (
                f"{pkg}: client.{attr} is a {type(resource).__name__}, not {cls_name}"
            )
    finally:
        closing = client.close()
        if inspect.isawaitable(closing):
            import asyncio

            asyncio.run(closing)  # type: ignore[arg-type]


@pytest.mark.parametrize("pkg", PACKAGES)
@pytest.mark.parametrize(("attr", "method"), sorted(METHODS))
def test_resource_method(pkg: str, attr: str, method: str) -> None:
    func = _method(pkg, attr, method)
    where = f"{pkg}: client.{attr}.{method}"
    problems = _mismatches(where, func, METHODS[attr, method])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("pkg", PACKAGES)
@pytest.mark.parametrize("method", sorted(CLIENT_METHODS))
def test_client_method(pkg: str, method: str) -> None:
    func = getattr(_package(pkg).Client, method, None)
    assert func is not None, f"{pkg}: Client.{method} missing"
    problems = _mismatches(f"{pkg}: client.{method}", func, CLIENT_METHODS[method])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("pkg", PACKAGES)
@pytest.mark.parametrize(
    ("attr", "method", "keyword"),
    [
        ("runs", "kill", "run_id"),
        ("runs", "get", "run_id"),
        ("runs", "delete", "run_id"),
        ("runs", "update", "run_id"),
        ("flows", "get", "flow_id"),
        ("flows", "delete", "flow_id"),
        ("flows", "update", "flow_id"),
        ("models", "get", "run_id"),
    ],
)
def test_official_keyword_binds(pkg: str, attr: str, method: str, keyword: str) -> None:
    """``client.runs.kill(run_id=...)``, as the official docs write it, binds."""
    func = _method(pkg, attr, method)
    try:
        inspect.signature(func).bind(object(), **{keyword: "x"})
    except TypeError as exc:
        pytest.fail(f"{pkg}: client.{attr}.{method}({keyword}=...) does not bind: {exc}")


@pytest.mark.parametrize("pkg", PACKAGES)
def test_sync_facade_mirrors_async_signatures(pkg: str) -> None:
    """vi_sync's methods take exactly vi_async's parameters (names, kinds, defaults)."""
    if pkg == "vi_async":
        pytest.skip("the reference itself")
    problems = []
    for attr in RESOURCE_CLASSES:
        async_cls = _resource_class("vi_async", attr)
        sync_cls = _resource_class("vi_sync", attr)
        for name, func in vars(async_cls).items():
            if name.startswith("_") or not callable(func):
                continue
            sync_func = getattr(sync_cls, name, None)
            if sync_func is None:
                problems.append(f"vi_sync: client.{attr}.{name} missing")
                continue
            want, have = _shape(func), _shape(sync_func)
            if want != have:
                problems.append(f"vi_sync: client.{attr}.{name} parameters {have} != {want}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("pkg", PACKAGES)
@pytest.mark.parametrize(("attr", "method"), sorted(PLAN_METHODS))
def test_plan_and_apply(pkg: str, attr: str, method: str) -> None:
    func = _method(pkg, attr, method)
    problems = _mismatches(f"{pkg}: client.{attr}.{method}", func, PLAN_METHODS[attr, method])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("pkg", PACKAGES)
def test_cleanup_plan_class(pkg: str) -> None:
    module = _package(pkg)
    assert hasattr(module, "CleanupPlan"), f"{pkg}.CleanupPlan missing"
    plan = module.CleanupPlan
    for name in ("to_json", "from_json", "items"):
        assert hasattr(plan, name) or name in getattr(plan, "__annotations__", {}), (
            f"{pkg}: CleanupPlan.{name} missing"
        )


def test_local_server_strict_and_client() -> None:
    from vi_async.local import LocalServer

    problems = _mismatches("LocalServer", LocalServer, {"strict": False})
    assert not problems, "\n".join(problems)
    assert hasattr(LocalServer, "client"), "LocalServer.client() missing"
    for dunder in ("__aenter__", "__aexit__"):
        assert hasattr(LocalServer, dunder), f"LocalServer.{dunder} missing"


def test_local_server_client_takes_every_client_option() -> None:
    """``server.client(**options)`` is typed with ClientOptions: it must name every
    keyword option of Client, with the same annotation, and nothing else."""
    from vi_async import Client
    from vi_async.local.server import ClientOptions

    keywords = {
        p.name: p.annotation
        for p in inspect.signature(Client).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    options = {
        name: getattr(hint, "__forward_arg__", hint)
        for name, hint in ClientOptions.__annotations__.items()
    }
    assert options == keywords


def test_model_download_fields() -> None:
    import attrs

    from vi_async import ModelDownload

    fields = {f.name for f in attrs.fields(ModelDownload)}
    want = {
        "model_dir",
        "model_path",
        "adapter_path",
        "run_config_path",
        "checkpoint",
        "size_bytes",
        "sha256",
    }
    assert not want - fields, f"ModelDownload lacks {sorted(want - fields)}"


def test_run_event_fields() -> None:
    import attrs

    from vi_async import RunEvent

    fields = {f.name for f in attrs.fields(RunEvent)}
    assert not {"type", "run", "previous"} - fields, f"RunEvent has only {sorted(fields)}"


def test_run_phases() -> None:
    from vi_async import RunPhase

    want = {"PENDING", "RUNNING", "SUCCEEDED", "FAILED", "ERROR", "CANCELLED", "UNKNOWN"}
    missing = want - set(RunPhase.__members__)
    assert not missing, f"RunPhase lacks {sorted(missing)}"


def test_bulk_report_fields() -> None:
    from vi_async import BulkReport

    for name in ("deleted", "skipped", "not_found", "failed", "elapsed", "raise_for_failures"):
        assert hasattr(BulkReport, name) or name in {
            f.name for f in __import__("attrs").fields(BulkReport)
        }, f"BulkReport.{name} missing"


def test_info_methods() -> None:
    from vi_async import Flow, Run

    for cls in (Flow, Run):
        assert callable(getattr(cls, "info", None)), f"{cls.__name__}.info() missing"
    from vi_async import Run as RunCls

    assert hasattr(RunCls, "phase") and hasattr(RunCls, "is_terminal")
