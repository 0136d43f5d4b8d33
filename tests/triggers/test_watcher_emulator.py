"""Triggers sharing the watcher, against the Comms API emulator: real HTTP, the emulator's clock."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationTrigger

from .helpers import single_event

pytestmark = pytest.mark.timeout(90)

GET_OPERATION = "GET /v1/PushNotifications/Operations/{id}"
LIST_OPERATIONS = "GET /v1/PushNotifications/Operations"
INTERVAL = 0.2
RETENTION = 7 * 24 * 3600


def make_trigger(operation: dict[str, Any], *, created: bool = True) -> TwilioPushOperationTrigger:
    return TwilioPushOperationTrigger(
        operation_id=operation["id"],
        poll_interval=INTERVAL,
        end_time=time.time() + 60,
        created_at=operation["createdAt"] if created else None,
    )


async def control(emulator: EmulatorHandle, method: str, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(getattr(emulator.control, method), *args, **kwargs)


async def wait_for(emulator: EmulatorHandle, route: str, count: int) -> None:
    async with asyncio.timeout(20):
        while await control(emulator, "request_count", route, 200) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def progress_of(logs: list[dict[str, Any]], operation_id: str) -> list[str]:
    """The statuses in the progress lines logged for ``operation_id``, in order."""
    return [
        entry["event"].split(",")[0]
        for entry in logs
        if entry["log_level"] == "info" and entry["event"].endswith(f" (operation {operation_id})")
    ]


async def test_scheduled_processing_completed_and_canceled_between_sweeps(
    twilio_push_emulator: EmulatorHandle, logs: list[dict[str, Any]]
) -> None:
    emulator = twilio_push_emulator
    emulator.control.freeze()
    scheduled = [emulator.control.create_operation(total=10, duration=600, schedule_in=600) for _ in range(3)]
    processing = [emulator.control.create_operation(total=10, duration=600) for _ in range(3)]
    doomed = emulator.control.create_operation(total=10, duration=3600)
    operations = [*scheduled, *processing, doomed]
    # The first operation is watched by two triggers.
    triggers = [make_trigger(operation) for operation in [operations[0], *operations]]
    tasks = [asyncio.create_task(single_event(trigger)) for trigger in triggers]

    await wait_for(emulator, LIST_OPERATIONS, 2)
    await control(emulator, "advance", 700)  # scheduled: processing; processing: completed
    await control(emulator, "cancel", doomed["id"])
    sweeps = await control(emulator, "request_count", LIST_OPERATIONS, 200)
    await wait_for(emulator, LIST_OPERATIONS, sweeps + 2)
    assert not any(task.done() for task in tasks[:4])
    await control(emulator, "advance", 600)
    payloads = await asyncio.gather(*tasks)

    statuses = [payload["status"] for payload in payloads]
    assert statuses == ["completed"] * 7 + ["canceled"]
    for trigger, payload in zip(triggers, payloads, strict=True):
        view = (await control(emulator, "operation", trigger.operation_id))["operation"]
        assert payload["operation"] == view
    # Each trigger logged its own progress: the first operation's lines twice.
    assert progress_of(logs, scheduled[0]["id"]) == ["SCHEDULED"] * 2 + ["PROCESSING"] * 2 + ["COMPLETED"] * 2
    assert progress_of(logs, processing[0]["id"]) == ["PROCESSING", "COMPLETED"]
    assert progress_of(logs, doomed["id"]) == ["PROCESSING", "CANCELED"]
    # Seven operations, created_at known: sweeps, one page each (and a GET, at most, for a
    # trigger that found the watcher alone).
    assert await control(emulator, "request_count", GET_OPERATION) <= 1
    assert await control(emulator, "request_count", LIST_OPERATIONS) >= 4


async def test_an_operation_that_expires_while_watched_ends_with_its_gets_404(
    twilio_push_emulator: EmulatorHandle,
) -> None:
    emulator = twilio_push_emulator
    emulator.control.freeze()
    expiring = emulator.control.create_operation(total=10, duration=2 * RETENTION, age=RETENTION - 30)
    others = [emulator.control.create_operation(total=10, duration=3600) for _ in range(2)]
    tasks = [asyncio.create_task(single_event(make_trigger(op))) for op in [expiring, *others]]

    await wait_for(emulator, LIST_OPERATIONS, 2)
    await control(emulator, "advance", 60)  # past Twilio's 7-day retention: no longer listed
    payload = await tasks[0]
    for task in tasks[1:]:
        task.cancel()
    await asyncio.gather(*tasks[1:], return_exceptions=True)

    assert payload["status"] == "error"
    assert payload["error_type"] == "TwilioPushNotFoundError"
    assert payload["message"].startswith(
        f"Could not watch operation {expiring['id']}: Twilio Push API answered 404 Not Found to GET "
        f"/v1/PushNotifications/Operations/{expiring['id']}: "
    )
    assert payload["message"].endswith("or is older than Twilio's 7-day retention.")
    assert payload["operation"]["status"] == "PROCESSING"  # the last one seen, in a sweep
    assert await control(emulator, "request_count", GET_OPERATION, 404) == 1


async def test_fifty_triggers_cost_a_few_sweeps_not_a_get_each_per_interval(
    twilio_push_emulator: EmulatorHandle,
) -> None:
    emulator = twilio_push_emulator
    emulator.control.freeze()
    operations = [emulator.control.create_operation(total=10, duration=0.5 + i / 25) for i in range(50)]
    started = time.monotonic()
    await control(emulator, "unfreeze")

    payloads = await asyncio.gather(*(single_event(make_trigger(op)) for op in operations))
    elapsed = time.monotonic() - started

    assert [payload["status"] for payload in payloads] == ["completed"] * 50
    counters = await control(emulator, "counters")
    # A GET each per interval would be about 50 * elapsed / INTERVAL (over 500); one sweep per
    # interval is elapsed / INTERVAL, and the first interval may take two.
    assert counters["total"] <= elapsed / INTERVAL + 3, counters
    # A trigger that found the watcher alone may have read its operation with a GET, once.
    assert sum(counters["routes"].get(GET_OPERATION, {}).values()) <= 1, counters
