"""GET /v1/PushNotifications/Operations/{id}: shape, lifecycle, auth, ids, the 7-day rule, cancel."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_twilio_push.emulator import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from airflow_provider_twilio_push.emulator.control import EmulatorControlError
from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

from .helpers import DATE_RE, OPERATION_ID_RE, OPERATIONS, STATS_KEYS, assert_error

GetOp = Callable[[str], dict[str, Any]]
WEEK = 7 * 24 * 3600


def test_operation_has_exactly_the_documented_wire_shape(emulator: EmulatorHandle, api: httpx.Client) -> None:
    created = emulator.control.create_operation(total=3)
    response = api.get(f"{OPERATIONS}/{created['id']}")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    op = response.json()
    assert list(op) == ["id", "status", "stats", "createdAt", "updatedAt"]
    assert OPERATION_ID_RE.fullmatch(op["id"])
    assert op["id"] == created["id"]
    assert list(op["stats"]) == STATS_KEYS
    assert op["stats"]["total"] == op["stats"]["recipients"] == 3
    assert DATE_RE.fullmatch(op["createdAt"])
    assert DATE_RE.fullmatch(op["updatedAt"])


def test_operation_goes_scheduled_processing_completed_with_the_clock(
    frozen: EmulatorHandle, get_op: GetOp
) -> None:
    control = frozen.control
    op_id = control.create_operation(total=10, duration=10, schedule_in=5, failure_ratio=0.2)["id"]

    op = get_op(op_id)
    assert op["status"] == "SCHEDULED"
    assert op["stats"]["scheduled"] == 10
    assert op["createdAt"] == op["updatedAt"]

    control.advance(5)
    op = get_op(op_id)
    assert op["status"] == "PROCESSING"
    assert (op["stats"]["scheduled"], op["stats"]["queued"], op["stats"]["sent"]) == (0, 10, 0)

    control.advance(5)
    op = get_op(op_id)
    assert op["status"] == "PROCESSING"
    assert op["stats"]["sent"] + op["stats"]["failed"] == 5
    assert op["stats"]["queued"] == 5
    assert op["updatedAt"] > op["createdAt"]

    control.advance(5)
    op = get_op(op_id)
    assert op["status"] == "COMPLETED"
    assert (op["stats"]["sent"], op["stats"]["failed"], op["stats"]["queued"]) == (8, 2, 0)


def test_unaddressable_ratio_counts_from_the_start(frozen: EmulatorHandle, get_op: GetOp) -> None:
    op_id = frozen.control.create_operation(total=20, unaddressable_ratio=0.25, duration=1)["id"]
    assert get_op(op_id)["stats"]["unaddressable"] == 5
    frozen.control.advance(1)
    op = get_op(op_id)
    assert op["status"] == "COMPLETED"
    assert (op["stats"]["unaddressable"], op["stats"]["sent"]) == (5, 15)


@pytest.mark.parametrize(
    "op_id",
    [
        "abc",
        "comms_operation_",
        "comms_operation_81h9krwprkeee8fzqspvwy6nq8",  # first character above 7
        "comms_operation_01H9KRWPRKEEE8FZQSPVWY6NQ8",  # upper case
        "comms_operation_01h9krwprkeee8fzqspvwy6nqu",  # u is not Crockford base32
        "comms_operation_01h9krwprkee",  # too short
        "comms_operation_01h9krwprkeee8fzqspvwy6nq8%0A",  # trailing newline
        "comms_pushnotification_01h9krwprkeee8fzqspvwy6nq8",
    ],
)
def test_malformed_operation_id_is_400(api: httpx.Client, op_id: str) -> None:
    assert_error(api.get(f"{OPERATIONS}/{op_id}"), 400, "Invalid operation id")


def test_unknown_operation_is_404(api: httpx.Client) -> None:
    assert_error(api.get(f"{OPERATIONS}/comms_operation_01h9krwprkeee8fzqspvwy6nq8"), 404, "not found")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        _basic(DEFAULT_ACCOUNT_SID, "wrong-token"),
        _basic("ACwrong0000000000000000000000000000", DEFAULT_AUTH_TOKEN),
        _basic(DEFAULT_ACCOUNT_SID, ""),
        "Bearer " + DEFAULT_AUTH_TOKEN,
        "Basic not-base64!",
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{OPERATIONS}/comms_operation_01h9krwprkeee8fzqspvwy6nq8"),
        ("GET", OPERATIONS),
        ("GET", f"{OPERATIONS}/comms_operation_01h9krwprkeee8fzqspvwy6nq8/Errors"),
        ("POST", "/v1/PushNotifications"),
    ],
)
def test_every_v1_route_wants_basic_auth(
    emulator: EmulatorHandle, authorization: str | None, method: str, path: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = httpx.request(method, emulator.base_url + path, headers=headers, trust_env=False)
    assert_error(response, 401)
    assert response.headers["www-authenticate"].startswith("Basic")
    assert emulator.control.request_count(status=401) == 1


def test_basic_scheme_is_case_insensitive(emulator: EmulatorHandle) -> None:
    op_id = emulator.control.create_operation()["id"]
    authorization = _basic(emulator.account_sid, emulator.auth_token).replace("Basic", "basic")
    response = httpx.get(
        f"{emulator.base_url}{OPERATIONS}/{op_id}", headers={"Authorization": authorization}, trust_env=False
    )
    assert response.status_code == 200


def test_operations_older_than_seven_days_are_404(frozen: EmulatorHandle, api: httpx.Client) -> None:
    control = frozen.control
    old = control.create_operation(age=WEEK + 1)["id"]
    almost = control.create_operation(age=WEEK - 10)["id"]

    assert_error(api.get(f"{OPERATIONS}/{old}"), 404)
    assert api.get(f"{OPERATIONS}/{almost}").status_code == 200
    assert [op["id"] for op in api.get(OPERATIONS).json()["operations"]] == [almost]

    control.advance(11)
    assert_error(api.get(f"{OPERATIONS}/{almost}"), 404)
    assert api.get(OPERATIONS).json()["operations"] == []
    assert_error(api.get(f"{OPERATIONS}/{almost}/Errors"), 404)
    # The control API still knows it, and says why the API does not.
    assert control.operation(almost)["expired"] is True


def test_old_operations_keep_their_creation_date(frozen: EmulatorHandle, get_op: GetOp) -> None:
    clock_now = frozen.control.clock()["epoch"]
    op = get_op(frozen.control.create_operation(age=3 * 24 * 3600, duration=2)["id"])
    assert op["status"] == "COMPLETED"
    created_days_ago = (clock_now - _epoch(op["createdAt"])) / 86400
    assert 2.99 < created_days_ago < 3.01


def _epoch(date: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(date).timestamp()


def test_ids_are_deterministic_given_the_seed(emulator: EmulatorHandle) -> None:
    control = emulator.control
    first = [control.create_operation()["id"] for _ in range(3)]
    control.reset()
    again = [control.create_operation()["id"] for _ in range(3)]

    assert first == again
    assert len(set(first)) == 3
    assert sorted(first) == first  # ULID-like: later ids sort after earlier ones


def test_cancel_counts_the_unprocessed_as_canceled(frozen: EmulatorHandle, get_op: GetOp) -> None:
    control = frozen.control
    op_id = control.create_operation(total=10, duration=10)["id"]
    control.advance(3)

    canceled = control.cancel(op_id)
    assert canceled["status"] == "CANCELED"
    assert (canceled["stats"]["sent"], canceled["stats"]["canceled"], canceled["stats"]["queued"]) == (
        3,
        7,
        0,
    )

    control.advance(60)
    assert get_op(op_id) == canceled
    assert control.cancel(op_id) == canceled  # canceling twice changes nothing


def test_cancel_a_scheduled_operation_cancels_everything(frozen: EmulatorHandle, get_op: GetOp) -> None:
    control = frozen.control
    op_id = control.create_operation(total=4, schedule_in=100, unaddressable_ratio=0.25)["id"]
    control.cancel(op_id)
    op = get_op(op_id)
    assert op["status"] == "CANCELED"
    assert (op["stats"]["unaddressable"], op["stats"]["scheduled"], op["stats"]["canceled"]) == (1, 0, 3)


def test_a_completed_operation_cannot_be_canceled(frozen: EmulatorHandle) -> None:
    op_id = frozen.control.create_operation(duration=1)["id"]
    frozen.control.advance(1)
    with pytest.raises(EmulatorControlError) as caught:
        frozen.control.cancel(op_id)
    assert caught.value.status == 409
    assert caught.value.body["errors"][0]["code"] == 20409


def test_unknown_v1_paths_and_methods(emulator: EmulatorHandle, api: httpx.Client) -> None:
    assert_error(api.get("/v1/Nope"), 404)
    assert_error(api.get(f"{OPERATIONS}/comms_operation_01h9krwprkeee8fzqspvwy6nq8/Other"), 404)
    response = api.delete(f"{OPERATIONS}/comms_operation_01h9krwprkeee8fzqspvwy6nq8")
    assert_error(response, 405)
    assert response.headers["allow"] == "GET"
    response = api.delete("/v1/PushNotifications")
    assert_error(response, 405)
    assert response.headers["allow"] == "GET, POST"
    for not_emulated in ("Users", "DeviceRegistrations", "Credentials", "Apps"):
        assert_error(api.get(f"/v1/PushNotifications/{not_emulated}"), 404)
    counts = emulator.control.counters()["routes"]
    assert counts["GET (unmatched)"] == {"404": 6}
    assert counts["DELETE /v1/PushNotifications/Operations/{id}"] == {"405": 1}
