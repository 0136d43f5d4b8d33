"""TwilioPushCampaignTrigger against the emulator: every operation watched together, one small event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.triggers.campaign import TwilioPushCampaignTrigger

from .helpers import OPERATION_ID, single_event, twilio_error

pytestmark = pytest.mark.timeout(60)

UNKNOWN_ID = "comms_operation_01zzzzzzzzzzzzzzzzzzzzzzzz"
GET_OPERATION = "GET /v1/PushNotifications/Operations/{id}"
LIST_OPERATIONS = "GET /v1/PushNotifications/Operations"
LATE_ID = "comms_operation_01h9krwprkeee8fzqspvwy6nq9"


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


def test_serialize_holds_when_each_send_was_accepted_if_known() -> None:
    _, kwargs = trigger([UNKNOWN_ID, UNKNOWN_ID], sent_at=[1_900_000_000.5, None]).serialize()

    assert kwargs["sent_at"] == [1_900_000_000.5, None]
    assert TwilioPushCampaignTrigger(**kwargs).serialize()[1] == kwargs


def answers(
    make_operation: Callable[..., dict[str, Any]], operation_id: str, *statuses: str
) -> list[httpx.Response]:
    return [httpx.Response(200, json=make_operation(id=operation_id, status=status)) for status in statuses]


async def test_a_chunk_404_right_after_its_send_is_waited_out(
    api: respx.MockRouter, make_operation: Callable[..., dict[str, Any]]
) -> None:
    """Twilio may answer 404 for an operation it accepted a moment ago: the task that sent the
    chunk says when, and the campaign's wait reads it again, as the operation trigger does."""
    api.get(f"/v1/PushNotifications/Operations/{OPERATION_ID}").respond(
        200, json=make_operation(status="COMPLETED")
    )
    not_found = twilio_error(404, "Operation not found", 20404)
    late = api.get(f"/v1/PushNotifications/Operations/{LATE_ID}")
    late.side_effect = [not_found, not_found, *answers(make_operation, LATE_ID, "COMPLETED", "COMPLETED")]

    payload = await single_event(trigger([OPERATION_ID, LATE_ID], sent_at=[None, time.time()]))

    assert payload["status"] == "completed"
    assert payload["statuses"] == ["COMPLETED", "COMPLETED"]
    assert late.call_count >= 3


@pytest.mark.parametrize("case", ["no send time (a row of an older version)", "long after", "once read"])
async def test_a_chunk_404_without_a_recent_send_or_once_read_ends_the_wait(
    api: respx.MockRouter, make_operation: Callable[..., dict[str, Any]], case: str
) -> None:
    not_found = twilio_error(404, "Operation not found", 20404)
    route = api.get(f"/v1/PushNotifications/Operations/{LATE_ID}")
    route.side_effect = (
        [*answers(make_operation, LATE_ID, "PROCESSING"), not_found] if case == "once read" else [not_found]
    )
    sent_at = {"long after": [time.time() - 3600]}.get(case, [time.time()])

    payload = await single_event(
        trigger([LATE_ID], **({} if case.startswith("no") else {"sent_at": sent_at}))
    )

    assert payload["status"] == "error"
    assert payload["message"].startswith(
        f"Could not watch operation {LATE_ID}: Twilio Push API answered 404 Not Found"
    )
    assert payload["statuses"] == (["PROCESSING"] if case == "once read" else [None])


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


async def test_created_at_without_offset_from_an_earlier_version_is_utc(
    twilio_push_emulator: EmulatorHandle,
    airflow_logs: Callable[[Any], AbstractContextManager[list[dict[str, Any]]]],
) -> None:
    """Rows stored by earlier versions may hold a created_at without an offset (an API date as
    ``isoformat()`` gave it): it is UTC, as in the API's answers, and one that cannot be read is
    only a missing hint, never an error."""
    control = twilio_push_emulator.control
    created = [control.create_operation(total=10, duration=0.5) for _ in range(20)]
    ids = [operation["id"] for operation in created]
    stored: list[str | None] = [
        datetime.fromisoformat(operation["createdAt"]).replace(tzinfo=None).isoformat()
        for operation in created
    ]
    stored[10] = "not a date"  # created between others: their sweeps show it too
    campaign = trigger(ids, created_at=stored)

    with airflow_logs(campaign.log) as logs:
        payload = await single_event(campaign)

    assert payload["status"] == "completed", payload["message"]
    assert payload["statuses"] == ["COMPLETED"] * 20
    assert [entry["event"] for entry in logs if entry["log_level"] == "warning"] == [
        f"Ignoring created_at 'not a date' of operation {ids[10]}: expected an ISO 8601 date-time such as "
        "'2024-01-15T09:30:00Z'. The operation is watched all the same."
    ]
    # The dates without an offset were used, as UTC: every operation was read by list sweeps of
    # their creation window (without them, the operations are read with GETs).
    assert control.request_count(GET_OPERATION) == 0
