"""Validation of ``POST /v1/PushNotifications`` bodies, with messages that say what to fix."""

from __future__ import annotations

from typing import Any

from airflow_provider_twilio_push.emulator.state import MAX_RECIPIENTS, PROVIDERS
from airflow_provider_twilio_push.emulator.wire import ApiError, describe, parse_datetime

SEND_FIELDS = ("to", "content", "from", "priority", "sound", "schedule", "tags")
PRIORITIES = ("HIGH", "LOW")
MAX_TAGS = 10


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def validate_send(body: Any) -> tuple[list[tuple[str, str]], float | None]:
    """The ``(token, provider)`` recipients and the ``schedule.sendAt`` time (epoch) of a send."""
    if not isinstance(body, dict):
        raise _bad(f"The request body must be a JSON object, got {describe(body)}")
    for key in body:
        if key not in SEND_FIELDS:
            raise _bad(f"Unknown field {key!r}: the fields of a send are {', '.join(SEND_FIELDS)}")
    recipients = _recipients(body)
    _content(body)
    if "from" in body and not isinstance(body["from"], str | dict):
        raise _bad(f"'from' must be a string or an object, got {describe(body['from'])}")
    if "priority" in body and body["priority"] not in PRIORITIES:
        raise _bad(f"'priority' must be one of {', '.join(PRIORITIES)}, got {body['priority']!r}")
    if "sound" in body and not isinstance(body["sound"], str):
        raise _bad(f"'sound' must be a string, got {describe(body['sound'])}")
    _tags(body)
    return recipients, _send_at(body)


def _recipients(body: dict[str, Any]) -> list[tuple[str, str]]:
    if "to" not in body:
        raise _bad(f"Missing required field 'to': a list of 1 to {MAX_RECIPIENTS:,} recipients")
    to = body["to"]
    if not isinstance(to, list):
        raise _bad(f"'to' must be a list of recipients, got {describe(to)}")
    if not to:
        raise _bad("'to' must contain at least 1 recipient")
    if len(to) > MAX_RECIPIENTS:
        raise _bad(f"'to' has {len(to):,} recipients; at most {MAX_RECIPIENTS:,} are allowed")
    recipients = []
    for i, item in enumerate(to):
        if not isinstance(item, dict):
            raise _bad(f"to[{i}] must be an object with 'token' and 'provider', got {describe(item)}")
        token = item.get("token")
        if not isinstance(token, str) or not token:
            got = "an empty string" if token == "" else describe(token)
            raise _bad(f"to[{i}].token must be a non-empty string, got {got}")
        provider = item.get("provider")
        if provider not in PROVIDERS:
            raise _bad(f"to[{i}].provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
        recipients.append((token, str(provider)))
    return recipients


def _content(body: dict[str, Any]) -> None:
    if "content" not in body:
        raise _bad("Missing required field 'content': an object with a 'title' or a 'body'")
    content = body["content"]
    if not isinstance(content, dict):
        raise _bad(f"'content' must be an object, got {describe(content)}")
    for key in ("title", "body"):
        if key in content and not isinstance(content[key], str):
            raise _bad(f"content.{key} must be a string, got {describe(content[key])}")
    if not content.get("title") and not content.get("body"):
        raise _bad("'content' must have a non-empty 'title' or 'body'")


def _tags(body: dict[str, Any]) -> None:
    if "tags" not in body:
        return
    tags = body["tags"]
    if not isinstance(tags, dict):
        raise _bad(f"'tags' must be an object of string keys and values, got {describe(tags)}")
    if len(tags) > MAX_TAGS:
        raise _bad(f"'tags' has {len(tags)} entries; at most {MAX_TAGS} are allowed")
    for key, value in tags.items():
        if not key or not isinstance(value, str):
            raise _bad(f"tags[{key!r}] must be a non-empty key with a string value, got {describe(value)}")


def _send_at(body: dict[str, Any]) -> float | None:
    if "schedule" not in body:
        return None
    schedule = body["schedule"]
    if not isinstance(schedule, dict):
        raise _bad(f"'schedule' must be an object with 'sendAt', got {describe(schedule)}")
    for key in schedule:
        if key != "sendAt":
            raise _bad(f"Unknown field schedule.{key}: a schedule has only 'sendAt'")
    send_at = schedule.get("sendAt")
    when = parse_datetime(send_at, require_tz=True) if isinstance(send_at, str) and "T" in send_at else None
    if when is None:
        raise _bad(
            "schedule.sendAt must be an ISO 8601 date-time with a time zone, such as "
            f"2024-01-15T09:30:00Z, got {send_at!r}"
        )
    return when
