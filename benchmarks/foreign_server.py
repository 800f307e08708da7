"""A Vi-compatible server that is not ours, for the client-overhead measures: only ``GET
/workspaces/{org}/flows/{id}``, written from WIRE.md on bare asyncio (no aiohttp, no code of
``vi_async.local``), with switches for the ways another server's HTTP may differ.

Every flow id is answered with a WIRE-shaped Flow document (so nothing needs seeding); a wrong
key is answered 401, any other path 404. The switches:

- ``--chunked``: ``Transfer-Encoding: chunked`` instead of ``Content-Length``
  (``--chunk-size``: the body in chunks of that many bytes, the last chunk in its own write);
- ``--encoding gzip|deflate``: compress the body when the request accepts it;
- ``--close``: ``Connection: close`` after every answer; ``--http10``: answer as HTTP/1.0
  (no keep-alive); ``--keep-alive S``: close a connection idle for ``S`` seconds;
- ``--pad N``: ``N`` more bytes of attributes in each flow; ``--content-type``;
  ``--lower``: lower-case header names; ``--bare``: no ``Date`` / ``Server``.

Run as ``python -m benchmarks.foreign_server --port 0 [switches]``: it prints its endpoint,
organization and key as ``NAME=value`` lines, then ``READY``.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import json
import secrets
import signal
import time
import uuid
import zlib
from typing import Any

_REASONS = {200: "OK", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}


def flow_document(org: str, flow_id: str, pad: int) -> dict[str, Any]:
    """The Flow of WIRE.md for ``flow_id`` (``pad`` bytes more in its attributes)."""
    now = int(time.time() * 1000)
    return {
        "kind": "Flow",
        "workspaceId": org,
        "flowId": flow_id,
        "selfLink": f"/workspaces/{org}/flows/{flow_id}",
        "etag": secrets.token_hex(10),
        "spec": {
            "name": f"flow-{flow_id[:8]}",
            "schema": "v1",
            "tolerations": {},
            "settings": {},
            "blocks": [],
            "trainingProject": None,
        },
        "metadata": {
            "timeCreated": now,
            "lastUpdated": now,
            "generation": 1,
            "attributes": {"padding": "x" * pad} if pad else {},
        },
    }


class Options:
    """The server's switches (see the module docstring)."""

    def __init__(self, args: argparse.Namespace) -> None:
        """Take the parsed command line."""
        self.chunked: bool = args.chunked
        self.chunk_size: int = args.chunk_size
        self.encoding: str | None = args.encoding
        self.close: bool = args.close
        self.http10: bool = args.http10
        self.keep_alive: float | None = args.keep_alive
        self.pad: int = args.pad
        self.content_type: str = args.content_type
        self.lower: bool = args.lower
        self.bare: bool = args.bare
        self.org = str(uuid.uuid4())
        self.key = "dtvi_" + secrets.token_hex(49)[:98]


class Answers:
    """The answer bytes of each flow id and encoding, made once."""

    def __init__(self, options: Options) -> None:
        """Answers under ``options``."""
        self.options = options
        self._bodies: dict[tuple[str, str | None], bytes] = {}
        self._prefix = f"/workspaces/{options.org}/flows/"
        self._auth = f"Bearer {options.key}"

    def body(self, flow_id: str, encoding: str | None) -> bytes:
        """The encoded flow document of ``flow_id``."""
        key = (flow_id, encoding)
        body = self._bodies.get(key)
        if body is None:
            doc = flow_document(self.options.org, flow_id, self.options.pad)
            body = json.dumps(doc, separators=(",", ":")).encode()
            if encoding == "gzip":
                compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
                body = compressor.compress(body) + compressor.flush()
            elif encoding == "deflate":
                body = zlib.compress(body)
            self._bodies[key] = body
        return body

    def answer(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, bytes, str]:
        """Status, body and Content-Encoding ("" for none) of one request."""
        if headers.get("authorization") != self._auth:
            return 401, b'{"error":"Unauthenticated","message":"Invalid secret key"}', ""
        path = target.split("?", 1)[0]
        if not path.startswith(self._prefix) or "/" in path[len(self._prefix) :]:
            return 404, b'{"error":"NotFound","message":"No such route"}', ""
        if method != "GET":
            return 405, b'{"error":"MethodNotAllowed","message":"Only GET"}', ""
        encoding = self.options.encoding
        if encoding and encoding not in headers.get("accept-encoding", ""):
            encoding = None
        return 200, self.body(path[len(self._prefix) :], encoding), encoding or ""


