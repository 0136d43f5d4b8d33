"""The triggerer's watcher at two edges (issue 23), on one event loop against a Comms API mocked
at the transport (respx), with real time; it prints numbers, asserts none.

``lag``: one operation watched twice, as a sensor (the slower interval) and an operator (the
faster) would, the sensor's first look due first (1 s after the start, the operator's at 3 s: each
watch's first look is at a random point of its first interval, this is one such draw), for each
pair of ``--pairs`` on each of ``--loops`` event loops in turn (4 s each); a probe task sleeping
10 ms measures how late the loop wakes it. Reported: the longest stall of each loop.

``created``: ``--count`` operations watched every second with a wrong ``created_at`` (3 days
early, as a trigger row written by hand might say) for ``--seconds``: requests per watched
operation-interval.

    .venv/bin/python benchmarks/watcher_edge_cases.py [--seconds 25] [--loops 5] [--json PATH]

Run it with ``PYTHONPATH=<a checkout of another version>`` to measure that version.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import respx
from _common import script_main

BASE = "https://comms.twilio.com"
LIST = "/v1/PushNotifications/Operations"
CREATED = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)


def op_id(i: int) -> str:
    return f"comms_operation_01h9krwprkeee8fzqspvwy{i:04d}"


class Api:
    def __init__(self, router: respx.MockRouter, count: int) -> None:
        self.ops = {
            op_id(i): {
                "id": op_id(i),
                "status": "PROCESSING",
                "stats": {"total": 2, "sent": 1, "queued": 1},
                "createdAt": "2026-11-30T09:30:00Z",
            }
            for i in range(count)
        }
        self.gets = 0
        self.lists = 0
        router.get(LIST).mock(side_effect=self.list)
        router.get(path__regex=rf"^{LIST}/(?P<operation_id>[^/]+)$").mock(side_effect=self.get)

    def list(self, request: httpx.Request) -> httpx.Response:
        self.lists += 1
        start, end = request.url.params["startDate"], request.url.params["endDate"]
        listed = [o for o in self.ops.values() if start <= o["createdAt"] < end]
        return httpx.Response(200, json={"operations": listed, "pagination": {"next": None}})

    def get(self, request: httpx.Request, operation_id: str) -> httpx.Response:
        self.gets += 1
        return httpx.Response(200, json=self.ops[operation_id])


async def probe(lags: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        due = time.monotonic() + 0.01
        await asyncio.sleep(0.01)
        lags.append(time.monotonic() - due)


async def measure(kind: str, seconds: float, count: int, slow: float, fast: float) -> tuple[list[float], Api]:
    from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
    from airflow_provider_twilio_push.triggers import watcher
    from airflow_provider_twilio_push.triggers.watcher import watch_operation

    uniform = watcher.random.uniform
    if kind == "lag":
        firsts = iter([1.0, 3.0] * count)
        watcher.random.uniform = lambda low, high: next(firsts)  # type: ignore[assignment]

    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        api = Api(router, count)
        hook = TwilioPushHook()
        settings = await hook.aget_settings()
        lags: list[float] = []
        stop = asyncio.Event()
        probing = asyncio.create_task(probe(lags, stop))
        if kind == "lag":
            intervals, created = [slow, fast], CREATED
        else:
            intervals, created = [fast], CREATED - timedelta(days=3)
        watches = [
            watch_operation(hook, settings, i, interval=interval, end_time=None, created_at=created)
            for i in api.ops
            for interval in intervals
        ]
        await asyncio.sleep(seconds)
        stop.set()
        await probing
        for watch in watches:
            watch.close()
        await asyncio.sleep(0.1)
    watcher.random.uniform = uniform  # type: ignore[method-assign]
    return lags, api


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault(
        "AIRFLOW_CONN_TWILIO_PUSH_DEFAULT",
        json.dumps({"conn_type": "twilio_push", "login": "ACbench", "password": "bench-secret"}),
    )
    random.seed(23)
    results: dict[str, Any] = {"lag": []}
    for slow, fast in args.pairs:
        worst = [max(asyncio.run(measure("lag", 4.0, 1, slow, fast))[0]) for _ in range(args.loops)]
        results["lag"].append(
            {
                "slow_s": slow,
                "fast_s": fast,
                "loops": args.loops,
                "longest_stall_ms": [round(w * 1000, 1) for w in worst],
                "median_ms": round(statistics.median(worst) * 1000, 1),
            }
        )
    _, api = asyncio.run(measure("created", args.seconds, args.count, 0.0, 1.0))
    results["created"] = {
        "operations": args.count,
        "interval_s": 1.0,
        "seconds": args.seconds,
        "gets": api.gets,
        "lists": api.lists,
        "requests_per_op_interval": round((api.gets + api.lists) / (args.count * args.seconds / 1.0), 3),
    }
    return results


def rows(results: dict[str, Any]) -> str:
    lines = [
        f"lag: one operation watched every {r['slow_s']:g} s and every {r['fast_s']:g} s, the slower due "
        f"first, {r['loops']} event loops of 4 s: longest stall of each "
        f"{', '.join(f'{w:.0f}' for w in r['longest_stall_ms'])} ms (median {r['median_ms']:.0f} ms)"
        for r in results["lag"]
    ]
    c = results["created"]
    lines.append(
        f"created: {c['operations']} operations watched every {c['interval_s']:g} s with created_at 3 days "
        f"early, {c['seconds']:g} s: {c['gets']} GETs + {c['lists']} lists = "
        f"{c['requests_per_op_interval']:.3f} requests per watched operation-interval"
    )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=25.0, help="of the created_at run")
    parser.add_argument("--loops", type=int, default=5, help="event loops per interval pair")
    parser.add_argument("--count", type=int, default=200, help="operations of the created_at run")
    parser.add_argument(
        "--pairs",
        type=lambda text: tuple(float(x) for x in text.split("/")),
        nargs="+",
        default=[(40.0, 10.0), (300.0, 30.0)],
        help="slow/fast interval pairs, e.g. 40/10",
    )


if __name__ == "__main__":
    raise SystemExit(script_main(__doc__, add_arguments, run, rows))
