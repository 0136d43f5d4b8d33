"""Every request body the client builds, and every send it refuses, against the contract's schemas.

A body the client builds must conform; a send it refuses must be one the contract refuses too,
unless it is one of the client's own stricter checks (``CLIENT_STRICTER``, each said in docs/operators.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from airflow_provider_twilio_push.core.request import list_push_notifications_request, send_request
from airflow_provider_twilio_push.exceptions import TwilioPushInvalidInputError

from .bodies import CLIENT_BAD_SENDS, CLIENT_SENDS, CLIENT_STRICTER, NOW, USER
from .schemas import validate


@pytest.mark.parametrize(
    ("kwargs", "expected"), [c[1:] for c in CLIENT_SENDS], ids=[c[0] for c in CLIENT_SENDS]
)
def test_the_client_builds_bodies_of_the_contract(kwargs: dict[str, Any], expected: dict[str, Any]) -> None:
    body = send_request(**kwargs, now=NOW).body
    assert body == expected
    assert validate("SendRequest", body) == []


def _as_given(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments as a body, the way a client without checks would send them."""
    body = {"to": kwargs["to"], "content": kwargs["content"]}
    for name, key in (("from_", "from"), ("priority", "priority"), ("sound", "sound"), ("tags", "tags")):
        if name in kwargs:
            body[key] = kwargs[name]
    if "schedule" in kwargs:
        schedule = kwargs["schedule"]
        body["schedule"] = schedule if isinstance(schedule, Mapping) else {"sendAt": [schedule]}
    return body


@pytest.mark.parametrize(
    ("case", "kwargs", "message"), CLIENT_BAD_SENDS, ids=[c[0] for c in CLIENT_BAD_SENDS]
)
def test_a_send_the_client_refuses_the_contract_refuses_too(
    case: str, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        send_request(**kwargs, now=NOW)
    assert str(caught.value) == message
    contract_refuses = validate("SendRequest", _as_given(kwargs)) != []
    assert contract_refuses != (case in CLIENT_STRICTER), (
        "the contract accepts this: list it in CLIENT_STRICTER, with its reason in docs/operators.md"
        if not contract_refuses
        else "the contract refuses this too: it is not a stricter check"
    )


def test_the_notification_list_query_is_the_contracts() -> None:
    request = list_push_notifications_request(
        operation_id="comms_operation_01h9krwprkeee8fzqspvwy6nq8",
        status="failed",
        tags={"campaign": "spring", "ab": "B"},
        start_date="2025-01-01T00:00:00+01:00",
        end_date=NOW,
        user=USER,
        provider="apn",
        page_size=1000,
        page_token="eyJwYWdlIjoyfQ",
    )
    assert request.params == {
        "pageSize": "1000",
        "operationId": "comms_operation_01h9krwprkeee8fzqspvwy6nq8",
        "status": "FAILED",
        "tags": "campaign:spring;ab:B;",
        "user": USER,
        "provider": "APN",
        "startDate": "2024-12-31T23:00:00Z",
        "endDate": "2025-01-01T12:00:00Z",
        "pageToken": "eyJwYWdlIjoyfQ",
    }
    assert validate("PushNotificationsQuery", dict(request.params or {})) == []
    assert validate("PushNotificationsQuery", {"tags": "campaign=spring"}) != []  # the schema has teeth
