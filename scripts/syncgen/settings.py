"""What the generator reads and writes: package names, fixed names, output style."""

from __future__ import annotations

from pathlib import Path

#: The repository: vi_async is read from here, vi_sync written here by default.
REPO = Path(__file__).resolve().parents[2]

ASYNC_PKG = "vi_async"
SYNC_PKG = "vi_sync"
ROOT_CLASS = ("vi_async._client", "Client")
ROOT_CLOSE = "close"
RUNTIME_MODULE = "vi_async._sync_runtime"
#: Public modules re-exported module by module (``vi_sync.errors``, ``vi_sync.models``).
MIRRORED_MODULES = ("errors", "models")
#: Name of the sync twin of ``await obj`` per wrapped class (default ``result``).
AWAIT_TWINS = {"AsyncPager": "first_page"}
COMMAND = "python scripts/generate_sync.py  (or: nox -s generate)"
LINE_LENGTH = 100
INDENT = "    "
#: Decorators of async methods that keep their signature and kind (the sync twin
#: simply calls the decorated method): OpenTelemetry spans per SDK call.
TRANSPARENT_DECORATORS = frozenset({"vi_async._observe.otel.traced"})
