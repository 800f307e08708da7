"""Model download: one 256 MB checkpoint from the local server (its own process).

Three contenders, each in a fresh child process, on the same run and URL, and
what each of them does (only ours verifies):

- ours: ``client.models.download``: transfer (8 ranged streams) + md5 and
  sha256 of the whole file + safe extraction + fsync + atomic publish; the
  hashes and the extraction follow the written prefix while bytes arrive.
  Also reported: when the last byte was written (``transfer``, from the
  progress callback) and the tail after it (hash/extract/sync/publish);
- official: the official client's ``models.download``: transfer (httpx, ranged
  chunks) + extraction; nothing verified;
- raw: one aiohttp GET streamed to a file: transfer only (the floor).

Rounds interleave the contenders (the order rotates each round) and the best
time of each counts; every child also reports the CPU seconds (user + sys,
all threads) of its timed part, which on loopback, where the server holds
the other core, bound its time.

Then the interruptions: a child starts our download, cancels it at 50 % and
exits; another child resumes it; reported is how many bytes were fetched in
all beyond the archive's size. Likewise with a crash: the child ``os._exit``s
at 50 % (no cleanup, the manifest as last saved); reported is what had been
written but had to be fetched again. Peak RSS growth of our child is measured from
a baseline taken after client set-up and a warm-up API call (VmHWM reset).
The server computes the archive's hashes on first use, so a HEAD warms it up
before anything is timed. Last, ours and raw again with storage capped at
100 MB/s (about a 1 Gbit/s link, all streams together): where the bytes, not
the two shared cores, set the pace.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable
from typing import Any

from benchmarks._common import Goal, Result, ServerProcess, have, run_child, temp_home
from benchmarks.memory import _peak_mb, _reset_peak, _rss_mb

SIZE = 256 * 1024 * 1024
QUICK_SIZE = 16 * 1024 * 1024
RSS_GOAL_MB = 64.0
ROUNDS = 4
CAPPED_BPS = 100e6  # about a 1 Gbit/s link
CAPPED_ROUNDS = 2


async def _make_run(size: int) -> str:
    from vi_async import Client

    async with Client() as client:
        run = await client.runs.create(
            flow={"name": "bench-model"},
            metadata={"vi-local/model-bytes": str(size), "vi-local/checkpoints": "1"},
            wait=True,
            timeout=60,
        )
        model = await client.models.get(run.run_id, contents=True)
        assert model.download_url is not None
        request = urllib.request.Request(model.download_url.url, method="HEAD")
        await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=120).close())
        return run.run_id


# -- children --------------------------------------------------------------------------


def _cpu() -> float:
    """CPU seconds (user + sys) this child has used so far, all threads."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _ours(
    run_id: str, save_dir: str, cancel_at: float | None, kill_at: float | None
) -> dict[str, Any]:
    from vi_async import Client, Model
    from vi_async._download.downloader import ModelDownloader

    async with Client() as client:
        await client.models.get(run_id)  # warm-up: session, connection, decoding
        baseline = _rss_mb()
        _reset_peak()
        half = asyncio.Event()
        transfer = [0.0]
        cpu_start = _cpu()
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            if cancel_at is not None and done >= total * cancel_at:
                half.set()
            if kill_at is not None and done >= total * kill_at:
                print(json.dumps({"written": done}), flush=True)
                os._exit(0)  # a crash: no cleanup, no final manifest save
            if done == total and not transfer[0]:
                transfer[0] = time.perf_counter() - started

        def refetch() -> Awaitable[Model]:
            return client.models.get(run_id, contents=True)

        downloader = ModelDownloader(
            await refetch(),  # timed, as the official client's own get
            refetch,
            run_id=run_id,
            save_dir=__import__("pathlib").Path(save_dir),
            progress=progress,
        )
        task = asyncio.ensure_future(downloader.run())
        size = None
        if cancel_at is not None:
            waiter = asyncio.ensure_future(half.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            task.cancel()
            waiter.cancel()
            await asyncio.gather(task, waiter, return_exceptions=True)
        else:
            size = (await task).size_bytes
        elapsed = time.perf_counter() - started
        return {
            "elapsed": elapsed,
            "cpu": _cpu() - cpu_start,
            "transfer": transfer[0] or elapsed,
            "fetched": downloader.stats.fetched,
            "resumed": downloader.stats.resumed,
            "size": size,
            "rss_growth_mb": _peak_mb() - baseline,
        }


def _official(run_id: str, save_dir: str) -> dict[str, Any]:
    import vi

    client = vi.Client(
        secret_key=os.environ["DATATURE_VI_SECRET_KEY"],
        organization_id=os.environ["DATATURE_VI_ORGANIZATION_ID"],
        endpoint=os.environ["DATATURE_VI_API_ENDPOINT"],
    )
    try:
        client.models.get(run_id)  # warm-up
        cpu_start = _cpu()
        started = time.perf_counter()
        client.models.download(run_id, save_dir=save_dir, show_progress=False)
        return {"elapsed": time.perf_counter() - started, "cpu": _cpu() - cpu_start}
    finally:
        client.close()


async def _raw(run_id: str, save_dir: str) -> dict[str, Any]:
    import aiohttp

    from vi_async import Client

    async with Client() as client:
        await client.models.get(run_id)
        cpu_start = _cpu()
        started = time.perf_counter()
        model = await client.models.get(run_id, contents=True)
        assert model.download_url is not None
        async with aiohttp.ClientSession() as session:
            async with session.get(model.download_url.url) as response:
                with open(os.path.join(save_dir, "raw.tar"), "wb") as out:  # noqa: ASYNC230
                    async for chunk in response.content.iter_chunked(1024 * 1024):
                        out.write(chunk)
        return {"elapsed": time.perf_counter() - started, "cpu": _cpu() - cpu_start}


def child_main(argv: list[str]) -> None:
    """``python -m benchmarks.model_download --child WHO RUN_ID DIR [CANCEL_AT]``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=["ours", "official", "raw"], required=True)
    parser.add_argument("run_id")
    parser.add_argument("save_dir")
    parser.add_argument("--cancel-at", type=float, default=None)
    parser.add_argument("--kill-at", type=float, default=None)
    args = parser.parse_args(argv)
    if args.child == "ours":
        result = asyncio.run(_ours(args.run_id, args.save_dir, args.cancel_at, args.kill_at))
    elif args.child == "official":
        result = _official(args.run_id, args.save_dir)
    else:
        result = asyncio.run(_raw(args.run_id, args.save_dir))
    print(json.dumps(result), flush=True)


# -- the measure ---------------------------------------------------------------------------


def _child(who: str, run_id: str, env: dict[str, str], *extra: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vi-bench-model-") as save_dir:
        result: dict[str, Any] = run_child(
            ["-m", "benchmarks.model_download", "--child", who, run_id, save_dir, *extra], env=env
        )
    return result


def _versus(value: float, other: float, factor: float = 1.0) -> str:
    """Whether ``value <= factor * other``: ``1.13x (limit 1.2x): met`` or
    ``1.45x (limit 1.2x): missed by 21%``."""
    ratio = value / other
    verdict = "met" if ratio <= factor else f"missed by {ratio / factor - 1:.0%}"
    return f"{ratio:.2f}x (limit {factor:g}x): {verdict}"


def _measure(size: int, rounds: int, quick: bool) -> dict[str, Any]:
    """Run the children against one server: interleaved rounds of each contender,
    a cancel and a kill at 50% each followed by a resume, and capped rounds."""
    with ServerProcess(pending_seconds=0.0, running_seconds=0.05) as server, temp_home() as home:
        env = {
            **os.environ,
            "DATATURE_VI_API_ENDPOINT": server.endpoint,
            "DATATURE_VI_ORGANIZATION_ID": server.organization_id,
            "DATATURE_VI_SECRET_KEY": server.secret_key,
            "HOME": home,
            "VI_ENABLE_FILE": "false",
            "VI_ENABLE_CONSOLE": "false",
        }
        os.environ.update({k: env[k] for k in env if k.startswith("DATATURE_VI_")})
        run_id = asyncio.run(_make_run(size))
        contenders = ["ours", "official", "raw"] if have("vi") else ["ours", "raw"]
        times: dict[str, list[dict[str, Any]]] = {who: [] for who in contenders}
        for round_ in range(rounds):
            order = contenders[round_ % len(contenders) :] + contenders[: round_ % len(contenders)]
            for who in order:
                times[who].append(_child(who, run_id, env))
        with tempfile.TemporaryDirectory(prefix="vi-bench-resume-") as save_dir:
            base = ["-m", "benchmarks.model_download", run_id, save_dir]
            first = run_child([*base, "--child", "ours", "--cancel-at", "0.5"], env=env)
            second = run_child([*base, "--child", "ours"], env=env)
            shutil.rmtree(save_dir, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix="vi-bench-crash-") as save_dir:
            base = ["-m", "benchmarks.model_download", run_id, save_dir]
            killed = run_child([*base, "--child", "ours", "--kill-at", "0.5"], env=env)
            after_kill = run_child([*base, "--child", "ours"], env=env)
        # A network-like link: storage capped at CAPPED_BPS, so the client's cores
        # are no longer shared with a server pushing bytes as fast as it can.
        server.set_faults(blob_bandwidth=CAPPED_BPS)
        capped: dict[str, list[dict[str, Any]]] = {"ours": [], "raw": []}
        for round_ in range(1 if quick else CAPPED_ROUNDS):
            for who in ("ours", "raw") if round_ % 2 == 0 else ("raw", "ours"):
                capped[who].append(_child(who, run_id, env))
        server.set_faults()
    return {
        "times": times,
        "first": first,
        "second": second,
        "killed": killed,
        "after_kill": after_kill,
        "capped": capped,
    }


def _cpu_of(rows: list[dict[str, Any]]) -> float:
    return float(min(r["cpu"] for r in rows))


def _metrics(raw_results: dict[str, Any], size: int, rounds: int) -> dict[str, Any]:
    """The best times, ratios, refetched bytes and RSS growth of the measured children."""
    times, capped = raw_results["times"], raw_results["capped"]
    first, second = raw_results["first"], raw_results["second"]
    killed, after_kill = raw_results["killed"], raw_results["after_kill"]
    ours, raw, official = times["ours"], times["raw"], times.get("official", [])
    best = min(ours, key=lambda r: r["elapsed"])
    best_ours = best["elapsed"]
    best_transfer = min(r["transfer"] for r in ours)
    best_raw = min(r["elapsed"] for r in raw)
    best_official = min((r["elapsed"] for r in official), default=None)
    best_other = min(best_raw, best_official or best_raw)
    mb = size / 1e6
    capped_ours = min(r["elapsed"] for r in capped["ours"])
    capped_raw = min(r["elapsed"] for r in capped["raw"])
    return {
        "size_bytes": size,
        "ours_s": best_ours,
        "ours_all_s": [r["elapsed"] for r in ours],
        "ours_transfer_s": best_transfer,
        "ours_tail_after_last_byte_s": best_ours - best["transfer"],
        "raw_single_stream_s": best_raw,
        "raw_all_s": [r["elapsed"] for r in raw],
        "official_s": best_official,
        "official_all_s": [r["elapsed"] for r in official],
        "cpu_s": {
            "ours": _cpu_of(ours),
            "raw": _cpu_of(raw),
            "official": _cpu_of(official) if official else None,
        },
        "ours_MBps": mb / best_ours,
        "raw_MBps": mb / best_raw,
        "official_MBps": None if best_official is None else mb / best_official,
        "ours_vs_official": None if best_official is None else best_ours / best_official,
        "ours_vs_best_other": best_ours / best_other,
        "ours_transfer_vs_raw": best_transfer / best_raw,
        "interrupted_at_50pct_fetched_then_resumed": [first["fetched"], second["fetched"]],
        "refetched_bytes": first["fetched"] + second["fetched"] - second["size"],
        "killed_at_50pct_written_resumed": [killed["written"], after_kill["resumed"]],
        # after a kill: bytes written before it that the manifest had not yet recorded
        "refetched_after_kill_bytes": killed["written"] - after_kill["resumed"],
        "rss_growth_mb": max(r["rss_growth_mb"] for r in ours),
        "rounds": rounds,
        "capped_MBps": CAPPED_BPS / 1e6,
        "capped_ours_s": capped_ours,
        "capped_raw_s": capped_raw,
        "capped_ours_vs_raw": capped_ours / capped_raw,
    }


def _summary(m: dict[str, Any]) -> str:
    """The one-line summary of the metrics."""
    best_official = m["official_s"]
    official_text = "n/a" if best_official is None else f"{best_official:.2f}s"
    cpu = m["cpu_s"]
    cpu_official = float("nan") if cpu["official"] is None else cpu["official"]
    last_byte = m["ours_s"] - m["ours_tail_after_last_byte_s"]
    return (
        f"{m['size_bytes'] / 1e6:.0f} MB, best of {m['rounds']} interleaved: ours "
        f"(transfer+verify+extract) {m['ours_s']:.2f}s (last byte at {last_byte:.2f}s), "
        f"official (transfer+extract) {official_text}, raw (transfer only) "
        f"{m['raw_single_stream_s']:.2f}s; CPU s ours/official/raw "
        f"{cpu['ours']:.2f}/{cpu_official:.2f}/{cpu['raw']:.2f}; "
        f"refetched after a 50% interruption {m['refetched_bytes'] / 1e6:.1f} MB (cancel), "
        f"{m['refetched_after_kill_bytes'] / 1e6:.1f} MB (kill); peak RSS growth "
        f"{m['rss_growth_mb']:.1f} MB; storage capped at {CAPPED_BPS / 1e6:.0f} MB/s: ours "
        f"{m['capped_ours_s']:.2f}s, raw {m['capped_raw_s']:.2f}s"
    )


def _goals(m: dict[str, Any], raw_results: dict[str, Any]) -> list[Goal]:
    """The goals, each with whether it was met and by how much."""
    size, rss = m["size_bytes"], m["rss_growth_mb"]
    best_ours, best_official = m["ours_s"], m["official_s"]
    best_raw, best_transfer = m["raw_single_stream_s"], m["ours_transfer_s"]
    best_other = min(best_raw, best_official or best_raw)
    capped_ours, capped_raw = m["capped_ours_s"], m["capped_raw_s"]
    refetched, lost_to_kill = m["refetched_bytes"], m["refetched_after_kill_bytes"]
    total_after_kill = raw_results["killed"]["written"] + raw_results["after_kill"]["fetched"]
    return [
        Goal(
            "total <= official total",
            None if best_official is None else best_ours <= best_official,
            _versus(best_ours, best_official) if best_official else "vi-sdk missing",
        ),
        Goal(
            "total <= 1.2x the best other (raw floor, transfer only, or official)",
            best_ours <= 1.2 * best_other,
            _versus(best_ours, best_other, 1.2),
        ),
        Goal(
            "like for like: our transfer (last byte) <= 1.2x the raw transfer",
            best_transfer <= 1.2 * best_raw,
            _versus(best_transfer, best_raw, 1.2),
        ),
        Goal(
            f"storage capped at {CAPPED_BPS / 1e6:.0f} MB/s: total <= 1.2x the raw transfer",
            capped_ours <= 1.2 * capped_raw,
            _versus(capped_ours, capped_raw, 1.2),
        ),
        Goal(
            f"peak RSS growth < {RSS_GOAL_MB:.0f} MB",
            rss < RSS_GOAL_MB,
            f"{rss:.1f} MB (limit {RSS_GOAL_MB:.0f} MB)",
        ),
        Goal(
            "after a 50% cancel or kill, total fetched <= 1.35x the size",
            max(refetched, total_after_kill - raw_results["second"]["size"]) <= 0.35 * size,
            f"refetched {refetched / size:.1%} (cancel), {lost_to_kill / size:.1%} (kill)",
        ),
    ]


def run(quick: bool = False) -> Result:
    """Measure the three downloads, the interrupted one, and our peak RSS growth."""
    size = QUICK_SIZE if quick else SIZE
    rounds = 1 if quick else ROUNDS
    raw_results = _measure(size, rounds, quick)
    metrics = _metrics(raw_results, size, rounds)
    goals = _goals(metrics, raw_results)
    for goal in goals:
        print(f"# model_download goal: {goal.text}: {goal.detail}", flush=True)
    return Result("model_download", _summary(metrics), metrics, goals)


if __name__ == "__main__":
    child_main(sys.argv[1:])
