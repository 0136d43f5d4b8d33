"""TwilioPushCampaignTrigger against the emulator: every operation watched together, one small event."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.triggers.campaign import TwilioPushCampaignTrigger

from .helpers import single_event

pytestmark = pytest.mark.timeout(60)

UNKNOWN_ID = "comms_operation_01zzzzzzzzzzzzzzzzzzzzzzzz"
GET_OPERATION = "GET /v1/PushNotifications/Operations/{id}"
LIST_OPERATIONS = "GET /v1/PushNotifications/Operations"


def trigger(operation_ids: list[str], *, within: float = 30.0, **kwargs: Any) -> TwilioPushCampaignTrigger:
    return TwilioPushCampaignTrigger(
        operation_ids=operation_ids, poll_interval=0.2, end_time=time.time() + within, **kwargs
    )


def test_serialize_keeps_only_ids_and_settings() -> None:
    created = ["2024-01-15T09:30:00+00:00", None]
    path, kwargs = trigger([UNKNOWN_ID, UNKNOWN_ID], created_at=created).serialize()

    assert path == "airflow_provider_twilio_push.triggers.campaign.TwilioPushCampaignTrigger"
    assert set(kwargs) == {"operation_ids", "twilio_push_conn_id", "poll_interval", "end_time", "created_at"}
    assert kwargs["created_at"] == created
    assert TwilioPushCampaignTrigger(**kwargs).serialize() == (path, kwargs)


async def test_a_hundred_operations_are_read_by_sweeps_and_summed(
    twilio_push_emulator: EmulatorHandle,
) -> None:
    control = twilio_push_emulator.control
    created = [control.create_operation(total=10, duration=1, failure_ratio=0.1) for _ in range(100)]
    ids = [operation["id"] for operation in created]

    payload = await single_event(trigger(ids, created_at=[operation["createdAt"] for operation in created]))

    assert payload["status"] == "completed"
    assert payload["operation_ids"] == ids
    assert payload["statuses"] == ["COMPLETED"] * 100
    assert payload["failed"] == [1] * 100
    assert (payload["stats"]["total"], payload["stats"]["sent"], payload["stats"]["failed"]) == (
        1000,
        900,
        100,
    )
    assert payload["message"] == (
        "All 100 operations of the campaign are over (100 COMPLETED): 900 of 1,000 push notifications sent, "
        "100 failed."
    )
    # Sweeps of the list, not a GET per operation and look.
    assert control.request_count(GET_OPERATION) == 0
    assert 1 <= control.request_count(LIST_OPERATIONS) <= 10


async def test_an_operation_twilio_does_not_know_ends_the_wait_with_an_error(
    twilio_push_emulator: EmulatorHandle,
) -> None:
    known = twilio_push_emulator.control.create_operation(total=5, duration=60)["id"]

    payload = await single_event(trigger([known, UNKNOWN_ID]))

    assert payload["status"] == "error"
    assert payload["message"].startswith(
        f"Could not watch operation {UNKNOWN_ID}: Twilio Push API answered 404 Not Found"
    )
    assert payload["statuses"][1] is None


async def test_the_deadline_ends_the_wait_saying_what_is_not_over(
    twilio_push_emulator: EmulatorHandle,
) -> None:
    control = twilio_push_emulator.control
    done = control.create_operation(total=5, duration=0)["id"]
    slow = control.create_operation(total=5, duration=600)["id"]

    payload = await single_event(trigger([done, slow], within=1.0))

    assert payload["status"] == "timeout"
    assert payload["statuses"] == ["COMPLETED", "PROCESSING"]
    assert payload["message"] == (
        "Timed out waiting for the campaign's 2 operations: 1 not over (1 COMPLETED, 1 PROCESSING)."
    )


async def test_a_bad_operation_id_is_an_error_event_before_any_request(
    twilio_push_emulator: EmulatorHandle,
) -> None:
    payload = await single_event(trigger(["not-an-operation"]))

    assert payload["status"] == "error"
    assert payload["message"].startswith(
        "Could not watch the campaign: Invalid operation_id 'not-an-operation'"
    )
    assert await asyncio.to_thread(twilio_push_emulator.control.request_count) == 0
