"""Lazy pagination over list endpoints.

``AsyncPager`` is what ``list()`` returns: ``await pager`` gives the first
page, ``async for page in pager`` walks every page (one request at a time, on
demand) and ``pager.all_items()`` walks every item in constant memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator
from contextlib import aclosing
from typing import Any, Generic, TypeVar

from ._mask import excerpt
from ._validate import check_number
from .errors import ViDecodeError
from .models import Page

T = TypeVar("T")

FetchPage = Callable[[str | None], Awaitable[Page[T]]]

MAX_PAGES = 100_000
TOKEN_WINDOW = 1024  # recent page tokens remembered exactly (as digests)


class SeenTokens:
    """Remembers page tokens in bounded memory, to tell when a listing loops.

    The last ``TOKEN_WINDOW`` tokens are kept as 16-byte digests, so a loop
    through fewer pages is caught before any page is fetched twice. A longer
    loop is caught by Brent's method: one checkpoint token, moved to the current
    token after 1, 2, 4, 8... tokens, recurs within one more lap of the loop.
    """

    def __init__(self, window: int | None = None) -> None:
        """Remember no token yet.

        Args:
            window: How many recent tokens are kept exactly (default: ``TOKEN_WINDOW``).
        """
        self._recent: deque[bytes] = deque()
        self._digests: set[bytes] = set()
        self._window = TOKEN_WINDOW if window is None else window
        self._checkpoint: bytes | None = None
        self._lap = 1
        self._since_checkpoint = 0

    def __len__(self) -> int:
        return len(self._recent)

    def repeated(self, token: str) -> bool:
        """Record ``token``, telling whether the listing came back to it.

        Args:
            token: The next page token of the page just read.

        Returns:
            True when it was seen before (the listing loops).
        """
        import hashlib  # here, not at import: loading OpenSSL costs ~4 ms of import time

        digest = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if digest in self._digests or digest == self._checkpoint:
            return True
        self._recent.append(digest)
        self._digests.add(digest)
        if len(self._recent) > self._window:
            self._digests.discard(self._recent.popleft())
        self._since_checkpoint += 1
        if self._since_checkpoint == self._lap:
            self._checkpoint, self._lap, self._since_checkpoint = digest, self._lap * 2, 0
        return False


class AsyncPager(Generic[T]):
    """Pages of a list, fetched lazily.

    ``where`` filters items client-side; ``limit`` caps the number of items
    yielded, and no page is fetched once it is reached. Awaiting a filtered or
    limited pager reads server pages until it holds ``page_size`` matches (or
    ``limit`` items, or the list ends); its ``next_page`` continues after the
    last server page read. Iteration stops when a page has no ``next_page``.
    A listing never ends short without saying so: a repeated page token (a server
    looping A -> B -> A) or more than ``MAX_PAGES`` pages raise ViDecodeError.
    """

    def __init__(
        self,
        fetch: FetchPage[T],
        *,
        first_token: str | None = None,
        where: Callable[[T], bool] | None = None,
        limit: int | None = None,
        page_size: int | None = None,
    ) -> None:
        """A pager over ``fetch``; nothing is fetched until it is awaited or iterated.

        Args:
            fetch: Fetches the page at a token (None: the first page).
            first_token: The token of the first page to read (None: the start).
            where: Keeps only the items it returns True for (client-side).
            limit: The most items yielded in all.
            page_size: The server's page size: how many matches awaiting a
                filtered pager gathers.

        Raises:
            TypeError: ``limit`` is not an integer (nor None).
            ValueError: ``limit`` is negative.
        """
        check_number(limit, "limit", integer=True)
        self._fetch = fetch
        self._first_token = first_token
        self._where = where
        self._limit = limit
        self._page_size = page_size

    def __repr__(self) -> str:
        return f"<AsyncPager limit={self._limit}>"

    def __await__(self) -> Generator[Any, None, Page[T]]:
        return self._first_page().__await__()

    async def _first_page(self) -> Page[T]:
        if self._where is None and self._limit is None:
            return await self._fetch(self._first_token)
        # Filtered or limited: read on until a page's worth of matches (or the limit) is
        # in hand, so that a first server page with no match does not look like "none".
        target = self._limit if self._limit is not None else self._page_size
        items: list[T] = []
        last: Page[T] | None = None
        async with aclosing(self._pages()) as pages:
            async for last in pages:
                items.extend(last.items)
                if target is not None and len(items) >= target:
                    break
        if last is None:
            return Page(items=[])
        return Page(items=items[:target], next_page=last.next_page)

    def _shape(self, page: Page[T], left: int | None) -> Page[T]:
        """Apply the filter and the remaining limit to one page."""
        if self._where is None and left is None:
            return page
        items = page.items if self._where is None else [i for i in page.items if self._where(i)]
        if left is not None:
            items = items[:left]
        return Page(items=items, next_page=page.next_page, prev_page=page.prev_page)

    def __aiter__(self) -> AsyncIterator[Page[T]]:
        return self._pages()

    async def _pages(self) -> AsyncGenerator[Page[T], None]:
        token = self._first_token
        seen = SeenTokens()
        if token:
            seen.repeated(token)
        left = self._limit
        for _ in range(MAX_PAGES):
            if left == 0:
                return
            page = self._shape(await self._fetch(token), left)
            if left is not None:
                left -= len(page.items)
            yield page
            token = page.next_page
            if not token:
                return
            if seen.repeated(token):
                raise ViDecodeError(
                    f"The server repeated page token {excerpt(token, 40)!r}: the listing loops; "
                    "stopping rather than returning part of it as if it were complete"
                )
        raise ViDecodeError(
            f"The listing did not end after {MAX_PAGES} pages; stopping rather than "
            "returning part of it as if it were complete"
        )

    async def all_items(self) -> AsyncGenerator[T, None]:
        """Every item of every page, fetched one page at a time.

        Yields:
            The items, in the order of the listing.

        Raises:
            ViDecodeError: The listing loops or does not end (see the class).
        """
        async with aclosing(self._pages()) as pages:
            async for page in pages:
                for item in page.items:
                    yield item
