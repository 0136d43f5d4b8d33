"""Send bodies of every documented shape, and bad ones with the field each gets wrong.

Shared by the emulator's tests, the contract tests and the client's tests.
"""

from __future__ import annotations

from typing import Any

USER = "comms_pushnotificationuser_01h9krwprkeee8fzqspvwy6nq8"
FCM_CREDENTIAL = "comms_credential_01h9krwprkeee8fzqspvwy6nq8"
APN_CREDENTIAL = "comms_credential_8qn6ywvpsqzf8eeekrpwrk9h10"
CREDENTIAL = FCM_CREDENTIAL

#: Sends of every shape the contract documents (modelled on its examples).
VALID_SENDS: list[dict[str, Any]] = [
    {"to": [{"token": "device-1", "provider": "FCM"}], "content": {"body": "Hello"}},
    {
        "from": {"fcm": FCM_CREDENTIAL, "apn": APN_CREDENTIAL},
        "to": [{"token": "device-1", "provider": "FCM"}, {"token": "device-2", "provider": "APN"}],
        "content": {"title": "Boarding", "body": "One hour until boarding"},
        "priority": "HIGH",
        "sound": "ring",
    },
    {
        "to": [
            {"userId": USER, "variables": {"item": "Laptop"}},
            {"userId": USER, "variables": {"name": "Jo"}},
        ],
        "content": {
            "title": "10% off",
            "body": "Hey {{name | default: 'there'}}, {{item}} is on sale",
            "providerPassthrough": {"fcm": {"message": {"data": {"analyticsLabel": "sale"}}}},
        },
    },
    {
        "from": {"fcm": FCM_CREDENTIAL},
        "to": [{"token": "device-1", "provider": "FCM"}],
        "content": {"body": "Later"},
        "schedule": {"sendAt": ["2030-01-01T09:00:00Z"]},  # replaced by a time within 30 days
        "sound": None,
        "priority": "LOW",
    },
    {
        "from": {"appName": "limonade_eats"},
        "to": [{"userId": USER}, {"provider": "APN", "token": "a5448721"}],
        "content": {
            "title": "Out for delivery",
            "body": "Track your courier",
            "providerPassthrough": {
                "apn": {"aps": {"badge": 3, "sound": "arrived.wav"}, "deeplink": "app://order/1"},
                "fcm": {"message": {"notification": {"title": "Out"}, "android": {"priority": "HIGH"}}},
            },
        },
        "tags": {
            "campaign": "spring-2025",
            "segment": "vip.users",
            "v": "1~2",
            **{f"k{i}": "v" for i in range(7)},
        },
    },
]

RECIPIENT = {"token": "t", "provider": "FCM"}
CONTENT = {"body": "Hi"}
OK = {"to": [RECIPIENT], "content": CONTENT}

