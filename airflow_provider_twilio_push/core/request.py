"""Every check of user input, and the API requests built from it: bad input fails here, before any
request, with what was wrong and what was expected."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pendulum

from airflow_provider_twilio_push.core.retries import RetryPolicy
from airflow_provider_twilio_push.exceptions import TwilioPushInvalidInputError
from airflow_provider_twilio_push.models import OperationStatus, PushNotificationStatus

PUSH_NOTIFICATIONS_PATH = "/v1/PushNotifications"
OPERATIONS_PATH = "/v1/PushNotifications/Operations"
# The contract's OperationId pattern has no '$': an id may go on. What follows is held to the
# characters a URL path carries as they are (RFC 3986's unreserved), so that any id Twilio may
# return (a 202's, a listing's) can be read back, and a '/', '?' or newline is still refused.
OPERATION_ID_PATTERN = r"^comms_operation_[0-7][a-hjkmnpqrstv-z0-9]{25,34}[A-Za-z0-9._~-]*$"
OPERATION_ID_RE = re.compile(OPERATION_ID_PATTERN)
MAX_PAGE_SIZE = 1000
# What Twilio constrains in a send. The contract (OpenAPI 3.1, Comms v1) states no maximum number
# of recipients; Twilio's API reference does ("The `to` array accepts up to 10,000 recipients"),
# and the stricter of the two is followed.
MAX_RECIPIENTS = 10_000
MAX_TAGS = 10
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
TAG_CHARACTERS = "a-z, A-Z, 0-9, '.', '_', '~' and '-'"
TAG_RE = re.compile(r"[a-zA-Z0-9._~-]+")
TAGS_QUERY_RE = re.compile(r"(?:[a-zA-Z0-9._~-]+:[a-zA-Z0-9._~-]+;){1,10}")
MAX_SCHEDULE_AHEAD = timedelta(days=30)
PRIORITIES = ("HIGH", "LOW")
PROVIDERS = ("FCM", "APN")
RECIPIENT_KEYS = frozenset({"token", "provider", "userId", "variables"})
CONTENT_KEYS = frozenset({"title", "body", "providerPassthrough"})
USER_ID_RE = re.compile(r"comms_pushnotificationuser_[0-7][a-hjkmnpqrstv-z0-9]{25,34}")
APP_NAME_RE = re.compile(r"[a-z0-9_]{1,64}")
CREDENTIAL_ID_RE = re.compile(r"comms_credential_[a-hjkmnpqrstv-z0-9]{26,34}")


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: Any = None
    retry_policy: RetryPolicy = RetryPolicy.IDEMPOTENT

    def describe(self) -> str:
        return f"{self.method} {self.path}"


# ---------------------------------------------------------------------------------------------
# Arguments of the hook's reads


def validate_operation_id(operation_id: object) -> str:
    # fullmatch: with match(), '$' also accepts a trailing newline, which httpx then refuses.
    if not isinstance(operation_id, str) or not OPERATION_ID_RE.fullmatch(operation_id):
        raise TwilioPushInvalidInputError(
            f"Invalid operation_id {operation_id!r}: expected an id like "
            f"'comms_operation_01h9krwprkeee8fzqspvwy6nq8' (pattern {OPERATION_ID_PATTERN})."
        )
    return operation_id


def validate_status(status: object) -> OperationStatus:
    if isinstance(status, OperationStatus):
        return status
    if isinstance(status, str):
        try:
            return OperationStatus(status.strip().upper())
        except ValueError:
            pass
    allowed = ", ".join(s.value for s in OperationStatus)
    raise TwilioPushInvalidInputError(f"Invalid status {status!r}: expected one of {allowed}.")


def validate_page_size(page_size: object) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise TwilioPushInvalidInputError(
            f"Invalid page_size {page_size!r}: expected an integer from 1 to {MAX_PAGE_SIZE}."
        )
    return page_size


def to_utc(value: object, name: str) -> datetime:
    """A timezone-aware datetime, pendulum DateTime or ISO 8601 string, as UTC.

    Naive datetimes are refused: a date without a timezone could mean any of 24 hours.
    """
    if isinstance(value, str):
        try:
            # tz=None: without it pendulum reads a string with no offset as UTC, silently.
            parsed = pendulum.parse(value, exact=True, tz=None)
        except (ValueError, pendulum.parsing.exceptions.ParserError):
            parsed = None
        if not isinstance(parsed, datetime):
            raise TwilioPushInvalidInputError(
                f"Invalid {name} {value!r}: expected an ISO 8601 date-time such as '2024-01-15T09:30:00Z'."
            )
        value = parsed
    if not isinstance(value, datetime):
        raise TwilioPushInvalidInputError(
            f"Invalid {name} {value!r}: expected a timezone-aware datetime or an ISO 8601 string."
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise TwilioPushInvalidInputError(
            f"Invalid {name} {value.isoformat()!r}: it has no timezone. "
            "Pass a timezone-aware datetime (e.g. pendulum.datetime(..., tz='UTC')) "
            "or an ISO string with an offset ('...Z')."
        )
    return pendulum.instance(value).in_timezone("UTC")


def validate_max_items(max_items: object, expected: str = "an integer >= 0") -> int:
    if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 0:
        raise TwilioPushInvalidInputError(f"Invalid max_items {max_items!r}: expected {expected}.")
    return max_items


def _wire_datetime(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _date_range(start_date: object, end_date: object) -> dict[str, str]:
    """The ``startDate`` / ``endDate`` query parameters of a list."""
    start = to_utc(start_date, "start_date") if start_date is not None else None
    end = to_utc(end_date, "end_date") if end_date is not None else None
    if start and end and start > end:
        raise TwilioPushInvalidInputError(
            f"start_date {_wire_datetime(start)} is after end_date {_wire_datetime(end)}: "
            "expected start_date <= end_date."
        )
    params = {}
    if start:
        params["startDate"] = _wire_datetime(start)
    if end:
        params["endDate"] = _wire_datetime(end)
    return params


def validate_page_token(page_token: object) -> str:
    if not isinstance(page_token, str) or not page_token:
        raise TwilioPushInvalidInputError(
            f"Invalid page_token {page_token!r}: expected the non-empty string "
            "a previous page returned as next_page_token."
        )
    return page_token


def get_operation_request(operation_id: object) -> ApiRequest:
    return ApiRequest("GET", f"{OPERATIONS_PATH}/{validate_operation_id(operation_id)}")


def list_operations_request(
    *,
    status: object = None,
    start_date: object = None,
    end_date: object = None,
    page_size: object = 50,
    page_token: object = None,
) -> ApiRequest:
    params = {"pageSize": str(validate_page_size(page_size))}
    if status is not None:
        params["status"] = validate_status(status).value
    params.update(_date_range(start_date, end_date))
    if page_token is not None:
        params["pageToken"] = validate_page_token(page_token)
    return ApiRequest("GET", OPERATIONS_PATH, params=params)


def operation_errors_request(operation_id: object, *, page_token: str | None = None) -> ApiRequest:
    params = {"pageSize": str(MAX_PAGE_SIZE)}
    if page_token:
        params["pageToken"] = page_token
    return ApiRequest("GET", f"{OPERATIONS_PATH}/{validate_operation_id(operation_id)}/Errors", params=params)


# ---------------------------------------------------------------------------------------------
# Sends: the body of POST /v1/PushNotifications as Twilio's contract states it


def send_request(
    to: object,
    content: object,
    *,
    from_: object = None,
    priority: object = None,
    sound: object = None,
    schedule: object = None,
    tags: object = None,
    now: datetime | None = None,
) -> ApiRequest:
    """``POST /v1/PushNotifications``, every argument checked first (``now``: for the schedule)."""
    body: dict[str, Any] = {"to": _recipients(to), "content": _content(content)}
    if from_ is not None:
        body["from"] = _sender(from_)
    if priority is not None:
        body["priority"] = _one_of(priority, "priority", PRIORITIES)
    if sound is not None:
        if not isinstance(sound, str) or not sound:
            raise TwilioPushInvalidInputError(
                f"Invalid sound {sound!r}: expected the name of a sound (a non-empty string), or None."
            )
        body["sound"] = sound
    if schedule is not None:
        body["schedule"] = _schedule(schedule, now or pendulum.now("UTC"))
    if tags is not None:
        body["tags"] = _tags(tags)
    return ApiRequest("POST", PUSH_NOTIFICATIONS_PATH, body=body, retry_policy=RetryPolicy.NEVER_PROCESSED)


def _one_of(value: object, name: str, allowed: tuple[str, ...]) -> str:
    """``value`` as one of ``allowed``, in any case."""
    if isinstance(value, str) and value.strip().upper() in allowed:
        return value.strip().upper()
    raise TwilioPushInvalidInputError(f"Invalid {name} {value!r}: expected one of {', '.join(allowed)}.")


def _recipients(to: object) -> list[dict[str, Any]]:
    if isinstance(to, str | bytes | Mapping) or not isinstance(to, list | tuple):
        raise TwilioPushInvalidInputError(
            f"Invalid to: expected a list of recipients such as [{{'token': '...', 'provider': 'FCM'}}] "
            f"or [{{'userId': 'comms_pushnotificationuser_...'}}], got {type(to).__name__}."
        )
    if not to:
        raise TwilioPushInvalidInputError("Invalid to: the list of recipients is empty.")
    if len(to) > MAX_RECIPIENTS:
        raise TwilioPushInvalidInputError(
            f"Invalid to: {len(to):,} recipients; Twilio accepts at most {MAX_RECIPIENTS:,} a send. "
            "Send a larger audience with TwilioPushCampaignOperator, which sends it in chunks of at "
            f"most {MAX_RECIPIENTS:,} (an operation each)."
        )
    return [
        item if is_sendable_recipient(item) else validate_recipient(item, f"to[{index}]")
        for index, item in enumerate(to)
    ]


def is_sendable_recipient(item: object) -> bool:
    """Whether ``item`` is a recipient exactly as it is sent (``{"token": "...", "provider": "FCM"}``
    or ``{"userId": "..."}``): the common case, checked in a fifth of the time of
    :func:`validate_recipient` (a campaign checks a million twice)."""
    if type(item) is not dict:
        return False
    if len(item) == 2:
        token = item.get("token")
        return (
            type(token) is str and item.get("provider") in PROVIDERS and not token.isspace() and token != ""
        )
    if len(item) == 1:
        user_id = item.get("userId")
        return type(user_id) is str and USER_ID_RE.fullmatch(user_id) is not None
    return False


def validate_recipient(item: object, where: str) -> dict[str, Any]:
    """One recipient as it is sent; ``where`` names it in the error (``to[3]``, a file's line)."""
    if not isinstance(item, Mapping) or not item:
        raise TwilioPushInvalidInputError(
            f"Invalid {where}: expected a recipient dict such as {{'token': '...', 'provider': 'FCM'}} "
            f"or {{'userId': 'comms_pushnotificationuser_...'}}, got {type(item).__name__}."
        )
    unknown = sorted(str(key) for key in item if key not in RECIPIENT_KEYS)
    if unknown:
        raise TwilioPushInvalidInputError(
            f"Invalid {where}: unknown key {unknown[0]!r}; a recipient has token and provider, "
            "or userId, and optional variables."
        )
    recipient: dict[str, Any]
    if "userId" in item:
        if "token" in item or "provider" in item:
            raise TwilioPushInvalidInputError(
                f"Invalid {where}: a recipient is either a device (token and provider) or a user "
                "(userId), not both."
            )
        recipient = {"userId": _user_id(item["userId"], f"{where}.userId")}
    else:
        token = item.get("token")
        if not isinstance(token, str) or not token.strip():
            raise TwilioPushInvalidInputError(f"Invalid {where}: token must be a non-empty string.")
        provider = item.get("provider")
        if provider is None:
            raise TwilioPushInvalidInputError(
                f"Invalid {where}: provider is missing; expected 'FCM' or 'APN' with every token."
            )
        recipient = {"token": token, "provider": _one_of(provider, f"{where}.provider", PROVIDERS)}
    if "variables" in item:
        recipient["variables"] = _variables(item["variables"], where)
    return recipient


def _user_id(value: object, name: str) -> str:
    if not isinstance(value, str) or not USER_ID_RE.fullmatch(value):
        raise TwilioPushInvalidInputError(
            f"Invalid {name} {value!r}: expected a user id like "
            "'comms_pushnotificationuser_01h9krwprkeee8fzqspvwy6nq8'."
        )
    return value


def _variables(variables: object, where: str) -> dict[str, str]:
    if not isinstance(variables, Mapping) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in variables.items()
    ):
        raise TwilioPushInvalidInputError(
            f"Invalid {where}.variables: expected a dict of strings (the values of the content's "
            f"Liquid variables), got {variables!r}."
        )
    return dict(variables)


