"""The event trigger in a busy account: memory, stored state and requests of its sweeps.

The emulator holds ``--total`` operations created over the 7-day retention, all finished, plus one
scheduled six days ago that is still waiting to start and ``--running`` being processed. One
``TwilioPushOperationEventTrigger`` (``run()``, an in-memory state store) takes ``--sweeps`` looks
at the account; then the emulator's clock moves on so that the operations still running finish,
and the trigger sweeps until it reported them (or ``--sweeps`` more went by).

Printed: the peak of Python allocations during the sweeps (tracemalloc; the emulator runs in its
own process), the largest and the last stored position (bytes of JSON; Airflow warns above
``[core] max_value_storage_bytes``, 65,535 by default), the requests of an interval once
steady, and whether the operation scheduled six days ago was reported when it finished.

``--catch-up``: the trigger resumes from a version 1 position at the oldest operation (an upgrade
after a week's downtime) and reports all of them; printed also: seconds to its first event.

    .venv/bin/python benchmarks/event_trigger.py [--total 100000] [--running 5] [--sweeps 3] [--catch-up] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import create_operations, emulator, script_main, table

DAY = 86_400.0
LIST = "GET /v1/PushNotifications/Operations"
GET = "GET /v1/PushNotifications/Operations/{id}"


class MemoryStateStore:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.sizes: list[int] = []

    async def aget(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.dumps(value, separators=(",", ":"))
        self.sizes.append(len(self.values[key]))


async def measure(
    process: Any, args: argparse.Namespace, scheduled_id: str, running: list[str], since: str
) -> dict[str, Any]:
    from airflow_provider_twilio_push.triggers import operation_events
    from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationEventTrigger

    if hasattr(operation_events, "PERSIST_DELAY"):
        operation_events.PERSIST_DELAY = 0.0  # store each position at once: the sizes are the point
    control = process.control
    store = MemoryStateStore()
    trigger = TwilioPushOperationEventTrigger(poll_interval=args.interval)
    trigger.asset_state_store = store  # type: ignore[assignment]
    if args.catch_up:
        store.values[trigger.state_key] = json.dumps({"version": 1, "since": since, "handled": []})
    reported: list[str] = []
    first_event_s: list[float] = []
    sweeps_before = control.request_count(LIST, 200)

    async def collect() -> None:
        async for event in trigger.run():
            if not reported:
                first_event_s.append(time.perf_counter() - started)
            reported.append(event.payload["id"])

    tracemalloc.start()
    started = time.perf_counter()
    task = asyncio.create_task(collect())
    while not store.sizes:  # noqa: ASYNC110 (a benchmark's wait)
        await asyncio.sleep(0.01)
    first_sweep_s = time.perf_counter() - started
    await asyncio.sleep(args.interval * args.sweeps)
    lists_before = control.request_count(LIST)
    gets_before = control.request_count(GET)
    await asyncio.sleep(args.interval * 2)
    steady = {
        "lists": (control.request_count(LIST) - lists_before) / 2,
        "gets": (control.request_count(GET) - gets_before) / 2,
    }
    await asyncio.to_thread(control.advance, 120)  # the scheduled one starts and, with the rest, finishes
    deadline = time.monotonic() + args.interval * (args.sweeps + 2) + 60
    wanted = {scheduled_id, *running}
    while not wanted <= set(reported) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await asyncio.sleep(args.interval)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "total": args.total,
        "catch_up": args.catch_up,
        "first_event_s": round(first_event_s[0], 2) if first_event_s else None,
        "first_sweep_s": round(first_sweep_s, 2),
        "peak_mib": round(peak / 2**20, 1),
        "state_max_bytes": max(store.sizes),
        "state_last_bytes": store.sizes[-1],
        "requests_per_interval": steady,
        "list_requests_total": control.request_count(LIST) - sweeps_before,
        "six_day_old_reported": scheduled_id in reported,
        "running_reported": sum(op in reported for op in running),
        "reported": len(reported),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    with emulator(None) as process:
        control = process.control
        control.freeze()
        span = 6.9 * DAY
        finished = [
            {"total": 1, "duration": 0, "age": span - i * span / args.total} for i in range(args.total)
        ]
        created = create_operations(process.base_url, finished)
        assert all(op["status"] == "COMPLETED" for op in created[:10])
        scheduled = control.create_operation(total=1, duration=10, age=6 * DAY, schedule_in=6 * DAY + 60)
        running = [control.create_operation(total=1, duration=60)["id"] for _ in range(args.running)]
        assert control.operation(scheduled["id"])["operation"]["status"] == "SCHEDULED"
        os.environ.update(process.conn_env)
        since = created[0]["createdAt"]
        return asyncio.run(measure(process, args, scheduled["id"], running, since))


def rows(result: dict[str, Any]) -> str:
    steady = result["requests_per_interval"]
    return table(
        [
            "operations (7 days)",
            "first event / first sweep (s)",
            "peak memory (MiB)",
            "stored position, largest / last (B)",
            "requests an interval, lists + GETs",
            "six-day-old scheduled one reported",
            "running reported",
        ],
        [
            [
                f"{result['total']:,}{' (catch-up)' if result['catch_up'] else ''}",
                f"{result['first_event_s']} / {result['first_sweep_s']}",
                result["peak_mib"],
                f"{result['state_max_bytes']:,} / {result['state_last_bytes']:,}",
                f"{steady['lists']:g} + {steady['gets']:g}",
                "yes" if result["six_day_old_reported"] else "NO",
                result["running_reported"],
            ]
        ],
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--running", type=int, default=5)
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--catch-up", action="store_true")


if __name__ == "__main__":
    raise SystemExit(script_main(__doc__, add_arguments, run, rows))
