"""LocalServer: the Vi-compatible server, in-process (``async with``) or on a thread (``with``)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypedDict

from aiohttp import web

from vi_async.local.app import build_app
from vi_async.local.auth import (
    KeyRing,
    check_secret_key,
    new_admin_token,
    new_organization_id,
    new_secret_key,
)
from vi_async.local.clock import make_clock
from vi_async.local.control import ControlMixin
from vi_async.local.database import Database
from vi_async.local.engine import RunSchedule
from vi_async.local.faults import FaultConfig, FaultInjector
from vi_async.local.journal import RequestJournal
from vi_async.local.rules import RuleBook
from vi_async.local.seeding import SeedingMixin
from vi_async.local.state import LocalState, dialect_name
from vi_async.local.storage import STORAGE, StorageStats
from vi_async.local.store import Store
from vi_async.local.tls import ServerTLS
from vi_async.local.validation import check_id

SHUTDOWN_TIMEOUT = 2.0
if TYPE_CHECKING:
    import ssl

    from vi_async import Client

if sys.version_info >= (3, 11):
    from typing import Self, Unpack
elif TYPE_CHECKING:  # typing_extensions is no dependency: type checkers ship it
    from typing_extensions import Self, Unpack

#: Seconds a client has to send a request's headers, or its body, or to reuse an idle
#: connection, before the server closes the connection.
READ_TIMEOUT = 30.0
LINGERING_SECONDS = 10.0


def _resolve_default(db: Database, org_id: str | None, secret_key: str | None) -> tuple[str, str]:
    """Pick the default organization and key, reusing stored ones when possible."""
    if org_id is None and secret_key is None:
        stored = db.default_organization()
        if stored is not None:
            return stored
    if secret_key is not None:
        owner = db.org_of(secret_key)
        if owner is not None and org_id is not None and owner != org_id:
            raise ValueError("the secret key already belongs to another organization")
        org_id = org_id or owner or new_organization_id()
    elif org_id is not None:
        secret_key = db.key_of(org_id) or new_secret_key()
    else:
        org_id, secret_key = new_organization_id(), new_secret_key()
    db.add_organization(org_id, secret_key, default=True)
    return org_id, secret_key


def _check_settings(
    read_timeout: float,
    admin_token: str | None,
    secret_key: str | None,
    organization_id: str | None,
) -> None:
    """Refuse settings a server cannot start with (see :class:`LocalServer`'s Raises)."""
    if not 0 < read_timeout <= 3600:
        raise ValueError("read_timeout must be within 0..3600 seconds")
    if admin_token is not None and not (admin_token.isascii() and admin_token.isprintable()):
        raise ValueError("admin_token must be printable ASCII")
    if secret_key is not None:
        check_secret_key(secret_key)
    if organization_id is not None:
        check_id(organization_id, "organization id")


class ClientOptions(TypedDict, total=False):
    """The keyword options of ``vi_async.Client`` that :meth:`LocalServer.client`
    passes on (every one optional; see ``Client`` for their meaning and defaults)."""

    timeout: float
    max_retries: int
    retry_deadline: float | None
    max_retry_after: float
    max_connections: int
    retry_base_delay: float
    max_response_bytes: int
    cancel_grace: float
    event_hooks: Mapping[str, Sequence[Callable[[Any], Any]]] | None
    trace_configs: Sequence[Any] | None
    tracing: bool | None
    proxy: str | None
    trust_env: bool
    verify: bool | str | os.PathLike[str] | ssl.SSLContext
    cert: str | tuple[str, str] | None
    read_timeout: float | None


class LocalServer(SeedingMixin, ControlMixin):
    """A Vi-compatible API server backed by SQLite.

    ``async with LocalServer() as server:`` serves on the current event loop;
    ``with LocalServer() as server:`` serves on a background thread with its own
    loop. Either way ``endpoint``, ``organization_id``, ``secret_key`` and
    ``env()`` describe how to reach it; ``admin_token`` (random unless given)
    unlocks the ``/_local/`` routes. A connection whose request headers or body
    do not arrive within ``read_timeout`` seconds is closed (idle keep-alive
    connections too).

    ``strict=True`` serves only the Vi wire of WIRE.md, none of the local
    extensions (log ``seq``/``nextSince``/``complete``/``tail``, the
    ``Vi-Flow-Id`` link header and ``status.flowId``, ``Idempotency-Key``
    replay and echo); the ``/_local/*`` admin routes stay. ``plain=True`` is
    the strict dialect without ``X-Request-Id`` either: answers as bare as
    WIRE.md allows, like a server that is not ours.

    ``clock="manual"`` makes a test double: server time stands still until
    :meth:`advance`; :meth:`set_run`, :meth:`append_logs`, :attr:`requests`
    and :meth:`inject` drive and inspect it (see :mod:`vi_async.local.control`).

    ``tls=True`` serves HTTPS with a certificate signed by a CA made at start-up
    (``ca_path``: trust it with ``client(verify=server.ca_path)`` or
    ``SSL_CERT_FILE``, which ``env()`` then sets), or with ``tls_cert``/``tls_key``.
    """

    def __init__(
        self,
        *,
        db_path: str = ":memory:",
        host: str = "127.0.0.1",
        port: int = 0,
        schedule: RunSchedule | None = None,
        faults: FaultConfig | None = None,
        organization_id: str | None = None,
        secret_key: str | None = None,
        strict: bool = False,
        plain: bool = False,
        download_url_ttl: float = 900.0,
        admin_token: str | None = None,
        read_timeout: float = READ_TIMEOUT,
        clock: str = "real",
        journal_size: int = 10_000,
        tls: bool = False,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> None:
        """Configure the server; nothing starts until :meth:`start` or a ``with`` block.

        Args:
            db_path: The SQLite file (or ``file:`` URI); ``":memory:"`` for a
                temporary database.
            host: The address to listen on.
            port: The port; 0 for a free one (read :attr:`endpoint` once started).
            schedule: The default timing of new runs.
            faults: Faults to inject (none by default).
            organization_id: The default organization; the stored default, or a
                new one, when None.
            secret_key: The default organization's key; its stored key, or a new
                one, when None.
            strict: Serve only the Vi wire, none of the local extensions.
            download_url_ttl: Seconds a checkpoint's pre-signed download URL is valid.
            admin_token: The token of the ``/_local/`` routes; random when None.
            read_timeout: Seconds a client has to send a request's headers or
                body, or to reuse an idle connection.
            clock: ``"real"`` (the wall clock) or ``"manual"`` (starts at the real
                time and stands still until :meth:`advance`).
            journal_size: How many requests :attr:`requests` keeps (the newest).
            tls: Serve HTTPS (implied by ``tls_cert``); the certificate is made at
                start-up unless ``tls_cert`` is given (needs the ``local`` extra).
            tls_cert: A PEM certificate (chain) file to serve.
            tls_key: Its private key file, when not in ``tls_cert``.

        Raises:
            ValueError: ``read_timeout`` outside 0..3600 s, ``admin_token`` not
                printable ASCII, ``secret_key`` not in the official format, an
                unknown ``clock``, or ``journal_size`` below 1.
            ApiError: A 400 for an invalid ``organization_id``.
        """
        _check_settings(read_timeout, admin_token, secret_key, organization_id)
        self.admin_token: str = admin_token or new_admin_token()
        self.read_timeout = read_timeout
        self.db_path: str = str(db_path)
        self.host = host
        self.port: int = port
        self._strict = bool(strict or plain)
        self.plain = bool(plain)
        self._schedule = schedule or RunSchedule()
        self._faults = faults or FaultConfig()
        self.download_url_ttl = download_url_ttl
        self._requested = (organization_id, secret_key)
        self._organization_id: str | None = None
        self._secret_key: str | None = None
        self._state: LocalState | None = None
        self._runner: web.AppRunner | None = None
        self._counts: Counter[str] = Counter()
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread_stop: asyncio.Event | None = None
        self._clock = make_clock(clock)
        self._journal = RequestJournal(journal_size)
        self._rules = RuleBook()
        self._tls = ServerTLS(tls_cert, tls_key) if tls or tls_cert else None

    def __repr__(self) -> str:
        """Describe the server without its secret key."""
        where = self.endpoint if self._runner is not None else "not started"
        return (
            f"LocalServer(endpoint={where!r}, organization_id={self._organization_id!r}, "
            f"db_path={self.db_path!r}, dialect={self.dialect!r})"
        )

    # -- properties ---------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8700/``."""
        if self._runner is None:
            raise RuntimeError("the server is not running")
        host = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self._tls else 'http'}://{host}:{self.port}/"

    @property
    def ca_path(self) -> str | None:
        """The CA certificate (PEM) clients trust to reach this HTTPS server, when it made it."""
        return self._tls.ca_path if self._tls is not None else None

    @property
    def organization_id(self) -> str:
        """The default organization's id."""
        if self._organization_id is None:
            raise RuntimeError("the server is not running")
        return self._organization_id

    @property
    def secret_key(self) -> str:
        """The default organization's secret key."""
        if self._secret_key is None:
            raise RuntimeError("the server is not running")
        return self._secret_key

    @property
    def strict(self) -> bool:
        """True when the server speaks only the Vi wire (no local extensions)."""
        return self._strict

    @property
    def dialect(self) -> str:
        """``"strict"`` or ``"extended"`` (the default, with the local extensions)."""
        return dialect_name(self._strict)

    @property
    def schedule(self) -> RunSchedule:
        """The default timing of new runs (assign a new RunSchedule to change it)."""
        return self._schedule

    @schedule.setter
    def schedule(self, schedule: RunSchedule) -> None:
        self._schedule = schedule
        if self._state is not None:
            self._state.schedule = schedule

    @property
    def faults(self) -> FaultConfig:
        """The active fault configuration (assign a new FaultConfig to change it)."""
        return self._state.faults.config if self._state is not None else self._faults

    @faults.setter
    def faults(self, config: FaultConfig) -> None:
        self._faults = config
        if self._state is not None:
            self._state.faults.config = config

    @property
    def request_counts(self) -> Counter[str]:
        """API requests counted by ``"METHOD /route/{template}"``."""
        return self._state.counts if self._state is not None else self._counts

    @property
    def connection_count(self) -> int:
        """Client connections the server currently holds open (0 when stopped)."""
        runner = self._runner
        return 0 if runner is None or runner.server is None else len(runner.server.connections)

    def admin_headers(self) -> dict[str, str]:
        """The header unlocking the ``/_local/`` admin routes (see :mod:`vi_async.local.admin`).

        Returns:
            The header's name and the server's ``admin_token``.
        """
        from vi_async.local.admin import ADMIN_HEADER

        return {ADMIN_HEADER: self.admin_token}

    @property
    def rate_limited(self) -> int:
        """Requests answered 429 by the ``rate_limit`` fault since the server started."""
        return self._state.faults.rate_limited if self._state is not None else 0

    def _running_state(self) -> LocalState:
        """The running server's state; RuntimeError when it is stopped."""
        if self._state is None:
            raise RuntimeError("the server is not running")
        return self._state

    @property
    def storage_stats(self) -> StorageStats:
        """What the storage route (checkpoint downloads) served since start."""
        if self._runner is None:
            raise RuntimeError("the server is not running")
        return self._runner.app[STORAGE].stats

    def reset_counts(self) -> None:
        """Reset :attr:`request_counts` and :attr:`rate_limited`."""
        self.request_counts.clear()
        if self._state is not None:
            self._state.faults.rate_limited = 0

    def env(self) -> dict[str, str]:
        """The environment variables pointing a Vi client at this server.

        Returns:
            DATATURE_VI_API_ENDPOINT, DATATURE_VI_ORGANIZATION_ID and
            DATATURE_VI_SECRET_KEY (and ``SSL_CERT_FILE`` naming ``ca_path`` when
            the server serves HTTPS with its own CA).

        Raises:
            RuntimeError: The server is not running.
        """
        env = {
            "DATATURE_VI_API_ENDPOINT": self.endpoint,
            "DATATURE_VI_ORGANIZATION_ID": self.organization_id,
            "DATATURE_VI_SECRET_KEY": self.secret_key,
        }
        if self.ca_path is not None:
            env["SSL_CERT_FILE"] = self.ca_path
        return env

    def client(self, **kwargs: Unpack[ClientOptions]) -> Client:
        """A ``vi_async.Client`` bound to this server: its endpoint and credentials.

        Args:
            **kwargs: Other options of ``vi_async.Client`` (:class:`ClientOptions`);
                ``verify`` is ``ca_path`` by default when the server serves HTTPS
                with its own CA.

        Returns:
            A new client (close it, or use it as ``async with server.client() as client:``).
        """
        from vi_async import Client

        if self.ca_path is not None:
            kwargs.setdefault("verify", self.ca_path)
        return Client(
            endpoint=self.endpoint,
            organization_id=self.organization_id,
            secret_key=self.secret_key,
            **kwargs,
        )

    # -- lifecycle (async) ------------------------------------------------------------

    async def start(self) -> None:
        """Open the database and start serving on the current event loop.

        Raises:
            RuntimeError: The server is already running.
            OSError: The port cannot be bound.
            sqlite3.Error: The database cannot be opened.
        """
        if self._runner is not None:
            raise RuntimeError("the server is already running")
        store = Store(self.db_path, clock=self._clock)
        await store.open()
        try:
            org_id, key = await store.run(_resolve_default, *self._requested)
            keys = KeyRing(await store.run(Database.keys))
            state = LocalState(
                store=store,
                keys=keys,
                faults=FaultInjector(self._faults, rules=self._rules),
                schedule=self._schedule,
                default_org=org_id,
                counts=self._counts,
                admin_token=self.admin_token,
                read_timeout=self.read_timeout,
                strict=self._strict,
                request_ids=not self.plain,
                download_url_ttl=self.download_url_ttl,
                clock=self._clock,
                journal=self._journal,
            )
            runner = web.AppRunner(
                build_app(state),
                access_log=None,
                handle_signals=False,
                shutdown_timeout=SHUTDOWN_TIMEOUT,
                # aiohttp closes a connection still waiting for a complete request (its
                # headers) this long after it opened or after its last answer.
                keepalive_timeout=self.read_timeout,
                # ...and drains the unread rest of a body at most this long after answering.
                lingering_time=min(self.read_timeout, LINGERING_SECONDS),
            )
            await runner.setup()
            try:
                tls = self._tls.context(self.host) if self._tls is not None else None
                site = web.TCPSite(runner, self.host, self.port, ssl_context=tls)
                await site.start()
            except BaseException:
                await runner.cleanup()
                raise
        except BaseException:
            await store.close()
            if self._tls is not None:
                self._tls.cleanup()
            raise
        self.port = int(runner.addresses[0][1])
        self._state, self._runner = state, runner
        self._organization_id, self._secret_key = org_id, key

    async def stop(self) -> None:
        """Stop serving, wake sleeping fault delays and close the database."""
        state, runner = self._state, self._runner
        if state is None or runner is None:
            return
        state.faults.stopping.set()
        try:
            await runner.cleanup()
        finally:
            if self._tls is not None:
                self._tls.cleanup()
            self._runner = None
            self._state = None
            await state.store.close()

    async def __aenter__(self) -> Self:
        """Start the server on the current loop (see :meth:`start`).

        Returns:
            The server, running.
        """
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        await self.stop()

    # -- lifecycle (thread) -------------------------------------------------------------

    def __enter__(self) -> Self:
        """Start the server on a background thread with its own event loop.

        Returns:
            The server, running.

        Raises:
            RuntimeError: The server is already running on a thread.
        """
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        ready = threading.Event()
        errors: list[BaseException] = []

        async def serve() -> None:
            self._thread_loop = asyncio.get_running_loop()
            self._thread_stop = asyncio.Event()
            try:
                await self.start()
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                return
            ready.set()
            try:
                await self._thread_stop.wait()
            finally:
                await self.stop()

        thread = threading.Thread(
            target=lambda: asyncio.run(serve()), name="vi-local-server", daemon=True
        )
        self._thread = thread
        thread.start()
        ready.wait()
        if errors:
            thread.join()
            self._thread = None
            raise errors[0]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server and join its thread."""
        thread, loop, stop = self._thread, self._thread_loop, self._thread_stop
        if thread is None or loop is None or stop is None:
            return
        loop.call_soon_threadsafe(stop.set)
        thread.join()
        self._thread = self._thread_loop = self._thread_stop = None