def _content(content: object) -> dict[str, Any]:
    if not isinstance(content, Mapping):
        raise TwilioPushInvalidInputError(
            f"Invalid content: expected a dict with a 'body' and an optional 'title', got {type(content).__name__}."
        )
    unknown = sorted(str(key) for key in content if key not in CONTENT_KEYS)
    if unknown:
        raise TwilioPushInvalidInputError(
            f"Invalid content: unknown key {unknown[0]!r}; expected body, title and providerPassthrough "
            "(provider-specific options go in providerPassthrough: {'fcm': {'message': {...}}, 'apn': {...}})."
        )
    body = content.get("body")
    if not isinstance(body, str) or not body.strip():
        raise TwilioPushInvalidInputError(
            "Invalid content: 'body' is required, a non-empty string (the title is optional and "
            "defaults to the App's name)."
        )
    result: dict[str, Any] = {"body": body}
    if "title" in content:
        title = content["title"]
        if not isinstance(title, str) or not title.strip():
            raise TwilioPushInvalidInputError(
                f"Invalid content: 'title' must be a non-empty string, or left out (it defaults to the "
                f"App's name), got {title!r}."
            )
        result["title"] = title
    if "providerPassthrough" in content:
        result["providerPassthrough"] = _passthrough(content["providerPassthrough"])
    return result


