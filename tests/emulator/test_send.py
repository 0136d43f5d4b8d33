"""POST /v1/PushNotifications: the 202 answer, validation messages, schedules, token conventions."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from contract.bodies import CONTENT, INVALID_SENDS, USER

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

from .helpers import OPERATION_ID_RE, OPERATIONS, SEND, assert_error, send_push

GetOp = Callable[[str], dict[str, Any]]


def _to(*tokens: str, provider: str = "FCM") -> list[dict[str, str]]:
    return [{"token": token, "provider": provider} for token in tokens]


def test_send_answers_202_with_the_operation_and_its_location(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    response = api.post(
        SEND,
        json={
            "to": _to("device-a", "device-b") + _to("device-c", provider="APN"),
            "content": {
                "title": "Sale",
                "body": "Everything must go",
                "providerPassthrough": {
                    "fcm": {"message": {"data": {"k": "v"}}},
                    "apn": {"aps": {"badge": 1}},
                },
            },
            "from": {"appName": "my_app"},
            "priority": "LOW",
            "sound": "default",
            "tags": {"campaign": "spring-2025", "ab.test": "B~1"},
        },
    )
    assert response.status_code == 202
    body = response.json()
    assert list(body) == ["operationId", "operationLocation"]
    assert OPERATION_ID_RE.fullmatch(body["operationId"])
    assert body["operationLocation"] == f"{emulator.base_url}{OPERATIONS}/{body['operationId']}"
    assert response.headers["location"] == body["operationLocation"]

    op = api.get(body["operationLocation"]).json()
    assert op["id"] == body["operationId"]
    assert op["stats"]["total"] == op["stats"]["recipients"] == 3
    assert emulator.control.request_count("POST /v1/PushNotifications", 202) == 1
    # The control API shows what was sent, besides the recipients.
    sent = emulator.control.operation(op["id"])["send"]
    assert list(sent) == ["content", "from", "priority", "sound", "tags"]
    assert sent["content"]["providerPassthrough"] == {
        "fcm": {"message": {"data": {"k": "v"}}},
        "apn": {"aps": {"badge": 1}},
    }
    assert (sent["from"], sent["tags"]) == (
        {"appName": "my_app"},
        {"campaign": "spring-2025", "ab.test": "B~1"},
    )


def test_a_send_is_processed_over_the_default_duration(
    frozen: EmulatorHandle, get_op: GetOp, api: httpx.Client
) -> None:
    frozen.control.set_defaults(duration=4)
    op_id = send_push(api, to=_to(*(f"d{i}" for i in range(8))))
    assert get_op(op_id)["status"] == "PROCESSING"
    frozen.control.advance(2)
    assert get_op(op_id)["stats"]["sent"] == 4
    frozen.control.advance(2)
    op = get_op(op_id)
    assert (op["status"], op["stats"]["sent"]) == ("COMPLETED", 8)


def test_a_future_send_at_is_scheduled_until_then(
    frozen: EmulatorHandle, get_op: GetOp, api: httpx.Client
) -> None:
    control = frozen.control
    control.set_defaults(duration=0)
    # Whole seconds: a fraction could round up past the instant the clock is advanced to.
    in_an_hour = datetime.fromtimestamp(math.floor(control.clock()["epoch"]) + 3600, UTC).isoformat()
    op_id = send_push(api, to=_to("a", "b"), schedule={"sendAt": [in_an_hour]})

    op = get_op(op_id)
    assert (op["status"], op["stats"]["scheduled"]) == ("SCHEDULED", 2)
    control.advance(3599)
    assert get_op(op_id)["status"] == "SCHEDULED"
    control.advance(1)
    op = get_op(op_id)
    assert (op["status"], op["stats"]["sent"]) == ("COMPLETED", 2)


def test_a_past_send_at_sends_now(frozen: EmulatorHandle, get_op: GetOp, api: httpx.Client) -> None:
    op_id = send_push(api, to=_to("a"), schedule={"sendAt": ["2020-01-01T00:00:00Z"]})
    assert get_op(op_id)["status"] == "PROCESSING"


def test_tokens_shape_the_outcome(frozen: EmulatorHandle, get_op: GetOp, api: httpx.Client) -> None:
    frozen.control.set_defaults(duration=1)
    tokens = ["ok-1", "unaddressable-1", "fail-1", "ok-2", "FAIL-2", "unaddressable-2", "ok-3"]
    op_id = send_push(api, to=_to(*tokens))
    op = get_op(op_id)
    assert op["stats"]["unaddressable"] == 2

    frozen.control.advance(1)
    op = get_op(op_id)
    assert (op["status"], op["stats"]["sent"], op["stats"]["failed"]) == ("COMPLETED", 3, 2)


def test_default_ratios_apply_to_the_other_tokens(
    frozen: EmulatorHandle, get_op: GetOp, api: httpx.Client
) -> None:
    frozen.control.set_defaults(duration=0, failure_ratio=0.5, unaddressable_ratio=0.25)
    op = get_op(send_push(api, to=_to(*(f"device-{i}" for i in range(8)), "fail-x")))
    assert (op["stats"]["unaddressable"], op["stats"]["failed"], op["stats"]["sent"]) == (2, 5, 2)


def test_a_send_accepts_10000_recipients(frozen: EmulatorHandle, get_op: GetOp, api: httpx.Client) -> None:
    op = get_op(send_push(api, to=_to(*(f"d{i}" for i in range(10_000)))))
    assert op["stats"]["total"] == 10_000


@pytest.mark.parametrize("count", [10_001, 50_000])
def test_a_send_of_more_than_10000_recipients_is_400_and_creates_nothing(
    emulator: EmulatorHandle, api: httpx.Client, count: int
) -> None:
    response = api.post(SEND, json={"to": _to(*(f"d{i}" for i in range(count))), "content": CONTENT})
    errors = assert_error(
        response,
        400,
        f"to has {count:,} recipients; a send accepts at most 10,000: "
        "split the audience into sends of 10,000 or fewer",
        "$.to",
    )
    assert [error["code"] for error in errors] == [20001]
    assert api.get(OPERATIONS).json()["operations"] == []
    assert emulator.control.recipient_counts() == {}


def test_users_and_personalization_are_accepted(
    frozen: EmulatorHandle, get_op: GetOp, api: httpx.Client
) -> None:
    to = [
        {"userId": USER, "variables": {"item": "Macbook Air M3"}},
        {"token": "device-a", "provider": "APN", "variables": {"name": "John"}},
    ]
    op = get_op(
        send_push(api, to=to, content={"title": "{{name}}", "body": "{{item}} is on sale"}, sound=None)
    )
    assert op["stats"]["total"] == 2


def test_a_schedule_uses_its_first_expression(
    frozen: EmulatorHandle, get_op: GetOp, api: httpx.Client
) -> None:
    now = math.floor(frozen.control.clock()["epoch"])
    first, second = (datetime.fromtimestamp(now + s, UTC).isoformat() for s in (3600, 60))
    op_id = send_push(api, to=_to("a"), schedule={"sendAt": [first, second]})
    frozen.control.advance(120)
    assert get_op(op_id)["status"] == "SCHEDULED"


def test_thirty_days_ahead_is_the_latest_schedule(frozen: EmulatorHandle, api: httpx.Client) -> None:
    now = math.floor(frozen.control.clock()["epoch"])
    at_most = datetime.fromtimestamp(now + 30 * 86400, UTC).isoformat()
    send_push(api, to=_to("a"), schedule={"sendAt": [at_most]})
    too_late = datetime.fromtimestamp(now + 30 * 86400 + 1, UTC).isoformat()
    response = api.post(SEND, json={"to": _to("a"), "content": CONTENT, "schedule": {"sendAt": [too_late]}})
    assert_error(response, 400, "is more than 30 days ahead", "$.schedule.sendAt[0]")


@pytest.mark.parametrize(("body", "context", "message"), INVALID_SENDS)
def test_invalid_sends_are_400_naming_the_field_and_what_to_fix(
    emulator: EmulatorHandle, api: httpx.Client, body: Any, context: str, message: str
) -> None:
    assert_error(api.post(SEND, json=body), 400, message, context)
    assert api.get(OPERATIONS).json()["operations"] == []  # nothing was created
    assert emulator.control.request_count(status=400) == 1


def test_every_problem_of_a_send_is_reported(api: httpx.Client) -> None:
    body = {
        "to": [{"token": "", "provider": "FCM"}, {"token": "t", "provider": "GCM"}],
        "content": {},
        "tags": {"a b": "v"},
    }
    errors = assert_error(api.post(SEND, json=body), 400)
    assert [error["context"] for error in errors] == [
        "$.to[0].token",
        "$.to[1].provider",
        "$.content.body",
        "$.tags['a b']",
    ]
    assert {error["code"] for error in errors} == {20001}


def test_a_body_that_is_not_json_is_400(api: httpx.Client) -> None:
    response = api.post(
        SEND, content=b"to=abc", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert_error(response, 400, "The request body is not valid JSON", None)
