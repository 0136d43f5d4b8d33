"""Validation of ``POST /v1/PushNotifications`` bodies, as Twilio's contract states them.

Every problem found is reported, each with the JSON path of the errant field as its ``context``
(``$.to[3].provider``) and a message that says what to fix.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_twilio_push.emulator.ids import stable_hash
from airflow_provider_twilio_push.emulator.operation import PROVIDERS, SendDetails
from airflow_provider_twilio_push.emulator.recipients import APN, USER, Recipients
from airflow_provider_twilio_push.emulator.wire import ApiError, describe, parse_rfc3339

SEND_FIELDS = ("to", "content", "from", "priority", "sound", "schedule", "tags")
PRIORITIES = ("HIGH", "LOW")
PROVIDER_KEYS = ("apn", "fcm")
#: Twilio's API reference: "The `to` array accepts up to 10,000 recipients" (the OpenAPI document
#: states no maxItems; the stricter rule wins).
MAX_RECIPIENTS = 10_000
MAX_TAGS = 10
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_SCHEDULE_SECONDS = 30 * 24 * 3600
TAG_RE = re.compile(r"[a-zA-Z0-9._~-]+")
APP_NAME_RE = re.compile(r"[a-z0-9_]{1,64}")
USER_ID_RE = re.compile(r"comms_pushnotificationuser_[0-7][a-hjkmnpqrstv-z0-9]{25,34}")
CREDENTIAL_ID_RE = re.compile(r"comms_credential_[a-hjkmnpqrstv-z0-9]{26,34}")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def member(path: str, key: str) -> str:
    """The JSON path of ``key`` in the object at ``path``."""
    return f"{path}.{key}" if _NAME_RE.fullmatch(key) else f"{path}[{key!r}]"


class _Problems:
    def __init__(self) -> None:
        self.found: list[tuple[str | None, str]] = []

    def add(self, context: str, message: str) -> None:
        self.found.append((context, message))


def validate_send(body: Any, now: float) -> tuple[SendDetails, float | None]:
    """What a send asked for and its ``schedule.sendAt`` time (epoch); 400 naming every problem."""
    if not isinstance(body, dict):
        raise ApiError(400, f"The request body must be a JSON object, got {describe(body)}", context="$")
    problems = _Problems()
    for key in body:
        if key not in SEND_FIELDS:
            problems.add(
                member("$", key), f"Unknown field {key!r}: the fields of a send are {', '.join(SEND_FIELDS)}"
            )
    recipients = _recipients(body, problems)
    title, text = _content(body, problems)
    sender = _sender(body, problems)
    if "priority" in body and body["priority"] not in PRIORITIES:
        problems.add(
            "$.priority", f"priority must be one of {', '.join(PRIORITIES)}, got {body['priority']!r}"
        )
    sound = body.get("sound")
    if sound is not None and not isinstance(sound, str):
        problems.add("$.sound", f"sound must be a string or null, got {describe(sound)}")
    tags = _tags(body, problems)
    send_at = _send_at(body, now, problems)
    if problems.found:
        raise ApiError.invalid(problems.found)
    details = SendDetails(
        recipients=recipients,
        sender=sender,
        priority=body.get("priority", "HIGH"),
        sound=sound,
        tags=tags,
        title=title,
        body=text,
    )
    return details, send_at


def _recipients(body: dict[str, Any], problems: _Problems) -> Recipients:
    if "to" not in body:
        problems.add("$.to", "Missing required field 'to': a list of recipients")
        return Recipients([], b"")
    to = body["to"]
    if not isinstance(to, list):
        problems.add("$.to", f"to must be a list of recipients, got {describe(to)}")
        return Recipients([], b"")
    if not to:
        problems.add("$.to", "to must contain at least 1 recipient")
    elif len(to) > MAX_RECIPIENTS:
        problems.add(
            "$.to",
            f"to has {len(to):,} recipients; a send accepts at most {MAX_RECIPIENTS:,}: "
            "split the audience into sends of 10,000 or fewer",
        )
    addresses: list[str] = []
    flags = bytearray()
    for i, item in enumerate(to):
        path = f"$.to[{i}]"
        if not isinstance(item, dict):
            problems.add(
                path, f"to[{i}] must be an object: {{token, provider}} or {{userId}}, got {describe(item)}"
            )
            continue
        _variables(item, path, problems)
        if "userId" in item:
            recipient = _user_recipient(item, i, path, problems)
        else:
            recipient = _token_recipient(item, i, path, problems)
        if recipient is not None:
            addresses.append(recipient[0])
            flags.append(recipient[1])
    return Recipients(addresses, flags)


def _user_recipient(item: dict[str, Any], i: int, path: str, problems: _Problems) -> tuple[str, int] | None:
    """The user id and its flags (the emulator picks the provider of the user's device)."""
    if "token" in item or "provider" in item:
        problems.add(path, f"to[{i}] must be either {{token, provider}} or {{userId}}, not both")
        return None
    user_id = item["userId"]
    if not isinstance(user_id, str) or not USER_ID_RE.match(user_id):
        problems.add(
            f"{path}.userId",
            f"to[{i}].userId must be a user id like 'comms_pushnotificationuser_01h9krwprkeee8fzqspvwy6nq8', "
            f"got {user_id!r}",
        )
        return None
    return user_id, USER | (APN if stable_hash("user", user_id) & 1 else 0)


def _token_recipient(item: dict[str, Any], i: int, path: str, problems: _Problems) -> tuple[str, int] | None:
    """The token and its flags."""
    token = item.get("token")
    provider = item.get("provider")
    ok = True
    if not isinstance(token, str) or not token:
        got = "an empty string" if token == "" else describe(token)
        problems.add(f"{path}.token", f"to[{i}].token must be a non-empty string, got {got}")
        ok = False
    if provider not in PROVIDERS:
        problems.add(
            f"{path}.provider", f"to[{i}].provider must be one of {', '.join(PROVIDERS)}, got {provider!r}"
        )
        ok = False
    return (str(token), APN if provider == "APN" else 0) if ok else None


def _variables(item: dict[str, Any], path: str, problems: _Problems) -> None:
    if "variables" not in item:
        return
    variables = item["variables"]
    if not isinstance(variables, dict):
        problems.add(
            f"{path}.variables", f"variables must be an object of strings, got {describe(variables)}"
        )
        return
    for key, value in variables.items():
        if not isinstance(value, str):
            problems.add(
                member(f"{path}.variables", key), f"variables values must be strings, got {describe(value)}"
            )


def _content(body: dict[str, Any], problems: _Problems) -> tuple[str | None, str]:
    if "content" not in body:
        problems.add("$.content", "Missing required field 'content': an object with a 'body'")
        return None, ""
    content = body["content"]
    if not isinstance(content, dict):
        problems.add("$.content", f"content must be an object with a 'body', got {describe(content)}")
        return None, ""
    text = content.get("body")
    if "body" not in content:
        problems.add("$.content.body", "Missing required field content.body: the text of the notification")
    elif not isinstance(text, str):
        problems.add("$.content.body", f"content.body must be a string, got {describe(text)}")
    title = content.get("title")
    if "title" in content and not isinstance(title, str):
        problems.add("$.content.title", f"content.title must be a string, got {describe(title)}")
    if "providerPassthrough" in content:
        _passthrough(content["providerPassthrough"], problems)
    return (title if isinstance(title, str) else None), (text if isinstance(text, str) else "")


def _passthrough(passthrough: Any, problems: _Problems) -> None:
    path = "$.content.providerPassthrough"
    if not isinstance(passthrough, dict):
        problems.add(path, f"content.providerPassthrough must be an object, got {describe(passthrough)}")
        return
    for key, value in passthrough.items():
        if key not in PROVIDER_KEYS:
            problems.add(
                member(path, key), f"Unknown provider {key!r} in providerPassthrough: expected apn or fcm"
            )
        elif not isinstance(value, dict):
            problems.add(
                member(path, key), f"providerPassthrough.{key} must be an object, got {describe(value)}"
            )
    apn = passthrough.get("apn")
    if isinstance(apn, dict) and "aps" in apn and not isinstance(apn["aps"], dict):
        problems.add(
            f"{path}.apn.aps", f"providerPassthrough.apn.aps must be an object, got {describe(apn['aps'])}"
        )
    fcm = passthrough.get("fcm")
    if isinstance(fcm, dict) and not isinstance(fcm.get("message"), dict):
        problems.add(
            f"{path}.fcm.message",
            f"providerPassthrough.fcm.message must be an object, got {describe(fcm.get('message'))}",
        )


def _sender(body: dict[str, Any], problems: _Problems) -> dict[str, str]:
    """The ``from`` object: ``{"appName": ...}`` or ``{"fcm": ..., "apn": ...}`` credential ids."""
    if "from" not in body:
        return {}
    sender = body["from"]
    expected = "an object: {appName} or {fcm, apn} credential ids"
    if not isinstance(sender, dict):
        problems.add("$.from", f"from must be {expected}, got {describe(sender)}")
        return {}
    if "appName" in sender:
        name = sender["appName"]
        if not isinstance(name, str) or not APP_NAME_RE.fullmatch(name):
            problems.add(
                "$.from.appName",
                f"from.appName must be 1 to 64 of a-z, 0-9 and _ (pattern ^[a-z0-9_]+$), got {name!r}",
            )
        return {"appName": str(name)}
    for key, value in sender.items():
        if key not in PROVIDER_KEYS:
            problems.add(member("$.from", key), f"Unknown field from.{key}: from is {expected}")
        elif not isinstance(value, str) or not CREDENTIAL_ID_RE.match(value):
            problems.add(
                f"$.from.{key}",
                f"from.{key} must be a credential id like 'comms_credential_01h9krwprkeee8fzqspvwy6nq8', got {value!r}",
            )
    return {key: value for key, value in sender.items() if key in PROVIDER_KEYS and isinstance(value, str)}


def _tags(body: dict[str, Any], problems: _Problems) -> dict[str, str]:
    if "tags" not in body:
        return {}
    tags = body["tags"]
    if not isinstance(tags, dict):
        problems.add("$.tags", f"tags must be an object of string keys and values, got {describe(tags)}")
        return {}
    if len(tags) > MAX_TAGS:
        problems.add("$.tags", f"tags has {len(tags)} entries; at most {MAX_TAGS} are allowed")
    for key, value in tags.items():
        path = member("$.tags", key)
        if not TAG_RE.fullmatch(key) or len(key) > MAX_TAG_KEY:
            problems.add(
                path, f"Tag key {key!r} must be 1 to {MAX_TAG_KEY} of a-z, A-Z, 0-9, '.', '_', '~' and '-'"
            )
        if not isinstance(value, str) or not TAG_RE.fullmatch(value) or len(value) > MAX_TAG_VALUE:
            problems.add(
                path,
                f"Tag value of {key!r} must be a string of 1 to {MAX_TAG_VALUE} of a-z, A-Z, 0-9, '.', '_', "
                f"'~' and '-', got {value!r}",
            )
    return {key: value for key, value in tags.items() if isinstance(value, str)}


def _send_at(body: dict[str, Any], now: float, problems: _Problems) -> float | None:
    if "schedule" not in body:
        return None
    schedule = body["schedule"]
    expected = 'an object {"sendAt": ["2025-11-11T11:11:00Z"]}'
    if not isinstance(schedule, dict):
        problems.add("$.schedule", f"schedule must be {expected}, got {describe(schedule)}")
        return None
    for key in schedule:
        if key != "sendAt":
            problems.add(
                member("$.schedule", key), f"Unknown field schedule.{key}: a schedule has only 'sendAt'"
            )
    send_at = schedule.get("sendAt")
    if not isinstance(send_at, list) or not send_at:
        got = "an empty list" if send_at == [] else describe(send_at)
        problems.add(
            "$.schedule.sendAt", f"schedule.sendAt must be a list holding one RFC 3339 date-time, got {got}"
        )
        return None
    times = []
    for i, expression in enumerate(send_at):
        when = parse_rfc3339(expression) if isinstance(expression, str) else None
        if when is None:
            problems.add(
                f"$.schedule.sendAt[{i}]",
                f"schedule.sendAt[{i}] must be an RFC 3339 date-time such as 2025-11-11T11:11:00Z, got {expression!r}",
            )
        times.append(when)
    first = times[0]
    if first is not None and first - now > MAX_SCHEDULE_SECONDS:
        problems.add("$.schedule.sendAt[0]", f"schedule.sendAt[0] {send_at[0]} is more than 30 days ahead")
    return first
