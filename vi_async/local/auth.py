"""Secret keys and organizations: key format, generation and request authentication.

Keys have the official form: the ``dtvi_`` prefix and exactly 103 characters.
Requests must carry ``Authorization: Bearer <key>`` and ``Organization-Id``;
a missing header or an unknown key is a 401, a valid key used for another
organization (in the header or in the path) is a 403.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping

from aiohttp import web

from vi_async.local.errors import ApiError

KEY_PREFIX = "dtvi_"
KEY_LENGTH = 103


def new_secret_key() -> str:
    """Generate a key in the official format."""
    return KEY_PREFIX + secrets.token_hex((KEY_LENGTH - len(KEY_PREFIX)) // 2)


def new_admin_token() -> str:
    """A fresh random token for the ``/_local/`` admin routes."""
    return secrets.token_urlsafe(32)


def new_organization_id() -> str:
    """Generate an organization id."""
    return str(uuid.uuid4())


def check_secret_key(key: str) -> str:
    """Return ``key`` if it has the official format, else raise ValueError."""
    if not key.startswith(KEY_PREFIX) or len(key) != KEY_LENGTH:
        raise ValueError(
            f"a secret key must start with {KEY_PREFIX!r} and be {KEY_LENGTH} characters long"
        )
    return key


class KeyRing:
    """An in-memory copy of the stored keys, checked on every request."""

    def __init__(self, keys: Mapping[str, str] | None = None) -> None:
        """Start with ``keys`` (secret key -> organization id)."""
        self._keys = dict(keys or {})

    def add(self, secret_key: str, org_id: str) -> None:
        """Register a key for an organization."""
        self._keys[secret_key] = org_id

    def authenticate(self, request: web.Request) -> str:
        """Return the organization of the request's key, or raise 401/403."""
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        org_header = request.headers.get("Organization-Id", "").strip()
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(401, "missing or malformed 'Authorization: Bearer <key>' header")
        if not org_header:
            raise ApiError(401, "missing 'Organization-Id' header")
        org_id = self._keys.get(key.strip())
        if org_id is None:
            raise ApiError(401, "invalid secret key")
        path_org = request.match_info.get("org", org_id)
        if org_header != org_id or path_org != org_id:
            raise ApiError(403, "the secret key does not grant access to this organization")
        return org_id
