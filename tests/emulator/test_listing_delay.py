"""The listing delay: a send's notifications show up in GET /v1/PushNotifications listings only a
while after its 202, as a lagging index of Twilio's would list them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from airflow_provider_twilio_push.emulator import EmulatorControlError, EmulatorProcess
from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

from .helpers import OPERATIONS, SEND, all_pages, send_push

TO = [
    {"token": "device-a", "provider": "FCM"},
    {"userId": "comms_pushnotificationuser_01h9krwprkeee8fzqspvwy6nq8"},
]


def _listed(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    return all_pages(api, SEND, "pushNotifications", **params)


def test_a_sends_notifications_are_listed_only_after_the_delay(
    frozen: EmulatorHandle, api: httpx.Client
) -> None:
    control = frozen.control
    assert control.listing_delay() == 0
    assert control.set_listing_delay(5) == 5
    assert control.listing_delay() == 5
    op_id = send_push(api, to=TO, tags={"chunk": "k1"})
    queries: list[dict[str, Any]] = [
        {},
        {"operationId": op_id},
        {"tags": "chunk:k1;"},
        {"operationId": op_id, "tags": "chunk:k1;"},
        {"status": "QUEUED"},
        {"user": TO[1]["userId"]},
        {"provider": "FCM"},
    ]
    control.advance(4.9)
    for query in queries:
        assert _listed(api, **query) == [], query
    # The operation itself is there at once, in its listing and by id; so are its notifications by id.
    assert [op["id"] for op in api.get(OPERATIONS).json()["operations"]] == [op_id]
    assert api.get(f"{OPERATIONS}/{op_id}").json()["stats"]["total"] == 2

    control.advance(0.1)
    for query in queries[:4]:
        assert [item["to"] for item in _listed(api, **query)] == [
            {"token": "device-a", "provider": "FCM"},
            TO[1],
        ]
    item = _listed(api)[0]
    assert api.get(f"{SEND}/{item['id']}").status_code == 200


def test_each_send_keeps_the_delay_it_was_accepted_with(frozen: EmulatorHandle, api: httpx.Client) -> None:
    control = frozen.control
    control.set_listing_delay(10)
    slow = send_push(api, to=TO[:1])
    control.set_listing_delay(0)
    fast = send_push(api, to=TO[:1])
    assert {item["id"] for item in _listed(api)} == {i["id"] for i in _listed(api, operationId=fast)}
    assert _listed(api, operationId=slow) == []
    control.advance(10)
    assert len(_listed(api)) == 2


def test_scenario_operations_are_listed_at_once(frozen: EmulatorHandle, api: httpx.Client) -> None:
    frozen.control.set_listing_delay(60)
    op = frozen.control.create_operation(total=3)
    assert len(_listed(api, operationId=op["id"])) == 3


def test_reset_restores_the_command_lines_delay(emulator: EmulatorHandle) -> None:
    emulator.control.set_listing_delay(3)
    emulator.control.reset()
    assert emulator.control.listing_delay() == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"seconds": -1}, "seconds must be a number from 0 to"),
        ({"seconds": "5"}, "seconds must be a number from 0 to"),
        ({}, "seconds is required"),
        ({"delay": 5}, "Unknown field(s) delay in a listing delay"),
    ],
)
def test_a_bad_listing_delay_is_400(emulator: EmulatorHandle, body: dict[str, Any], message: str) -> None:
    response = httpx.put(f"{emulator.base_url}/_emulator/listing-delay", json=body, trust_env=False)
    assert response.status_code == 400
    assert message in response.json()["errors"][0]["message"]
    with pytest.raises(EmulatorControlError, match="seconds must be a number"):
        emulator.control.set_listing_delay(-2)
    assert emulator.control.listing_delay() == 0


def test_the_command_line_delay_is_the_one_reset_restores() -> None:
    with EmulatorProcess(listing_delay=2.5) as emulator:
        control = emulator.control
        control.freeze()
        assert control.listing_delay() == 2.5
        with httpx.Client(
            base_url=emulator.base_url, auth=(emulator.account_sid, emulator.auth_token), trust_env=False
        ) as api:
            op_id = send_push(api, to=TO[:1])
            assert _listed(api, operationId=op_id) == []
            control.advance(2.5)
            assert len(_listed(api, operationId=op_id)) == 1
        control.set_listing_delay(0)
        control.reset()
        assert control.listing_delay() == 2.5
