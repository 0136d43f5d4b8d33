"""Every answer of the emulator's push paths, and every body it accepts, against the contract's schemas.

The emulator may be stricter than the contract where the contract is silent (``STRICTER`` below,
each documented in docs/emulator.md), never looser: a body the contract refuses is refused.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

from .bodies import INVALID_SENDS, VALID_SENDS
from .schemas import validate

SEND = "/v1/PushNotifications"
OPERATIONS = "/v1/PushNotifications/Operations"
UNKNOWN_OP = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"
UNKNOWN_NOTIFICATION = "comms_pushnotification_01h9krwprkeee8fzqspvwy6nq8"

#: Bodies the contract accepts and the emulator refuses, on purpose (docs/emulator.md says why).
STRICTER = {
    # Twilio's API reference: "The `to` array accepts up to 10,000 recipients"; the OpenAPI
    # document states no maxItems.
    "$.to": {
        "to must contain at least 1 recipient",
        "to has 10,001 recipients; a send accepts at most 10,000",
    },
    "$.to[0].token": {"got an empty string"},
    "$.schedule.sendAt": {"got an empty list"},
    "$.scheduled": {"Unknown field 'scheduled'"},
}


def _within_30_days(body: dict[str, Any], now: float) -> dict[str, Any]:
    if "schedule" in body:
        when = datetime.fromtimestamp(math.floor(now) + 86400, UTC).isoformat().replace("+00:00", "Z")
        body = {**body, "schedule": {"sendAt": [when]}}
    return body


@pytest.fixture
def api(twilio_push_emulator: EmulatorHandle) -> httpx.Client:
    with httpx.Client(
        base_url=twilio_push_emulator.base_url,
        auth=(twilio_push_emulator.account_sid, twilio_push_emulator.auth_token),
        trust_env=False,
    ) as client:
        yield client


def _conforms(response: httpx.Response, status: int, schema: str) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert validate(schema, body) == []
    return body


@pytest.mark.parametrize("body", VALID_SENDS)
def test_every_documented_send_is_accepted_with_a_202_of_the_contract(
    twilio_push_emulator: EmulatorHandle, api: httpx.Client, body: dict[str, Any]
) -> None:
    body = _within_30_days(body, twilio_push_emulator.control.clock()["epoch"])
    assert validate("SendRequest", body) == []
    response = api.post(SEND, json=body)
    accepted = _conforms(response, 202, "SendAccepted")
    assert response.headers["location"] == accepted["operationLocation"]


@pytest.mark.parametrize(("body", "context", "message"), INVALID_SENDS)
def test_a_send_the_contract_refuses_is_refused_with_twilio_errors(
    api: httpx.Client, body: Any, context: str, message: str
) -> None:
    errors = _conforms(api.post(SEND, json=body), 400, "TwilioErrors")["errors"]
    assert context in [error["context"] for error in errors]
    contract_refuses = validate("SendRequest", body) != []
    assert contract_refuses or message in STRICTER.get(context, set()), (
        "the emulator refuses a body the contract accepts; if on purpose, list it in STRICTER and the docs"
    )


def test_the_30_day_limit_is_the_contracts_prose(
    twilio_push_emulator: EmulatorHandle, api: httpx.Client
) -> None:
    now = math.floor(twilio_push_emulator.control.clock()["epoch"])
    too_late = datetime.fromtimestamp(now + 31 * 86400, UTC).isoformat()
    body = {
        "to": [{"token": "t", "provider": "FCM"}],
        "content": {"body": "x"},
        "schedule": {"sendAt": [too_late]},
    }
    assert validate("SendRequest", body) == []  # a schema cannot say "30 days from now"
    _conforms(api.post(SEND, json=body), 400, "TwilioErrors")


def test_every_read_of_the_push_paths_conforms(
    twilio_push_emulator: EmulatorHandle, api: httpx.Client
) -> None:
    control = twilio_push_emulator.control
    control.freeze()
    control.set_defaults(duration=10, failure_ratio=0.3, unaddressable_ratio=0.1)
    for body in VALID_SENDS:
        api.post(SEND, json=_within_30_days(body, control.clock()["epoch"]))
    later = control.create_operation(total=30, schedule_in=100)["id"]
    canceled = control.create_operation(total=30, duration=100)["id"]
    control.create_operation(total=10, duration=0)
    control.advance(5)
    control.cancel(canceled)

    page = _conforms(api.get(OPERATIONS, params={"pageSize": 1000}), 200, "OperationPage")
    assert len(page["operations"]) == len(VALID_SENDS) + 3
    for op in page["operations"]:
        _conforms(api.get(f"{OPERATIONS}/{op['id']}"), 200, "Operation")
    listed = _conforms(api.get(SEND, params={"pageSize": 1000}), 200, "PushNotificationPage")
    items = listed["pushNotifications"]
    assert {item["status"] for item in items} == {"SCHEDULED", "QUEUED", "SENT", "FAILED", "CANCELED"}
    assert any("userId" in item["to"] for item in items)
    for item in items:
        _conforms(api.get(f"{SEND}/{item['id']}"), 200, "PushNotification")
    assert _conforms(api.get(SEND, params={"operationId": later}), 200, "PushNotificationPage")[
        "pushNotifications"
    ]


ERROR_READS = [
    ("GET", f"{OPERATIONS}/op_1", 400),
    ("GET", f"{OPERATIONS}/{UNKNOWN_OP}", 404),
    ("GET", OPERATIONS, 400, {"status": "DONE"}),
    ("GET", SEND, 400, {"status": "DONE"}),
    ("GET", SEND, 400, {"pageToken": "zzz"}),
    ("GET", f"{SEND}/pn_1", 400),
    ("GET", f"{SEND}/{UNKNOWN_NOTIFICATION}", 404),
    ("GET", f"{OPERATIONS}/{UNKNOWN_OP}/Errors", 404),
    ("DELETE", SEND, 405),
    ("GET", "/v1/PushNotifications/Users", 404),
]


@pytest.mark.parametrize("request_", ERROR_READS, ids=lambda r: f"{r[0]} {r[1]} {r[2]}")
def test_every_error_answer_is_twilio_errors(api: httpx.Client, request_: tuple[Any, ...]) -> None:
    method, path, status, *params = request_
    errors = _conforms(
        api.request(method, path, params=params[0] if params else None), status, "TwilioErrors"
    )
    assert all(error["context"] is None for error in errors["errors"])  # no field of a body is to blame


@pytest.mark.parametrize("fault", ["429", "500", "503"])
@pytest.mark.parametrize(
    "request_",
    [("GET", OPERATIONS), ("GET", f"{OPERATIONS}/{UNKNOWN_OP}"), ("GET", SEND), ("POST", SEND)],
    ids=lambda r: f"{r[0]} {r[1]}",
)
def test_faults_answer_twilio_errors_with_retry_after_where_the_contract_says(
    twilio_push_emulator: EmulatorHandle, api: httpx.Client, fault: str, request_: tuple[str, str]
) -> None:
    twilio_push_emulator.control.set_faults(**{f"rate_{fault}": 1}, retry_after=2)
    body = VALID_SENDS[0] if request_[0] == "POST" else None
    response = api.request(*request_, json=body)
    _conforms(response, int(fault), "TwilioErrors")
    assert response.headers.get("retry-after") == (None if fault == "500" else "2")


def test_unauthenticated_answers_are_twilio_errors_too(twilio_push_emulator: EmulatorHandle) -> None:
    # The contract documents no 401 body; the emulator keeps its one error shape.
    response = httpx.get(twilio_push_emulator.base_url + OPERATIONS, trust_env=False)
    _conforms(response, 401, "TwilioErrors")
