"""Listing: ``iter_operations`` / ``aiter_operations`` over 100,000 operations, vs a raw httpx loop.

The emulator (pinned to CPU 0) holds ``--total`` operations; a worker pinned to CPU 1 walks
``GET /v1/PushNotifications/Operations`` with pageSize 1000 in four ways, interleaved and
repeated (``--rounds``): the hook's ``iter_operations`` (sync) and ``aiter_operations`` (async),
and a plain hand-written httpx page loop of each kind (``response.json()``, follow
``pagination.next``, count the dicts). Each walk is measured over the first ``--sizes`` operations
(10,000 and 100,000 by default): operations per second (wall), client CPU per operation, and the
peak memory of the walk: the RSS high-water mark over the RSS before it (VmHWM, reset between
walks) and, in a separate pass (tracemalloc slows the walk), the peak of Python allocations and
the live memory: what is still allocated after a full collection, sampled ten times per walk
(the peak also counts garbage that waits for the collector, and so grows with the time between
two full collections, for the raw loops as well).

    .venv/bin/python benchmarks/listing.py [--total 100000] [--sizes 10000 100000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    Worker,
    create_operations,
    emulator,
    pinning,
    script_main,
    table,
)

PATH = "/v1/PushNotifications/Operations"
PAGE_SIZE = 1000
VARIANTS = ("raw httpx (sync)", "iter_operations", "raw httpx (async)", "aiter_operations")


# -- worker -----------------------------------------------------------------------------------


def run_worker(config: dict[str, Any], channel: Any) -> dict[str, Any]:
    import asyncio
    import tracemalloc

    import _common
    import httpx

    from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook

    auth = (config["account_sid"], config["auth_token"])
    base_url = config["base_url"]
    live: list[int] = []  # traced bytes after a full collection, ten times per walk
    every = [PAGE_SIZE]

    def on_item(count: int) -> None:
        if live and count % every[0] == 0:
            gc.collect()
            live.append(tracemalloc.get_traced_memory()[0])

    def raw_sync(limit: int) -> int:
        count = 0
        with httpx.Client(base_url=base_url, auth=auth, trust_env=False) as client:
            params: dict[str, Any] = {"pageSize": PAGE_SIZE}
            while count < limit:
                response = client.get(PATH, params=params)
                response.raise_for_status()
                page = response.json()
                for _operation in page["operations"][: limit - count]:
                    count += 1
                    on_item(count)
                token = page["pagination"]["next"]
                if not token:
                    break
                params = {"pageSize": PAGE_SIZE, "pageToken": token}
        return count

    async def raw_async(limit: int) -> int:
        count = 0
        async with httpx.AsyncClient(base_url=base_url, auth=auth, trust_env=False) as client:
            params: dict[str, Any] = {"pageSize": PAGE_SIZE}
            while count < limit:
                response = await client.get(PATH, params=params)
                response.raise_for_status()
                page = response.json()
                for _operation in page["operations"][: limit - count]:
                    count += 1
                    on_item(count)
                token = page["pagination"]["next"]
                if not token:
                    break
                params = {"pageSize": PAGE_SIZE, "pageToken": token}
        return count

    def hook_sync(limit: int) -> int:
        count = 0
        with TwilioPushHook() as hook:
            for _operation in hook.iter_operations(page_size=PAGE_SIZE, max_items=limit):
                count += 1
                on_item(count)
        return count

    async def hook_async(limit: int) -> int:
        count = 0
        async with TwilioPushHook() as hook:
            async for _operation in hook.aiter_operations(page_size=PAGE_SIZE, max_items=limit):
                count += 1
                on_item(count)
        return count

    walks = {
        "raw httpx (sync)": raw_sync,
        "iter_operations": hook_sync,
        "raw httpx (async)": lambda n: asyncio.run(raw_async(n)),
        "aiter_operations": lambda n: asyncio.run(hook_async(n)),
    }
    for walk in walks.values():  # warm up: first connection, imports, pydantic's first call
        walk(PAGE_SIZE)
    channel.wait_for_go()
    samples: list[dict[str, Any]] = []
    for round_ in range(config["rounds"]):
        for size in config["sizes"]:
            for name in VARIANTS:
                gc.collect()
                _common.reset_peak_rss()
                rss0 = _common.rss_mib()
                cpu0, wall0 = time.process_time(), time.perf_counter()
                count = walks[name](size)
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                samples.append(
                    {
                        "round": round_,
                        "variant": name,
                        "size": size,
                        "count": count,
                        "wall_s": wall,
                        "cpu_s": cpu,
                        "rss_delta_mib": _common.peak_rss_mib() - rss0,
                    }
                )
    for size in config["sizes"]:
        for name in ("raw httpx (sync)", "iter_operations", "aiter_operations"):
            gc.collect()
            tracemalloc.start()
            live[:] = [0]  # the marker turns the sampling on
            every[0] = max(PAGE_SIZE, size // 10)
            walks[name](size)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            samples.append(
                {
                    "variant": name,
                    "size": size,
                    "tracemalloc_peak_mib": peak / 2**20,
                    "live_max_mib": max(live[1:], default=0) / 2**20,
                }
            )
            live.clear()
    return {"samples": samples}


# -- driver -----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    emulator_cpus, client_cpus = pinning()
    with emulator(emulator_cpus) as em:
        control = em.control
        control.reset()
        started = time.perf_counter()
        # Still processing: every page renders each operation's stats afresh.
        create_operations(em.base_url, [{"total": 100, "duration": 86_400}] * args.total)
        created_in = time.perf_counter() - started
        print(
            f"  listing: created {args.total:,} operations in {created_in:.1f} s", file=sys.stderr, flush=True
        )
        config = {
            "base_url": em.base_url,
            "account_sid": em.account_sid,
            "auth_token": em.auth_token,
            "sizes": [min(size, args.total) for size in args.sizes],
            "rounds": args.rounds,
        }
        worker = Worker(Path(__file__), config, cpus=client_cpus, env=em.conn_env)
        worker.go()
        samples = worker.result(timeout=600)["samples"]
    results = []
    for size in config["sizes"]:
        for name in VARIANTS:
            timed = [s for s in samples if s["variant"] == name and s["size"] == size and "wall_s" in s]
            traced = [s for s in samples if s["variant"] == name and s["size"] == size and "wall_s" not in s]
            rates = [s["count"] / s["wall_s"] for s in timed]
            results.append(
                {
                    "variant": name,
                    "operations": size,
                    "count": timed[0]["count"],
                    "runs": len(timed),
                    "operations_per_s": round(statistics.median(rates)),
                    "operations_per_s_runs": [round(r) for r in rates],
                    "client_cpu_us_per_operation": round(
                        statistics.median(1e6 * s["cpu_s"] / s["count"] for s in timed), 2
                    ),
                    "rss_delta_mib": round(max(s["rss_delta_mib"] for s in timed), 1),
                    "tracemalloc_peak_mib": round(traced[0]["tracemalloc_peak_mib"], 2) if traced else None,
                    "live_max_mib": round(traced[0]["live_max_mib"], 2) if traced else None,
                }
            )
    for r in results:
        raw = "raw httpx (sync)" if r["variant"] == "iter_operations" else "raw httpx (async)"
        if r["variant"] in ("iter_operations", "aiter_operations"):
            base = next(x for x in results if x["variant"] == raw and x["operations"] == r["operations"])
            r["vs_raw"] = round(r["operations_per_s"] / base["operations_per_s"], 2)
    return results


def rows(results: list[dict[str, Any]]) -> str:
    return table(
        [
            "walk",
            "operations",
            "ops/s (median)",
            "vs raw",
            "CPU us/op",
            "peak RSS +MiB",
            "tracemalloc peak MiB",
            "live MiB (max after GC)",
        ],
        [
            [
                r["variant"],
                r["operations"],
                r["operations_per_s"],
                r.get("vs_raw"),
                r["client_cpu_us_per_operation"],
                r["rss_delta_mib"],
                r["tracemalloc_peak_mib"],
                r["live_max_mib"],
            ]
            for r in results
        ],
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--total", type=int, default=100_000, help="operations in the emulator")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=2)


def main() -> int:
    return script_main(__doc__, add_arguments, run, rows, run_worker)


if __name__ == "__main__":
    sys.exit(main())
