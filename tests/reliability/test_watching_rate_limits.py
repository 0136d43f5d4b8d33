"""Rate limits (issue 15): 2,000 triggers in one event loop, against an API that allows 5 requests/s.

Polling each operation with its own GET every second would need 2,000 requests/s: 400 times the
limit. The triggerer's watcher reads them all with one sweep of the operations list a second (two
pages of 1,000), so every trigger still sees its operation at most an interval old. The operations
are created on a frozen emulator clock; released once every trigger watches, they complete at
staggered times over the next seconds, and a tenth of them is canceled on the way.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

from .fleet import GET_OPERATION, Watch, control, fired, run_fleet, use_connection

pytestmark = pytest.mark.timeout(300)

TRIGGERS = 2000
RPS_LIMIT = 5
POLL_INTERVAL = 1.0
COMPLETE_WITHIN = (2.0, 8.0)  # seconds after the release
CANCEL_AFTER = 4.0
DEADLINE = 60.0
LIST_OPERATIONS = "GET /v1/PushNotifications/Operations"


def all_watching(monkeypatch: pytest.MonkeyPatch, count: int) -> asyncio.Event:
    """Set once ``count`` triggers have registered their operation with their watcher."""
    from airflow_provider_twilio_push.triggers import twilio_push

    done = asyncio.Event()
    registered = 0
    register = twilio_push.watch_operation

    def recorded(*args: Any, **kwargs: Any) -> Any:
        nonlocal registered
        registered += 1
        if registered == count:
            done.set()
        return register(*args, **kwargs)

    monkeypatch.setattr(twilio_push, "watch_operation", recorded)
    return done


async def test_2000_triggers_under_a_5_rps_limit(
    twilio_push_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationTrigger

    emulator = twilio_push_emulator
    use_connection(emulator, monkeypatch)
    await control(emulator, "freeze")
    rng = random.Random(15)
    durations = [rng.uniform(*COMPLETE_WITHIN) for _ in range(TRIGGERS)]
    doomed = set(rng.sample(range(TRIGGERS), TRIGGERS // 10))  # never complete: canceled on the way
    created = [
        await control(emulator, "create_operation", total=10, duration=3600 if i in doomed else duration)
        for i, duration in enumerate(durations)
    ]
    await control(emulator, "set_faults", rps_limit=RPS_LIMIT)
    watching = all_watching(monkeypatch, TRIGGERS)

    start = time.time()
    watches = [
        Watch(
            op["id"],
            "canceled" if i in doomed else "completed",
            start + DEADLINE,
            TwilioPushOperationTrigger(
                op["id"], poll_interval=POLL_INTERVAL, end_time=start + DEADLINE, created_at=op["createdAt"]
            ),
        )
        for i, op in enumerate(created)
    ]

    async def cancel_some() -> float:
        await asyncio.sleep(CANCEL_AFTER)
        canceled_at = time.time()
        for i in sorted(doomed):
            await control(emulator, "cancel", created[i]["id"])
        return canceled_at

    # Every trigger watches before the operations move on: what is measured is detection, not how
    # long 2,000 triggers take to start (seconds on Airflow 3.0, whose connection lookup is sync).
    fleet = asyncio.create_task(run_fleet(watches))
    async with asyncio.timeout(DEADLINE / 2):
        await watching.wait()
    clock = await control(emulator, "unfreeze")
    canceling = asyncio.create_task(cancel_some())
    stall = await fleet
    canceled_at = await canceling

    assert [w.operation_id for w in watches if w.hung] == []
    assert [w.payload["status"] for w in watches] == [w.expected for w in watches]
    assert all(w.payload["operation"]["id"] == w.operation_id for w in watches)
    # Detection: completion (on the emulator's clock, which runs `offset` behind) to the event.
    latencies = sorted(
        fired(w) - (clock["epoch"] + durations[i] - clock["offset"])
        for i, w in enumerate(watches)
        if i not in doomed
    )
    p99 = latencies[int(0.99 * len(latencies))]
    canceled_latency = max(fired(watches[i]) for i in doomed) - canceled_at
    counters = await control(emulator, "counters")
    print(
        f"\n{TRIGGERS} triggers, limit {RPS_LIMIT} requests/s, poll {POLL_INTERVAL} s: "
        f"{counters['total']} requests ({counters['by_status']}), detection p50 "
        f"{latencies[len(latencies) // 2]:.2f} s / p99 {p99:.2f} s, cancel seen within "
        f"{canceled_latency:.2f} s, longest loop stall {stall:.2f} s"
    )
    # A watcher that sweeps every interval sees a change within one or two intervals (p99 1.2 s
    # here alone); CI runs this beside three other test runs on two cores, where the process
    # itself waits for a core (p99 5.0 s once on Airflow 3.0): the bound allows for that, and
    # still fails a watcher that misses sweeps.
    assert p99 <= 5 * POLL_INTERVAL + stall
    assert canceled_latency <= 5 * POLL_INTERVAL + stall
    assert counters["by_status"].get("429", 0) <= 5
    # Sweeps (every trigger knew its operation's creation time), and a GET at most for a trigger
    # that found the watcher alone.
    # (Two on a loaded CI machine once: GET per poll would make thousands.)
    assert sum(counters["routes"].get(GET_OPERATION, {}).values()) <= TRIGGERS // 100
    assert counters["routes"][LIST_OPERATIONS]["200"] >= 2