class Connection(asyncio.Protocol):
    """One client connection: requests parsed in turn, answered in order."""

    def __init__(self, answers: Answers) -> None:
        """Serve ``answers``."""
        self.answers = answers
        self.options = answers.options
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the idle timer."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the idle timer."""
        if self.idle is not None:
            self.idle.cancel()

    def _arm(self) -> None:
        if self.options.keep_alive is None or self.transport is None:
            return
        if self.idle is not None:
            self.idle.cancel()
        loop = asyncio.get_running_loop()
        self.idle = loop.call_later(self.options.keep_alive, self.transport.close)

    def data_received(self, data: bytes) -> None:
        """Answer every complete request in the buffer."""
        self.buffer += data
        while self.transport is not None and not self.transport.is_closing():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end].decode("latin-1"), self.buffer[end + 4 :]
            lines = head.split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            self.buffer = self.buffer[length:]  # a GET has no body; skip any
            keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            self._respond(*self.answers.answer(method, target, headers), keep)
            self._arm()

    def _respond(self, status: int, body: bytes, encoding: str, keep: bool) -> None:
        options = self.options
        assert self.transport is not None
        close = options.close or options.http10 or not keep
        version = "HTTP/1.0" if options.http10 else "HTTP/1.1"
        fields = [("Content-Type", options.content_type)]
        if not options.bare:
            fields.append(("Date", email.utils.formatdate(usegmt=True)))
            fields.append(("Server", "foreign/1.0"))
        if encoding:
            fields.append(("Content-Encoding", encoding))
            fields.append(("Vary", "Accept-Encoding"))
        chunked = options.chunked and not options.http10
        if chunked:
            fields.append(("Transfer-Encoding", "chunked"))
        else:
            fields.append(("Content-Length", str(len(body))))
        if close:
            fields.append(("Connection", "close"))
        elif options.keep_alive is not None:
            fields.append(("Keep-Alive", f"timeout={options.keep_alive:g}"))
        if options.lower:
            fields = [(name.lower(), value) for name, value in fields]
        head = f"{version} {status} {_REASONS[status]}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in fields) + "\r\n"
        if not chunked:
            self.transport.write(head.encode("latin-1") + body)
        else:
            size = options.chunk_size or len(body) or 1
            parts = [body[i : i + size] for i in range(0, len(body), size)]
            framed = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts)
            self.transport.write(head.encode("latin-1") + framed)
            self.transport.write(b"0\r\n\r\n")  # as servers that end a stream on its own do
        if close:
            self.transport.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.foreign_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--chunked", action="store_true")
    parser.add_argument("--chunk-size", type=int, default=0)
    parser.add_argument("--encoding", choices=("gzip", "deflate"))
    parser.add_argument("--close", action="store_true")
    parser.add_argument("--http10", action="store_true")
    parser.add_argument("--keep-alive", type=float)
    parser.add_argument("--pad", type=int, default=0)
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--lower", action="store_true")
    parser.add_argument("--bare", action="store_true")
    return parser.parse_args(argv)


async def serve(options: Options, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT; print the banner once listening."""
    loop = asyncio.get_running_loop()
    answers = Answers(options)
    server = await loop.create_server(lambda: Connection(answers), host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"DATATURE_VI_API_ENDPOINT=http://{host}:{bound}/", flush=True)
    print(f"DATATURE_VI_ORGANIZATION_ID={options.org}", flush=True)
    print(f"DATATURE_VI_SECRET_KEY={options.key}", flush=True)
    print("READY", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Run the server from the command line."""
    args = parse_args(argv)
    asyncio.run(serve(Options(args), args.host, args.port))


if __name__ == "__main__":
    main()
