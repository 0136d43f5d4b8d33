"""Assertions shared by the emulator's tests."""

from __future__ import annotations

import re
from typing import Any

import httpx

SEND = "/v1/PushNotifications"
OPERATIONS = "/v1/PushNotifications/Operations"
OPERATION_ID_RE = re.compile(r"comms_operation_[0-7][a-hjkmnpqrstv-z0-9]{25,34}")
DATE_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
STATS_KEYS = ["total", "recipients", "unaddressable", "scheduled", "queued", "sent", "failed", "canceled"]


def assert_error(
    response: httpx.Response, status: int, message_part: str = "", context: str | None = None
) -> list[dict[str, Any]]:
    """The response is an error in Twilio's one error shape (``TwilioErrors``): one entry at least,
    each with an int code, a message, its infoUrl and a context; ``message_part`` is in one of the
    messages, and ``context`` (when given) is that entry's JSON path."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["errors"]
    errors: list[dict[str, Any]] = body["errors"]
    assert errors
    for error in errors:
        assert list(error) == ["code", "message", "infoUrl", "context"]
        assert isinstance(error["code"], int)
        assert error["infoUrl"] == f"https://www.twilio.com/docs/api/errors/{error['code']}"
    matching = [error for error in errors if message_part in error["message"]]
    assert matching, errors
    if context is not None:
        assert [error["context"] for error in matching] == [context] * len(matching), errors
    return errors


def check_invariant(op: dict[str, Any]) -> None:
    stats = op["stats"]
    assert list(stats) == STATS_KEYS
    assert all(isinstance(v, int) and v >= 0 for v in stats.values())
    assert stats["recipients"] == stats["total"]
    parts = ("unaddressable", "scheduled", "queued", "sent", "failed", "canceled")
    assert sum(stats[k] for k in parts) == stats["total"], stats
    status = op["status"]
    if status == "SCHEDULED":
        assert stats["queued"] == stats["sent"] == stats["failed"] == stats["canceled"] == 0
    elif status == "PROCESSING":
        assert stats["scheduled"] == stats["canceled"] == 0
        assert stats["queued"] > 0
    elif status == "COMPLETED":
        assert stats["scheduled"] == stats["queued"] == stats["canceled"] == 0
    else:
        assert status == "CANCELED"
        assert stats["scheduled"] == stats["queued"] == 0
    assert op["createdAt"] <= op["updatedAt"]


def send_push(api: httpx.Client, **body: Any) -> str:
    """Send ``body`` (with a default content); the operation id of the 202."""
    body.setdefault("content", {"body": "Hello"})
    response = api.post(SEND, json=body)
    assert response.status_code == 202, response.text
    op_id: str = response.json()["operationId"]
    return op_id


def all_pages(api: httpx.Client, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list (``body[key]``), following its pages."""
    found: list[dict[str, Any]] = []
    token = None
    while True:
        response = api.get(path, params={**params, **({"pageToken": token} if token else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        assert list(body) == [key, "pagination"]
        found += body[key]
        token = body["pagination"]["next"]
        if token is None:
            return found
