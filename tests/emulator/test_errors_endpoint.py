"""GET /v1/PushNotifications/Operations/{id}/Errors (an emulator-defined shape)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import httpx

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

from .helpers import DATE_RE, OPERATIONS, all_pages, assert_error

NOTIFICATION_ID_RE = re.compile(r"comms_pushnotification_[0-7][a-hjkmnpqrstv-z0-9]{25,34}")


def _errors(api: httpx.Client, op_id: str, **params: object) -> list[dict[str, Any]]:
    """Every error listed so far, following the pages."""
    return all_pages(api, f"{OPERATIONS}/{op_id}/Errors", "errors", **params)


def test_error_items_have_the_documented_shape(frozen: EmulatorHandle, api: httpx.Client) -> None:
    op_id = frozen.control.create_operation(total=1000, failure_ratio=0.2, duration=10)["id"]
    frozen.control.advance(10)
    now = frozen.control.clock()["now"]

    errors = _errors(api, op_id, pageSize=1000)
    assert len(errors) == 200
    for error in errors:
        assert list(error) == ["pushNotificationId", "code", "message", "provider", "occurredAt"]
        assert NOTIFICATION_ID_RE.fullmatch(str(error["pushNotificationId"]))
        assert error["provider"] in ("FCM", "APN")
        assert DATE_RE.fullmatch(str(error["occurredAt"]))
        assert str(error["occurredAt"]) <= now
        assert isinstance(error["message"], str)
        assert error["message"]
    assert len({e["pushNotificationId"] for e in errors}) == 200
    by_code = Counter(e["code"] for e in errors)
    assert len(by_code) >= 4, by_code  # a summary by code is meaningful
    assert {e["provider"] for e in errors} == {"FCM", "APN"}
    # Same code, same message.
    assert all(len({e["message"] for e in errors if e["code"] == code}) == 1 for code in by_code)


def test_only_failures_that_happened_so_far_are_listed(frozen: EmulatorHandle, api: httpx.Client) -> None:
    control = frozen.control
    op_id = control.create_operation(total=100, failure_ratio=0.1, duration=100, schedule_in=10)["id"]
    assert _errors(api, op_id) == []
    control.advance(10 + 50)
    halfway = _errors(api, op_id)
    assert len(halfway) == 5
    op = api.get(f"{OPERATIONS}/{op_id}").json()
    assert op["stats"]["failed"] == 5
    control.advance(50)
    everything = _errors(api, op_id)
    assert len(everything) == 10
    assert everything[:5] == halfway  # errors come in the order they happened
    assert [e["occurredAt"] for e in everything] == sorted(e["occurredAt"] for e in everything)


def test_errors_stop_when_the_operation_is_canceled(frozen: EmulatorHandle, api: httpx.Client) -> None:
    control = frozen.control
    op_id = control.create_operation(total=100, failure_ratio=0.5, duration=100)["id"]
    control.advance(20)
    control.cancel(op_id)
    control.advance(100)
    assert len(_errors(api, op_id)) == 10


def test_errors_pages_have_no_duplicates(frozen: EmulatorHandle, api: httpx.Client) -> None:
    op_id = frozen.control.create_operation(total=60, failure_ratio=0.5, duration=0)["id"]
    first = api.get(f"{OPERATIONS}/{op_id}/Errors").json()
    assert len(first["errors"]) == 30
    assert first["pagination"]["next"] is None  # default page size 50

    paged = _errors(api, op_id, pageSize=7)
    assert paged == first["errors"]


def test_a_failing_token_can_choose_its_code(frozen: EmulatorHandle, api: httpx.Client) -> None:
    frozen.control.set_defaults(duration=0)
    to = [
        {"token": "fail-52143-big-payload", "provider": "APN"},
        {"token": "fine", "provider": "FCM"},
        {"token": "fail", "provider": "FCM"},
    ]
    op_id = api.post("/v1/PushNotifications", json={"to": to, "content": {"body": "x"}}).json()["operationId"]
    errors = _errors(api, op_id)
    assert (errors[0]["code"], errors[0]["provider"]) == (52143, "APN")
    assert [e["provider"] for e in errors] == ["APN", "FCM"]


def test_errors_of_unknown_malformed_or_mixed_up_operations(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    assert_error(api.get(f"{OPERATIONS}/comms_operation_01h9krwprkeee8fzqspvwy6nq8/Errors"), 404)
    assert_error(api.get(f"{OPERATIONS}/nope/Errors"), 400, "Invalid operation id")

    one = emulator.control.create_operation(total=10, failure_ratio=1, duration=0)["id"]
    other = emulator.control.create_operation(total=10, failure_ratio=1, duration=0)["id"]
    token = api.get(f"{OPERATIONS}/{one}/Errors", params={"pageSize": 2}).json()["pagination"]["next"]
    assert_error(
        api.get(f"{OPERATIONS}/{other}/Errors", params={"pageToken": token}), 400, "another operation"
    )
    assert_error(api.get(f"{OPERATIONS}/{one}/Errors", params={"pageToken": "zzz"}), 400, "Invalid pageToken")
    assert_error(api.get(f"{OPERATIONS}/{one}/Errors", params={"pageSize": 0}), 400, "pageSize")