#: (body, the context and a part of the message of one of its errors)
INVALID_SENDS: list[tuple[Any, str, str]] = [
    ([RECIPIENT], "$", "The request body must be a JSON object, got a list"),
    ({"content": CONTENT}, "$.to", "Missing required field 'to': a list of recipients"),
    ({"to": RECIPIENT, "content": CONTENT}, "$.to", "to must be a list of recipients, got an object"),
    ({"to": [], "content": CONTENT}, "$.to", "to must contain at least 1 recipient"),
    (
        {"to": ["t"], "content": CONTENT},
        "$.to[0]",
        "to[0] must be an object: {token, provider} or {userId}, got a string",
    ),
    (
        {"to": [RECIPIENT, {"provider": "FCM"}], "content": CONTENT},
        "$.to[1].token",
        "to[1].token must be a non-empty string",
    ),
    ({"to": [{"token": "", "provider": "FCM"}], "content": CONTENT}, "$.to[0].token", "got an empty string"),
    (
        {"to": [{"token": 7, "provider": "FCM"}], "content": CONTENT},
        "$.to[0].token",
        "must be a non-empty string",
    ),
    (
        {"to": [{"token": "t", "provider": "GCM"}], "content": CONTENT},
        "$.to[0].provider",
        "to[0].provider must be one of FCM, APN, got 'GCM'",
    ),
    (
        {"to": [{"token": "t"}], "content": CONTENT},
        "$.to[0].provider",
        "to[0].provider must be one of FCM, APN, got None",
    ),
    (
        {"to": [{"userId": "user-1"}], "content": CONTENT},
        "$.to[0].userId",
        "to[0].userId must be a user id like",
    ),
    ({"to": [{"userId": USER, "token": "t", "provider": "FCM"}], "content": CONTENT}, "$.to[0]", "not both"),
    (
        {"to": [{**RECIPIENT, "variables": {"n": 1}}], "content": CONTENT},
        "$.to[0].variables.n",
        "variables values must be strings",
    ),
    (
        {"to": [{**RECIPIENT, "variables": ["n"]}], "content": CONTENT},
        "$.to[0].variables",
        "variables must be an object",
    ),
    ({"to": [RECIPIENT]}, "$.content", "Missing required field 'content'"),
    (
        {"to": [RECIPIENT], "content": "Hi"},
        "$.content",
        "content must be an object with a 'body', got a string",
    ),
    (
        {"to": [RECIPIENT], "content": {"title": "Hi"}},
        "$.content.body",
        "Missing required field content.body",
    ),
    (
        {"to": [RECIPIENT], "content": {"body": 5}},
        "$.content.body",
        "content.body must be a string, got a number",
    ),
    (
        {"to": [RECIPIENT], "content": {"body": "b", "title": None}},
        "$.content.title",
        "content.title must be a string, got null",
    ),
    (
        {"to": [RECIPIENT], "content": {"body": "b", "providerPassthrough": {"gcm": {}}}},
        "$.content.providerPassthrough.gcm",
        "Unknown provider 'gcm'",
    ),
    (
        {"to": [RECIPIENT], "content": {"body": "b", "providerPassthrough": {"fcm": {"data": {}}}}},
        "$.content.providerPassthrough.fcm.message",
        "providerPassthrough.fcm.message must be an object, got null",
    ),
    (
        {"to": [RECIPIENT], "content": {"body": "b", "providerPassthrough": {"apn": {"aps": "x"}}}},
        "$.content.providerPassthrough.apn.aps",
        "must be an object, got a string",
    ),
    ({**OK, "priority": "URGENT"}, "$.priority", "priority must be one of HIGH, LOW"),
    (
        {**OK, "from": "my_app"},
        "$.from",
        "from must be an object: {appName} or {fcm, apn} credential ids, got a string",
    ),
    ({**OK, "from": {"appName": "My App"}}, "$.from.appName", "pattern ^[a-z0-9_]+$), got 'My App'"),
    ({**OK, "from": {"appName": "a" * 65}}, "$.from.appName", "from.appName must be 1 to 64"),
    ({**OK, "from": {"fcm": "cred-1"}}, "$.from.fcm", "from.fcm must be a credential id like"),
    ({**OK, "from": {"gcm": CREDENTIAL}}, "$.from.gcm", "Unknown field from.gcm"),
    ({**OK, "sound": True}, "$.sound", "sound must be a string or null, got a boolean"),
    ({**OK, "tags": ["a"]}, "$.tags", "tags must be an object"),
    ({**OK, "tags": {str(i): "v" for i in range(11)}}, "$.tags", "tags has 11 entries; at most 10"),
    ({**OK, "tags": {"k": 1}}, "$.tags.k", "Tag value of 'k' must be a string"),
    ({**OK, "tags": {"k": "two words"}}, "$.tags.k", "got 'two words'"),
    ({**OK, "tags": {"k": "v" * 257}}, "$.tags.k", "Tag value of 'k' must be a string of 1 to 256"),
    ({**OK, "tags": {"a b": "v"}}, "$.tags['a b']", "Tag key 'a b' must be 1 to 128"),
    ({**OK, "tags": {"k" * 129: "v"}}, f"$.tags.{'k' * 129}", "must be 1 to 128"),
    ({**OK, "schedule": "tomorrow"}, "$.schedule", "schedule must be an object"),
    (
        {**OK, "schedule": {}},
        "$.schedule.sendAt",
        "schedule.sendAt must be a list holding one RFC 3339 date-time, got null",
    ),
    ({**OK, "schedule": {"sendAt": []}}, "$.schedule.sendAt", "got an empty list"),
    ({**OK, "schedule": {"sendAt": "2030-01-01T09:00:00Z"}}, "$.schedule.sendAt", "got a string"),
    (
        {**OK, "schedule": {"sendAt": ["2030-01-01T09:00:00"]}},
        "$.schedule.sendAt[0]",
        "must be an RFC 3339 date-time",
    ),
    ({**OK, "schedule": {"sendAt": ["2030-01-01"]}}, "$.schedule.sendAt[0]", "got '2030-01-01'"),
    ({**OK, "schedule": {"send_at": ["x"]}}, "$.schedule.send_at", "Unknown field schedule.send_at"),
    ({**OK, "scheduled": {}}, "$.scheduled", "Unknown field 'scheduled'"),
]