def _passthrough(passthrough: object) -> dict[str, Any]:
    where = "content.providerPassthrough"
    if not isinstance(passthrough, Mapping) or not passthrough or set(passthrough) - {"apn", "fcm"}:
        raise TwilioPushInvalidInputError(
            f"Invalid {where}: expected a dict with 'apn' and/or 'fcm', got {passthrough!r}."
        )
    apn = passthrough.get("apn")
    if "apn" in passthrough and not (isinstance(apn, Mapping) and isinstance(apn.get("aps", {}), Mapping)):
        raise TwilioPushInvalidInputError(
            f"Invalid {where}.apn: expected a dict (its 'aps' a dict), got {apn!r}."
        )
    fcm = passthrough.get("fcm")
    if "fcm" in passthrough and not (isinstance(fcm, Mapping) and isinstance(fcm.get("message"), Mapping)):
        raise TwilioPushInvalidInputError(
            f"Invalid {where}.fcm: expected a dict with a 'message' dict, got {fcm!r}."
        )
    return dict(passthrough)


def _sender(from_: object) -> dict[str, str]:
    """``from``: an App (``"my_app"`` or ``{"appName": "my_app"}``) or credential ids per provider."""
    expected = (
        "expected an App name such as 'my_app' (or {'appName': 'my_app'}), or credential ids "
        "{'fcm': 'comms_credential_...', 'apn': 'comms_credential_...'}"
    )
    if isinstance(from_, str):
        from_ = {"appName": from_}
    if not isinstance(from_, Mapping) or not from_:
        raise TwilioPushInvalidInputError(f"Invalid from_ {from_!r}: {expected}.")
    if "appName" in from_:
        name = from_["appName"]
        if len(from_) > 1 or not isinstance(name, str) or not APP_NAME_RE.fullmatch(name):
            raise TwilioPushInvalidInputError(
                f"Invalid from_ {dict(from_)!r}: an App name is 1 to 64 of a-z, 0-9 and _ "
                "(pattern ^[a-z0-9_]+$), alone in from_."
            )
        return {"appName": name}
    for key, value in from_.items():
        if key not in ("fcm", "apn") or not isinstance(value, str) or not CREDENTIAL_ID_RE.fullmatch(value):
            raise TwilioPushInvalidInputError(f"Invalid from_ {dict(from_)!r}: {expected}.")
    return dict(from_)


