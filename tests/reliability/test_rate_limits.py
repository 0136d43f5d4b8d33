"""Rate limits (issue 9): 500 triggers of one connection poll an API that allows 50 requests/s.

The emulator's ``rps_limit`` answers 429 with ``Retry-After: 1`` beyond 50 requests per second
(a token bucket holding one second's worth). The same fleet runs twice: with the connection as it
comes (every 429 pauses every request of the connection in the process for its Retry-After), and
with ``max_requests_per_second=45``, which spaces the requests so that the limit is never reached.

Why the 429 bound of the first run holds: after a 429 a trigger's next request waits at least the
Retry-After (the hook's retry waits it; when the retries are used up, the next poll waits for the
connection's pause, which that 429 set). So one trigger gets at most one 429 per Retry-After
second, and the fleet at most ``TRIGGERS * (elapsed / RETRY_AFTER + 1)``. Polling without backoff
would send ``TRIGGERS * elapsed / POLL_INTERVAL`` requests, five times that, nearly all of them 429s.

The fleet reads each operation with its own GET (a planner of GETs only): this tests
the pacing of a request load. The triggerer's sweeps, which cut that load to a few requests per
interval, are tested under a limit in test_watching_rate_limits.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_twilio_push.core import pacing
from airflow_provider_twilio_push.core.watching import RequestPlan, WatchedOperation, plan_requests
from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.triggers import watcher

from .fleet import GET_OPERATION, control, run_fleet, use_connection, watch

pytestmark = pytest.mark.timeout(200)

TRIGGERS = 500
OPERATIONS = TRIGGERS  # one each: the triggers of one operation share its reads
RPS_LIMIT = 50
BUDGET = 45  # max_requests_per_second, a little under the limit
RETRY_AFTER = 1.0  # what the emulator's rps_limit sends
POLL_INTERVAL = 0.2
DEADLINE = 90.0


def gets_only(
    operations: list[WatchedOperation], *, pages_per_sweep: int | None, sweep: bool = True
) -> RequestPlan:
    return plan_requests(operations, pages_per_sweep=pages_per_sweep, sweep=False)


async def run_fleet_against_the_limit(emulator: EmulatorHandle) -> dict[str, Any]:
    await control(emulator, "reset")
    await control(emulator, "set_faults", rps_limit=RPS_LIMIT)
    operations = [
        (await control(emulator, "create_operation", total=10, duration=1.0))["id"] for _ in range(OPERATIONS)
    ]
    start = time.time()
    watches = [
        watch(operations[i % OPERATIONS], "completed", poll_interval=POLL_INTERVAL, deadline=start + DEADLINE)
        for i in range(TRIGGERS)
    ]
    stall = await run_fleet(watches)
    elapsed = time.time() - start

    assert [w.operation_id for w in watches if w.hung] == []
    assert [w.payload["status"] for w in watches] == ["completed"] * TRIGGERS
    assert all(w.payload["operation"]["status"] == "COMPLETED" for w in watches)
    assert all(w.fired_at is not None and w.fired_at < w.deadline for w in watches)
    counters = (await control(emulator, "counters"))["routes"][GET_OPERATION]
    return {
        "429": counters.get("429", 0),
        "200": counters.get("200", 0),
        "requests": sum(counters.values()),
        "elapsed": elapsed,
        "stall": stall,
    }


async def test_500_triggers_under_a_50_rps_limit_back_off_and_a_budget_avoids_the_429s(
    twilio_push_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = twilio_push_emulator
    monkeypatch.setattr(watcher.OperationWatcher, "planner", staticmethod(gets_only))
    use_connection(emulator, monkeypatch)
    plain = await run_fleet_against_the_limit(emulator)
    use_connection(emulator, monkeypatch, max_requests_per_second=BUDGET)
    budgeted = await run_fleet_against_the_limit(emulator)

    bound = TRIGGERS * (plain["elapsed"] / RETRY_AFTER + 1)
    print(
        f"\nrate limits: {TRIGGERS} triggers, limit {RPS_LIMIT} requests/s, poll {POLL_INTERVAL} s\n"
        f"  without max_requests_per_second: {plain['429']} x 429, {plain['200']} x 200, "
        f"all done in {plain['elapsed']:.1f} s (429 bound {bound:,.0f}; "
        f"polling without backoff: ~{TRIGGERS * plain['elapsed'] / POLL_INTERVAL:,.0f} requests)\n"
        f"  with max_requests_per_second={BUDGET}: {budgeted['429']} x 429, {budgeted['200']} x 200, "
        f"all done in {budgeted['elapsed']:.1f} s; longest event-loop stall {budgeted['stall']:.2f} s"
    )
    # The limit was really hit without the budget, and the fleet backed off: the bound above.
    # (How many depends on how fast this process can send: a busy machine sends fewer.)
    assert plain["429"] >= 30
    assert plain["429"] <= bound
    # With the budget, the connection stays under the limit: no 429, or hardly any. Paced at 45/s,
    # requests can only overflow the emulator's bucket (50 tokens, refilled at 50/s) if they go
    # out in a burst; a request that wakes up late after a stall of the loop books a new slot
    # (test below), so even a stalled loop sends at most half a second's worth at once.
    assert budgeted["429"] <= 3
    assert budgeted["429"] * 10 <= plain["429"]


async def test_a_blocked_event_loop_does_not_make_the_pacer_send_a_burst(
    twilio_conn: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests paced at 20/s whose slots pass while the loop is blocked do not all go at once.

    30 requests book their slots (0 to 1.45 s), then the loop is blocked for 1.5 s, as a
    trigger calling blocking code would block a triggerer. A request that wakes up more than
    0.5 s (``RequestPacer.late_after``) after its slot books a new one, so at most that much of the
    rate goes out together; without that, all 30 would.
    """
    rate = 20
    conn = {**twilio_conn, "extra": {"max_requests_per_second": rate}}
    monkeypatch.setenv("AIRFLOW_CONN_TWILIO_PUSH_DEFAULT", json.dumps(conn))
    pacing._pacers.clear()
    operation_id = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"
    sent: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(time.monotonic())
        return httpx.Response(200, json={"id": operation_id, "status": "PROCESSING"})

    with respx.mock(base_url="https://comms.twilio.com") as router:
        router.get(f"/v1/PushNotifications/Operations/{operation_id}").mock(side_effect=answer)
        hook = TwilioPushHook()
        await hook.aget_client()  # the connection is read: the requests below only wait for slots
        requests = [asyncio.create_task(hook.aget_operation(operation_id)) for _ in range(30)]
        await asyncio.sleep(0.01)  # every request has booked its slot
        time.sleep(1.5)  # noqa: ASYNC251 - the blocked loop
        await asyncio.gather(*requests)
        await hook.aclose()

    assert len(sent) == 30
    window = 0.1
    burst = max(sum(1 for t in sent if start <= t < start + window) for start in sent)
    # At most half a second's worth of the rate (RequestPacer.late_after) goes out together.
    assert burst <= rate * (0.5 + window) + 2, sorted(round(t - sent[0], 2) for t in sent)
