"""Hostile storage and hostile archives for the model-download tests.

``storage(body)`` is a handler for :class:`~tests.reliability.hostile.HostileServer`
that serves the outputs API (one checkpoint whose URL points back at the server)
and the archive ``body``, with knobs for the ways storage misbehaves. The
archive builders make a valid checkpoint (the local server's generator) and add
hostile members to it: link chains, bombs, sparse members.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import tarfile
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from vi_async.local.blob import Artifact, ArtifactKey

from .hostile import HostileServer

RUN = "run-1"
BLOB = "/blob/ckpt.tar"


def output(server: HostileServer, ckpt: str = "ckpt-1", blob: str = BLOB) -> dict[str, object]:
    """A run output whose download URL is ``blob`` on the hostile server."""
    return {
        "kind": "RunOutput",
        "runId": RUN,
        "runOutputId": ckpt,
        "etag": "e1",
        "spec": {"kind": "Checkpoint"},
        "status": {
            "contents": {"downloadUrl": {"url": server.endpoint.rstrip("/") + blob, "expiresAt": 0}}
        },
    }


def storage(
    body: bytes,
    *,
    ranges: bool = True,
    honour_range: bool = True,
    content_range: Callable[[int, int, int], str] | None = None,
    head_status: int | None = None,
    hashes: bool = True,
    etag: str = '"b1"',
) -> Callable[[web.Request, HostileServer], Any]:
    """A handler: the outputs API, and a blob route serving ``body``."""
    headers = {"ETag": etag}
    if hashes:
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        headers["x-goog-hash"] = f"md5={md5}"
    if ranges:
        headers["Accept-Ranges"] = "bytes"

    async def handle(request: web.Request, server: HostileServer) -> web.StreamResponse:
        if request.path.startswith("/workspaces/"):
            return web.json_response({"items": [output(server)], "nextPage": None})
        if request.method == "HEAD":
            if head_status is not None:  # storage that serves GET only
                return web.Response(status=head_status)
            return web.Response(headers={**headers, "Content-Length": str(len(body))})
        spec = request.headers.get("Range")
        if spec and honour_range:
            first, last = (int(x) for x in spec.removeprefix("bytes=").split("-"))
            cr = content_range or (lambda a, b, n: f"bytes {a}-{b}/{n}")
            return web.Response(
                status=206,
                body=body[first : last + 1],
                headers={**headers, "Content-Range": cr(first, last, len(body))},
            )
        return web.Response(body=body, headers=headers)

    return handle


def model_tar(size: int = 2 * 1024 * 1024, ckpt: str = "ckpt-1") -> bytes:
    """A valid checkpoint archive (the local server's generator)."""
    return Artifact(ArtifactKey(RUN, ckpt, 1, size, "f")).to_bytes()


def member(
    name: str,
    kind: bytes = tarfile.REGTYPE,
    *,
    linkname: str = "",
    data: bytes = b"",
) -> tuple[tarfile.TarInfo, bytes]:
    """A member to add to an archive: its header and its data."""
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, linkname, len(data)
    info.mode = 0o777 if kind == tarfile.DIRTYPE else 0o644
    return info, data


def archive(extra: Iterable[tuple[tarfile.TarInfo, bytes]], *, gz: bool = False) -> bytes:
    """A valid checkpoint archive with ``extra`` members after the model's."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(model_tar(100_000))) as good:
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as out:
            for m in good.getmembers():
                out.addfile(m, good.extractfile(m))
            for info, data in extra:
                out.addfile(info, io.BytesIO(data) if data else None)
    raw = buffer.getvalue()
    return gzip.compress(raw, compresslevel=1, mtime=0) if gz else raw


def realpath_overflow(destination_length: int) -> list[tuple[tarfile.TarInfo, bytes]]:
    """The CVE-2025-4517 chain: 16 links to long directories make ``realpath`` give
    up, so ``escape`` (the extraction directory's parent) passes tarfile's ``data``
    filter; then a hard link to ``escape/victim`` is overwritten and ``escape/new``
    is created, both outside the target."""
    steps = "abcdefghijklmnop"
    component = "d" * ((os.pathconf("/", "PC_PATH_MAX") - destination_length - 1) // 17)
    members, path = [], ""
    for step in steps:
        members.append(member(os.path.join(path, component), tarfile.DIRTYPE))
        members.append(member(os.path.join(path, step), tarfile.SYMTYPE, linkname=component))
        path = os.path.join(path, component)
    link = os.path.join(*steps, "l" * 254)
    members += [
        member(link, tarfile.SYMTYPE, linkname=os.path.join(*[".."] * len(steps))),
        member("escape", tarfile.SYMTYPE, linkname=os.path.join(link, "..")),
        member("flaglink", tarfile.LNKTYPE, linkname="escape/victim"),
        member("flaglink", data=b"overwritten"),
        member("escape/new", data=b"created outside"),
    ]
    return members


def parent_chain() -> list[tuple[tarfile.TarInfo, bytes]]:
    """``d1/l -> ..``, ``d1/l/m -> ..``, then ``d1/l/m/x``: each link looks inside
    on its own; together they lead out of the target."""
    return [
        member("d1", tarfile.DIRTYPE),
        member("d1/l", tarfile.SYMTYPE, linkname=".."),
        member("d1/l/m", tarfile.SYMTYPE, linkname=".."),
        member("d1/l/m/x", data=b"escaped"),
    ]


def sparse(name: str, size: int) -> tuple[tarfile.TarInfo, bytes]:
    """A GNU sparse member (pax 0.1): 4 bytes of data, ``size`` bytes on disk."""
    info, data = member(name, data=b"tiny")
    info.pax_headers = {"GNU.sparse.map": "0,4", "GNU.sparse.size": str(size)}
    return info, data
