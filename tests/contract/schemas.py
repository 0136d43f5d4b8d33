"""JSON Schemas (draft 2020-12) of the push part of Twilio's Comms API v1, written for our tests.

Source: Twilio's OpenAPI 3.1 document of the Comms API v1 (server ``https://comms.twilio.com/v1``;
the project keeps a reference copy as ``shared/reference/twilio_comms_v1.json``). Each schema
below names the path or component it was written from. They restate the contract's facts (types,
required keys, enums, patterns, lengths, the formats its descriptions state); they are not a
copy of it. Where a fact is only in a description, the comment says so.

``validate(name, instance)`` returns the list of violations (empty when ``instance`` conforms).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker

_ID_TAIL = "[0-7][a-hjkmnpqrstv-z0-9]{25,34}"
# The contract's id patterns are anchored at the start only.
_TAG_CHARS = "^[a-zA-Z0-9._~-]+$"
_STATS = ("total", "recipients", "unaddressable", "scheduled", "queued", "sent", "failed", "canceled")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


DEFS: dict[str, dict[str, Any]] = {
    # components.schemas.OperationId
    "OperationId": {"type": "string", "pattern": f"^comms_operation_{_ID_TAIL}"},
    # components.schemas.PushNotificationId
    "PushNotificationId": {"type": "string", "pattern": f"^comms_pushnotification_{_ID_TAIL}"},
    # components.schemas.PushNotificationUserId
    "UserId": {"type": "string", "pattern": f"^comms_pushnotificationuser_{_ID_TAIL}"},
    # components.schemas.CredentialId
    "CredentialId": {"type": "string", "pattern": "^comms_credential_[a-hjkmnpqrstv-z0-9]{26,34}"},
    # components.schemas.PushNotificationProvider
    "Provider": {"type": "string", "enum": ["APN", "FCM"]},
    # components.schemas.PushNotificationPriority
    "Priority": {"type": "string", "enum": ["HIGH", "LOW"]},
    # components.schemas.CommunicationOperationStatus
    "OperationStatus": {"type": "string", "enum": ["SCHEDULED", "PROCESSING", "COMPLETED", "CANCELED"]},
    # components.schemas.PushNotificationStatus
    "NotificationStatus": {"type": "string", "enum": ["SCHEDULED", "QUEUED", "SENT", "FAILED", "CANCELED"]},
    "Sound": {"type": ["string", "null"]},
    "DateTime": {"type": "string", "format": "date-time"},
    # components.schemas.ContentPersonalization
    "Variables": {"type": "object", "additionalProperties": {"type": "string"}},
    # components.schemas.Tags (the lengths and the count are in the schema, not only its prose)
    "Tags": {
        "type": "object",
        "maxProperties": 10,
        "propertyNames": {"type": "string", "maxLength": 128, "pattern": _TAG_CHARS},
        "additionalProperties": {"type": "string", "maxLength": 256, "pattern": _TAG_CHARS},
    },
    # components.schemas.Schedule; sendAt items: RFC 3339 date-times (its description)
    "Schedule": {
        "type": "object",
        "properties": {"sendAt": {"type": "array", "items": {"type": "string", "format": "date-time"}}},
        "minProperties": 1,
        "additionalProperties": False,
    },
    # components.schemas.PushNotificationCredentialSender
    "CredentialSender": {
        "type": "object",
        "properties": {"fcm": _ref("CredentialId"), "apn": _ref("CredentialId")},
        "additionalProperties": False,
    },
    # components.schemas.PushNotificationAppSender / PushNotificationAppName
    "AppSender": {
        "type": "object",
        "properties": {
            "appName": {"type": "string", "pattern": "^[a-z0-9_]+$", "minLength": 1, "maxLength": 64}
        },
        "required": ["appName"],
    },
    # components.schemas.SendPushNotificationDirectRecipient
    "DirectRecipient": {
        "type": "object",
        "properties": {
            "token": {"type": "string"},
            "provider": _ref("Provider"),
            "variables": _ref("Variables"),
        },
        "required": ["token", "provider"],
    },
    # components.schemas.SendPushNotificationsUserRecipient
    "UserRecipient": {
        "type": "object",
        "properties": {"userId": _ref("UserId"), "variables": _ref("Variables")},
        "required": ["userId"],
    },
    # components.schemas.PushNotificationContentPassthrough (and its Apn / Fcm parts)
    "Passthrough": {
        "type": "object",
        "properties": {
            "apn": {"type": "object", "properties": {"aps": {"type": "object"}}},
            "fcm": {"type": "object", "properties": {"message": {"type": "object"}}, "required": ["message"]},
        },
        "additionalProperties": False,
    },
    # components.schemas.PushNotificationContentBody
    "Content": {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "body": {"type": "string"},
            "providerPassthrough": _ref("Passthrough"),
        },
        "required": ["body"],
    },
    # components.schemas.PaginationMetadata
    "Pagination": {
        "type": "object",
        "properties": {"next": {"type": ["string", "null"]}, "self": {"type": "string"}},
        "required": ["next", "self"],
    },
    # components.schemas.PushNotificationOperationStats
    "OperationStats": {
        "type": "object",
        "properties": {key: {"type": "integer", "minimum": 0} for key in _STATS},
        "required": list(_STATS),
    },
    # components.schemas.PushNotificationOperation
    "Operation": {
        "type": "object",
        "properties": {
            "id": _ref("OperationId"),
            "status": _ref("OperationStatus"),
            "stats": _ref("OperationStats"),
            "createdAt": _ref("DateTime"),
            "updatedAt": _ref("DateTime"),
        },
        "required": ["id", "status", "stats", "createdAt", "updatedAt"],
    },
    # components.schemas.PushNotificationBase (PushNotificationMetadata is exactly it)
    "NotificationItem": {
        "type": "object",
        "properties": {
            "id": _ref("PushNotificationId"),
            "from": _ref("CredentialSender"),
            "to": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {"token": {"type": "string"}, "provider": _ref("Provider")},
                        "required": ["token", "provider"],
                    },
                    {"properties": {"userId": _ref("UserId")}, "required": ["userId"]},
                ]
            },
            "priority": _ref("Priority"),
            "sound": _ref("Sound"),
            "status": _ref("NotificationStatus"),
            "createdAt": _ref("DateTime"),
            "updatedAt": _ref("DateTime"),
        },
        "required": ["id", "to", "from", "status", "createdAt", "updatedAt"],
    },
    # components.schemas.TwilioError
    "TwilioError": {
        "type": "object",
        "properties": {
            "code": {"type": "integer"},
            "message": {"type": "string"},
            "infoUrl": {"type": "string", "format": "uri"},
            "context": {"type": ["string", "null"]},
        },
        "required": ["code", "message", "infoUrl", "context"],
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    # components.schemas.TwilioErrors: the body of every documented 400, 404, 429, 500 and 503
    # ("a list of one or more" errors: its description).
    "TwilioErrors": {
        "type": "object",
        "properties": {"errors": {"type": "array", "minItems": 1, "items": _ref("TwilioError")}},
        "required": ["errors"],
    },
    # paths./PushNotifications.post.requestBody (SendPushNotificationsRequest)
    "SendRequest": {
        "type": "object",
        "properties": {
            "from": {"type": "object", "oneOf": [_ref("CredentialSender"), _ref("AppSender")]},
            "to": {"type": "array", "items": {"oneOf": [_ref("DirectRecipient"), _ref("UserRecipient")]}},
            "content": {"oneOf": [_ref("Content")]},
            "priority": _ref("Priority"),
            "sound": _ref("Sound"),
            "schedule": _ref("Schedule"),
            "tags": _ref("Tags"),
        },
        "required": ["to", "content"],
    },
    # paths./PushNotifications.post.responses.202 (Http202ResponseWithOperationBody)
    "SendAccepted": {
        "type": "object",
        "properties": {
            "operationId": _ref("OperationId"),
            "operationLocation": {"type": "string", "format": "uri"},
        },
        "required": ["operationId", "operationLocation"],
    },
    # paths./PushNotifications/Operations/{operationId}.get.responses.200
    "Operation": _ref("Operation"),
    # paths./PushNotifications/Operations.get.responses.200
    "OperationPage": {
        "type": "object",
        "properties": {
            "operations": {"type": "array", "items": _ref("Operation")},
            "pagination": _ref("Pagination"),
        },
        "required": ["operations", "pagination"],
    },
    # paths./PushNotifications.get.responses.200 items (PushNotificationMetadata)
    "PushNotificationItem": _ref("NotificationItem"),
    # paths./PushNotifications/{pushNotificationId}.get.responses.200 (PushNotification: the
    # metadata and the resolved content, whose body is required and title optional)
    "PushNotification": {
        "allOf": [
            _ref("NotificationItem"),
            {
                "type": "object",
                "properties": {
                    "content": {
                        "type": "object",
                        "properties": {"title": {"type": "string"}, "body": {"type": "string"}},
                        "required": ["body"],
                    }
                },
                "required": ["content"],
            },
        ]
    },
    # paths./PushNotifications.get.parameters, as query text (pageSize: an integer of 1 to 1000;
    # tags: components.schemas.TagsString)
    "PushNotificationsQuery": {
        "type": "object",
        "properties": {
            "operationId": _ref("OperationId"),
            "status": _ref("NotificationStatus"),
            "tags": {"type": "string", "pattern": "^(?:[a-zA-Z0-9._~-]+:[a-zA-Z0-9._~-]+;){1,10}$"},
            "startDate": _ref("DateTime"),
            "endDate": _ref("DateTime"),
            "user": _ref("UserId"),
            "provider": _ref("Provider"),
            "pageToken": {"type": "string"},
            "pageSize": {"type": "string", "pattern": "^([1-9][0-9]{0,2}|1000)$"},
        },
        "additionalProperties": False,
    },
    # paths./PushNotifications.get.responses.200 (ListPushNotificationsResponse)
    "PushNotificationPage": {
        "type": "object",
        "properties": {
            "pushNotifications": {"type": "array", "items": _ref("NotificationItem")},
            "pagination": _ref("Pagination"),
        },
        "required": ["pushNotifications", "pagination"],
    },
}

# RFC 3339 section 5.6 (date-time), with the lower-case letters it allows.
_RFC3339 = re.compile(
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_RFC3339.match(value))


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


_VALIDATORS = {
    name: Draft202012Validator({**schema, "$defs": DEFS}, format_checker=FORMATS)
    for name, schema in SCHEMAS.items()
}


def validate(name: str, instance: Any) -> list[str]:
    """What is wrong with ``instance`` as a ``name`` (see ``SCHEMAS``); empty when it conforms."""
    return [
        f"{error.json_path}: {error.message}"
        for error in sorted(_VALIDATORS[name].iter_errors(instance), key=lambda e: e.json_path)
    ]
