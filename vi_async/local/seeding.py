"""Test data for the local server: extra organizations, seeded flows, the stored ids.

Guarantees: seeded flows are inserted in one transaction (all or none), their
rows built on the database's thread, not on the event loop; they are ordinary
flows (listed, fetched, patched and deleted like any other), optionally
back-dated so that ``cleanup(older_than=...)`` matches them. These helpers
write to the database directly, so they bypass faults and request counts.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from vi_async.local.auth import new_organization_id, new_secret_key
from vi_async.local.database import Database
from vi_async.local.errors import bad_request
from vi_async.local.state import LocalState
from vi_async.local.store import Store
from vi_async.local.validation import canonical_json, check_id, normalize_flow_spec, spec_key


def _build_and_insert(
    db: Database, org_id: str, count: int, name_prefix: str, age_ms: int
) -> list[str]:
    """Build ``count`` minimal flows named ``name_prefix<i>`` and insert them."""
    ids, rows = [], []
    for index in range(count):
        flow_id = str(uuid.uuid4())
        spec = normalize_flow_spec({"name": f"{name_prefix}{index}"})
        ids.append(flow_id)
        rows.append((flow_id, spec, spec_key(spec), canonical_json({"spec": spec})))
    db.seed_flows(org_id, rows, age_ms)
    return ids


async def seed_flows(
    store: Store, org_id: str, count: int, name_prefix: str, age_seconds: float = 0.0
) -> list[str]:
    """Bulk-insert ``count`` minimal flows in one transaction.

    Args:
        store: The server's database.
        org_id: The organization owning the flows.
        count: How many flows.
        name_prefix: Their names are ``name_prefix0``, ``name_prefix1``, ...
        age_seconds: How long ago they were created.

    Returns:
        The new flows' ids, in insertion order.

    Raises:
        ApiError: A 400 for a negative count or age.
    """
    if count < 0:
        raise bad_request("the number of flows must be >= 0")
    if age_seconds < 0:
        raise bad_request("the age of seeded flows must be >= 0 seconds")
    age_ms = round(age_seconds * 1000)
    return await store.run(_build_and_insert, org_id, count, name_prefix, age_ms)


class SeedingMixin:
    """The helpers :class:`~vi_async.local.LocalServer` offers tests and benchmarks."""

    def _running_state(self) -> LocalState:
        """The running server's state; the server raises RuntimeError when stopped."""
        raise NotImplementedError

    async def add_organization(self, org_id: str | None = None) -> tuple[str, str]:
        """Add an organization with a fresh secret key.

        Args:
            org_id: Its id; a new random one when None.

        Returns:
            ``(org_id, secret_key)``.

        Raises:
            RuntimeError: The server is not running.
            ApiError: A 400 when ``org_id`` is not a valid id.
        """
        state = self._running_state()
        org_id = check_id(org_id, "organization id") if org_id else new_organization_id()
        key = new_secret_key()
        await state.store.run(Database.add_organization, org_id, key)
        state.keys.add(key, org_id)
        return org_id, key

    async def seed_flows(
        self,
        n: int,
        *,
        name_prefix: str = "seed-",
        org_id: str | None = None,
        age: timedelta | float = 0.0,
    ) -> list[str]:
        """Bulk-insert ``n`` flows in one transaction.

        Args:
            n: How many flows.
            name_prefix: Their names are ``name_prefix0``, ``name_prefix1``, ...
            org_id: Their organization; the default one when None.
            age: Back-dates their creation (a timedelta or seconds): e.g.
                ``age=timedelta(days=8)`` makes flows that
                ``cleanup(older_than=timedelta(days=7))`` matches.

        Returns:
            The new flows' ids, in insertion order.

        Raises:
            RuntimeError: The server is not running.
            ApiError: A 400 for a negative ``n`` or ``age``.
        """
        state = self._running_state()
        seconds = age.total_seconds() if isinstance(age, timedelta) else float(age)
        return await seed_flows(state.store, org_id or state.default_org, n, name_prefix, seconds)

    async def flow_ids(self, org_id: str | None = None) -> list[str]:
        """Ids of the stored flows of an organization, oldest first.

        Args:
            org_id: The organization; the default one when None.

        Returns:
            The flow ids.

        Raises:
            RuntimeError: The server is not running.
        """
        return await self._stored_ids("flows", org_id)

    async def run_ids(self, org_id: str | None = None) -> list[str]:
        """Ids of the stored runs of an organization, oldest first.

        Args:
            org_id: The organization; the default one when None.

        Returns:
            The run ids.

        Raises:
            RuntimeError: The server is not running.
        """
        return await self._stored_ids("runs", org_id)

    async def _stored_ids(self, table: str, org_id: str | None) -> list[str]:
        state = self._running_state()
        return await state.store.run(Database.ids, table, org_id or state.default_org)
