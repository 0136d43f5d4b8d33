"""GET /v1/PushNotifications/Operations: order, paging (also while operations are created), filters."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

from .helpers import OPERATIONS, assert_error, check_invariant


def _pages(api: httpx.Client, params: dict[str, Any], between_pages: Any = None) -> list[list[str]]:
    pages: list[list[str]] = []
    token = None
    while True:
        response = api.get(OPERATIONS, params={**params, **({"pageToken": token} if token else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        assert list(body) == ["operations", "pagination"]
        assert set(body["pagination"]) == {"next", "self"}
        for op in body["operations"]:
            check_invariant(op)
        pages.append([op["id"] for op in body["operations"]])
        token = body["pagination"]["next"]
        if token is None:
            return pages
        if between_pages:
            between_pages()


def test_default_page_size_is_50_and_order_is_newest_first(frozen: EmulatorHandle, api: httpx.Client) -> None:
    control = frozen.control
    # Spread over time (age), and several created in the same second, to exercise both sort keys.
    ids = [control.create_operation(age=(i // 3) * 10)["id"] for i in range(60)]

    pages = _pages(api, {})
    assert [len(page) for page in pages] == [50, 10]
    listed = [op_id for page in pages for op_id in page]

    created = {op_id: -(i // 3) * 10 for i, op_id in enumerate(ids)}
    assert listed == sorted(ids, key=lambda op_id: (created[op_id], op_id), reverse=True)


def test_paging_stays_consistent_while_operations_are_created(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    control = emulator.control
    before = {control.create_operation(age=i)["id"] for i in range(25)}
    created_meanwhile: set[str] = set()

    def create_more() -> None:
        for _ in range(3):
            created_meanwhile.add(control.create_operation()["id"])

    pages = _pages(api, {"pageSize": 7}, between_pages=create_more)
    listed = [op_id for page in pages for op_id in page]
    assert len(listed) == len(set(listed)), "an operation was listed twice"
    assert set(listed) == before, "paging skipped an operation or showed a newer one"
    assert len(created_meanwhile) == 3 * (len(pages) - 1)


def test_page_size_bounds(emulator: EmulatorHandle, api: httpx.Client) -> None:
    for _ in range(3):
        emulator.control.create_operation()
    assert len(api.get(OPERATIONS, params={"pageSize": 1}).json()["operations"]) == 1
    assert len(api.get(OPERATIONS, params={"pageSize": 1000}).json()["operations"]) == 3


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pageSize": 0}, "pageSize must be an integer from 1 to 1000, got '0'"),
        ({"pageSize": 1001}, "pageSize must be an integer from 1 to 1000"),
        ({"pageSize": "ten"}, "pageSize must be an integer"),
        ({"pageSize": "-5"}, "pageSize must be an integer"),
        ({"pageSize": "2.5"}, "pageSize must be an integer"),
        ({"status": "DONE"}, "status must be one of SCHEDULED, PROCESSING, COMPLETED, CANCELED, got 'DONE'"),
        ({"status": "completed"}, "status must be one of"),
        ({"startDate": "yesterday"}, "startDate must be an ISO 8601 date-time"),
        ({"endDate": "2024-13-45T00:00:00Z"}, "endDate must be an ISO 8601 date-time"),
        ({"pageToken": "not-a-token"}, "Invalid pageToken"),
        ({"pageToken": base64.urlsafe_b64encode(b'{"kind": "errors"}').decode()}, "Invalid pageToken"),
        (
            {"pageToken": base64.urlsafe_b64encode(b'{"kind": "operations", "before": [1, 2]}').decode()},
            "Invalid pageToken",
        ),
    ],
)
def test_bad_query_parameters_are_400(api: httpx.Client, params: dict[str, Any], message: str) -> None:
    assert_error(api.get(OPERATIONS, params=params), 400, message)


def test_status_filter(frozen: EmulatorHandle, api: httpx.Client) -> None:
    control = frozen.control
    done = control.create_operation(duration=1, age=5)["id"]
    processing = control.create_operation(duration=100)["id"]
    scheduled = control.create_operation(schedule_in=100)["id"]
    canceled = control.create_operation(duration=100)["id"]
    control.cancel(canceled)

    def listed(status: str) -> list[str]:
        ops = api.get(OPERATIONS, params={"status": status}).json()["operations"]
        assert all(op["status"] == status for op in ops)
        return [op["id"] for op in ops]

    assert listed("COMPLETED") == [done]
    assert listed("PROCESSING") == [processing]
    assert listed("SCHEDULED") == [scheduled]
    assert listed("CANCELED") == [canceled]


def test_start_and_end_date_filter_on_creation(frozen: EmulatorHandle, api: httpx.Client) -> None:
    control = frozen.control
    ops = {age: control.create_operation(age=age) for age in (0, 3600, 7200, 10800)}
    start = ops[7200]["createdAt"]
    end = ops[0]["createdAt"]

    def listed(**params: str) -> list[str]:
        return [op["id"] for op in api.get(OPERATIONS, params=params).json()["operations"]]

    # startDate is inclusive ("created at or after"), endDate exclusive ("created before").
    assert listed(startDate=start) == [ops[0]["id"], ops[3600]["id"], ops[7200]["id"]]
    assert listed(endDate=end) == [ops[3600]["id"], ops[7200]["id"], ops[10800]["id"]]
    assert listed(startDate=start, endDate=end) == [ops[3600]["id"], ops[7200]["id"]]
    assert listed(startDate=start.replace("Z", "+00:00")) == listed(startDate=start)


def test_the_page_token_keeps_the_query(frozen: EmulatorHandle, api: httpx.Client) -> None:
    control = frozen.control
    keep = [control.create_operation(duration=100, age=i)["id"] for i in range(5)]
    for i in range(5):
        control.create_operation(duration=1, age=10 + i)

    first = api.get(OPERATIONS, params={"status": "PROCESSING", "pageSize": 2}).json()
    token = first["pagination"]["next"]
    # Only the token: the status filter and the page size come with it.
    second = api.get(OPERATIONS, params={"pageToken": token}).json()
    assert [op["id"] for op in first["operations"] + second["operations"]] == keep[:4]
    # The same query again with the token is fine; a different one is a client bug.
    same = api.get(OPERATIONS, params={"pageToken": token, "status": "PROCESSING"})
    assert same.json()["operations"] == second["operations"]
    assert_error(
        api.get(OPERATIONS, params={"pageToken": token, "status": "COMPLETED"}), 400, "status differs"
    )
    # pageSize may change from page to page.
    bigger = api.get(OPERATIONS, params={"pageToken": token, "pageSize": 10}).json()
    assert [op["id"] for op in bigger["operations"]] == keep[2:]
    assert bigger["pagination"]["next"] is None


def test_the_self_token_gives_the_same_page(emulator: EmulatorHandle, api: httpx.Client) -> None:
    for i in range(5):
        emulator.control.create_operation(age=i)
    second = api.get(OPERATIONS, params={"pageSize": 2, "pageToken": _next(api, {"pageSize": 2})}).json()
    again = api.get(OPERATIONS, params={"pageToken": second["pagination"]["self"]}).json()
    assert again["operations"] == second["operations"]
    token = json.loads(base64.urlsafe_b64decode(second["pagination"]["self"] + "=="))
    assert token["pageSize"] == 2  # base64url JSON, as in Twilio's examples


def _next(api: httpx.Client, params: dict[str, Any]) -> str:
    token: str = api.get(OPERATIONS, params=params).json()["pagination"]["next"]
    return token


def test_empty_list(api: httpx.Client) -> None:
    body = api.get(OPERATIONS).json()
    assert body["operations"] == []
    assert body["pagination"]["next"] is None
    assert isinstance(body["pagination"]["self"], str)
