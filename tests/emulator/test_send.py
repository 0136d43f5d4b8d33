"""POST /v1/PushNotifications: the 202 answer, validation messages, schedules, token conventions."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

from .helpers import OPERATION_ID_RE, OPERATIONS, assert_error

SEND = "/v1/PushNotifications"
GetOp = Callable[[str], dict[str, Any]]


def _to(*tokens: str, provider: str = "FCM") -> list[dict[str, str]]:
    return [{"token": token, "provider": provider} for token in tokens]


def _send(api: httpx.Client, **body: Any) -> str:
    body.setdefault("content", {"title": "Hello"})
    response = api.post(SEND, json=body)
    assert response.status_code == 202, response.text
    op_id: str = response.json()["operationId"]
    return op_id


def test_send_answers_202_with_the_operation_and_its_location(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    response = api.post(
        SEND,
        json={
            "to": _to("device-a", "device-b") + _to("device-c", provider="APN"),
            "content": {"title": "Sale", "body": "Everything must go", "data": {"k": "v"}},
            "from": "my-app",
            "priority": "LOW",
            "sound": "default",
            "tags": {"campaign": "spring"},
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
    assert emulator.control.operation(op["id"])["send"] == {
        "content": {"title": "Sale", "body": "Everything must go", "data": {"k": "v"}},
        "from": "my-app",
        "priority": "LOW",
        "sound": "default",
        "tags": {"campaign": "spring"},
    }


def test_a_send_is_processed_over_the_default_duration(
    frozen: EmulatorHandle, get_op: GetOp, api: httpx.Client
) -> None:
    frozen.control.set_defaults(duration=4)
    op_id = _send(api, to=_to(*(f"d{i}" for i in range(8))))
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
    op_id = _send(api, to=_to("a", "b"), schedule={"sendAt": in_an_hour})

    op = get_op(op_id)
    assert (op["status"], op["stats"]["scheduled"]) == ("SCHEDULED", 2)
    control.advance(3599)
    assert get_op(op_id)["status"] == "SCHEDULED"
    control.advance(1)
    op = get_op(op_id)
    assert (op["status"], op["stats"]["sent"]) == ("COMPLETED", 2)


def test_a_past_send_at_sends_now(frozen: EmulatorHandle, get_op: GetOp, api: httpx.Client) -> None:
    op_id = _send(api, to=_to("a"), schedule={"sendAt": "2020-01-01T00:00:00Z"})
    assert get_op(op_id)["status"] == "PROCESSING"


def test_tokens_shape_the_outcome(frozen: EmulatorHandle, get_op: GetOp, api: httpx.Client) -> None:
    frozen.control.set_defaults(duration=1)
    tokens = ["ok-1", "unaddressable-1", "fail-1", "ok-2", "FAIL-2", "unaddressable-2", "ok-3"]
    op_id = _send(api, to=_to(*tokens))
    op = get_op(op_id)
    assert op["stats"]["unaddressable"] == 2

    frozen.control.advance(1)
    op = get_op(op_id)
    assert (op["status"], op["stats"]["sent"], op["stats"]["failed"]) == ("COMPLETED", 3, 2)


def test_default_ratios_apply_to_the_other_tokens(
    frozen: EmulatorHandle, get_op: GetOp, api: httpx.Client
) -> None:
    frozen.control.set_defaults(duration=0, failure_ratio=0.5, unaddressable_ratio=0.25)
    op = get_op(_send(api, to=_to(*(f"device-{i}" for i in range(8)), "fail-x")))
    assert (op["stats"]["unaddressable"], op["stats"]["failed"], op["stats"]["sent"]) == (2, 5, 2)


def test_ten_thousand_recipients_are_accepted(
    frozen: EmulatorHandle, get_op: GetOp, api: httpx.Client
) -> None:
    op = get_op(_send(api, to=_to(*(f"d{i}" for i in range(10_000)))))
    assert op["stats"]["total"] == 10_000


RECIPIENT = {"token": "t", "provider": "FCM"}
CONTENT = {"title": "Hi"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([RECIPIENT], "The request body must be a JSON object, got a list"),
        ({"content": CONTENT}, "Missing required field 'to': a list of 1 to 10,000 recipients"),
        ({"to": RECIPIENT, "content": CONTENT}, "'to' must be a list of recipients, got an object"),
        ({"to": [], "content": CONTENT}, "'to' must contain at least 1 recipient"),
        ({"to": [RECIPIENT] * 10_001, "content": CONTENT}, "'to' has 10,001 recipients; at most 10,000"),
        (
            {"to": ["t"], "content": CONTENT},
            "to[0] must be an object with 'token' and 'provider', got a string",
        ),
        (
            {"to": [RECIPIENT, {"provider": "FCM"}], "content": CONTENT},
            "to[1].token must be a non-empty string",
        ),
        ({"to": [{"token": "", "provider": "FCM"}], "content": CONTENT}, "got an empty string"),
        (
            {"to": [{"token": 7, "provider": "FCM"}], "content": CONTENT},
            "to[0].token must be a non-empty string",
        ),
        (
            {"to": [{"token": "t", "provider": "GCM"}], "content": CONTENT},
            "to[0].provider must be one of FCM, APN, got 'GCM'",
        ),
        ({"to": [{"token": "t"}], "content": CONTENT}, "to[0].provider must be one of FCM, APN, got None"),
        ({"to": [RECIPIENT]}, "Missing required field 'content'"),
        ({"to": [RECIPIENT], "content": "Hi"}, "'content' must be an object, got a string"),
        ({"to": [RECIPIENT], "content": {}}, "'content' must have a non-empty 'title' or 'body'"),
        ({"to": [RECIPIENT], "content": {"title": ""}}, "'content' must have a non-empty 'title' or 'body'"),
        ({"to": [RECIPIENT], "content": {"title": 5}}, "content.title must be a string, got a number"),
        (
            {"to": [RECIPIENT], "content": CONTENT, "priority": "URGENT"},
            "'priority' must be one of HIGH, LOW",
        ),
        ({"to": [RECIPIENT], "content": CONTENT, "from": 5}, "'from' must be a string or an object"),
        ({"to": [RECIPIENT], "content": CONTENT, "sound": True}, "'sound' must be a string, got a boolean"),
        ({"to": [RECIPIENT], "content": CONTENT, "tags": ["a"]}, "'tags' must be an object"),
        (
            {"to": [RECIPIENT], "content": CONTENT, "tags": {str(i): "v" for i in range(11)}},
            "'tags' has 11 entries; at most 10",
        ),
        ({"to": [RECIPIENT], "content": CONTENT, "tags": {"k": 1}}, "tags['k'] must be a non-empty key"),
        ({"to": [RECIPIENT], "content": CONTENT, "schedule": "tomorrow"}, "'schedule' must be an object"),
        (
            {"to": [RECIPIENT], "content": CONTENT, "schedule": {}},
            "schedule.sendAt must be an ISO 8601 date-time",
        ),
        (
            {"to": [RECIPIENT], "content": CONTENT, "schedule": {"sendAt": "2030-01-01T09:00:00"}},
            "with a time zone",
        ),
        ({"to": [RECIPIENT], "content": CONTENT, "schedule": {"sendAt": "2030-01-01"}}, "schedule.sendAt"),
        (
            {"to": [RECIPIENT], "content": CONTENT, "schedule": {"send_at": "x"}},
            "Unknown field schedule.send_at",
        ),
        ({"to": [RECIPIENT], "content": CONTENT, "scheduled": {}}, "Unknown field 'scheduled'"),
    ],
)
def test_invalid_sends_are_400_with_a_message_that_says_what_to_fix(
    emulator: EmulatorHandle, api: httpx.Client, body: Any, message: str
) -> None:
    assert_error(api.post(SEND, json=body), 400, message)
    assert api.get(OPERATIONS).json()["operations"] == []  # nothing was created
    assert emulator.control.request_count(status=400) == 1


def test_a_body_that_is_not_json_is_400(api: httpx.Client) -> None:
    response = api.post(
        SEND, content=b"to=abc", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert_error(response, 400, "The request body is not valid JSON")
