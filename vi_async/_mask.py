"""Masking of secrets in text a server sent, before it reaches an error, a repr or a log.

Every Vi key starts with ``dtvi_``, so a key is masked wherever it occurs (whole,
cut short, or some other client's) from that prefix on. The keys of this
process's clients are also masked without their prefix, should a server echo
only the rest.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit, urlunsplit

SECRET_KEY_PREFIX = "dtvi_"  # every Vi key starts with it
MASK = SECRET_KEY_PREFIX + "***"
# From the prefix up to a character that cannot be part of a key (quotes, spaces,
# brackets, separators): masking too much is harmless, too little is not. The bare
# prefix is no key (so "keys start with 'dtvi_'" reads as written).
_ANY_KEY = re.escape(SECRET_KEY_PREFIX) + r"[^\s\"'`<>\\(){}\[\],;&]+"
_KNOWN_KEYS = 16  # how many clients' keys are remembered (the most recent ones)

_known: dict[str, None] = {}  # key bodies (without the prefix), oldest first
_lock = threading.Lock()  # vi_sync clients are made on their own loop threads
_pattern = re.compile(_ANY_KEY)


def remember(secret_key: str) -> None:
    """Also mask ``secret_key`` when it appears without its prefix."""
    global _pattern
    body = secret_key.removeprefix(SECRET_KEY_PREFIX)
    if len(body) < 16 or body in _known:
        return
    with _lock:
        _known[body] = None
        while len(_known) > _KNOWN_KEYS:
            del _known[next(iter(_known))]
        _pattern = re.compile("|".join([_ANY_KEY, *map(re.escape, _known)]))


def mask(text: str) -> str:
    """``text`` with every secret key in it replaced by ``dtvi_***``."""
    return _pattern.sub(MASK, text)


def excerpt(text: str, limit: int) -> str:
    """The masked start of ``text``, at most ``limit`` characters (masked before it is
    cut, so that no cut can leave part of a key unmasked)."""
    text = mask(text)
    return text if len(text) <= limit else text[:limit] + "..."


def mask_url(url: str) -> str:
    """``url`` with its user info and query values masked (keys too), fragment dropped."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an invalid URL)"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "&".join(
        f"{name}=***" if sep else name
        for name, sep, _ in (item.partition("=") for item in parts.query.split("&"))
    )
    return mask(urlunsplit((parts.scheme, netloc, parts.path, query if parts.query else "", "")))
