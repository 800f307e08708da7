"""What a test drives the server with: the clock, runs, logs, the journal, scripted faults.

Guarantee: every control method is a plain call (no ``await``) that works the
same from an async test on the server's own event loop and from a sync test
beside a thread-backed server (``with LocalServer()``): they touch only
in-memory state and the database's own thread, never the event loop, and a
database call is short. Bad input raises ``ValueError`` (a missing run:
``LookupError``) before anything changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from vi_async.local import engine
from vi_async.local.clock import Clock
from vi_async.local.database import Database
from vi_async.local.errors import ApiError
from vi_async.local.journal import RequestJournal
from vi_async.local.rules import FaultHandle, FaultRule, RuleBook
from vi_async.local.state import LocalState
from vi_async.local.validation import check_id

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: The most lines one ``append_logs`` call may add, and the longest message.
MAX_LINES_PER_CALL = 10_000
MAX_MESSAGE_CHARS = 65_536


def _checked_id(value: object, what: str) -> str:
    """A valid id, or ValueError (instead of the API's 400)."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    try:
        return check_id(value, what)
    except ApiError as exc:
        raise ValueError(exc.message) from None


def _phase_name(phase: object) -> str:
    """``"Failed"`` from ``RunPhase.FAILED``, ``"failed"`` or ``"Failed"``."""
    name = getattr(phase, "value", phase)
    if isinstance(name, str):
        for known in engine.PHASES:
            if known.lower() == name.lower():
                return known
    raise ValueError(f"phase must be one of {', '.join(engine.PHASES)}, got {phase!r}")


def _lines(messages: str | Iterable[str]) -> list[str]:
    """The messages as a list: one string is one line."""
    lines = [messages] if isinstance(messages, str) else list(messages)
    if not lines:
        raise ValueError("messages must hold at least one line")
    if len(lines) > MAX_LINES_PER_CALL:
        raise ValueError(f"append_logs adds at most {MAX_LINES_PER_CALL} lines a call")
    for line in lines:
        if not isinstance(line, str):
            raise ValueError(f"each message must be a string, got {type(line).__name__}")
        if len(line) > MAX_MESSAGE_CHARS:
            raise ValueError(f"a message is at most {MAX_MESSAGE_CHARS} characters")
    return lines


def _found(call: Any, *args: Any) -> Any:
    """Run a database call; its 404 becomes LookupError."""
    try:
        return call(*args)
    except ApiError as exc:
        if exc.status == 404:
            raise LookupError(exc.message) from None
        raise


class ControlMixin:
    """The control methods of :class:`~vi_async.local.LocalServer` (see the module)."""

    _clock: Clock
    _journal: RequestJournal
    _rules: RuleBook

    def _running_state(self) -> LocalState:
        """The running server's state; the server raises RuntimeError when stopped."""
        raise NotImplementedError

    @property
    def now(self) -> datetime:
        """The server's current time (UTC); with ``clock="manual"`` it moves only by advance()."""
        return datetime.fromtimestamp(self._clock() / 1000, tz=timezone.utc)

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move the manual clock forward; runs, logs and URL expiry follow at once.

        Args:
            seconds: How far, in seconds or as a timedelta.

        Returns:
            The new server time (UTC).

        Raises:
            RuntimeError: The server was made with the real clock.
            ValueError: A negative or non-finite amount.
        """
        self._clock.advance(seconds)
        return self.now

    @property
    def requests(self) -> RequestJournal:
        """The journal of the requests answered (``.filter(method=, path=)``, ``.clear()``)."""
        return self._journal

    def inject(self, rule: FaultRule) -> FaultHandle:
        """Add a scripted fault (see :mod:`vi_async.local.rules`); it applies at once.

        Args:
            rule: Which requests to fail and how.

        Returns:
            Its handle: ``.hits``, ``.remaining``, ``.remove()``.

        Raises:
            TypeError: ``rule`` is not a FaultRule.
        """
        return self._rules.add(rule)

    def set_run(
        self,
        run_id: str,
        phase: Any,
        *,
        reason: str | None = None,
        message: str | None = None,
        org_id: str | None = None,
    ) -> None:
        """Move a run to a phase now; it stays there until moved again.

        Pending and Running hold the run (its schedule no longer applies);
        Succeeded, Failed, Error and Cancelled end it (from Pending, without a
        Running condition). The new condition carries ``reason`` and ``message``.

        Args:
            run_id: The run.
            phase: A ``RunPhase`` or its name (any case).
            reason: The condition's reason (a default one when None).
            message: The condition's message (a default one when None).
            org_id: The run's organization; the default one when None.

        Raises:
            RuntimeError: The server is not running.
            LookupError: There is no such run.
            ValueError: An unknown phase, a terminal run, Running -> Pending.
        """
        state = self._running_state()
        name = _phase_name(phase)
        for text in (reason, message):
            if text is not None and not isinstance(text, str):
                raise ValueError("reason and message must be strings")
        run_id = _checked_id(run_id, "run id")

        def move(plan: engine.RunPlan, now: int) -> engine.RunPlan:
            return engine.drive(plan, name, now, reason, message)

        org = org_id or state.default_org
        _found(state.store.call, Database.drive_run, org, run_id, move)

    def append_logs(
        self,
        run_id: str,
        messages: str | Iterable[str],
        *,
        level: str = "INFO",
        block: str | None = None,
        org_id: str | None = None,
    ) -> None:
        """Add log lines to an active run at the current server time.

        Args:
            run_id: The run.
            messages: The lines' messages (one string is one line).
            level: DEBUG, INFO, WARNING, ERROR or CRITICAL (any case).
            block: The flow block they belong to, or None.
            org_id: The run's organization; the default one when None.

        Raises:
            RuntimeError: The server is not running.
            LookupError: There is no such run.
            ValueError: Bad messages, level or block; or the run is terminal.
        """
        state = self._running_state()
        lines = _lines(messages)
        if not isinstance(level, str) or level.upper() not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        if block is not None and not (isinstance(block, str) and block):
            raise ValueError("block must be a non-empty string or None")
        run_id = _checked_id(run_id, "run id")
        org = org_id or state.default_org
        _found(state.store.call, Database.append_logs, org, run_id, lines, level.upper(), block)
