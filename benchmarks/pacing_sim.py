"""The adaptive engine against a simulated token bucket, in virtual time.

Not a measure (the numbers that count come from ``rate_limited_delete``, over
HTTP against the server in its own process): a tool for exploring the pacing
rules, where 100 seconds of a 20 req/s job take a fraction of a second. The
simulation runs :class:`~vi_async.bulk.adaptive.AdaptiveLimit` itself, with its
clock replaced: ``ceiling`` workers take items, each attempt reserves its
pacing slot, the bucket answers after ``latency``, a 429 is retried after its
``Retry-After`` plus the transport's jitter.

``python -m benchmarks.pacing_sim [--rate 100] [--burst 10] [--latency 0]
[--retry-after exact|ceil] [--headers none|ietf|x] [--count 2000] [--seeds 3]
[--stalls 0.005]`` (``--stalls``: the server's loop stalls 10-40 ms, with this
chance per request, and takes what arrived meanwhile in one bunch, as a busy
machine does; the job's loop stalls as often, reading the answers that came
meanwhile at once and sending late)
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
STALL = (0.01, 0.04)
"""Seconds a stall of the server's loop lasts (``--stalls``: the chance per request)."""


class _Clock:
    """The simulation's time (AdaptiveLimit reads it as ``time.monotonic``)."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class _Job:
    """One simulated job: ``ceiling`` workers, the engine's gate, the server's bucket."""

    def __init__(
        self,
        limit: AdaptiveLimit,
        bucket: TokenBucket,
        latency: float,
        seed: int,
        stalls: float = 0.0,
    ):
        self.clock = _Clock()
        self.limit, self.bucket, self.latency = limit, bucket, latency
        self.rng = random.Random(seed)
        self.stalls = stalls
        self.busy_until = 0.0  # the server's loop, stalled until then
        self.client_busy_until = 0.0  # the job's own loop, stalled until then
        self.events: list[tuple[float, int, str, Any]] = []
        self.order = itertools.count()
        self.pending: list[int] = []
        self.waiting = 0  # workers waiting for an item slot
        self.stats = {"sent": 0, "refused": 0, "done": 0}

    def at(self, when: float, kind: str, data: Any = None) -> None:
        heapq.heappush(self.events, (when, next(self.order), kind, data))

    def wake(self) -> None:
        limit = self.limit
        while self.waiting and self.pending and limit.in_flight < limit.slots():
            self.waiting -= 1
            limit.in_flight += 1
            self.at(self.clock.now, "attempt", self.pending.pop())

    def run(self, count: int, ceiling: int) -> None:
        self.pending = list(range(count))
        self.waiting = ceiling
        self.wake()
        handlers = {
            "attempt": self.attempt, "send": self.send, "decide": self.decide,
            "answer": self.answer,
        }  # fmt: skip
        while self.events:
            self.clock.now, _, kind, data = heapq.heappop(self.events)
            handlers[kind](data)

    def attempt(self, item: int) -> None:
        slot, ticket = self.limit.reserve(self.clock.now)
        self.at(max(slot, self.clock.now), "send", (item, slot, ticket))

    def send(self, data: tuple[int, float, int]) -> None:
        """``before_send``'s loop, one wake-up at a time, then the request."""
        item, slot, ticket = data
        now, limit = self.clock.now, self.limit
        if now < self.client_busy_until:  # the job's loop is stalled: wake up later
            self.at(self.client_busy_until, "send", data)
            return
        if slot > now or limit.stale(slot, ticket):
            slot, ticket = limit.reserve(now)
            if slot > now:
                self.at(slot, "send", (item, slot, ticket))
                return
        wait = limit.admit(now)
        if wait > 0:
            self.at(now + wait, "send", (item, now + wait, ticket))
            return
        limit._last_send = now
        self.stats["sent"] += 1
        arrives = now + self.latency
        if self.stalls and self.rng.random() < self.stalls:
            # The server's loop stalls (a busy machine): what arrives meanwhile is
            # taken in one bunch when it wakes.
            self.busy_until = max(self.busy_until, arrives) + self.rng.uniform(*STALL)
        self.at(max(arrives, self.busy_until), "decide", (item, now))

    def decide(self, data: tuple[int, float]) -> None:
        item, sent_at = data
        wait = self.bucket.take()
        answer = self.bucket.answer_headers()
        if wait is not None:
            answer["Retry-After"] = self.bucket.retry_after(wait)
        self.at(self.clock.now + ANSWER_DELAY, "answer", (item, sent_at, wait, answer))

    def answer(self, data: tuple[int, float, float | None, dict[str, str]]) -> None:
        item, sent_at, wait, answer = data
        limit = self.limit
        if self.clock.now < self.client_busy_until:  # read when the loop wakes
            self.at(self.client_busy_until, "answer", data)
            return
        if self.stalls and self.rng.random() < self.stalls:
            # The job's loop stalls too (a busy machine): answers wait, sends are late.
            self.client_busy_until = self.clock.now + self.rng.uniform(*STALL)
        limit.after_answer(sent_at, 429 if wait is not None else 204, answer)
        if wait is not None:
            self.stats["refused"] += 1
            seconds = float(answer["Retry-After"])
            jitter = self.rng.uniform(0, min(1.0, seconds * 0.1))  # as the transport's
            self.at(self.clock.now + seconds + jitter, "attempt", item)
        else:
            self.stats["done"] += 1
            limit.item_done()
            limit.in_flight -= 1
            self.waiting += 1
        self.wake()


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
    stalls: float = 0.0,
) -> dict[str, Any]:
    """Run one job; return its time, its share of 429s and the ideal time."""
    saved = adaptive_module.time
    clock_holder = _Clock()
    adaptive_module.time = types.SimpleNamespace(monotonic=clock_holder.monotonic)  # type: ignore[assignment]
    try:
        limit = AdaptiveLimit(ceiling)
        bucket = TokenBucket(
            rate, burst, retry_after=retry_after, headers=headers, clock=clock_holder.monotonic
        )
        job = _Job(limit, bucket, latency, seed, stalls)
        job.clock = clock_holder
        job.run(count, ceiling)
    finally:
        adaptive_module.time = saved  # type: ignore[assignment]
    ideal = count / rate
    return {
        "elapsed": job.clock.now,
        "ideal": ideal,
        "ratio": job.clock.now / ideal,
        "share_429": job.stats["refused"] / job.stats["sent"],
        "refused": job.stats["refused"],
        "estimate": limit.finder.estimate,
        "waves": limit.finder.waves,
    }


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
    parser.add_argument("--stalls", type=float, default=0.0, help="chance per request")
    args = parser.parse_args()
    worst = 0.0
    for rate in args.rate or (20.0, 100.0, 500.0):
        latency = args.latency if args.latency is not None else (0.02 if rate >= 500 else 0.0)
        for style in args.retry_after or ("exact", "ceil"):
            for headers in args.headers or ("none", "x", "ietf"):
                runs = [
                    simulate(
                        rate=rate,
                        burst=args.burst,
                        latency=latency,
                        retry_after=style,
                        headers=headers,
                        count=args.count,
                        seed=seed,
                        stalls=args.stalls,
                    )
                    for seed in range(1, args.seeds + 1)
                ]
                ratio = max(r["ratio"] for r in runs)
                share = max(r["share_429"] for r in runs)
                worst = max(worst, ratio)
                flag = "" if ratio <= 1.15 and share <= 0.05 else "  <-- MISSED"
                print(
                    f"{rate:5.0f}/s {latency * 1000:3.0f}ms {style:5} {headers:4}: "
                    f"{ratio:.3f}x ideal, 429 {share:.1%} "
                    f"(est {runs[0]['estimate']}, waves {runs[0]['waves']}){flag}"
                )
    print(f"worst {worst:.3f}x")


if __name__ == "__main__":
    main()
