"""TwilioPushOperationTrigger against the Comms API emulator: real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.triggers.twilio_push import TwilioPushOperationTrigger

from .helpers import Stopwatch, single_event

pytestmark = pytest.mark.timeout(60)

GET_OPERATION = "GET /v1/PushNotifications/Operations/{id}"
UNKNOWN_ID = "comms_operation_01zzzzzzzzzzzzzzzzzzzzzzzz"


def make_trigger(operation_id: str, *, poll_interval: float = 0.1, within: float | None = 30.0) -> Any:
    return TwilioPushOperationTrigger(
        operation_id=operation_id,
        twilio_push_conn_id="twilio_push_default",
        poll_interval=poll_interval,
        end_time=None if within is None else time.time() + within,
    )


async def control(emulator: EmulatorHandle, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call the (synchronous) control client off the loop."""
    return await asyncio.to_thread(getattr(emulator.control, method), *args, **kwargs)


async def wait_for_reads(emulator: EmulatorHandle, count: int, *, status: int = 200) -> None:
    async with asyncio.timeout(10):
        while await control(emulator, "request_count", GET_OPERATION, status) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def final_view(emulator: EmulatorHandle, operation_id: str) -> dict[str, Any]:
    view: dict[str, Any] = emulator.control.operation(operation_id)["operation"]
    return view


def check_stats(stats: dict[str, int]) -> None:
    """The emulator's invariant, which the event must carry unchanged."""
    assert stats["recipients"] == stats["total"]
    parts = ("unaddressable", "scheduled", "queued", "sent", "failed", "canceled")
    assert sum(stats[part] for part in parts) == stats["total"]


async def test_runs_to_completion_through_injected_faults(
    twilio_push_emulator: EmulatorHandle, logs: list[dict[str, Any]]
) -> None:
    emulator = twilio_push_emulator
    emulator.control.set_faults(
        rate_429=0.06,
        rate_500=0.06,
        rate_503=0.06,
        rate_malformed=0.06,
        rate_drop=0.06,
        retry_after=0,
        routes=[GET_OPERATION],
    )
    # The operation stands still until the trigger has been through enough faults, then ends.
    emulator.control.freeze()
    operation = emulator.control.create_operation(
        total=50, duration=60, failure_ratio=0.1, unaddressable_ratio=0.1
    )
    task = asyncio.create_task(single_event(make_trigger(operation["id"]), limit=40))

    def malformed_seen() -> bool:
        return any("with a body that is not JSON" in entry["event"] for entry in logs)

    async with asyncio.timeout(30):
        while True:
            served = (await control(emulator, "counters"))["routes"].get(GET_OPERATION, {})
            if malformed_seen() and all(served.get(kind, 0) for kind in ("429", "500", "503", "dropped")):
                break
            await asyncio.sleep(0.05)
    assert not task.done()
    await control(emulator, "advance", 60)

    payload = await task

    assert payload["status"] == "completed"
    assert payload["operation"] == final_view(emulator, operation["id"])
    assert payload["operation"]["status"] == "COMPLETED"
    assert payload["operation"]["stats"] == {
        "total": 50,
        "recipients": 50,
        "unaddressable": 5,
        "scheduled": 0,
        "queued": 0,
        "sent": 40,
        "failed": 5,
        "canceled": 0,
    }
    # Some faults outlasted the hook's retries: the trigger logged them and polled again.
    warnings = [entry["event"] for entry in logs if entry["log_level"] == "warning"]
    assert warnings
    assert all(
        warning.startswith(f"Polling operation {operation['id']} failed, will try again: ")
        for warning in warnings
    )


async def test_scheduled_then_processing_then_completed_with_the_emulators_clock(
    twilio_push_emulator: EmulatorHandle,
) -> None:
    emulator = twilio_push_emulator
    emulator.control.freeze()
    operation = emulator.control.create_operation(total=20, duration=600, schedule_in=600)
    task = asyncio.create_task(single_event(make_trigger(operation["id"])))

    await wait_for_reads(emulator, 2)
    await control(emulator, "advance", 900)  # half way through
    await wait_for_reads(emulator, 4)
    assert not task.done()
    await control(emulator, "advance", 600)
    payload = await task

    assert payload["status"] == "completed"
    assert payload["operation"]["stats"]["sent"] == 20
    assert payload["operation"] == final_view(emulator, operation["id"])


async def test_canceled_operation_gives_the_canceled_event(twilio_push_emulator: EmulatorHandle) -> None:
    emulator = twilio_push_emulator
    operation = emulator.control.create_operation(total=1000, duration=20, failure_ratio=0.02)
    task = asyncio.create_task(single_event(make_trigger(operation["id"])))

    await wait_for_reads(emulator, 2)
    await control(emulator, "cancel", operation["id"])
    payload = await task

    assert payload["status"] == "canceled"
    canceled = payload["operation"]
    assert canceled == final_view(emulator, operation["id"])
    assert canceled["status"] == "CANCELED"
    assert canceled["stats"]["canceled"] > 0
    check_stats(canceled["stats"])
    assert payload["message"].startswith("CANCELED, 100% done: ")
    assert payload["message"].endswith(f" (operation {operation['id']})")


async def test_deadline_gives_a_timeout_event_and_polling_stops(twilio_push_emulator: EmulatorHandle) -> None:
    emulator = twilio_push_emulator
    operation = emulator.control.create_operation(total=100, duration=3600)
    clock = Stopwatch()

    payload = await single_event(make_trigger(operation["id"], poll_interval=0.1, within=0.8))

    assert 0.75 <= clock.elapsed < 2.0
    assert payload["status"] == "timeout"
    assert payload["operation"]["id"] == operation["id"]
    assert payload["operation"]["status"] == "PROCESSING"
    check_stats(payload["operation"]["stats"])
    assert payload["message"].startswith(
        f"Timed out waiting for operation {operation['id']} to complete; last seen PROCESSING, "
    )
    reads = emulator.control.request_count(GET_OPERATION)
    await asyncio.sleep(0.3)
    assert emulator.control.request_count(GET_OPERATION) == reads


@pytest.mark.parametrize("case", ["unknown operation", "expired operation", "wrong password"])
async def test_permanent_errors_end_after_exactly_one_request(
    case: str, twilio_push_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = twilio_push_emulator
    operation_id = UNKNOWN_ID
    if case == "expired operation":
        operation_id = emulator.control.create_operation(total=5, duration=1, age=8 * 24 * 3600)["id"]
    wrong_password = "wrong-password-CANARY"
    if case == "wrong password":
        operation_id = emulator.control.create_operation(total=5, duration=60)["id"]
        conn = {**json.loads(emulator.conn_json), "password": wrong_password}
        monkeypatch.setenv("AIRFLOW_CONN_TWILIO_PUSH_DEFAULT", json.dumps(conn))

    payload = await single_event(make_trigger(operation_id))

    assert payload["status"] == "error"
    assert payload["operation"] is None
    assert payload["message"].startswith(
        f"Could not watch operation {operation_id}: Twilio Push API answered "
    )
    if case == "wrong password":
        assert payload["error_type"] == "TwilioPushAuthError"
        assert "401 Unauthorized" in payload["message"]
        assert "connection 'twilio_push_default'" in payload["message"]
        assert wrong_password not in repr(payload)
    else:
        assert payload["error_type"] == "TwilioPushNotFoundError"
        assert f"404 Not Found to GET /v1/PushNotifications/Operations/{operation_id}" in payload["message"]
        assert "7-day retention" in payload["message"]
    assert emulator.control.counters()["total"] == 1
