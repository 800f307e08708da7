"""The progress callback of a model download (kept apart so ``import vi_async``
does not load the download machinery)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DownloadProgress = Callable[[int, int], Any]
"""``progress(bytes_done, bytes_total)``, called as bytes arrive."""
