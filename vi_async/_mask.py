"""Every secret the SDK could show is masked here, before it reaches an error, a repr,
a log, a hook or a span: one home for masking.

- Text (a server's message, a request id): every Vi key starts with ``dtvi_``, so
  a key is masked wherever it occurs (whole, cut short, or some other client's)
  from that prefix on. The keys of this process's clients are also masked
  without their prefix, should a server echo only the rest.
- Headers: ``Authorization`` reads ``Bearer ***``; keys in other values are masked.
- URLs: user info and query values are masked (``mask_url``), or a signed
  storage URL loses its whole query, its signature (``url_without_query``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

SECRET_KEY_PREFIX = "dtvi_"  # every Vi key starts with it
MASK = SECRET_KEY_PREFIX + "***"
BEARER_MASK = "Bearer ***"  # what an Authorization header shows
# From the prefix up to a character that cannot be part of a key (quotes, spaces,
# brackets, separators): masking too much is harmless, too little is not. The bare
# prefix is no key (so "keys start with 'dtvi_'" reads as written).
_ANY_KEY = re.escape(SECRET_KEY_PREFIX) + r"[^\s\"'`<>\\(){}\[\],;&]+"
_KNOWN_KEYS = 16  # how many clients' keys are remembered (the most recent ones)

_known: dict[str, None] = {}  # key bodies (without the prefix), oldest first
_lock = threading.Lock()  # vi_sync clients are made on their own loop threads
_pattern = re.compile(_ANY_KEY)


def remember(secret_key: str) -> None:
    """Also mask ``secret_key`` when it appears without its prefix.

    Args:
        secret_key: A client's key; the most recent 16 keys of 16 characters or
            more (after the prefix) are remembered.
    """
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
    """Replace every secret key in ``text`` by ``dtvi_***``.

    Args:
        text: Any text, typically from a server.

    Returns:
        ``text`` with each key (from its prefix on, or a remembered key's body) masked.
    """
    return _pattern.sub(MASK, text)


def masked(text: str | None) -> str | None:
    """Mask ``text``, passing None through (a request id may be missing).

    Args:
        text: Text from a server, or None.

    Returns:
        ``mask(text)``, or None for None.
    """
    return None if text is None else mask(text)


def masked_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    """Copy ``headers`` read-only, with ``Authorization`` and any Vi key hidden.

    Args:
        headers: Request or answer headers.

    Returns:
        A case-insensitive read-only mapping: ``Authorization`` reads ``Bearer ***``,
        every other value is ``mask``-ed.
    """
    from multidict import CIMultiDict, CIMultiDictProxy

    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        out.add(name, BEARER_MASK if name.lower() == "authorization" else mask(value))
    return CIMultiDictProxy(out)


def excerpt(text: str, limit: int) -> str:
    """Mask ``text``, then cut it to at most ``limit`` characters.

    Masked before it is cut, so that no cut can leave part of a key unmasked.

    Args:
        text: Text from a server.
        limit: The most characters kept (``...`` is appended when cut).

    Returns:
        The masked start of ``text``.
    """
    text = mask(text)
    return text if len(text) <= limit else text[:limit] + "..."


def mask_url(url: str) -> str:
    """Mask a URL's user info and query values (and keys anywhere), dropping its fragment.

    Args:
        url: A URL from a server (a redirect's ``Location``).

    Returns:
        The masked URL, or ``(an invalid URL)`` when it cannot be parsed.
    """
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


def url_without_query(url: str) -> str:
    """Cut ``url`` at its query: a pre-signed URL without its signature.

    For URLs whose query is all the secret they hold (a storage URL the API handed
    out); ``mask_url`` keeps the query's names and masks user info too.

    Args:
        url: A pre-signed storage URL.

    Returns:
        ``url`` without its query (safe to log or put in an error).
    """
    return url.split("?", 1)[0]
