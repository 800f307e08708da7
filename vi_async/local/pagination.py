"""Page size parsing and opaque page tokens.

A token is the urlsafe base64 of a small JSON object naming the collection and a
cursor on the row sequence number: ``{"k": "flows", "a": 41}`` means "items after
seq 41", ``"b"`` means "before". Rows never change their seq and seqs are never
reused, so deletes between page requests neither skip nor repeat items.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from vi_async.local.errors import bad_request
from vi_async.local.validation import loads_json

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
#: Cursors are SQLite row sequence numbers: non-negative signed 64-bit integers.
MAX_CURSOR = 2**63 - 1


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after or before a seq (both None: the first page)."""

    after: int | None = None
    before: int | None = None


def parse_page_size(raw: str | None) -> int:
    """Parse the ``s`` query parameter (default 10, allowed 1..1000)."""
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise bad_request(f"page size 's' must be an integer, got {raw!r}") from None
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise bad_request(f"page size 's' must be between 1 and {MAX_PAGE_SIZE}")
    return size


def encode_token(kind: str, *, after: int | None = None, before: int | None = None) -> str:
    """Make the opaque token for a cursor."""
    payload: dict[str, object] = {"k": kind}
    if after is not None:
        payload["a"] = after
    if before is not None:
        payload["b"] = before
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str | None, kind: str) -> Cursor:
    """Read the ``p`` query parameter; a malformed or foreign token is a 400 error."""
    if token is None or token == "":
        return Cursor()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = loads_json(raw)
    except (binascii.Error, ValueError):
        raise bad_request("invalid page token") from None
    if not isinstance(payload, dict) or payload.get("k") != kind:
        raise bad_request("invalid page token")
    after, before = payload.get("a"), payload.get("b")
    valid = [v for v in (after, before) if _is_cursor(v)]
    if len(valid) != 1 or len(payload) != 2:
        raise bad_request("invalid page token")
    return Cursor(after=after, before=before)


def _is_cursor(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_CURSOR
