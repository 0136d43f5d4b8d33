"""The schemas say what the contract says: the shapes we used to guess are refused."""

from __future__ import annotations

from typing import Any

import pytest

from .schemas import validate

OK_SEND = {"to": [{"token": "t", "provider": "FCM"}], "content": {"body": "b"}}


@pytest.mark.parametrize(
    ("schema", "instance", "violation"),
    [
        (
            "TwilioErrors",
            {"code": 20404, "message": "Not found", "moreInfo": "https://x", "status": 404},
            "'errors'",
        ),
        ("TwilioErrors", {"errors": []}, "should be non-empty"),
        (
            "TwilioErrors",
            {"errors": [{"code": 20404, "message": "m", "infoUrl": "x", "context": None}]},
            "'x' is not a 'uri'",
        ),
        (
            "SendRequest",
            {**OK_SEND, "schedule": {"sendAt": "2030-01-01T00:00:00Z"}},
            "is not of type 'array'",
        ),
        ("SendRequest", {**OK_SEND, "schedule": {"sendAt": ["2030-01-01 00:00"]}}, "is not a 'date-time'"),
        ("SendRequest", {**OK_SEND, "from": "my_app"}, "is not of type 'object'"),
        (
            "SendRequest",
            {**OK_SEND, "content": {"title": "t"}},
            "is not valid under any of the given schemas",
        ),
        ("SendRequest", {**OK_SEND, "tags": {"k": "a b"}}, "does not match"),
        (
            "Operation",
            {"id": "comms_operation_01h9krwprkeee8fzqspvwy6nq8", "status": "DONE"},
            "'DONE' is not one of",
        ),
        ("PushNotificationPage", {"pushNotifications": []}, "'pagination' is a required property"),
    ],
)
def test_a_guess_the_contract_refutes_is_refused(schema: str, instance: Any, violation: str) -> None:
    assert any(violation in problem for problem in validate(schema, instance)), validate(schema, instance)


def test_the_contracts_own_shapes_are_accepted() -> None:
    assert (
        validate(
            "SendRequest",
            {**OK_SEND, "from": {}, "sound": None, "schedule": {"sendAt": ["2025-11-11T11:11:00Z"]}},
        )
        == []
    )
    error = {
        "code": 20429,
        "message": "Too many requests",
        "infoUrl": "https://www.twilio.com/docs/api/errors/20429",
    }
    assert (
        validate(
            "TwilioErrors", {"errors": [{**error, "context": "$.to[0].token"}, {**error, "context": None}]}
        )
        == []
    )
