"""The adaptive engine against a simulated token bucket, in virtual time.

Not a measure (the numbers that count come from ``rate_limited_delete``, over
HTTP against the server in its own process): a tool for exploring the pacing
rules, where 100 seconds of a 20 req/s job take a fraction of a second. The
simulation runs :class:`~vi_async.bulk.adaptive.AdaptiveLimit` itself, with its
clock replaced: ``ceiling`` workers take items, each attempt reserves its
pacing slot, the bucket answers after ``latency``, a 429 is retried after its
``Retry-After`` plus the transport's jitter.

``python -m benchmarks.pacing_sim [--rate 100] [--burst 10] [--latency 0]
[--retry-after exact|ceil] [--headers none|ietf|x] [--count 2000] [--seed 1]``
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import types
from typing import Any

import vi_async.bulk.adaptive as adaptive_module
from vi_async.bulk.adaptive import AdaptiveLimit
from vi_async.local.limiter import TokenBucket

ANSWER_DELAY = 0.0004
"""Seconds from the bucket's decision to the answer's arrival (loopback, server work)."""


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class _Bucket(TokenBucket):
    """The local server's bucket on the simulation's clock."""

    def __init__(self, clock: _Clock, **kwargs: Any) -> None:
        self._clock = clock
        super().__init__(**kwargs)
        self.filled_at = clock.now

    def take(self) -> float | None:
        now = self._clock.now
        self.tokens = min(self.burst, self.tokens + (now - self.filled_at) * self.rate)
        self.filled_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.rate


def simulate(
    *,
    rate: float = 100.0,
    burst: float = 10.0,
    latency: float = 0.0,
    retry_after: str = "exact",
    headers: str = "none",
    count: int = 2000,
    ceiling: int = 32,
    seed: int = 1,
    trace: bool = False,
) -> dict[str, Any]:
    """Run one job; return its time, its share of 429s and the ideal time."""
    rng = random.Random(seed)
    clock = _Clock()
    saved = adaptive_module.time
    adaptive_module.time = types.SimpleNamespace(monotonic=clock.monotonic)  # type: ignore[assignment]
    try:
        limit = AdaptiveLimit(ceiling)
        bucket = _Bucket(clock, rate=rate, burst=burst, retry_after=retry_after, headers=headers)
        events: list[tuple[float, int, str, Any]] = []
        order = itertools.count()
        pending = list(range(count))
        waiting = [0]  # workers waiting for an item slot
        stats = {"sent": 0, "refused": 0, "done": 0}

        def at(when: float, kind: str, data: Any = None) -> None:
            heapq.heappush(events, (when, next(order), kind, data))

        def wake() -> None:
            while waiting[0] and pending and limit.in_flight < limit.slots():
                waiting[0] -= 1
                limit.in_flight += 1
                at(clock.now, "attempt", pending.pop())

        waiting[0] = ceiling
        wake()
        while events:
            clock.now, _, kind, data = heapq.heappop(events)
            if kind == "attempt":
                slot, ticket = limit.reserve(clock.now)
                at(max(slot, clock.now), "send", (data, slot, ticket))
            elif kind == "send":
                data, slot, ticket = data
                if slot > clock.now or limit.stale(slot, ticket):
                    slot, ticket = limit.reserve(clock.now)
                    if slot > clock.now:
                        at(slot, "send", (data, slot, ticket))
                        continue
                wait = limit.admit(clock.now)
                if wait > 0:
                    at(clock.now + wait, "send", (data, clock.now + wait, ticket))
                    continue
                limit._last_send = clock.now
                stats["sent"] += 1
                at(clock.now + latency, "decide", (data, clock.now))
            elif kind == "decide":
                item, sent_at = data
                wait = bucket.take()
                answer = bucket.answer_headers()
                if wait is not None:
                    answer["Retry-After"] = bucket.retry_after(wait)
                at(clock.now + ANSWER_DELAY, "answer", (item, sent_at, wait, answer))
            elif kind == "answer":
                item, sent_at, wait, answer = data
                status = 429 if wait is not None else 204
                limit.after_answer(sent_at, status, answer)
                if wait is not None:
                    stats["refused"] += 1
                    seconds = float(answer["Retry-After"])
                    jitter = rng.uniform(0, min(1.0, seconds * 0.1))  # as the transport's
                    at(clock.now + seconds + jitter, "attempt", item)
                else:
                    stats["done"] += 1
                    limit.item_done()
                    limit.in_flight -= 1
                    waiting[0] += 1
                if trace and wait is None and stats["done"] % 100 == 0:
                    print(f"{clock.now:8.3f} done={stats['done']} {limit!r} {limit.finder!r}")
                wake()
        ideal = count / rate
        return {
            "elapsed": clock.now,
            "ideal": ideal,
            "ratio": clock.now / ideal,
            "share_429": stats["refused"] / stats["sent"],
            "refused": stats["refused"],
            "estimate": limit.finder.estimate,
            "waves": limit.finder.waves,
        }
    finally:
        adaptive_module.time = saved  # type: ignore[assignment]


def main() -> None:
    """Simulate the cells of the rate-limit benchmark (or one, given its settings)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pacing_sim")
    parser.add_argument("--rate", type=float, action="append")
    parser.add_argument("--burst", type=float, default=10.0)
    parser.add_argument("--latency", type=float)
    parser.add_argument("--retry-after", choices=("exact", "ceil"), action="append")
    parser.add_argument("--headers", choices=("none", "ietf", "x"), action="append")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    worst = 0.0
    for rate in args.rate or (20.0, 100.0, 500.0):
        latency = args.latency if args.latency is not None else (0.02 if rate >= 500 else 0.0)
        for style in args.retry_after or ("exact", "ceil"):
            for headers in args.headers or ("none", "x", "ietf"):
                runs = [
                    simulate(rate=rate, burst=args.burst, latency=latency, retry_after=style,
                             headers=headers, count=args.count, seed=seed, trace=args.trace)
                    for seed in range(1, args.seeds + 1)
                ]
                ratio = max(r["ratio"] for r in runs)
                share = max(r["share_429"] for r in runs)
                worst = max(worst, ratio)
                flag = "" if ratio <= 1.15 and share <= 0.05 else "  <-- MISSED"
                print(f"{rate:5.0f}/s {latency * 1000:3.0f}ms {style:5} {headers:4}: "
                      f"{ratio:.3f}x ideal, 429 {share:.1%} "
                      f"(est {runs[0]['estimate']}, waves {runs[0]['waves']}){flag}")
    print(f"worst {worst:.3f}x")


if __name__ == "__main__":
    main()
