"""Seeded, reproducible fault injection for the ``/workspaces`` API routes.

Off by default. For each matching request one random draw picks at most one of:
``reset_before`` (connection dropped before the request is processed: nothing
changes), ``503`` / ``429`` (error answer with ``Retry-After``, nothing changes),
``slow`` (the request waits ``slow_seconds`` before being processed; if the
client hung up meanwhile it is not processed) and ``reset_after`` (processed and
committed, then the connection is dropped so the answer is lost). ``latency`` is
added to every matching request. ``paths`` is an optional regex searched in the
request path. ``rate_limit`` (requests per second, 0: off) puts a token bucket
of ``rate_limit_burst`` tokens in front of the matching requests: a request that
finds it empty is answered ``429`` with a ``Retry-After`` of the seconds until a
token is free, and changes nothing; it is counted as
``FaultInjector.rate_limited`` (``LocalServer.rate_limited``, ``rateLimited`` in
``GET /_local/stats``). Two settings make it answer like the limiters of real APIs:

- ``rate_limit_retry_after``: how it writes durations (``Retry-After`` and the
  ``Reset`` header below). ``"exact"`` (the default): fractional seconds,
  ``Retry-After: 0.004``. ``"ceil"``: whole seconds rounded up, as most real APIs
  send them (``Retry-After: 1`` for any wait up to a second).
- ``rate_limit_headers``: what every answer of a limited route (successes and its
  429s) says about the bucket. ``"none"`` (the default): nothing. ``"ietf"``: the
  IETF draft's fields (drafts -03 to -06), ``RateLimit-Limit: <rate>``,
  ``RateLimit-Remaining: <whole tokens left>``, ``RateLimit-Reset: <seconds until
  the bucket is full>`` and ``RateLimit-Policy: <rate>;w=1;burst=<burst>``: the
  limit is announced with its window. ``"x"``: the widespread token-bucket
  spelling, ``X-RateLimit-Limit: <burst>`` (the bucket's capacity),
  ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` as above, with no window: the
  rate itself is not announced. A fractional rate is announced over a longer
  window (``0.5`` req/s: ``RateLimit-Limit: 5``, ``w=10``).

Storage faults apply to the checkpoint blob route (the pre-signed download URLs),
drawn the same way per method, path and ``Range``: ``blob_reset_rate`` (the
connection drops after half of the body), ``blob_corrupt_rate`` (one byte of
the archive, a third of the way in, is flipped in an answer that covers it),
``blob_expired_rate`` (a 403 as if the URL had expired); ``blob_max_faults``
caps how many storage faults are injected in all (0: no cap), and
``blob_bandwidth`` limits the storage bytes served per second, all answers
together (0: no limit).

To keep every match cheap, ``paths`` is at most 100 characters and has no
repetition except a leading or trailing ``.*`` (``/flows/``, ``/runs(/|$)``,
``.*/flows/.*``), and paths longer than 1,024 characters never match. Durations
are at most a day and the seed fits in 64 bits. Change faults at runtime with
``server.faults = FaultConfig(...)`` or ``PUT /_local/faults``.

Reproducibility: each draw comes from ``random.Random`` seeded with the config's
``seed``, the method, the path without its ``/workspaces/{org}`` prefix and how
many times that same request was seen since the config was set. The same
requests therefore meet the same faults whatever their interleaving: concurrent
clients and retries (the n-th attempt of a request) are reproducible.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from vi_async.local.errors import ApiError
from vi_async.local.limiter import TokenBucket
from vi_async.local.rules import FaultRule, RuleBook

API_PREFIX = "/workspaces/"
MAX_TRACKED_REQUESTS = 1_000_000
POLL_SECONDS = 0.05
MAX_FAULT_SECONDS = 86_400.0
MAX_PATTERN_LENGTH = 100
MAX_MATCHED_PATH = 1024
MAX_BRANCHES = 4
INTEGER_FIELDS = ("seed", "blob_max_faults")
#: The status of a dropped connection's response, which is never sent.
RESET_STATUS = 499
RETRY_AFTER_STYLES = ("exact", "ceil")
"""``FaultConfig.rate_limit_retry_after``: fractional seconds, or whole seconds rounded up."""
LIMIT_HEADER_STYLES = ("none", "ietf", "x")
"""``FaultConfig.rate_limit_headers``: no headers, IETF ``RateLimit-*``, or ``X-RateLimit-*``."""
CHOICE_FIELDS = {
    "rate_limit_retry_after": RETRY_AFTER_STYLES,
    "rate_limit_headers": LIMIT_HEADER_STYLES,
}

_ALIASES = {
    "503": "error_503_rate",
    "429": "error_429_rate",
    "reset_before": "reset_before_rate",
    "reset_after": "reset_after_rate",
    "slow": "slow_rate",
}


@dataclass(frozen=True)
class FaultConfig:
    """What faults to inject; rates are probabilities per request (0..1)."""

    seed: int = 0
    latency: float = 0.0
    error_503_rate: float = 0.0
    error_429_rate: float = 0.0
    retry_after: float = 1.0
    reset_before_rate: float = 0.0
    reset_after_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 30.0
    paths: str | None = None
    rate_limit: float = 0.0
    rate_limit_burst: float = 10.0
    rate_limit_retry_after: str = "exact"
    rate_limit_headers: str = "none"
    blob_reset_rate: float = 0.0
    blob_corrupt_rate: float = 0.0
    blob_expired_rate: float = 0.0
    blob_max_faults: int = 0
    blob_bandwidth: float = 0.0

    def __post_init__(self) -> None:
        """Validate rates, durations and the path regex."""
        rates = self._rates()
        if any(not 0.0 <= r <= 1.0 for r in rates.values()) or sum(rates.values()) > 1.0:
            raise ValueError("fault rates must be within 0..1 and add up to at most 1")
        durations = (self.latency, self.retry_after, self.slow_seconds)
        if not all(0 <= value <= MAX_FAULT_SECONDS for value in durations):
            raise ValueError(
                f"latency, retry_after and slow_seconds must be within 0..{MAX_FAULT_SECONDS:g}"
            )
        if not -(2**63) <= self.seed < 2**63:
            raise ValueError("seed must be a 64-bit integer")
        blob = self._blob_rates()
        if any(not 0.0 <= r <= 1.0 for r in blob.values()) or sum(blob.values()) > 1.0:
            raise ValueError("blob fault rates must be within 0..1 and add up to at most 1")
        if not 0 <= self.blob_bandwidth < math.inf:
            raise ValueError("blob_bandwidth must be a finite number >= 0")
        if not 0 <= self.rate_limit < math.inf:
            raise ValueError("rate_limit must be a finite number >= 0")
        if not 1 <= self.rate_limit_burst < math.inf:
            raise ValueError("rate_limit_burst must be a finite number >= 1")
        if self.blob_max_faults < 0:
            raise ValueError("blob_max_faults must be >= 0")
        for name, choices in CHOICE_FIELDS.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}")
        if self.paths is not None:
            check_paths_pattern(self.paths)

    def _rates(self) -> dict[str, float]:
        return {
            "reset_before": self.reset_before_rate,
            "503": self.error_503_rate,
            "429": self.error_429_rate,
            "slow": self.slow_rate,
            "reset_after": self.reset_after_rate,
        }

    def _blob_rates(self) -> dict[str, float]:
        return {
            "reset": self.blob_reset_rate,
            "corrupt": self.blob_corrupt_rate,
            "expired": self.blob_expired_rate,
        }

    @property
    def enabled(self) -> bool:
        """Whether any fault or latency is configured."""
        return self.latency > 0 or self.rate_limit > 0 or any(self._rates().values())

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready field names and values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> FaultConfig:
        """Build from field names (or the short aliases of :meth:`parse`)."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for raw_key, value in values.items():
            key = _ALIASES.get(raw_key, raw_key)
            if key not in fields:
                raise ValueError(f"unknown fault setting {raw_key!r}")
            if key == "paths":
                kwargs[key] = None if value in (None, "") else str(value)
            elif key in CHOICE_FIELDS:
                kwargs[key] = value if isinstance(value, str) else repr(value)
            else:
                kwargs[key] = _number(key, value)
        return cls(**kwargs)

    @classmethod
    def parse(cls, text: str) -> FaultConfig:
        """Parse ``"seed=1,latency=0.02,503=0.2,429=0.05,reset_before=0.01,..."``."""
        values: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"expected key=value, got {part!r}")
            values[key.strip()] = value.strip()
        return cls.from_mapping(values)