def _schedule(schedule: object, now: datetime) -> dict[str, list[str]]:
    """``{"sendAt": [<RFC 3339>]}`` from a datetime, an ISO string or such a dict, at most 30 days ahead."""
    send_at = schedule
    if isinstance(schedule, Mapping):
        if set(schedule) != {"sendAt"}:
            raise TwilioPushInvalidInputError(
                f"Invalid schedule {dict(schedule)!r}: expected a datetime, an ISO 8601 string or "
                "{'sendAt': ['2025-11-11T11:11:00Z']}."
            )
        send_at = schedule["sendAt"]
        if isinstance(send_at, list | tuple):
            if len(send_at) != 1:
                raise TwilioPushInvalidInputError(
                    f"Invalid schedule: sendAt holds {len(send_at)} expressions; expected one "
                    "(Twilio uses only the first)."
                )
            send_at = send_at[0]
    when = to_utc(send_at, "schedule")
    if when - now > MAX_SCHEDULE_AHEAD:
        raise TwilioPushInvalidInputError(
            f"Invalid schedule {_wire_datetime(when)}: it is more than 30 days ahead (now "
            f"{_wire_datetime(now)}); Twilio schedules at most 30 days in advance."
        )
    return {"sendAt": [_wire_datetime(when)]}


def _tags(tags: object) -> dict[str, str]:
    if not isinstance(tags, Mapping):
        raise TwilioPushInvalidInputError(
            f"Invalid tags: expected a dict of strings, got {type(tags).__name__}."
        )
    if len(tags) > MAX_TAGS:
        raise TwilioPushInvalidInputError(f"Invalid tags: {len(tags)} tags; expected at most {MAX_TAGS}.")
    for key, value in tags.items():
        if not isinstance(key, str) or not TAG_RE.fullmatch(key) or len(key) > MAX_TAG_KEY_LENGTH:
            raise TwilioPushInvalidInputError(
                f"Invalid tag key {key!r}: expected 1 to {MAX_TAG_KEY_LENGTH} of {TAG_CHARACTERS}."
            )
        if not isinstance(value, str) or not TAG_RE.fullmatch(value) or len(value) > MAX_TAG_VALUE_LENGTH:
            raise TwilioPushInvalidInputError(
                f"Invalid value of tag {key!r}: {value!r}; expected 1 to {MAX_TAG_VALUE_LENGTH} of "
                f"{TAG_CHARACTERS}."
            )
    return dict(tags)


