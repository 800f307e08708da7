"""The one error the generator raises."""

from __future__ import annotations


class GenerationError(Exception):
    """vi_async has something the generator does not know how to make blocking."""
