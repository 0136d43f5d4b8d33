"""The models: camelCase on the wire, snake_case in Python, lenient, XCom-safe."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pydantic
import pytest

from airflow_provider_twilio_push.models import (
    Operation,
    OperationPage,
    OperationStats,
    OperationStatus,
    PushNotification,
    PushNotificationPage,
    PushNotificationStatus,
    read_api_datetime,
)

OP_ID = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"
COUNTERS = ["total", "recipients", "unaddressable", "scheduled", "queued", "sent", "failed", "canceled"]


def test_wire_fields_become_snake_case(make_operation: Any) -> None:
    operation = Operation.model_validate(make_operation())

    assert operation.id == OP_ID
    assert operation.status is OperationStatus.PROCESSING
    assert operation.created_at == dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.UTC)
    assert operation.updated_at == dt.datetime(2024, 1, 15, 9, 30, 5, tzinfo=dt.UTC)
    assert operation.stats == OperationStats(total=3, recipients=3, queued=1, sent=2)


def test_snake_case_names_are_accepted_too() -> None:
    operation = Operation.model_validate(
        {"id": OP_ID, "status": "COMPLETED", "created_at": "2024-01-15T09:30:00Z", "updated_at": None}
    )

    assert operation.created_at == dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.UTC)
    assert operation.updated_at is None


def test_unknown_fields_are_ignored_everywhere(make_operation: Any) -> None:
    body = make_operation(
        channel="push",
        links={"errors": "https://comms.twilio.com/v1/..."},
        stats={"total": 2, "sent": 2, "delivered": 2, "opened": {"ios": 1}},
    )

    operation = Operation.model_validate(body)

    assert operation.stats.total == operation.stats.sent == 2
    assert not hasattr(operation, "channel")
    assert "delivered" not in operation.stats.model_dump()
    page = OperationPage.model_validate(
        {"operations": [body], "pagination": {"next": None, "self": "x", "size": 1}, "meta": {"key": "ops"}}
    )
    assert page.operations == [operation]


def test_missing_counters_are_zero() -> None:
    partial = Operation.model_validate({"id": OP_ID, "status": "SCHEDULED", "stats": {"total": 5}})
    bare = Operation.model_validate({"id": OP_ID, "status": "SCHEDULED"})

    assert partial.stats.model_dump() == {name: 5 if name == "total" else 0 for name in COUNTERS}
    assert bare.stats.model_dump() == dict.fromkeys(COUNTERS, 0)
    assert (bare.created_at, bare.updated_at) == (None, None)


def test_a_date_time_without_an_offset_is_read_as_utc() -> None:
    wire = {"createdAt": "2024-01-15T09:30:00", "updatedAt": "2024-01-15T09:30:05.5"}
    operation = Operation.model_validate({"id": OP_ID, "status": "PROCESSING", **wire})
    notification = PushNotification.model_validate({"id": "comms_pushnotification_x", **wire})
    page = OperationPage.model_validate(
        {"operations": [{"id": OP_ID, "status": "PROCESSING", **wire}, {"id": OP_ID, "status": "PROCESSING"}]}
    )

    for read in (operation, notification, page.operations[0]):
        assert read.created_at == dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.UTC)
        assert read.updated_at == dt.datetime(2024, 1, 15, 9, 30, 5, 500000, tzinfo=dt.UTC)
    # Comparable with any other date-time the API gives (an offset is kept as given).
    offset = Operation.model_validate(
        {"id": OP_ID, "status": "PROCESSING", "createdAt": "2024-01-15T11:31:00+02:00"}
    )
    assert operation.created_at is not None
    assert offset.created_at is not None
    assert sorted([offset.created_at, operation.created_at]) == [operation.created_at, offset.created_at]
    assert operation.to_xcom()["createdAt"] == "2024-01-15T09:30:00Z"


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"status": "COMPLETED"}, ("id",)),
        ({"id": OP_ID}, ("status",)),
        ({"id": OP_ID, "status": "FAILED"}, ("status",)),
        ({"id": OP_ID, "status": "completed"}, ("status",)),
        ({"id": OP_ID, "status": "COMPLETED", "stats": None}, ("stats",)),
        ({"id": OP_ID, "status": "COMPLETED", "stats": {"failed": -1}}, ("stats", "failed")),
        ({"id": OP_ID, "status": "COMPLETED", "stats": {"sent": "many"}}, ("stats", "sent")),
        ({"id": OP_ID, "status": "COMPLETED", "createdAt": "yesterday"}, ("createdAt",)),
    ],
)
def test_what_cannot_be_acted_on_is_refused(body: dict[str, Any], location: tuple[str, ...]) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        Operation.model_validate(body)

    assert [error["loc"] for error in caught.value.errors()] == [location]


def test_to_xcom_is_the_json_safe_wire_shape(make_operation: Any) -> None:
    operation = Operation.model_validate(make_operation(status="COMPLETED", extraField=1))

    value = operation.to_xcom()

    assert set(value) == {"id", "status", "stats", "createdAt", "updatedAt"}
    assert value["status"] == "COMPLETED"
    assert value["createdAt"] == "2024-01-15T09:30:00Z"
    assert value["updatedAt"] == "2024-01-15T09:30:05Z"
    assert value["stats"] == {
        "total": 3,
        "recipients": 3,
        "unaddressable": 0,
        "scheduled": 0,
        "queued": 1,
        "sent": 2,
        "failed": 0,
        "canceled": 0,
    }
    assert json.loads(json.dumps(value, allow_nan=False)) == value
    assert Operation.model_validate(value) == operation


def test_to_xcom_round_trips_without_dates_and_with_offsets() -> None:
    bare = Operation(id=OP_ID, status=OperationStatus.SCHEDULED)
    offset = Operation.model_validate(
        {"id": OP_ID, "status": "CANCELED", "createdAt": "2024-01-15T11:30:00.250+02:00"}
    )

    assert bare.to_xcom()["createdAt"] is None
    assert Operation.model_validate(json.loads(json.dumps(bare.to_xcom()))) == bare
    assert offset.to_xcom()["createdAt"] == "2024-01-15T11:30:00.250000+02:00"
    restored = Operation.model_validate(json.loads(json.dumps(offset.to_xcom())))
    assert restored == offset
    assert restored.created_at == dt.datetime(2024, 1, 15, 9, 30, 0, 250000, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        (OperationStatus.SCHEDULED, False),
        (OperationStatus.PROCESSING, False),
        (OperationStatus.COMPLETED, True),
        (OperationStatus.CANCELED, True),
    ],
)
def test_terminal_statuses(status: OperationStatus, terminal: bool) -> None:
    assert status.terminal is terminal
    assert Operation(id=OP_ID, status=status).terminal is terminal


def test_statuses_are_their_wire_strings() -> None:
    assert [status.value for status in OperationStatus] == [
        "SCHEDULED",
        "PROCESSING",
        "COMPLETED",
        "CANCELED",
    ]
    assert OperationStatus.COMPLETED == "COMPLETED"
    assert f"{OperationStatus.CANCELED}" == "CANCELED"
    assert json.dumps({"status": OperationStatus.PROCESSING}) == '{"status": "PROCESSING"}'


def test_models_are_frozen() -> None:
    operation = Operation(id=OP_ID, status=OperationStatus.PROCESSING)

    with pytest.raises(pydantic.ValidationError, match="frozen"):
        operation.status = OperationStatus.COMPLETED  # type: ignore[misc]
    assert operation.status is OperationStatus.PROCESSING


@pytest.mark.parametrize(
    ("pagination", "next_page_token"),
    [
        ({"next": "eyJwIjoyfQ", "self": "eyJwIjoxfQ"}, "eyJwIjoyfQ"),
        ({"next": None, "self": "eyJwIjoxfQ"}, None),
        ({"self": "eyJwIjoxfQ"}, None),
        ({}, None),
    ],
)
def test_operation_page(make_operation: Any, pagination: dict[str, Any], next_page_token: str | None) -> None:
    body = {"operations": [make_operation(), make_operation(id=OP_ID[:-1] + "9")], "pagination": pagination}

    page = OperationPage.model_validate(body)

    assert [op.id for op in page.operations] == [OP_ID, OP_ID[:-1] + "9"]
    assert all(isinstance(op, Operation) for op in page.operations)
    assert page.next_page_token == next_page_token


def test_an_empty_page() -> None:
    assert OperationPage.model_validate({}) == OperationPage(operations=[], next_page_token=None)
    assert OperationPage.model_validate({"operations": []}).operations == []


@pytest.mark.parametrize(
    "body",
    [
        {"operations": None},
        {"operations": [{"id": OP_ID}]},
        {"operations": [], "pagination": {"next": 3}},
        {"operations": "comms_operation_01h9krwprkeee8fzqspvwy6nq8"},
    ],
)
def test_a_malformed_page_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        OperationPage.model_validate(body)


def test_push_notifications_are_read_leniently() -> None:
    item = {
        "id": "comms_pushnotification_3de3vbxqx0aghtdy1jgf9qdteh",
        "from": {"fcm": "comms_credential_b554a2dc48d74ff03500c2a582349cad"},
        "to": {"provider": "FCM", "token": "etYMhHDxzwEW"},
        "status": "FAILED",
        "priority": "HIGH",
        "sound": None,
        "createdAt": "2025-05-30T17:24:46Z",
        "updatedAt": "2025-05-30T17:24:49Z",
        "somethingNew": {"x": 1},
    }
    page = PushNotificationPage.model_validate(
        {"pushNotifications": [item], "pagination": {"next": "t", "self": "s"}}
    )
    notification = page.push_notifications[0]
    assert page.next_page_token == "t"
    assert notification.status is PushNotificationStatus.FAILED
    assert (notification.to.token, notification.to.provider, notification.to.user_id) == (
        "etYMhHDxzwEW",
        "FCM",
        None,
    )
    assert notification.from_ == {"fcm": "comms_credential_b554a2dc48d74ff03500c2a582349cad"}
    assert notification.created_at == dt.datetime(2025, 5, 30, 17, 24, 46, tzinfo=dt.UTC)
    assert notification.content is None
    wire = notification.model_dump(mode="json", by_alias=True)
    assert wire["from"] == item["from"]
    assert wire["to"] == {"token": "etYMhHDxzwEW", "provider": "FCM", "userId": None}

    # A status Twilio may add later is kept as text; only the id is required.
    later = PushNotification.model_validate(
        {"id": "comms_pushnotification_x", "status": "DELIVERED", "to": {"userId": "u"}}
    )
    assert later.status == "DELIVERED"
    assert later.to.user_id == "u"
    with pytest.raises(pydantic.ValidationError):
        PushNotification.model_validate({"status": "SENT"})
    one = PushNotification.model_validate({**item, "content": {"title": "Limon Eats", "body": "On the way"}})
    assert one.content is not None
    assert (one.content.title, one.content.body) == ("Limon Eats", "On the way")


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2024-01-15T09:30:00", dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.UTC)),
        ("2024-01-15T09:30:00.250000", dt.datetime(2024, 1, 15, 9, 30, 0, 250000, tzinfo=dt.UTC)),
        ("2024-01-15T11:30:00+02:00", dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.UTC)),
        ("2024-01-15T09:30:00Z", dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.UTC)),
    ],
)
def test_a_stored_date_is_read_as_an_operation_reads_the_api_s(stored: str, expected: dt.datetime) -> None:
    """One rule for a date without an offset (UTC), for the API's answers and for what was stored."""
    read = read_api_datetime(stored)

    assert read == expected
    assert read is not None
    assert read.utcoffset() is not None
    assert (
        read == Operation.model_validate({"id": "op", "status": "COMPLETED", "createdAt": stored}).created_at
    )


@pytest.mark.parametrize("stored", ["yesterday", "", "2024-13-01T00:00:00", None, [2024]])
def test_a_stored_date_that_cannot_be_read_is_none(stored: object) -> None:
    assert read_api_datetime(stored) is None
