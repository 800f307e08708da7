"""What every resource shares: paths, decoding, pagers, metadata bodies."""

from __future__ import annotations

from typing import Any, TypeVar

from .._convert import converter, describe, kind_of, structure
from .._http.transport import Response, Transport
from .._mask import excerpt
from .._observe.otel import traced_call, tracer_for
from .._validate import check_id
from ..errors import ViDecodeError
from ..models import DeletedResource, Page, PaginationParams
from ..pagination import AsyncPager

T = TypeVar("T")


def coerce_pagination(pagination: PaginationParams | dict[str, Any] | None) -> PaginationParams:
    """The pagination a user passed, as PaginationParams.

    Args:
        pagination: PaginationParams, a dict of its fields, or None (the defaults).

    Returns:
        The PaginationParams.

    Raises:
        TypeError: ``pagination`` is of another type, or the dict has an unknown key.
    """
    if pagination is None:
        return PaginationParams()
    if isinstance(pagination, PaginationParams):
        return pagination
    if isinstance(pagination, dict):
        return PaginationParams(**pagination)
    raise TypeError(
        f"pagination must be PaginationParams or a dict, not {type(pagination).__name__}"
    )


def metadata_body(metadata: dict[str, str] | None) -> dict[str, Any] | None:
    """The wire form of user metadata.

    Args:
        metadata: The user's metadata: strings by string, or None.

    Returns:
        ``{"attributes": {...}}``, or None for None.

    Raises:
        TypeError: ``metadata`` is not a dict of strings.
    """
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict of strings, not {type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata keys and values must be strings; got {key!r}: {value!r}")
    return {"attributes": dict(metadata)}


def request_body(spec: Any, metadata: dict[str, str] | None) -> dict[str, Any]:
    """A create or update body: ``{"spec"?, "metadata"?}``.

    Args:
        spec: The spec, already in wire form (None: left out).
        metadata: The user's metadata (None: left out).

    Returns:
        The JSON body.

    Raises:
        TypeError: ``metadata`` is not a dict of strings.
    """
    body: dict[str, Any] = {}
    if spec is not None:
        body["spec"] = spec
    meta = metadata_body(metadata)
    if meta is not None:
        body["metadata"] = meta
    return body


class Resource:
    """A collection under ``/workspaces/{org}/<collection>/``."""

    collection: str
    id_name: str
    namespace: str | None = None
    """The ``client.<namespace>`` name when it is not the collection (spans: ``vi.models.list``)."""

    _transport: Transport

    def __init__(self, transport: object) -> None:
        """Bind to a client's transport: the client makes its resources (``client.flows``).

        Args:
            transport: The client's HTTP transport (private: not part of the API).

        Raises:
            TypeError: ``transport`` is not a client's transport.
        """
        if not isinstance(transport, Transport):
            name = type(self).__name__
            raise TypeError(f"{name} is made by a Client: use its attribute, not {name}()")
        self._transport = transport

    def _path(self, resource_id: str, *, name: str | None = None) -> str:
        # A valid id holds only [A-Za-z0-9_-], which quoting leaves as it is.
        return f"{self.collection}/{check_id(resource_id, name or self.id_name)}"

    def _pager(
        self,
        cls: type[T],
        pagination: PaginationParams | dict[str, Any] | None,
        *,
        path: str | None = None,
        params: dict[str, str] | None = None,
        **options: Any,
    ) -> AsyncPager[T]:
        """Pages of ``cls`` from ``path`` (default: the collection), with extra ``params``."""
        pages = coerce_pagination(pagination)
        page_type = Page[cls]  # type: ignore[valid-type]
        size = str(pages.page_size)
        where = self.collection if path is None else path

        async def fetch(token: str | None) -> Page[T]:
            query = {**(params or {}), "s": size}
            if token is not None:
                query["p"] = token
            work = self._transport.request("GET", where, params=query)
            tracer = tracer_for(self._transport.tracing)
            if tracer is not None:  # one span per page: a pager is no coroutine to decorate
                organization = self._transport.config.organization_id
                name = f"vi.{self.namespace or self.collection}.list"
                work = traced_call(tracer, organization, name, None, None, work)
            page: Page[T] = decode_page(await work, page_type)
            return page

        return AsyncPager(fetch, first_token=pages.page_token, page_size=pages.page_size, **options)

    def _decode_one(self, response: Response, cls: type[T], resource_id: str) -> T:
        """Decode a single-resource answer and check that it is the one asked for.

        Args:
            response: The answer to a request on ``resource_id``.
            cls: The model to decode into (its ``id_name`` attribute is the id).
            resource_id: The id asked for.

        Returns:
            The decoded resource.

        Raises:
            ViDecodeError: The answer does not decode, or holds another resource.
        """
        found = decode(response, cls)
        check_answer_id(response, self.id_name, resource_id, getattr(found, self.id_name, None))
        return found

    async def _deleted(self, resource_id: str) -> DeletedResource:
        await self._transport.delete(self._path(resource_id))
        return DeletedResource(id=resource_id)


def decode(response: Response, cls: type[T]) -> T:
    """Structure a response body into ``cls``.

    Args:
        response: The API's answer.
        cls: The model class its body holds.

    Returns:
        The decoded model.

    Raises:
        ViDecodeError: The body does not fit ``cls`` (with the answer's status and
            request id).
    """
    try:
        return structure(response.data, cls)
    except ViDecodeError as exc:
        exc.status, exc.request_id = response.status, response.request_id
        raise


def check_answer_id(response: Response, name: str, asked: str, answered: object) -> None:
    """Raise ViDecodeError when an answer about ``asked`` holds another resource.

    Args:
        response: The answer (for its status and request id).
        name: What the id is (``run_id``, ``flow_id``).
        asked: The id the request named.
        answered: The id the answer holds.

    Raises:
        ViDecodeError: ``answered`` is not ``asked``.
    """
    if answered == asked:
        return
    shown = repr(excerpt(answered, 60)) if isinstance(answered, str) else "none"
    raise ViDecodeError(
        f"Asked for {name} {asked!r}, the server answered with {name} {shown}",
        status=response.status,
        request_id=response.request_id,
    )


def page_items(response: Response) -> tuple[list[Any], str | None]:
    """A list page's raw items and next-page token, checking the envelope.

    Args:
        response: The API's answer to a list request.

    Returns:
        The raw items, and the next page's token (None on the last page).

    Raises:
        ViDecodeError: The body is not a page object with an ``items`` list.
    """
    data = response.data
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ViDecodeError(
            "Expected a page object with an 'items' list",
            status=response.status,
            request_id=response.request_id,
        )
    token = data.get("nextPage")
    return data["items"], token if isinstance(token, str) and token else None


def decode_page(response: Response, page_type: Any) -> Any:  # returns page_type
    """Structure a list page, checking the envelope and the items' kind first.

    Args:
        response: The API's answer to a list request.
        page_type: ``Page[X]`` for the model class ``X`` of the items.

    Returns:
        The decoded ``Page[X]``.

    Raises:
        ViDecodeError: The envelope is wrong, an item is of another kind, or an
            item does not fit ``X``.
    """
    page_items(response)
    data = response.data
    expected = kind_of(page_type.__args__[0])
    if expected is not None:
        for item in data["items"]:
            kind = item.get("kind") if isinstance(item, dict) else None
            if kind is not None and kind != expected:
                raise ViDecodeError(
                    f"Expected items of kind {expected!r}, got {kind!r}",
                    status=response.status,
                    request_id=response.request_id,
                )
    try:
        return converter.structure(data, page_type)
    except Exception as exc:
        problem = describe(exc)
    raise ViDecodeError(  # outside the except: see describe()
        f"Could not decode a page: {problem}",
        status=response.status,
        request_id=response.request_id,
    )
