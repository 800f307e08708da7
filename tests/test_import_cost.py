"""``import vi_async`` (and ``vi_sync``) loads only what a first request needs.

aiohttp (which builds SSL contexts at import), the model-download stack
(tarfile, hashing, storage), hashlib and the Retry-After date parser load on first
use; the benchmarks time the import, this test keeps the rule from eroding.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

LAZY = ("aiohttp", "vi_async._download", "tarfile", "email.utils", "hashlib", "opentelemetry")
# vi_sync's generated flows facade names CleanupPlan at import; vi_async loads it
# (and the bulk engine) with the first bulk call or ``vi_async.CleanupPlan``.
ASYNC_LAZY = ("vi_async._bulk_flows", "vi_async._bulk_engine", "vi_async._cleanup_plan")


def loaded_by(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    code += "; import json, sys; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("package", ["vi_async", "vi_sync"])
def test_import_leaves_the_heavy_parts_for_later(package: str) -> None:
    lazy = LAZY + ASYNC_LAZY if package == "vi_async" else LAZY
    loaded = loaded_by(f"import {package}")
    assert [name for name in lazy if name in loaded] == []


def test_the_lazy_names_still_import() -> None:
    loaded = loaded_by("from vi_async import CleanupPlan, PlannedDelete; import vi_async.bulk")
    assert set(ASYNC_LAZY) <= loaded