def _number(key: str, value: Any) -> float | int:
    if isinstance(value, bool):
        raise ValueError(f"{key} must be a number")
    try:
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{key} must be a finite number")
        if key not in INTEGER_FIELDS:
            return number
        if number != int(number):
            raise ValueError(f"{key} must be an integer")
        return int(value) if isinstance(value, int) else int(number)
    except (TypeError, OverflowError):
        raise ValueError(f"{key} must be a finite number") from None


def check_paths_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a ``paths`` regex, refusing any whose search could be slow.

    Repetition (``*``, ``+``, ``?``, ``{m,n}``) is refused except a leading or
    trailing ``.*`` (which changes nothing in a search), and at most
    ``MAX_BRANCHES`` ``|`` are allowed: a search then costs at most a small
    constant times the pattern's length per character of the path.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"paths regex must be at most {MAX_PATTERN_LENGTH} characters")
    core = pattern.removeprefix(".*")
    if core.endswith(".*") and not core.endswith("\\.*"):
        core = core[:-2]
    repeats, branches = _shape(core)
    if repeats:
        raise ValueError(
            "paths regex must not repeat (no *, +, ?, {m,n} except a leading or trailing .*)"
        )
    if branches > MAX_BRANCHES:
        raise ValueError(f"paths regex may hold at most {MAX_BRANCHES} '|'")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid paths regex: {exc}") from None


