"""``import vi_async`` (and ``vi_sync``) loads only what a first request needs.

aiohttp (which builds SSL contexts at import), the model-download stack
(tarfile, hashing, storage), hashlib, the Retry-After date parser and the bulk
engine load on first use; the benchmarks time the import, this test keeps the
rule from eroding.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

LAZY = (
    "aiohttp",
    "vi_async._download.downloader",
    "tarfile",
    "email.utils",
    "hashlib",
    "opentelemetry",
    "vi_async.bulk.engine",
    "vi_async.bulk.adaptive",
)


@pytest.mark.parametrize("package", ["vi_async", "vi_sync"])
def test_import_leaves_the_heavy_parts_for_later(package: str) -> None:
    code = f"import json, sys, {package}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert [name for name in LAZY if name in loaded] == []
