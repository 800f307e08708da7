"""The local server's SQLite database: organizations, keys, flows, runs and deletions.

Guarantees: each write is one transaction, committed before the call returns
(``BEGIN IMMEDIATE``, so writers never interleave); rows carry a monotonically
increasing ``seq`` (AUTOINCREMENT, never reused) that orders listings and backs
the page cursors; a create retried with the same body returns the stored row,
and a delete retried with the same Idempotency-Key is answered as a success.

The database holds secret keys, so a new file is created ``0600`` (SQLite gives
its ``-wal`` and ``-shm`` files the same mode). ``path`` may be a ``file:`` URI
(e.g. ``file:vi.sqlite?mode=ro``). :class:`Database` is synchronous; the server
reaches it through :class:`vi_async.local.store.Store`, which runs it on a thread
of its own.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from vi_async.local import preconditions
from vi_async.local.engine import RunPlan, line_count
from vi_async.local.errors import conflict, not_found
from vi_async.local.records import ExtraLine, FlowRecord, Meta, PageRows, RunRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS organizations (
    org_id TEXT PRIMARY KEY,
    is_default INTEGER NOT NULL DEFAULT 0,
    time_created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS secret_keys (
    secret_key TEXT PRIMARY KEY,
    org_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS secret_keys_org ON secret_keys (org_id);
CREATE TABLE IF NOT EXISTS flows (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL,
    flow_id TEXT NOT NULL,
    spec TEXT NOT NULL,
    spec_key TEXT NOT NULL,
    revision INTEGER NOT NULL,
    attributes TEXT NOT NULL,
    create_body TEXT NOT NULL,
    time_created INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    etag TEXT NOT NULL,
    UNIQUE (org_id, flow_id)
);
CREATE INDEX IF NOT EXISTS flows_org_seq ON flows (org_id, seq);
CREATE INDEX IF NOT EXISTS flows_org_spec ON flows (org_id, spec_key, revision);
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    flow_id TEXT,
    spec TEXT NOT NULL,
    attributes TEXT NOT NULL,
    create_body TEXT NOT NULL,
    time_created INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    etag TEXT NOT NULL,
    running_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    log_interval_ms INTEGER NOT NULL,
    cancelled_at INTEGER,
    texts TEXT NOT NULL DEFAULT '[]',
    UNIQUE (org_id, run_id)
);
CREATE INDEX IF NOT EXISTS runs_org_seq ON runs (org_id, seq);
CREATE INDEX IF NOT EXISTS runs_org_flow ON runs (org_id, flow_id, finished_at);
CREATE TABLE IF NOT EXISTS run_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    rank INTEGER NOT NULL,
    at INTEGER NOT NULL,
    level TEXT NOT NULL,
    block TEXT,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS run_logs_run ON run_logs (org_id, run_id, id);
CREATE TABLE IF NOT EXISTS deletions (
    org_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    resource TEXT NOT NULL,
    PRIMARY KEY (org_id, idempotency_key)
);
"""

TABLES = {"flows": "flow_id", "runs": "run_id"}
#: Columns added since the first schema: (table, column, definition), for older files.
ADDED_COLUMNS = (("runs", "texts", "TEXT NOT NULL DEFAULT '[]'"),)
#: The most log lines ``append_logs`` may add to one run.
MAX_EXTRA_LINES = 100_000

T = TypeVar("T")


def _create_private(path: str) -> None:
    """Create the database file readable by its owner only (it holds secret keys)."""
    if path == ":memory:" or path.startswith("file:") or os.path.exists(path):
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def new_etag() -> str:
    """A fresh entity tag."""
    return uuid.uuid4().hex[:20]


def _meta(row: sqlite3.Row) -> Meta:
    return Meta(
        seq=row["seq"],
        org_id=row["org_id"],
        time_created=row["time_created"],
        last_updated=row["last_updated"],
        generation=row["generation"],
        etag=row["etag"],
        attributes=json.loads(row["attributes"]),
        create_body=row["create_body"],
    )


def _flow(row: sqlite3.Row) -> FlowRecord:
    return FlowRecord(flow_id=row["flow_id"], spec=json.loads(row["spec"]), meta=_meta(row))


