"""Send bodies of every documented shape, and bad ones with the field each gets wrong.

Shared by the emulator's tests, the contract tests and the client's tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
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
        {"to": [RECIPIENT] * 10_001, "content": CONTENT},
        "$.to",
        "to has 10,001 recipients; a send accepts at most 10,000",
    ),
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


# ---------------------------------------------------------------------------------------------
# What the client (core.request.send_request) builds, and what it refuses before any request

#: The time the client's cases are built at (``send_request(now=...)``): schedules are relative to it.
NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
DEVICE = {"token": "device-1", "provider": "FCM"}
BODY = {"body": "Hi"}

#: (id, keyword arguments of send_request, the body it builds)
CLIENT_SENDS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("minimal", {"to": [DEVICE], "content": BODY}, {"to": [DEVICE], "content": BODY}),
    (
        "provider-any-case",
        {"to": ({"token": "a", "provider": "fcm"}, {"token": "b", "provider": " Apn"}), "content": BODY},
        {"to": [{"token": "a", "provider": "FCM"}, {"token": "b", "provider": "APN"}], "content": BODY},
    ),
    (
        "users-and-variables",
        {
            "to": [{"userId": USER, "variables": {"item": "Laptop"}}, {**DEVICE, "variables": {}}],
            "content": BODY,
        },
        {
            "to": [{"userId": USER, "variables": {"item": "Laptop"}}, {**DEVICE, "variables": {}}],
            "content": BODY,
        },
    ),
    (
        "the-most-recipients-a-send-accepts",
        {"to": [DEVICE] * 10_000, "content": BODY},
        {"to": [DEVICE] * 10_000, "content": BODY},
    ),
    (
        "content-title-and-passthrough",
        {
            "to": [DEVICE],
            "content": {
                "title": "Sale",
                "body": "Hey {{name}}",
                "providerPassthrough": {
                    "fcm": {"message": {"data": {"k": "v"}}},
                    "apn": {"aps": {"badge": 1}},
                },
            },
        },
        {
            "to": [DEVICE],
            "content": {
                "body": "Hey {{name}}",
                "title": "Sale",
                "providerPassthrough": {
                    "fcm": {"message": {"data": {"k": "v"}}},
                    "apn": {"aps": {"badge": 1}},
                },
            },
        },
    ),
    (
        "from-an-app-name",
        {"to": [DEVICE], "content": BODY, "from_": "my_app"},
        {"to": [DEVICE], "content": BODY, "from": {"appName": "my_app"}},
    ),
    (
        "from-an-app-dict",
        {"to": [DEVICE], "content": BODY, "from_": {"appName": "a" * 64}},
        {"to": [DEVICE], "content": BODY, "from": {"appName": "a" * 64}},
    ),
    (
        "from-credentials",
        {"to": [DEVICE], "content": BODY, "from_": {"fcm": FCM_CREDENTIAL, "apn": APN_CREDENTIAL}},
        {"to": [DEVICE], "content": BODY, "from": {"fcm": FCM_CREDENTIAL, "apn": APN_CREDENTIAL}},
    ),
    (
        "priority-and-sound",
        {"to": [DEVICE], "content": BODY, "priority": "low", "sound": "ring"},
        {"to": [DEVICE], "content": BODY, "priority": "LOW", "sound": "ring"},
    ),
    (
        "schedule-aware-datetime",
        {
            "to": [DEVICE],
            "content": BODY,
            "schedule": datetime(2025, 1, 2, 10, 30, tzinfo=timezone(timedelta(hours=1))),
        },
        {"to": [DEVICE], "content": BODY, "schedule": {"sendAt": ["2025-01-02T09:30:00Z"]}},
    ),
    (
        "schedule-iso-string-30-days-ahead",
        {"to": [DEVICE], "content": BODY, "schedule": "2025-01-31T12:00:00Z"},
        {"to": [DEVICE], "content": BODY, "schedule": {"sendAt": ["2025-01-31T12:00:00Z"]}},
    ),
    (
        "schedule-in-the-past",
        {"to": [DEVICE], "content": BODY, "schedule": "2024-12-31T00:00:00+00:00"},
        {"to": [DEVICE], "content": BODY, "schedule": {"sendAt": ["2024-12-31T00:00:00Z"]}},
    ),
    (
        "schedule-the-contracts-form",
        {"to": [DEVICE], "content": BODY, "schedule": {"sendAt": ["2025-01-05T08:00:00+02:00"]}},
        {"to": [DEVICE], "content": BODY, "schedule": {"sendAt": ["2025-01-05T06:00:00Z"]}},
    ),
    (
        "schedule-send-at-a-string",
        {"to": [DEVICE], "content": BODY, "schedule": {"sendAt": "2025-01-05T06:00:00Z"}},
        {"to": [DEVICE], "content": BODY, "schedule": {"sendAt": ["2025-01-05T06:00:00Z"]}},
    ),
    (
        "tags-at-their-limits",
        {
            "to": [DEVICE],
            "content": BODY,
            "tags": {f"{i}".rjust(128, "k"): "v~._-" * 51 + "x" for i in range(10)},
        },
        {
            "to": [DEVICE],
            "content": BODY,
            "tags": {f"{i}".rjust(128, "k"): "v~._-" * 51 + "x" for i in range(10)},
        },
    ),
]

_NO_TZ = (
    "it has no timezone. Pass a timezone-aware datetime (e.g. pendulum.datetime(..., tz='UTC')) or an "
    "ISO string with an offset ('...Z')."
)
_RECIPIENT_EXPECTED = "expected a recipient dict such as {'token': '...', 'provider': 'FCM'} or {'userId': 'comms_pushnotificationuser_...'}"
_TO_EXPECTED = (
    "Invalid to: expected a list of recipients such as [{'token': '...', 'provider': 'FCM'}] or "
    "[{'userId': 'comms_pushnotificationuser_...'}]"
)
_FROM_EXPECTED = (
    "expected an App name such as 'my_app' (or {'appName': 'my_app'}), or credential ids "
    "{'fcm': 'comms_credential_...', 'apn': 'comms_credential_...'}."
)
_TAG_CHARS = "a-z, A-Z, 0-9, '.', '_', '~' and '-'."
_LONG_KEY = "k" * 129

#: (id, keyword arguments of send_request, the message of the TwilioPushInvalidInputError it raises)
CLIENT_BAD_SENDS: list[tuple[str, dict[str, Any], str]] = [
    ("to-empty", {"to": [], "content": BODY}, "Invalid to: the list of recipients is empty."),
    ("to-a-string", {"to": "device-1", "content": BODY}, f"{_TO_EXPECTED}, got str."),
    ("to-a-dict", {"to": DEVICE, "content": BODY}, f"{_TO_EXPECTED}, got dict."),
    ("to-none", {"to": None, "content": BODY}, f"{_TO_EXPECTED}, got NoneType."),
    (
        "recipient-a-string",
        {"to": ["device-1"], "content": BODY},
        f"Invalid to[0]: {_RECIPIENT_EXPECTED}, got str.",
    ),
    (
        "recipient-empty-dict",
        {"to": [DEVICE, {}], "content": BODY},
        f"Invalid to[1]: {_RECIPIENT_EXPECTED}, got dict.",
    ),
    (
        "recipient-unknown-key",
        {"to": [{**DEVICE, "varaibles": {}}], "content": BODY},
        "Invalid to[0]: unknown key 'varaibles'; a recipient has token and provider, or userId, and optional variables.",
    ),
    (
        "token-empty",
        {"to": [{"token": "", "provider": "FCM"}], "content": BODY},
        "Invalid to[0]: token must be a non-empty string.",
    ),
    (
        "token-blank",
        {"to": [DEVICE, {"token": "  ", "provider": "APN"}], "content": BODY},
        "Invalid to[1]: token must be a non-empty string.",
    ),
    (
        "token-not-a-string",
        {"to": [{"token": 123, "provider": "FCM"}], "content": BODY},
        "Invalid to[0]: token must be a non-empty string.",
    ),
    (
        "provider-missing",
        {"to": [{"token": "t"}], "content": BODY},
        "Invalid to[0]: provider is missing; expected 'FCM' or 'APN' with every token.",
    ),
    (
        "provider-unknown",
        {"to": [{"token": "t", "provider": "GCM"}], "content": BODY},
        "Invalid to[0].provider 'GCM': expected one of FCM, APN.",
    ),
    (
        "user-id-malformed",
        {"to": [{"userId": "user-42"}], "content": BODY},
        "Invalid to[0].userId 'user-42': expected a user id like 'comms_pushnotificationuser_01h9krwprkeee8fzqspvwy6nq8'.",
    ),
    (
        "user-and-token",
        {"to": [{"userId": USER, **DEVICE}], "content": BODY},
        "Invalid to[0]: a recipient is either a device (token and provider) or a user (userId), not both.",
    ),
    (
        "variables-not-strings",
        {"to": [{**DEVICE, "variables": {"count": 3}}], "content": BODY},
        "Invalid to[0].variables: expected a dict of strings (the values of the content's Liquid variables), got {'count': 3}.",
    ),
    (
        "content-missing",
        {"to": [DEVICE], "content": None},
        "Invalid content: expected a dict with a 'body' and an optional 'title', got NoneType.",
    ),
    (
        "content-a-string",
        {"to": [DEVICE], "content": "Hello"},
        "Invalid content: expected a dict with a 'body' and an optional 'title', got str.",
    ),
    (
        "content-title-only",
        {"to": [DEVICE], "content": {"title": "Hi"}},
        "Invalid content: 'body' is required, a non-empty string (the title is optional and defaults to the App's name).",
    ),
    (
        "content-body-blank",
        {"to": [DEVICE], "content": {"title": "Hi", "body": " "}},
        "Invalid content: 'body' is required, a non-empty string (the title is optional and defaults to the App's name).",
    ),
    (
        "content-title-empty",
        {"to": [DEVICE], "content": {"title": "", "body": "b"}},
        "Invalid content: 'title' must be a non-empty string, or left out (it defaults to the App's name), got ''.",
    ),
    (
        "content-unknown-key",
        {"to": [DEVICE], "content": {"body": "b", "data": {"k": "v"}}},
        "Invalid content: unknown key 'data'; expected body, title and providerPassthrough (provider-specific "
        "options go in providerPassthrough: {'fcm': {'message': {...}}, 'apn': {...}}).",
    ),
    (
        "passthrough-unknown-provider",
        {"to": [DEVICE], "content": {"body": "b", "providerPassthrough": {"gcm": {}}}},
        "Invalid content.providerPassthrough: expected a dict with 'apn' and/or 'fcm', got {'gcm': {}}.",
    ),
    (
        "passthrough-fcm-without-message",
        {"to": [DEVICE], "content": {"body": "b", "providerPassthrough": {"fcm": {"data": {}}}}},
        "Invalid content.providerPassthrough.fcm: expected a dict with a 'message' dict, got {'data': {}}.",
    ),
    (
        "from-empty",
        {"to": [DEVICE], "content": BODY, "from_": ""},
        "Invalid from_ {'appName': ''}: an App name is 1 to 64 of a-z, 0-9 and _ (pattern ^[a-z0-9_]+$), alone in from_.",
    ),
    (
        "from-not-an-app-name",
        {"to": [DEVICE], "content": BODY, "from_": "My App"},
        "Invalid from_ {'appName': 'My App'}: an App name is 1 to 64 of a-z, 0-9 and _ (pattern ^[a-z0-9_]+$), alone in from_.",
    ),
    ("from-a-number", {"to": [DEVICE], "content": BODY, "from_": 42}, f"Invalid from_ 42: {_FROM_EXPECTED}"),
    (
        "from-an-empty-dict",
        {"to": [DEVICE], "content": BODY, "from_": {}},
        f"Invalid from_ {{}}: {_FROM_EXPECTED}",
    ),
    (
        "from-app-and-credential",
        {"to": [DEVICE], "content": BODY, "from_": {"appName": "my_app", "fcm": FCM_CREDENTIAL}},
        f"Invalid from_ {{'appName': 'my_app', 'fcm': '{FCM_CREDENTIAL}'}}: an App name is 1 to 64 of a-z, 0-9 "
        "and _ (pattern ^[a-z0-9_]+$), alone in from_.",
    ),
    (
        "from-not-a-credential",
        {"to": [DEVICE], "content": BODY, "from_": {"fcm": "my-fcm-key"}},
        f"Invalid from_ {{'fcm': 'my-fcm-key'}}: {_FROM_EXPECTED}",
    ),
    (
        "priority-unknown",
        {"to": [DEVICE], "content": BODY, "priority": "URGENT"},
        "Invalid priority 'URGENT': expected one of HIGH, LOW.",
    ),
    (
        "priority-not-a-string",
        {"to": [DEVICE], "content": BODY, "priority": 1},
        "Invalid priority 1: expected one of HIGH, LOW.",
    ),
    (
        "sound-empty",
        {"to": [DEVICE], "content": BODY, "sound": ""},
        "Invalid sound '': expected the name of a sound (a non-empty string), or None.",
    ),
    (
        "tags-11",
        {"to": [DEVICE], "content": BODY, "tags": {f"key{i}": "v" for i in range(11)}},
        "Invalid tags: 11 tags; expected at most 10.",
    ),
    (
        "tag-value-not-a-string",
        {"to": [DEVICE], "content": BODY, "tags": {"attempt": 1}},
        f"Invalid value of tag 'attempt': 1; expected 1 to 256 of {_TAG_CHARS}",
    ),
    (
        "tag-value-with-a-space",
        {"to": [DEVICE], "content": BODY, "tags": {"campaign": "spring sale"}},
        f"Invalid value of tag 'campaign': 'spring sale'; expected 1 to 256 of {_TAG_CHARS}",
    ),
    (
        "tag-value-empty",
        {"to": [DEVICE], "content": BODY, "tags": {"cohort": ""}},
        f"Invalid value of tag 'cohort': ''; expected 1 to 256 of {_TAG_CHARS}",
    ),
    (
        "tag-value-too-long",
        {"to": [DEVICE], "content": BODY, "tags": {"note": "x" * 257}},
        f"Invalid value of tag 'note': {'x' * 257!r}; expected 1 to 256 of {_TAG_CHARS}",
    ),
    (
        "tag-key-too-long",
        {"to": [DEVICE], "content": BODY, "tags": {_LONG_KEY: "v"}},
        f"Invalid tag key {_LONG_KEY!r}: expected 1 to 128 of {_TAG_CHARS}",
    ),
    (
        "tag-key-empty",
        {"to": [DEVICE], "content": BODY, "tags": {"": "v"}},
        f"Invalid tag key '': expected 1 to 128 of {_TAG_CHARS}",
    ),
    (
        "tag-key-with-a-colon",
        {"to": [DEVICE], "content": BODY, "tags": {"a:b": "v"}},
        f"Invalid tag key 'a:b': expected 1 to 128 of {_TAG_CHARS}",
    ),
    (
        "tag-key-not-a-string",
        {"to": [DEVICE], "content": BODY, "tags": {1: "v"}},
        f"Invalid tag key 1: expected 1 to 128 of {_TAG_CHARS}",
    ),
    (
        "tags-a-string",
        {"to": [DEVICE], "content": BODY, "tags": "campaign=spring"},
        "Invalid tags: expected a dict of strings, got str.",
    ),
    (
        "schedule-naive-datetime",
        {"to": [DEVICE], "content": BODY, "schedule": datetime(2025, 1, 2, 9, 0)},
        f"Invalid schedule '2025-01-02T09:00:00': {_NO_TZ}",
    ),
    (
        "schedule-naive-iso-string",
        {"to": [DEVICE], "content": BODY, "schedule": "2025-01-02T09:00:00"},
        f"Invalid schedule '2025-01-02T09:00:00': {_NO_TZ}",
    ),
    (
        "schedule-not-iso",
        {"to": [DEVICE], "content": BODY, "schedule": "next tuesday"},
        "Invalid schedule 'next tuesday': expected an ISO 8601 date-time such as '2024-01-15T09:30:00Z'.",
    ),
    (
        "schedule-a-timestamp",
        {"to": [DEVICE], "content": BODY, "schedule": 1_735_800_000},
        "Invalid schedule 1735800000: expected a timezone-aware datetime or an ISO 8601 string.",
    ),
    (
        "schedule-more-than-30-days-ahead",
        {"to": [DEVICE], "content": BODY, "schedule": "2025-01-31T12:00:01Z"},
        "Invalid schedule 2025-01-31T12:00:01Z: it is more than 30 days ahead (now 2025-01-01T12:00:00Z); "
        "Twilio schedules at most 30 days in advance.",
    ),
    (
        "schedule-two-expressions",
        {
            "to": [DEVICE],
            "content": BODY,
            "schedule": {"sendAt": ["2025-01-02T09:00:00Z", "2025-01-03T09:00:00Z"]},
        },
        "Invalid schedule: sendAt holds 2 expressions; expected one (Twilio uses only the first).",
    ),
    (
        "schedule-another-key",
        {"to": [DEVICE], "content": BODY, "schedule": {"send_at": "2025-01-02T09:00:00Z"}},
        "Invalid schedule {'send_at': '2025-01-02T09:00:00Z'}: expected a datetime, an ISO 8601 string or "
        "{'sendAt': ['2025-11-11T11:11:00Z']}.",
    ),
]

#: The client's own checks beyond the contract's schemas (docs/operators.md, "What a send takes", says why): these bad sends
#: would be valid JSON for the schema, so only the client refuses them.
CLIENT_STRICTER = {
    "to-empty": "a send to nobody is a bug upstream",
    "recipient-unknown-key": "a misspelt key would be ignored",
    "token-empty": "an empty token addresses no device",
    "token-blank": "an empty token addresses no device",
    "content-body-blank": "an empty notification is a bug upstream (e.g. a template rendered empty)",
    "content-title-empty": "an empty title would replace the App's name",
    "content-unknown-key": "a misspelt key would be ignored",
    "from-an-empty-dict": "from_ left out means the default App; an empty one is a bug upstream",
    "sound-empty": "an empty sound name is a bug upstream",
    "schedule-more-than-30-days-ahead": "the contract's 30 days are in its prose, not its schema",
    "schedule-two-expressions": "Twilio would use only the first: the others would be ignored silently",
    "from-app-and-credential": "the schema lets an App sender carry other keys; which one Twilio uses is unsaid",
}