# ---------------------------------------------------------------------------------------------
# The notifications list: GET /v1/PushNotifications


def list_push_notifications_request(
    *,
    operation_id: object = None,
    status: object = None,
    tags: object = None,
    start_date: object = None,
    end_date: object = None,
    user: object = None,
    provider: object = None,
    page_size: object = 50,
    page_token: object = None,
) -> ApiRequest:
    params = {"pageSize": str(validate_page_size(page_size))}
    if operation_id is not None:
        params["operationId"] = validate_operation_id(operation_id)
    if status is not None:
        params["status"] = _one_of(status, "status", tuple(PushNotificationStatus))
    if tags is not None:
        params["tags"] = _tags_query(tags)
    if user is not None:
        params["user"] = _user_id(user, "user")
    if provider is not None:
        params["provider"] = _one_of(provider, "provider", PROVIDERS)
    params.update(_date_range(start_date, end_date))
    if page_token is not None:
        params["pageToken"] = validate_page_token(page_token)
    return ApiRequest("GET", PUSH_NOTIFICATIONS_PATH, params=params)


def _tags_query(tags: object) -> str:
    """Tags to match, as the API's ``key:value;`` text: from a dict, or that text itself."""
    if isinstance(tags, str):
        if not TAGS_QUERY_RE.fullmatch(tags):
            raise TwilioPushInvalidInputError(
                f"Invalid tags {tags!r}: expected a dict such as {{'campaign': 'spring'}} or 1 to 10 "
                "'key:value;' pairs such as 'campaign:spring;'."
            )
        return tags
    if isinstance(tags, Mapping) and not tags:
        raise TwilioPushInvalidInputError("Invalid tags {}: expected 1 to 10 tags to match.")
    return "".join(f"{key}:{value};" for key, value in _tags(tags).items())


# ---------------------------------------------------------------------------------------------
# Arguments of the operators, checked when the DAG is parsed


def validate_max_failed(value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise TwilioPushInvalidInputError(f"Invalid max_failed={value!r}: expected a whole count >= 0.")


def validate_max_failure_rate(value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise TwilioPushInvalidInputError(
            f"Invalid max_failure_rate={value!r}: expected a rate from 0 to 1 (e.g. 0.02 for 2%)."
        )


def _positive_seconds(value: object) -> float | None:
    """``value`` if it is a finite number of seconds > 0, else None.

    NaN passes "<= 0" and makes time.sleep() raise; 0 or inf would poll in a busy loop or never.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        return None
    return float(value)


def validate_poll_interval(value: object) -> None:
    if _positive_seconds(value) is None:
        raise TwilioPushInvalidInputError(
            f"Invalid poll_interval={value!r}: expected a number of seconds > 0."
        )


def validate_recheck_delay(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 3600:
        raise TwilioPushInvalidInputError(
            f"Invalid recheck_delay={value!r}: expected a number of seconds from 0 to 3600."
        )


def wait_timeout_seconds(value: object) -> float:
    """``wait_timeout`` (seconds or a timedelta) in seconds."""
    seconds = _positive_seconds(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds is None:
        raise TwilioPushInvalidInputError(
            f"Invalid wait_timeout={value!r}: expected a number of seconds > 0 or a positive timedelta."
        )
    return seconds