def _run(row: sqlite3.Row) -> RunRecord:
    plan = RunPlan(
        created_at=row["time_created"],
        running_at=row["running_at"],
        finished_at=row["finished_at"],
        outcome=row["outcome"],
        log_interval_ms=row["log_interval_ms"],
        cancelled_at=row["cancelled_at"],
        texts=tuple(tuple(text) for text in json.loads(row["texts"])),
    )
    return RunRecord(
        run_id=row["run_id"],
        flow_id=row["flow_id"],
        spec=json.loads(row["spec"]),
        meta=_meta(row),
        plan=plan,
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class Database:
    """Synchronous SQLite access; use it from one thread only (the Store's)."""

    def __init__(self, path: str, clock: Callable[[], int] = now_ms) -> None:
        """Open (or create) the database and its tables.

        Args:
            path: The SQLite file or ``file:`` URI; ``":memory:"`` for a temporary one.
            clock: The current time in epoch milliseconds.

        Raises:
            sqlite3.Error: The file cannot be opened or is not a database.
        """
        self.clock = clock
        _create_private(path)
        self._conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, uri=path.startswith("file:")
        )
        self._conn.row_factory = sqlite3.Row
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        self._add_columns()
        # Orders flows by their latest write (milliseconds are too coarse to break ties).
        self._revision: int = self._conn.execute(
            "SELECT COALESCE(MAX(revision), 0) FROM flows"
        ).fetchone()[0]

    def _add_columns(self) -> None:
        """Bring a database made by an older version up to the current schema."""
        for table, column, definition in ADDED_COLUMNS:
            known = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            if column not in known:
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def _next_revision(self) -> int:
        self._revision += 1
        return self._revision

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            if self._conn.in_transaction:  # SQLite may already have rolled back (disk full)
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- organizations and keys -------------------------------------------------

    def keys(self) -> dict[str, str]:
        """All secret keys mapped to their organization."""
        rows = self._conn.execute("SELECT secret_key, org_id FROM secret_keys")
        return {row["secret_key"]: row["org_id"] for row in rows}

    def default_organization(self) -> tuple[str, str] | None:
        """The default organization and its first key, if one was stored."""
        row = self._conn.execute(
            "SELECT o.org_id, k.secret_key FROM organizations o JOIN secret_keys k "
            "ON k.org_id = o.org_id WHERE o.is_default = 1 ORDER BY k.rowid LIMIT 1"
        ).fetchone()
        return None if row is None else (row["org_id"], row["secret_key"])

    def key_of(self, org_id: str) -> str | None:
        """The first key of an organization.

        Args:
            org_id: The organization.

        Returns:
            The key, or None when the organization has none.
        """
        row = self._conn.execute(
            "SELECT secret_key FROM secret_keys WHERE org_id = ? ORDER BY rowid LIMIT 1",
            (org_id,),
        ).fetchone()
        return None if row is None else str(row["secret_key"])

    def org_of(self, secret_key: str) -> str | None:
        """The organization owning a key.

        Args:
            secret_key: The key.

        Returns:
            The organization's id, or None when the key is unknown.
        """
        row = self._conn.execute(
            "SELECT org_id FROM secret_keys WHERE secret_key = ?", (secret_key,)
        ).fetchone()
        return None if row is None else str(row["org_id"])

    def add_organization(self, org_id: str, secret_key: str, *, default: bool = False) -> None:
        """Store an organization (if new) with a key.

        Args:
            org_id: The organization.
            secret_key: A key of it (kept when already stored).
            default: Make it the default organization.
        """
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO organizations (org_id, time_created) VALUES (?, ?)",
                (org_id, self.clock()),
            )
            conn.execute(
                "INSERT OR IGNORE INTO secret_keys (secret_key, org_id) VALUES (?, ?)",
                (secret_key, org_id),
            )
            if default:
                conn.execute("UPDATE organizations SET is_default = (org_id = ?)", (org_id,))

    # -- listing ------------------------------------------------------------------

    def page(
        self, table: str, org_id: str, after: int | None, before: int | None, size: int
    ) -> PageRows:
        """Rows of ``table`` in ``seq`` order after (or before) a cursor.

        Args:
            table: ``"flows"`` or ``"runs"``.
            org_id: The organization.
            after: The ``seq`` the page starts after (None: from the start).
            before: The ``seq`` the page ends before (a previous page); wins over ``after``.
            size: At most this many rows.

        Returns:
            The records, and whether there are pages after and before them.
        """
        decode = _flow if table == "flows" else _run
        name = {"flows": "flows", "runs": "runs"}[table]
        conn = self._conn
        if before is not None:
            rows = conn.execute(
                f"SELECT * FROM {name} WHERE org_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
                (org_id, before, size + 1),
            ).fetchall()
            has_prev = len(rows) > size
            rows = rows[:size][::-1]
            pivot = rows[-1]["seq"] if rows else before - 1
            has_next = self._exists(name, org_id, "seq > ?", pivot)
        else:
            start = -1 if after is None else after
            rows = conn.execute(
                f"SELECT * FROM {name} WHERE org_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (org_id, start, size + 1),
            ).fetchall()
            has_next = len(rows) > size
            rows = rows[:size]
            pivot = rows[0]["seq"] if rows else start + 1
            has_prev = after is not None and self._exists(name, org_id, "seq < ?", pivot)
        return PageRows([decode(r) for r in rows], has_next, has_prev)

    def _exists(self, table: str, org_id: str, where: str, value: int) -> bool:
        row = self._conn.execute(
            f"SELECT 1 FROM {table} WHERE org_id = ? AND {where} LIMIT 1", (org_id, value)
        ).fetchone()
        return row is not None

    def _row(self, table: str, org_id: str, resource_id: str) -> sqlite3.Row | None:
        column = TABLES[table]
        return self._conn.execute(  # type: ignore[no-any-return]
            f"SELECT * FROM {table} WHERE org_id = ? AND {column} = ?", (org_id, resource_id)
        ).fetchone()

    def _found(self, table: str, org_id: str, resource_id: str) -> sqlite3.Row:
        """The row, or a 404 error naming the resource."""
        row = self._row(table, org_id, resource_id)
        if row is None:
            raise not_found(table[:-1], resource_id)
        return row

    def _replayed(
        self, table: str, org_id: str, resource_id: str, create_body: str
    ) -> sqlite3.Row | None:
        """The stored row when a create is retried with the same body; 409 for another body."""
        row = self._row(table, org_id, resource_id)
        if row is not None and row["create_body"] != create_body:
            raise conflict(f"{table[:-1]} {resource_id!r} already exists", code="AlreadyExists")
        return row

    def ids(self, table: str, org_id: str) -> list[str]:
        """All ids of ``table`` in an organization, oldest first.

        Args:
            table: ``"flows"`` or ``"runs"``.
            org_id: The organization.

        Returns:
            The ids.
        """
        column = TABLES[table]
        rows = self._conn.execute(
            f"SELECT {column} FROM {table} WHERE org_id = ? ORDER BY seq", (org_id,)
        )
        return [row[0] for row in rows]

    # -- flows --------------------------------------------------------------------

    def _flow_row(self, org_id: str, flow_id: str) -> sqlite3.Row | None:
        return self._row("flows", org_id, flow_id)

    def get_flow(self, org_id: str, flow_id: str) -> FlowRecord:
        """One flow.

        Args:
            org_id: The organization.
            flow_id: The flow.

        Returns:
            The flow.

        Raises:
            ApiError: A 404 when there is no such flow.
        """
        return _flow(self._found("flows", org_id, flow_id))

    def create_flow(
        self,
        org_id: str,
        flow_id: str,
        spec: dict[str, Any],
        spec_key: str,
        attributes: dict[str, str],
        create_body: str,
    ) -> tuple[FlowRecord, bool]:
        """Insert a flow; an identical retry returns the stored one.

        Args:
            org_id: The organization.
            flow_id: The client-made id.
            spec: The normalized spec.
            spec_key: The spec's canonical form (runs are linked by it).
            attributes: The user metadata.
            create_body: The request body in canonical JSON (tells a retry from a conflict).

        Returns:
            The flow, and True when it was created now.

        Raises:
            ApiError: A 409 when the flow exists with another body.
        """
        with self._tx() as conn:
            row = self._replayed("flows", org_id, flow_id, create_body)
            if row is not None:
                return _flow(row), False
            now = self.clock()
            conn.execute(
                "INSERT INTO flows (org_id, flow_id, spec, spec_key, revision, attributes,"
                " create_body, time_created, last_updated, generation, etag)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                (
                    org_id,
                    flow_id,
                    _dumps(spec),
                    spec_key,
                    self._next_revision(),
                    _dumps(attributes),
                    create_body,
                    now,
                    now,
                    new_etag(),
                ),
            )
            return _flow(self._flow_row(org_id, flow_id)), True  # type: ignore[arg-type]

    def seed_flows(
        self,
        org_id: str,
        rows: Iterable[tuple[str, dict[str, Any], str, str]],
        age_ms: int = 0,
    ) -> int:
        """Bulk-insert flows in one transaction.

        Args:
            org_id: The organization.
            rows: ``(flow_id, spec, spec_key, create_body)`` of each flow.
            age_ms: How many milliseconds ago they were created.

        Returns:
            The number of flows inserted.
        """
        now = self.clock() - age_ms
        with self._tx() as conn:
            cur = conn.executemany(
                "INSERT INTO flows (org_id, flow_id, spec, spec_key, revision, attributes,"
                " create_body, time_created, last_updated, generation, etag)"
                " VALUES (?, ?, ?, ?, ?, '{}', ?, ?, ?, 1, ?)",
                (
                    (
                        org_id,
                        fid,
                        _dumps(spec),
                        key,
                        self._next_revision(),
                        body,
                        now,
                        now,
                        new_etag(),
                    )
                    for fid, spec, key, body in rows
                ),
            )
            return cur.rowcount

    def update_flow(
        self,
        org_id: str,
        flow_id: str,
        change: Callable[[FlowRecord], tuple[dict[str, Any], str, dict[str, str]]],
        if_match: tuple[str, ...] | None = None,
    ) -> FlowRecord:
        """Change a flow and bump its generation.

        Args:
            org_id: The organization.
            flow_id: The flow.
            change: Given the flow, returns its new spec, spec key and attributes.
            if_match: The etags the flow must have (None: any).

        Returns:
            The updated flow.

        Raises:
            ApiError: A 404 when there is no such flow, a 412 when its etag is
                not in ``if_match``.
        """
        with self._tx() as conn:
            record = self.get_flow(org_id, flow_id)
            preconditions.check(record.meta.etag, if_match, f"flow {flow_id!r}")
            spec, key, attributes = change(record)
            conn.execute(
                "UPDATE flows SET spec = ?, spec_key = ?, revision = ?, attributes = ?,"
                " last_updated = ?, generation = generation + 1, etag = ? WHERE seq = ?",
                (
                    _dumps(spec),
                    key,
                    self._next_revision(),
                    _dumps(attributes),
                    self.clock(),
                    new_etag(),
                    record.meta.seq,
                ),
            )
            return self.get_flow(org_id, flow_id)

    def active_runs(self, org_id: str, flow_id: str, now: int, limit: int = 5) -> list[str]:
        """Ids of runs linked to a flow that are Pending or Running at ``now``.

        Args:
            org_id: The organization.
            flow_id: The flow.
            now: The time, in epoch milliseconds.
            limit: At most this many ids.

        Returns:
            The ids, oldest first.
        """
        rows = self._conn.execute(
            "SELECT run_id FROM runs WHERE org_id = ? AND flow_id = ? AND finished_at > ?"
            " AND cancelled_at IS NULL ORDER BY seq LIMIT ?",
            (org_id, flow_id, now, limit),
        )
        return [row[0] for row in rows]

    def _replayed_delete(self, org_id: str, key: str | None, resource: str) -> bool:
        """True when this idempotency key already deleted ``resource``."""
        if key is None:
            return False
        row = self._conn.execute(
            "SELECT resource FROM deletions WHERE org_id = ? AND idempotency_key = ?",
            (org_id, key),
        ).fetchone()
        return row is not None and row[0] == resource

    def _record_delete(
        self, conn: sqlite3.Connection, org_id: str, key: str | None, resource: str
    ) -> None:
        if key is not None:
            conn.execute(
                "INSERT OR REPLACE INTO deletions (org_id, idempotency_key, resource)"
                " VALUES (?, ?, ?)",
                (org_id, key, resource),
            )

    def delete_flow(
        self,
        org_id: str,
        flow_id: str,
        key: str | None = None,
        if_match: tuple[str, ...] | None = None,
    ) -> bool:
        """Delete a flow unless a linked run is still active; its runs stay.

        Args:
            org_id: The organization.
            flow_id: The flow.
            key: The request's Idempotency-Key, if any.
            if_match: The etags the flow must have (None: any).

        Returns:
            True when ``key`` already deleted this flow: a retry of a delete whose
            answer was lost, answered as a success again.

        Raises:
            ApiError: A 404 when there is no such flow, a 409 while a linked run
                is active, a 412 when its etag is not in ``if_match``.
        """
        with self._tx() as conn:
            if self._replayed_delete(org_id, key, f"flows/{flow_id}"):
                return True
            record = self.get_flow(org_id, flow_id)
            preconditions.check(record.meta.etag, if_match, f"flow {flow_id!r}")
            active = self.active_runs(org_id, flow_id, self.clock())
            if active:
                raise conflict(
                    f"flow {flow_id!r} has active (Pending or Running) runs: "
                    f"{', '.join(active)}; kill them or wait for them to finish"
                )
            conn.execute("DELETE FROM flows WHERE seq = ?", (record.meta.seq,))
            self._record_delete(conn, org_id, key, f"flows/{flow_id}")
            return False

    def find_flow(self, org_id: str, flow_id: str | None, spec_key: str) -> str | None:
        """The flow a new run links to: ``flow_id`` if it exists, else a spec match.

        Args:
            org_id: The organization.
            flow_id: The flow the request names (the ``Vi-Flow-Id`` header), if any.
            spec_key: The canonical form of the run's flow spec.

        Returns:
            The flow's id, or None when no flow matches.
        """
        if flow_id is not None and self._flow_row(org_id, flow_id) is not None:
            return flow_id
        row = self._conn.execute(
            "SELECT flow_id FROM flows WHERE org_id = ? AND spec_key = ?"
            " ORDER BY revision DESC LIMIT 1",
            (org_id, spec_key),
        ).fetchone()
        return None if row is None else str(row[0])

    # -- runs ---------------------------------------------------------------------

    def get_run(self, org_id: str, run_id: str) -> RunRecord:
        """One run.

        Args:
            org_id: The organization.
            run_id: The run.

        Returns:
            The run.

        Raises:
            ApiError: A 404 when there is no such run.
        """
        return _run(self._found("runs", org_id, run_id))

    def create_run(
        self,
        org_id: str,
        run_id: str,
        spec: dict[str, Any],
        attributes: dict[str, str],
        create_body: str,
        plan_for: Callable[[int], RunPlan],
        link: Callable[[Database], str | None],
    ) -> tuple[RunRecord, bool]:
        """Insert a run planned from the creation time; an identical retry returns it.

        Args:
            org_id: The organization.
            run_id: The client-made id.
            spec: The run's spec.
            attributes: The user metadata.
            create_body: The request body in canonical JSON (tells a retry from a conflict).
            plan_for: Given the creation time, the run's simulated lifecycle.
            link: Given the database, the flow the run links to (or None).

        Returns:
            The run, and True when it was created now.

        Raises:
            ApiError: A 409 when the run exists with another body.
        """
        with self._tx() as conn:
            row = self._replayed("runs", org_id, run_id, create_body)
            if row is not None:
                return _run(row), False
            plan = plan_for(self.clock())
            conn.execute(
                "INSERT INTO runs (org_id, run_id, flow_id, spec, attributes, create_body,"
                " time_created, last_updated, generation, etag, running_at, finished_at,"
                " outcome, log_interval_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
                (
                    org_id,
                    run_id,
                    link(self),
                    _dumps(spec),
                    _dumps(attributes),
                    create_body,
                    plan.created_at,
                    plan.created_at,
                    new_etag(),
                    plan.running_at,
                    plan.finished_at,
                    plan.outcome,
                    plan.log_interval_ms,
                ),
            )
            return self.get_run(org_id, run_id), True

    def update_run(
        self,
        org_id: str,
        run_id: str,
        change: Callable[[RunRecord, int], tuple[dict[str, Any], dict[str, str], int | None]],
    ) -> RunRecord:
        """Change a run at the current time and bump its generation.

        Args:
            org_id: The organization.
            run_id: The run.
            change: Given the run and the time, returns its new spec, attributes
                and ``cancelled_at``.

        Returns:
            The updated run.

        Raises:
            ApiError: A 404 when there is no such run.
        """
        with self._tx() as conn:
            record = self.get_run(org_id, run_id)
            now = self.clock()
            spec, attributes, cancelled_at = change(record, now)
            conn.execute(
                "UPDATE runs SET spec = ?, attributes = ?, cancelled_at = ?, last_updated = ?,"
                " generation = generation + 1, etag = ? WHERE seq = ?",
                (_dumps(spec), _dumps(attributes), cancelled_at, now, new_etag(), record.meta.seq),
            )
            return self.get_run(org_id, run_id)

    def delete_run(self, org_id: str, run_id: str, key: str | None = None) -> bool:
        """Delete a run.

        Args:
            org_id: The organization.
            run_id: The run.
            key: The request's Idempotency-Key, if any.

        Returns:
            True when ``key`` already deleted this run (see :meth:`delete_flow`).

        Raises:
            ApiError: A 404 when there is no such run.
        """
        with self._tx() as conn:
            if self._replayed_delete(org_id, key, f"runs/{run_id}"):
                return True
            cur = conn.execute("DELETE FROM runs WHERE org_id = ? AND run_id = ?", (org_id, run_id))
            if cur.rowcount == 0:
                raise not_found("run", run_id)
            conn.execute("DELETE FROM run_logs WHERE org_id = ? AND run_id = ?", (org_id, run_id))
            self._record_delete(conn, org_id, key, f"runs/{run_id}")
            return False

    def at(self, read: Callable[[Database], T]) -> tuple[T, int]:
        """``read(self)`` and the server time it was read at.

        A document rendered from rows must use the time the rows were read: with a
        manual clock, ``advance`` between the read and the rendering would show a
        run in a phase it was never stored in (a ``set_run`` override lost).

        Args:
            read: Reads rows from this database.

        Returns:
            What ``read`` returns, and the clock read on this thread right after.
        """
        return read(self), self.clock()

    def drive_run(
        self, org_id: str, run_id: str, move: Callable[[RunPlan, int], RunPlan]
    ) -> RunRecord:
        """Replace a run's plan at the current time (``LocalServer.set_run``).

        Args:
            org_id: The organization.
            run_id: The run.
            move: Given the plan and the time, returns the new plan.

        Returns:
            The updated run.

        Raises:
            ApiError: A 404 when there is no such run.
            ValueError: What ``move`` raises (a terminal run, an unknown phase).
        """
        with self._tx() as conn:
            record = self.get_run(org_id, run_id)
            now = self.clock()
            plan = move(record.plan, now)
            conn.execute(
                "UPDATE runs SET running_at = ?, finished_at = ?, outcome = ?, cancelled_at = ?,"
                " texts = ?, last_updated = ?, etag = ? WHERE seq = ?",
                (
                    plan.running_at,
                    plan.finished_at,
                    plan.outcome,
                    plan.cancelled_at,
                    _dumps(plan.texts),
                    now,
                    new_etag(),
                    record.meta.seq,
                ),
            )
            return self.get_run(org_id, run_id)

    def append_logs(
        self,
        org_id: str,
        run_id: str,
        messages: list[str],
        level: str,
        block: str | None,
    ) -> int:
        """Add log lines to an active run at the current time.

        Args:
            org_id: The organization.
            run_id: The run.
            messages: The lines' messages, in order.
            level: Their level.
            block: Their flow block, or None.

        Returns:
            The server time they carry, epoch milliseconds.

        Raises:
            ApiError: A 404 when there is no such run.
            ValueError: The run is terminal, or would hold more than
                :data:`MAX_EXTRA_LINES` added lines.
        """
        with self._tx() as conn:
            record = self.get_run(org_id, run_id)
            now = self.clock()
            if record.plan.is_terminal(now):
                raise ValueError(f"run {run_id!r} is terminal: its log is complete")
            (held,) = conn.execute(
                "SELECT COUNT(*) FROM run_logs WHERE org_id = ? AND run_id = ?", (org_id, run_id)
            ).fetchone()
            if held + len(messages) > MAX_EXTRA_LINES:
                raise ValueError(f"a run holds at most {MAX_EXTRA_LINES} added log lines")
            rank = line_count(record.plan, now)
            conn.executemany(
                "INSERT INTO run_logs (org_id, run_id, rank, at, level, block, message)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((org_id, run_id, rank, now, level, block, text) for text in messages),
            )
            return now

    def run_with_logs(self, org_id: str, run_id: str) -> tuple[RunRecord, list[ExtraLine]]:
        """A run and the log lines added to it, in the order they were added.

        Args:
            org_id: The organization.
            run_id: The run.

        Returns:
            The run and its added lines.

        Raises:
            ApiError: A 404 when there is no such run.
        """
        record = self.get_run(org_id, run_id)
        rows = self._conn.execute(
            "SELECT rank, at, level, block, message FROM run_logs"
            " WHERE org_id = ? AND run_id = ? ORDER BY id",
            (org_id, run_id),
        )
        return record, [ExtraLine(*row) for row in rows]


__all__ = ["Database", "new_etag", "now_ms"]
