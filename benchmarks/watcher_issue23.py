"""Two measurements of the triggerer's watcher (issue 23), on one event loop against a Comms API
mocked at the transport (respx), with real time; each prints numbers, none asserts.

``lag``: one operation watched twice, as a sensor (``--slow`` s) and an operator (``--fast`` s)
would, the sensor's first look due first (1 s after the start, the operator's at 3 s: each
watch's first look is at a random point of its first interval, this is one such draw), on each of
``--loops`` event loops in turn; a probe task sleeping 10 ms measures how late the loop wakes it.

``created``: operations watched with a wrong ``created_at`` (3 days early, as a trigger row
written by hand might say): requests per watched operation-interval.

    .venv/bin/python benchmarks/watcher_issue23.py [--seconds 25]

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

import httpx
import respx

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


async def run(kind: str, seconds: float, count: int, slow: float, fast: float) -> list[float]:
    from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
    from airflow_provider_twilio_push.triggers import watcher
    from airflow_provider_twilio_push.triggers.watcher import watch_operation

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
    if kind == "lag":
        return lags
    else:
        watched_intervals = count * seconds / fast
        print(
            f"created: {count} operations watched every {fast:g} s with created_at 3 days early, {seconds:g} s: "
            f"{api.gets} GETs + {api.lists} lists = "
            f"{(api.gets + api.lists) / watched_intervals:.3f} requests per watched operation-interval"
        )
    return lags


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--loops", type=int, default=5)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--slow", type=float, default=40.0)
    parser.add_argument("--fast", type=float, default=10.0)
    parser.add_argument("--kinds", nargs="+", default=["lag", "created"])
    args = parser.parse_args()
    os.environ.setdefault(
        "AIRFLOW_CONN_TWILIO_PUSH_DEFAULT",
        json.dumps({"conn_type": "twilio_push", "login": "ACbench", "password": "bench-secret"}),
    )
    random.seed(23)
    for kind in args.kinds:
        if kind == "created":
            asyncio.run(run(kind, args.seconds, args.count * 5, args.slow, 1.0))
            continue
        worst = [max(asyncio.run(run(kind, 4.0, 1, args.slow, args.fast))) for _ in range(args.loops)]
        print(
            f"lag: one operation watched every {args.slow:g} s and every {args.fast:g} s, the slower due "
            f"first, on {args.loops} event loops (4 s each): longest stall of each loop "
            f"{', '.join(f'{w * 1000:.0f}' for w in worst)} ms; median {statistics.median(worst) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