def _opens_group(pattern: str, index: int) -> bool:
    """Whether ``pattern[index]`` is an unescaped ``(`` (then a ``?`` after it is no quantifier)."""
    return index >= 0 and pattern[index] == "(" and pattern[index - 1 : index] != "\\"


def _shape(pattern: str) -> tuple[bool, int]:
    """Whether ``pattern`` holds a quantifier, and how many ``|`` it holds (outside classes)."""
    branches, index, in_class = 0, 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[index + 1 : index + 2] == "]":  # a leading ] is a literal
                index += 1
        elif char in "*+{" or (char == "?" and not _opens_group(pattern, index - 1)):
            return True, branches
        elif char == "|":
            branches += 1
        index += 1
    return False, branches


class FaultInjector:
    """Holds the active FaultConfig with its random generator, and applies it."""

    def __init__(self, config: FaultConfig | None = None, rules: RuleBook | None = None) -> None:
        """Start with ``config`` (default: no faults) and the scripted ``rules``."""
        self.config = config or FaultConfig()
        self.rules: RuleBook = rules or RuleBook()
        self.stopping: asyncio.Event = asyncio.Event()
        self.rate_limited: int = 0
        """Requests answered 429 by the rate limit since the server started."""

    @property
    def config(self) -> FaultConfig:
        """The active configuration."""
        return self._config

    @config.setter
    def config(self, value: FaultConfig) -> None:
        self._config = value
        self._seen: dict[str, int] = {}
        self._paths = check_paths_pattern(value.paths) if value.paths else None
        self._bucket = (
            TokenBucket(
                value.rate_limit,
                value.rate_limit_burst,
                retry_after=value.rate_limit_retry_after,
                headers=value.rate_limit_headers,
            )
            if value.rate_limit > 0
            else None
        )
        self.blob_faults: int = 0

    def blob_fault(self, method: str, path: str, range_header: str | None) -> str | None:
        """The storage fault drawn for one blob request: reset, corrupt, expired or None."""
        config = self._config
        rates = config._blob_rates()
        if not any(rates.values()):
            return None
        if config.blob_max_faults and self.blob_faults >= config.blob_max_faults:
            return None
        draw = self._draw(config, method, f"{path}|{range_header or ''}")
        for name, rate in rates.items():
            if draw < rate:
                self.blob_faults += 1
                return name
            draw -= rate
        return None

    def _draw(self, config: FaultConfig, method: str, path: str) -> float:
        key = f"{method} /{path.split('/', 3)[-1]}"
        if len(self._seen) > MAX_TRACKED_REQUESTS:
            self._seen.clear()
        count = self._seen.get(key, 0)
        self._seen[key] = count + 1
        return random.Random(f"{config.seed}|{key}|{count}").random()

    def _decide(self, method: str, path: str) -> tuple[FaultConfig, str | None] | None:
        config = self._config
        if not config.enabled or not path.startswith(API_PREFIX):
            return None
        if self._paths is not None and not (
            len(path) <= MAX_MATCHED_PATH and self._paths.search(path)
        ):
            return None
        draw = self._draw(config, method, path)
        for name, rate in config._rates().items():
            if draw < rate:
                return config, name
            draw -= rate
        return config, None

    async def _wait(self, seconds: float, request: web.Request) -> bool:
        """Sleep; return False early if the server stops or the client hangs up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not (self.stopping.is_set() or _client_gone(request)):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return True
            try:
                await asyncio.wait_for(self.stopping.wait(), min(remaining, POLL_SECONDS))
            except asyncio.TimeoutError:
                pass
        return False

    async def _apply_rule(self, rule: FaultRule, request: web.Request) -> web.StreamResponse | None:
        """Apply a scripted rule: a dropped connection, an error, or None to go on."""
        if rule.delay and not await self._wait(rule.delay, request):
            return _reset(request)
        if rule.reset:
            return _reset(request)
        if rule.status is not None:
            headers = (
                {} if rule.retry_after is None else {"Retry-After": _seconds(rule.retry_after)}
            )
            raise ApiError(rule.status, f"injected fault: HTTP {rule.status}", headers=headers)
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """aiohttp middleware applying the scripted rules, latency and the drawn fault."""
        rule = self.rules.take(request.method, request.path)
        if rule is not None:
            answer = await self._apply_rule(rule, request)
            if answer is not None:
                return answer
        decision = self._decide(request.method, request.path)
        if decision is None:
            return await handler(request)
        config, fault = decision
        if not await self._wait(config.latency, request):
            return _reset(request)
        bucket = self._bucket
        if bucket is not None:
            return await self._limited(bucket, config, fault, request, handler)
        return await self._fault(config, fault, request, handler)

    async def _limited(
        self,
        bucket: TokenBucket,
        config: FaultConfig,
        fault: str | None,
        request: web.Request,
        handler: Handler,
    ) -> web.StreamResponse:
        """Pass the request through the token bucket; its answer carries the bucket's headers."""
        wait = bucket.take()
        headers = bucket.answer_headers()
        if wait is not None:
            self.rate_limited += 1
            headers["Retry-After"] = bucket.retry_after(wait)
            raise ApiError(429, "rate limit exceeded", headers=headers)
        try:
            response = await self._fault(config, fault, request, handler)
        except ApiError as exc:
            exc.headers.update(headers)
            raise
        response.headers.update(headers)
        return response

    async def _fault(
        self, config: FaultConfig, fault: str | None, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """Apply the drawn fault (if any) around the handler."""
        if fault == "reset_before":
            return _reset(request)
        if fault in ("503", "429"):
            status = int(fault)
            header = _seconds(config.retry_after)
            raise ApiError(
                status, f"injected fault: HTTP {status}", headers={"Retry-After": header}
            )
        if fault == "slow" and not await self._wait(config.slow_seconds, request):
            return _reset(request)  # the client gave up or the server stops: not processed
        if fault == "reset_after":
            try:
                await handler(request)
            except (ApiError, web.HTTPException):
                pass  # the error answer is lost too
            return _reset(request)
        return await handler(request)


def _seconds(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds as an integer, else the shortest decimal."""
    return str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}"


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _reset(request: web.Request) -> web.StreamResponse:
    """Drop the connection; the returned response is never sent."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=RESET_STATUS)
